//! A load generator for any etcd 3.4 endpoint, in the spirit of etcd's own
//! `benchmark` tool: many clients over a few connections issue one kind of
//! request as fast as the server answers, and the latency of each request is
//! kept for a histogram and percentiles.
//!
//! It drives the project's own [`Client`], so the same code measures a real
//! etcd, a real etcd-sim (`etcd-sim bench load --endpoints …`) and a
//! simulated cluster (`etcd-sim bench load --sim`), where its latencies are
//! simulated time: what the protocol and the simulated disk and network
//! cost, not what this machine's CPU does.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use etcd_sim::client::{Client, ClientError, Op, Txn, TxnOp};
use tokio::time::Instant;

/// The request every client repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadOp {
    /// `Put` of one key.
    Put,
    /// `Range` of one key (linearizable unless `--serializable`).
    Range,
    /// A `Txn` with no compares and one put in its success branch.
    TxnPut,
}

impl FromStr for LoadOp {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "put" => Ok(LoadOp::Put),
            "range" => Ok(LoadOp::Range),
            "txn-put" => Ok(LoadOp::TxnPut),
            other => Err(format!(
                "unknown operation {other:?}: expected put, range or txn-put"
            )),
        }
    }
}

impl fmt::Display for LoadOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LoadOp::Put => "put",
            LoadOp::Range => "range",
            LoadOp::TxnPut => "txn-put",
        })
    }
}

/// What to send, how much, and over how many clients and connections.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// The request.
    pub op: LoadOp,
    /// Concurrent clients, each with one request in flight.
    pub clients: usize,
    /// Connections (gRPC channels) the clients share, round robin.
    pub conns: usize,
    /// Bytes in each key.
    pub key_size: usize,
    /// Bytes in each value.
    pub val_size: usize,
    /// Requests in all.
    pub total: u64,
    /// Request `i` uses key `i mod key_space`.
    pub key_space: u64,
    /// Ranges are served by the member asked, without a read barrier.
    pub serializable: bool,
}

impl LoadSpec {
    /// Checks the numbers before any connection is made.
    pub fn validate(&self) -> Result<(), String> {
        if self.clients == 0 || self.conns == 0 || self.total == 0 || self.key_space == 0 {
            return Err("--clients, --conns, --total and --key-space must be at least 1".into());
        }
        // The key carries its number in 8 big-endian bytes.
        if self.key_size < 8 {
            return Err("--key-size must be at least 8".into());
        }
        Ok(())
    }

    /// Key number `n`, `key_size` bytes long: zero padding, then `n` in
    /// big-endian, so keys sort as their numbers.
    fn key(&self, n: u64) -> Vec<u8> {
        let mut key = vec![0u8; self.key_size - 8];
        key.extend_from_slice(&n.to_be_bytes());
        key
    }
}

/// What one load run measured.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// Latencies of the requests that succeeded, ascending.
    pub latencies: Vec<Duration>,
    /// Failed requests, counted by error message.
    pub errors: BTreeMap<String, u64>,
    /// From the first request sent to the last answered.
    pub elapsed: Duration,
}

impl LoadReport {
    /// Successful requests per second.
    pub fn throughput(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
    }

    /// The latency below which `p` percent of successful requests fall
    /// (nearest rank), or zero if none succeeded.
    pub fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
    }

    /// The mean latency.
    pub fn mean(&self) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        self.latencies.iter().sum::<Duration>() / self.latencies.len() as u32
    }

    /// The standard deviation of latencies.
    pub fn stddev(&self) -> Duration {
        if self.latencies.len() < 2 {
            return Duration::ZERO;
        }
        let mean = self.mean().as_secs_f64();
        let variance = self
            .latencies
            .iter()
            .map(|l| (l.as_secs_f64() - mean).powi(2))
            .sum::<f64>()
            / self.latencies.len() as f64;
        Duration::from_secs_f64(variance.sqrt())
    }

    /// Failed requests in all.
    pub fn failed(&self) -> u64 {
        self.errors.values().sum()
    }
}

