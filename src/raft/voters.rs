//! Who votes, in one line: the form in which a member logs raft's voters
//! and learners and its membership's, so that a reader of the logs (the
//! simulation's membership check) can compare them as strings.

use raft::eraftpb::ConfState;

/// `voters [1a, 2b] learners [3c]`: ids in hex, in ascending order.
pub fn describe(conf: &ConfState) -> String {
    let ids = |ids: &[u64]| {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        let ids: Vec<String> = ids.iter().map(|id| format!("{id:x}")).collect();
        ids.join(", ")
    };
    format!(
        "voters [{}] learners [{}]",
        ids(conf.get_voters()),
        ids(conf.get_learners())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_sorted_and_in_hex() {
        let conf = ConfState::from((vec![0x2b, 0x1a], vec![0x3c]));
        assert_eq!(describe(&conf), "voters [1a, 2b] learners [3c]");
        assert_eq!(describe(&ConfState::default()), "voters [] learners []");
    }
}
