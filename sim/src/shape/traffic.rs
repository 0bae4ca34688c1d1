//! Which traffic the KV clients drive: a choice made on the command line,
//! so it is parsed in both builds.

/// Which traffic the KV clients drive (`--traffic`); schedule files spell
/// it as the command line does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Traffic {
    /// etcd robustness's etcd traffic: the whole KV API (`workload::run_client`).
    Etcd,
    /// Kubernetes-style traffic (`kubernetes::run_client`).
    Kubernetes,
    /// Both in every seed: odd-numbered clients drive Kubernetes traffic.
    #[default]
    Mixed,
}

impl std::str::FromStr for Traffic {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "etcd" => Ok(Traffic::Etcd),
            "kubernetes" => Ok(Traffic::Kubernetes),
            "mixed" => Ok(Traffic::Mixed),
            other => Err(format!(
                "unknown traffic {other:?}; known: etcd, kubernetes, mixed"
            )),
        }
    }
}

impl std::fmt::Display for Traffic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Traffic::Etcd => "etcd",
            Traffic::Kubernetes => "kubernetes",
            Traffic::Mixed => "mixed",
        })
    }
}

impl Traffic {
    /// Whether client `id` drives Kubernetes traffic.
    pub fn kubernetes(self, id: u32) -> bool {
        match self {
            Traffic::Etcd => false,
            Traffic::Kubernetes => true,
            Traffic::Mixed => id % 2 == 1,
        }
    }
}
