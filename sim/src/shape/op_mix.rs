//! The operation mix of etcd traffic: which kinds of turn a KV client
//! takes, and how often.
//!
//! The fixed shape uses etcd robustness's etcd traffic mix (see
//! `workload::run_client`); the swarm reweighs it per seed, switching some
//! kinds off and tripling others, so that a seed of mostly compactions and
//! paginated lists, or of nothing but multi-key txns and deletes, happens.

use std::collections::BTreeMap;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// One kind of turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TurnKind {
    /// A put of a fresh value.
    Put,
    /// A linearizable get.
    Get,
    /// A serializable get.
    SerializableGet,
    /// A delete of one key.
    Delete,
    /// A compare-and-set expecting the last value this client saw.
    Cas,
    /// A range over every key.
    Range,
    /// A txn over several keys, both branches.
    MultiKeyTxn,
    /// A delete-range with prev_kv.
    DeleteRange,
    /// A read at a past revision (a key or every key, some serializable).
    PastRead,
    /// A paginated list at one revision.
    PaginatedList,
    /// A count-only or keys-only list.
    CountOrKeysOnly,
    /// A txn that reads a past revision and writes.
    PastReadTxn,
    /// A compaction raced by a read of the compacted revision.
    CompactionRace,
    /// A lease granted with an id the client chooses: a long one (an hour)
    /// or, one time in three, a short one (3 s) that is let to expire.
    LeaseGrant,
    /// A put attached to one of the client's leases (a grant first if it
    /// has none).
    PutWithLease,
    /// A revoke of one of the client's leases, which deletes its keys.
    LeaseRevoke,
    /// A txn with two to four compares mixing targets (value, version,
    /// create and mod revision, lease) and relations.
    MultiCompareTxn,
    /// A read-modify-write of several keys as etcd's `concurrency.STM`
    /// (repeatable-read or serializable-snapshot isolation), retried on
    /// conflict.
    Stm,
    /// A list sorted by any target either way, with min/max mod and create
    /// revision filters and a limit.
    SortedList,
    /// A campaign for leadership as etcd's `concurrency.Election` runs
    /// one: a leased key put if absent, the predecessor found by create
    /// revision and its delete awaited through a watch, a guarded
    /// proclamation, a guarded resignation.
    Election,
}

impl TurnKind {
    /// Every kind, in the order the mix is drawn.
    pub const ALL: [TurnKind; 20] = [
        TurnKind::Put,
        TurnKind::Get,
        TurnKind::SerializableGet,
        TurnKind::Delete,
        TurnKind::Cas,
        TurnKind::Range,
        TurnKind::MultiKeyTxn,
        TurnKind::DeleteRange,
        TurnKind::PastRead,
        TurnKind::PaginatedList,
        TurnKind::CountOrKeysOnly,
        TurnKind::PastReadTxn,
        TurnKind::CompactionRace,
        TurnKind::LeaseGrant,
        TurnKind::PutWithLease,
        TurnKind::LeaseRevoke,
        TurnKind::MultiCompareTxn,
        TurnKind::Stm,
        TurnKind::SortedList,
        TurnKind::Election,
    ];

    /// The name a schedule file gives it.
    pub fn name(self) -> &'static str {
        self.row().0
    }

    /// Its share of turns in percent, in etcd robustness's mix.
    fn fixed_weight(self) -> u32 {
        self.row().1
    }

    fn row(self) -> (&'static str, u32) {
        match self {
            TurnKind::Put => ("put", 10),
            TurnKind::Get => ("get", 8),
            TurnKind::SerializableGet => ("serializable-get", 4),
            TurnKind::Delete => ("delete", 5),
            TurnKind::Cas => ("cas", 9),
            TurnKind::Range => ("range", 7),
            TurnKind::MultiKeyTxn => ("multi-key-txn", 8),
            TurnKind::DeleteRange => ("delete-range", 4),
            TurnKind::PastRead => ("past-read", 7),
            TurnKind::PaginatedList => ("paginated-list", 6),
            TurnKind::CountOrKeysOnly => ("count-or-keys-only", 4),
            TurnKind::PastReadTxn => ("past-read-txn", 4),
            TurnKind::CompactionRace => ("compaction-race", 6),
            TurnKind::LeaseGrant => ("lease-grant", 2),
            TurnKind::PutWithLease => ("put-with-lease", 4),
            TurnKind::LeaseRevoke => ("lease-revoke", 2),
            TurnKind::MultiCompareTxn => ("multi-compare-txn", 4),
            TurnKind::Stm => ("stm", 2),
            TurnKind::Election => ("election", 1),
            TurnKind::SortedList => ("sorted-list", 3),
        }
    }

    fn writes(self) -> bool {
        matches!(
            self,
            TurnKind::Put
                | TurnKind::Delete
                | TurnKind::Cas
                | TurnKind::MultiKeyTxn
                | TurnKind::DeleteRange
                | TurnKind::PutWithLease
                | TurnKind::LeaseRevoke
                | TurnKind::MultiCompareTxn
                | TurnKind::Stm
                | TurnKind::Election
        )
    }
}

/// Weights of the kinds of turn, by name; a kind not named has weight 0.
/// A turn draws a kind with probability proportional to its weight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OpMix(BTreeMap<String, u32>);

impl OpMix {
    /// etcd robustness's etcd traffic, in percent of turns.
    pub fn fixed() -> Self {
        OpMix(
            TurnKind::ALL
                .iter()
                .map(|t| (t.name().to_string(), t.fixed_weight()))
                .collect(),
        )
    }