impl fmt::Display for LoadReport {
    /// etcd `benchmark`'s layout: summary, histogram, percentiles.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = |d: Duration| d.as_secs_f64();
        writeln!(f, "Summary:")?;
        writeln!(f, "  Total:\t{:.4} secs.", secs(self.elapsed))?;
        if let (Some(fastest), Some(slowest)) = (self.latencies.first(), self.latencies.last()) {
            writeln!(f, "  Slowest:\t{:.4} secs.", secs(*slowest))?;
            writeln!(f, "  Fastest:\t{:.4} secs.", secs(*fastest))?;
            writeln!(f, "  Average:\t{:.4} secs.", secs(self.mean()))?;
            writeln!(f, "  Stddev:\t{:.4} secs.", secs(self.stddev()))?;
        }
        writeln!(f, "  Requests/sec:\t{:.1}", self.throughput())?;
        if let (Some(fastest), Some(slowest)) = (self.latencies.first(), self.latencies.last()) {
            writeln!(f, "\nResponse time histogram:")?;
            for (upper, count, bar) in histogram(&self.latencies, *fastest, *slowest) {
                writeln!(f, "  {:.4} [{count}]\t|{bar}", secs(upper))?;
            }
            writeln!(f, "\nLatency distribution:")?;
            for p in [10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9] {
                writeln!(f, "  {p}% in {:.4} secs.", secs(self.percentile(p)))?;
            }
        }
        if !self.errors.is_empty() {
            writeln!(f, "\nErrors ({} failed):", self.failed())?;
            for (message, count) in &self.errors {
                writeln!(f, "  {count}\t{message}")?;
            }
        }
        Ok(())
    }
}

/// Ten equal buckets from `fastest` to `slowest`: each bucket's upper
/// bound, its count and a bar scaled to the fullest bucket.
fn histogram(
    sorted: &[Duration],
    fastest: Duration,
    slowest: Duration,
) -> Vec<(Duration, usize, String)> {
    const BUCKETS: usize = 10;
    const BAR: usize = 40;
    let width = (slowest - fastest) / BUCKETS as u32;
    let mut counts = [0usize; BUCKETS];
    for latency in sorted {
        let bucket = if width.is_zero() {
            0
        } else {
            ((*latency - fastest).as_nanos() / width.as_nanos()) as usize
        };
        counts[bucket.min(BUCKETS - 1)] += 1;
    }
    let fullest = counts.iter().copied().max().unwrap_or(1).max(1);
    counts
        .iter()
        .enumerate()
        .map(|(i, &count)| {
            let upper = if i == BUCKETS - 1 {
                slowest
            } else {
                fastest + width * (i as u32 + 1)
            };
            (upper, count, "∎".repeat(count * BAR / fullest))
        })
        .collect()
}

