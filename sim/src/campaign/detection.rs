//! How soon the default campaign catches an injected bug: the first seed
//! of a range that fails, and whether it failed by a check meant for the
//! bug ([`catalog::caught_as`]). The bug catalog test asks it of 0..200;
//! `etcd-sim bench detection` asks it of ten ranges per bug and gates on
//! the medians.

use std::ops::Range;

use etcd_sim::bugs::{Bug, BugSet};

use super::{run_seed, RunConfig};
use crate::verdict::catalog::caught_as;
use crate::verdict::SeedVerdict;

/// The first failing seed of a range, for one bug.
#[derive(Debug, Clone, PartialEq)]
pub enum Detection {
    /// The seed failed by a check meant for the bug.
    Caught {
        /// The first failing seed.
        seed: u64,
        /// How it failed.
        verdict: SeedVerdict,
    },
    /// The seed failed first, but by a check not meant for the bug: the
    /// harness or a check is wrong, or the catalog's list is.
    WrongCheck {
        /// The first failing seed.
        seed: u64,
        /// How it failed.
        verdict: SeedVerdict,
    },
    /// No seed of the range failed.
    Missed,
}

impl Detection {
    /// The seed that failed first, however it failed.
    pub fn seed(&self) -> Option<u64> {
        match self {
            Detection::Caught { seed, .. } | Detection::WrongCheck { seed, .. } => Some(*seed),
            Detection::Missed => None,
        }
    }
}

/// The first seed in `seeds` whose run of the default campaign (the
/// swarm) with `bug` switched on fails. A seed the checker could not
/// decide within its budget, or one with too little traffic to judge
/// (`quiet`), neither passes nor catches: it is passed over, as
/// docs/museum.md's catch counts pass it over.
pub fn first_failure(bug: Bug, seeds: Range<u64>) -> Detection {
    for seed in seeds {
        let mut config = RunConfig::swarm(seed);
        config.bugs = BugSet::NONE.with(bug);
        let verdict = run_seed(&config).verdict();
        if matches!(
            verdict,
            SeedVerdict::Linearizable | SeedVerdict::Undecided | SeedVerdict::Quiet(_)
        ) {
            continue;
        }
        return if caught_as(bug).contains(&verdict.class().as_str()) {
            Detection::Caught { seed, verdict }
        } else {
            Detection::WrongCheck { seed, verdict }
        };
    }
    Detection::Missed
}