    /// A swarm seed's mix: each kind off, as usual or tripled, with a put
    /// kept whenever every kind that writes came out off (a seed that writes
    /// nothing has nothing to check).
    pub fn draw(rng: &mut impl Rng) -> Self {
        let mut weights: BTreeMap<String, u32> = TurnKind::ALL
            .iter()
            .map(|t| {
                (
                    t.name().to_string(),
                    t.fixed_weight() * [0, 1, 1, 3][rng.gen_range(0..4)],
                )
            })
            .collect();
        let writes = TurnKind::ALL
            .iter()
            .filter(|t| t.writes())
            .map(|t| weights[t.name()])
            .sum::<u32>();
        if writes == 0 {
            weights.insert(
                TurnKind::Put.name().to_string(),
                TurnKind::Put.fixed_weight(),
            );
        }
        OpMix(weights)
    }

    /// Whether every name is a kind of turn and some kind has weight.
    pub fn check(&self) -> Result<(), String> {
        for name in self.0.keys() {
            if !TurnKind::ALL.iter().any(|t| t.name() == name) {
                let known: Vec<&str> = TurnKind::ALL.iter().map(|t| t.name()).collect();
                return Err(format!(
                    "op mix: unknown kind of turn {name:?}; known: {}",
                    known.join(", ")
                ));
            }
        }
        if self.total() == 0 {
            return Err("op mix: every weight is 0".to_string());
        }
        Ok(())
    }

    fn weight(&self, turn: TurnKind) -> u32 {
        self.0.get(turn.name()).copied().unwrap_or(0)
    }

    fn total(&self) -> u32 {
        TurnKind::ALL.iter().map(|&t| self.weight(t)).sum()
    }

    /// Draws a kind of turn. With the fixed mix this takes the same number
    /// from `rng` as the mix's old percent ranges did, and maps it the same.
    pub fn pick(&self, rng: &mut impl Rng) -> TurnKind {
        let mut n = rng.gen_range(0..self.total());
        for turn in TurnKind::ALL {
            let w = self.weight(turn);
            if n < w {
                return turn;
            }
            n -= w;
        }
        unreachable!("n is below the total of the weights")
    }
}

/// `kind=weight,...`, as `--mix` takes it: every kind named, each once.
impl std::str::FromStr for OpMix {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let mut weights = BTreeMap::new();
        for item in s.split(',') {
            let (name, weight) = item
                .split_once('=')
                .ok_or_else(|| format!("op mix: expected kind=weight, got {item:?}"))?;
            let weight: u32 = weight
                .parse()
                .map_err(|_| format!("op mix: {name}: the weight {weight:?} is not a number"))?;
            if weights.insert(name.to_string(), weight).is_some() {
                return Err(format!("op mix: {name} is named twice"));
            }
        }
        let mix = OpMix(weights);
        mix.check()?;
        Ok(mix)
    }
}

/// The form [`OpMix::from_str`](std::str::FromStr) reads.
impl std::fmt::Display for OpMix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let items: Vec<String> = self.0.iter().map(|(k, w)| format!("{k}={w}")).collect();
        f.write_str(&items.join(","))
    }
}

impl Default for OpMix {
    fn default() -> Self {
        Self::fixed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn a_mix_reads_back_as_written_and_bad_ones_are_refused() {
        let mix: OpMix = "put=2,get=1,delete=1".parse().unwrap();
        assert_eq!(mix.weight(TurnKind::Put), 2);
        assert_eq!(mix.weight(TurnKind::Cas), 0);
        assert_eq!(mix.to_string().parse::<OpMix>().unwrap(), mix);
        assert_eq!(
            OpMix::fixed().to_string().parse::<OpMix>().unwrap(),
            OpMix::fixed()
        );
        for (bad, says) in [
            ("put", "expected kind=weight"),
            ("put=x", "is not a number"),
            ("put=1,put=2", "named twice"),
            ("puts=1", "unknown kind of turn \"puts\""),
            ("put=0", "every weight is 0"),
        ] {
            let err = bad.parse::<OpMix>().unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn the_fixed_mix_is_in_percent() {
        assert_eq!(OpMix::fixed().total(), 100);
        assert!(OpMix::fixed().check().is_ok());
    }

    #[test]
    fn a_drawn_mix_always_writes_and_sometimes_leaves_kinds_out() {
        let mut rng = StdRng::seed_from_u64(7);
        let mixes: Vec<OpMix> = (0..200).map(|_| OpMix::draw(&mut rng)).collect();
        for mix in &mixes {
            assert!(mix.check().is_ok(), "{mix:?}");
            assert!(TurnKind::ALL
                .iter()
                .any(|&t| t.writes() && mix.weight(t) > 0));
        }
        for turn in TurnKind::ALL {
            assert!(
                mixes.iter().any(|m| m.weight(turn) == 0),
                "{turn:?} always on"
            );
            assert!(
                mixes.iter().any(|m| m.weight(turn) > 0),
                "{turn:?} never on"
            );
        }
    }

    #[test]
    fn picks_follow_the_weights() {
        let mut rng = StdRng::seed_from_u64(1);
        let only_puts = OpMix([("put".to_string(), 5)].into());
        assert!((0..100).all(|_| only_puts.pick(&mut rng) == TurnKind::Put));
    }

    #[test]
    fn an_unknown_kind_is_refused_with_the_known_ones() {
        let mix = OpMix([("puts".to_string(), 5)].into());
        let error = mix.check().unwrap_err();
        assert!(
            error.contains("\"puts\"") && error.contains("multi-key-txn"),
            "{error}"
        );
    }
}
