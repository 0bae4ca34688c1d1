//! Regression files: a failing run found by a campaign, shrunk and written
//! down with the verdict it gave, so that `cargo test` replays it for good
//! (`tests/suite/regressions.rs` replays every file in `tests/regressions/`).
//!
//! A file recorded while a bug was on expects that bug's verdict; once the
//! bug is fixed (or for a schedule that found a real bug since fixed), its
//! `expect` is set to `linearizable` and the test asserts the run now
//! passes.

use serde::{Deserialize, Serialize};

use crate::shape::schedule::Schedule;

/// One regression: a schedule and the verdict class its replay must give.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Regression {
    /// The verdict class the replay must give (see
    /// [`SeedVerdict::class`](crate::SeedVerdict::class)).
    pub expect: String,
    /// What the run found when it was recorded, for the reader.
    pub found: String,
    /// The run.
    pub schedule: Schedule,
}

impl Regression {
    /// Reads a regression file's text.
    pub fn from_json(text: &str) -> Result<Regression, String> {
        let regression: Regression =
            serde_json::from_str(text).map_err(|e| format!("not a regression file: {e}"))?;
        regression.schedule.fault_set()?;
        Ok(regression)
    }

    /// The file's text.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a regression serializes") + "\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regression_file_reads_back_and_refuses_what_it_does_not_know() {
        let schedule = Schedule::from_json(
            r#"{"seed": 7, "nodes": 3, "clients": 2, "ops_per_client": 5, "keys": 2,
                "bugs": ["stale-read"], "faults": "all", "plan": []}"#,
        )
        .unwrap();
        let regression = Regression {
            expect: "not-linearizable".into(),
            found: "seed 7: NOT LINEARIZABLE".into(),
            schedule,
        };
        assert_eq!(Regression::from_json(&regression.to_json()), Ok(regression));
        assert!(Regression::from_json(r#"{"expect": "stuck"}"#)
            .unwrap_err()
            .starts_with("not a regression file"));
    }
}