/// Runs `spec` against `endpoints` and waits for every request to answer.
/// `progress` is called with the number of answered requests now and then.
pub async fn drive(
    endpoints: &[String],
    spec: &LoadSpec,
    progress: impl Fn(u64) + Send + Sync + 'static,
) -> Result<LoadReport, String> {
    spec.validate()?;
    let connections = (0..spec.conns)
        .map(|i| {
            let client = Client::new(endpoints, Duration::from_secs(5))
                .map_err(|e| format!("bad endpoint: {e}"))?;
            client.prefer_endpoint(i);
            Ok(Arc::new(client))
        })
        .collect::<Result<Vec<_>, String>>()?;
    // Requests are handed out one at a time, so the total is exact however
    // fast each client goes.
    let next = Arc::new(AtomicU64::new(0));
    let answered = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(Mutex::new(BTreeMap::new()));
    let progress = Arc::new(progress);
    let value = Arc::new(vec![b'v'; spec.val_size]);
    let started = Instant::now();
    let tasks: Vec<_> = (0..spec.clients)
        .map(|i| {
            let client = connections[i % connections.len()].clone();
            let (spec, next, answered) = (spec.clone(), next.clone(), answered.clone());
            let (errors, progress, value) = (errors.clone(), progress.clone(), value.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= spec.total {
                        return latencies;
                    }
                    let key = spec.key(n % spec.key_space);
                    let sent = Instant::now();
                    match request(&client, &spec, key, value.to_vec()).await {
                        Ok(()) => latencies.push(sent.elapsed()),
                        Err(e) => *errors.lock().unwrap().entry(e.to_string()).or_insert(0) += 1,
                    }
                    let done = answered.fetch_add(1, Ordering::Relaxed) + 1;
                    if done % 1000 == 0 {
                        progress(done);
                    }
                }
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(spec.total as usize);
    for task in tasks {
        latencies.extend(
            task.await
                .map_err(|e| format!("a load client failed: {e}"))?,
        );
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let errors = std::mem::take(&mut *errors.lock().unwrap());
    Ok(LoadReport {
        latencies,
        errors,
        elapsed,
    })
}

async fn request(
    client: &Client,
    spec: &LoadSpec,
    key: Vec<u8>,
    value: Vec<u8>,
) -> Result<(), ClientError> {
    match spec.op {
        LoadOp::Put => client.put_op(Op::put(key, value)).await.map(drop),
        LoadOp::Range => {
            let op = Op::get(key);
            let op = if spec.serializable {
                op.serializable()
            } else {
                op
            };
            client.get_op(op).await.map(drop)
        }
        LoadOp::TxnPut => client
            .txn(Txn::new().and_then([TxnOp::put(key, value)]))
            .await
            .map(drop),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(millis: &[u64]) -> LoadReport {
        LoadReport {
            latencies: millis.iter().map(|&m| Duration::from_millis(m)).collect(),
            errors: BTreeMap::new(),
            elapsed: Duration::from_secs(2),
        }
    }

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let r = report(&(1..=100).collect::<Vec<_>>());
        assert_eq!(r.percentile(50.0), Duration::from_millis(50));
        assert_eq!(r.percentile(99.0), Duration::from_millis(99));
        assert_eq!(r.percentile(99.9), Duration::from_millis(100));
        assert_eq!(r.percentile(0.0), Duration::from_millis(1));
        assert_eq!(r.throughput(), 50.0);
        assert_eq!(report(&[]).percentile(50.0), Duration::ZERO);
    }

    #[test]
    fn the_histogram_puts_every_latency_in_one_bucket() {
        let r = report(&[1, 1, 2, 5, 10, 10, 10]);
        let buckets = histogram(
            &r.latencies,
            Duration::from_millis(1),
            Duration::from_millis(10),
        );
        assert_eq!(buckets.iter().map(|b| b.1).sum::<usize>(), 7);
        assert_eq!(buckets[0].1, 2, "1 ms twice, below 1.9 ms");
        assert_eq!(buckets[9].1, 3, "the slowest bucket holds the slowest");
        assert_eq!(buckets[9].0, Duration::from_millis(10));
        let same = report(&[3, 3]);
        let one = histogram(
            &same.latencies,
            Duration::from_millis(3),
            Duration::from_millis(3),
        );
        assert_eq!(one[0].1, 2);
    }

    #[test]
    fn keys_have_the_asked_size_and_sort_as_their_numbers() {
        let spec = LoadSpec {
            op: LoadOp::Put,
            clients: 1,
            conns: 1,
            key_size: 10,
            val_size: 1,
            total: 1,
            key_space: 1,
            serializable: false,
        };
        assert_eq!(spec.key(7).len(), 10);
        assert!(spec.key(255) < spec.key(256));
        assert!(LoadSpec {
            key_size: 4,
            ..spec.clone()
        }
        .validate()
        .is_err());
        assert!(LoadSpec { clients: 0, ..spec }.validate().is_err());
        assert_eq!("txn-put".parse::<LoadOp>(), Ok(LoadOp::TxnPut));
        assert!("get".parse::<LoadOp>().is_err());
    }
}
