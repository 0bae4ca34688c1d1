//! The Wing–Gong–Lowe search for a linearization, with porcupine's
//! memoization of (linearized set, model state).
//!
//! Operations are intervals [call, return]; the search walks the calls and
//! returns in time order, tries to linearize each call that the model
//! allows next, and backtracks when it meets the return of an operation it
//! has not linearized. A configuration (which operations are linearized,
//! model state) seen before is never explored twice.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::time::Instant;

/// A sequential specification.
pub trait Model {
    /// The state of the object.
    type State: Clone + Eq + Hash;
    /// An operation with its observed outcome.
    type Op;
    /// The initial state.
    fn init(&self) -> Self::State;
    /// The state after `op`, or `None` if `op`'s outcome is impossible in `state`.
    fn step(&self, state: &Self::State, op: &Self::Op) -> Option<Self::State>;
    /// Whether `op` never changes the state: wherever its step is legal it
    /// returns the state unchanged (a read, a compare-and-set known to have
    /// failed). The search linearizes such an operation as soon as it is
    /// legal, without trying alternatives (see [`search_bounded`]).
    fn is_pure(&self, _op: &Self::Op) -> bool {
        false
    }
}

/// An operation placed in time; `ret == u64::MAX` means it never returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timed<Op> {
    /// The operation.
    pub op: Op,
    /// Call time.
    pub call: u64,
    /// Return time.
    pub ret: u64,
}

/// What the search found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Search {
    /// A linearization exists.
    Linearizable,
    /// None exists; the most operations any attempt linearized.
    NotLinearizable {
        /// The size of the longest linearizable prefix found.
        longest_prefix: usize,
    },
    /// The deadline passed first, or the memo reached [`MEMO_LIMIT`].
    TimedOut,
    /// The step budget ran out first (see [`search_parts`]).
    OutOfSteps,
}

const NIL: usize = usize::MAX;

/// The most configurations one search remembers (some 400 MiB): past
/// it the search gives up as if timed out, so that a hopeless history
/// costs a verdict of "unknown", not the machine's memory.
pub const MEMO_LIMIT: usize = 1 << 21;

/// The memo's hasher: a multiply-rotate hash (as rustc's FxHash) rather than
/// SipHash. The keys are bitsets and small model states built by the
/// checker itself, so resistance to chosen inputs buys nothing, and hashing
/// is most of a search step.
#[derive(Default)]
pub(crate) struct Fx(u64);

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_usize(&mut self, word: usize) {
        self.write_u64(word as u64);
    }

    /// A final avalanche (murmur3's fmix64): the multiply leaves the low
    /// bits depending on the low input bits only, and the table picks
    /// buckets by the low bits, so bitsets differing in high bits would
    /// all collide.
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

pub(crate) type FxBuild = BuildHasherDefault<Fx>;

/// Searches for a linearization of `ops` under `model`.
pub fn search<M: Model>(model: &M, ops: &[Timed<M::Op>], deadline: Option<Instant>) -> Search {
    search_bounded(model, ops, deadline, u64::MAX)
}

/// Checks independent parts, failing fast: porcupine checks parts in
/// parallel and stops at the first failure, because one part may be
/// refuted in a millisecond while another takes minutes. Here each part
/// gets a step budget in turn, and undecided parts get four times more in
/// the next round; the wasted work is at most a third. `check(i, budget)`
/// searches part `i`. Returns the first failing part and its result.
pub fn search_parts(
    parts: usize,
    mut check: impl FnMut(usize, u64) -> Search,
) -> Option<(usize, Search)> {
    let mut undecided: Vec<usize> = (0..parts).collect();
    let mut budget = 20_000;
    while !undecided.is_empty() {
        let mut still = Vec::new();
        for &part in &undecided {
            match check(part, budget) {
                Search::Linearizable => {}
                Search::OutOfSteps => still.push(part),
                failed => return Some((part, failed)),
            }
        }
        undecided = still;
        budget = budget.saturating_mul(4);
    }
    None
}

/// [`search`] that gives up with [`Search::OutOfSteps`] after `max_steps`.
///
/// # Pure operations go first
///
/// At each configuration the search first looks for a *pure* candidate
/// ([`Model::is_pure`]) that is legal in the current state, and if there is
/// one it linearizes it next and tries nothing else there. This loses no
/// linearization: take any linearization that continues from here, and
/// move the pure operation `r` to the front. The states along the way do
/// not change (`r` changes nothing, and it is legal in the state it now
/// meets), and no real-time order is broken: an operation `y` that `r`
/// overtakes could only have to precede `r` if `y` returned before `r` was
/// called, but then `y`'s return would come before `r`'s call in the event
/// list, and `r` would not be a candidate yet. So if the search fails after
/// `r`, it fails here, and backtracks past this configuration at once.
/// Reads are most of a history, and none of them branches.
pub fn search_bounded<M: Model>(
    model: &M,
    ops: &[Timed<M::Op>],
    deadline: Option<Instant>,
    max_steps: u64,
) -> Search {
    let n = ops.len();
    if n == 0 {
        return Search::Linearizable;
    }
    // Events sorted by time; at equal times calls come first, so touching
    // intervals count as concurrent (never a false alarm).
    let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(2 * n);
    for (i, op) in ops.iter().enumerate() {
        events.push((op.call, false, i));
        events.push((op.ret, true, i));
    }
    events.sort_unstable();
    // A doubly linked list over the events; slot 2n is the head.
    let head = 2 * n;
    let mut next = vec![NIL; 2 * n + 1];
    let mut prev = vec![NIL; 2 * n + 1];
    let mut call_at = vec![0; n];
    let mut ret_at = vec![0; n];
    let mut last = head;
    for (pos, &(_, is_ret, op)) in events.iter().enumerate() {
        if is_ret {
            ret_at[op] = pos;
        } else {
            call_at[op] = pos;
        }
        next[last] = pos;
        prev[pos] = last;
        last = pos;
    }
    let op_of = |pos: usize| events[pos].2;
    let is_ret = |pos: usize| events[pos].1;

    let lift = |next: &mut Vec<usize>, prev: &mut Vec<usize>, op: usize| {
        for pos in [call_at[op], ret_at[op]] {
            let (p, q) = (prev[pos], next[pos]);
            next[p] = q;
            if q != NIL {
                prev[q] = p;
            }
        }
    };
    let unlift = |next: &mut Vec<usize>, prev: &mut Vec<usize>, op: usize| {
        for pos in [ret_at[op], call_at[op]] {
            let (p, q) = (prev[pos], next[pos]);
            next[p] = pos;
            if q != NIL {
                prev[q] = pos;
            }
        }
    };

    let words = n.div_ceil(64);
    let mut linearized = vec![0u64; words];
    let mut seen: HashSet<(Vec<u64>, M::State), FxBuild> = HashSet::default();
    // Each entry: the operation linearized, the state before it, and
    // whether it was forced (a pure operation, with no alternative to try).
    let mut stack: Vec<(usize, M::State, bool)> = Vec::new();
    let mut state = model.init();
    let mut longest = 0;
    let mut cursor = next[head];
    let mut fresh = true;
    let mut steps: u64 = 0;
    while next[head] != NIL {
        steps += 1;
        if steps >= max_steps {
            return Search::OutOfSteps;
        }
        if steps % 4096 == 0 && deadline.is_some_and(|d| Instant::now() >= d) {
            return Search::TimedOut;
        }
        // On entering a configuration, a legal pure candidate goes first.
        let mut forced = None;
        if fresh {
            fresh = false;
            let mut at = next[head];
            while at != NIL && !is_ret(at) {
                let op = op_of(at);
                if model.is_pure(&ops[op].op) && model.step(&state, &ops[op].op).is_some() {
                    forced = Some(op);
                    break;
                }
                at = next[at];
            }
        }
        let candidate = match forced {
            Some(op) => Some(op),
            None if cursor != NIL && !is_ret(cursor) => Some(op_of(cursor)),
            None => None,
        };
        let mut fail = candidate.is_none();
        if let Some(op) = candidate {
            if let Some(after) = model.step(&state, &ops[op].op) {
                linearized[op / 64] |= 1 << (op % 64);
                if seen.len() >= MEMO_LIMIT {
                    return Search::TimedOut;
                }
                if seen.insert((linearized.clone(), after.clone())) {
                    stack.push((op, std::mem::replace(&mut state, after), forced.is_some()));
                    longest = longest.max(stack.len());
                    lift(&mut next, &mut prev, op);
                    cursor = next[head];
                    fresh = true;
                    continue;
                }
                linearized[op / 64] &= !(1 << (op % 64));
            }
            // A forced operation seen before failed then: so does this
            // configuration.
            fail = forced.is_some();
            if !fail {
                cursor = next[cursor];
            }
        }
        if fail {
            // Undo the last free choice (and the forced ones after it).
            loop {
                let Some((op, before, was_forced)) = stack.pop() else {
                    return Search::NotLinearizable {
                        longest_prefix: longest,
                    };
                };
                state = before;
                linearized[op / 64] &= !(1 << (op % 64));
                unlift(&mut next, &mut prev, op);
                if !was_forced {
                    cursor = next[call_at[op]];
                    break;
                }
            }
        }
    }
    Search::Linearizable
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A register of integers: `Some(v)` writes, `None` reads `expect`.
    struct Register;
    enum RegOp {
        Write(i32),
        Read(i32),
    }
    impl Model for Register {
        type State = i32;
        type Op = RegOp;
        fn init(&self) -> i32 {
            0
        }
        fn step(&self, state: &i32, op: &RegOp) -> Option<i32> {
            match op {
                RegOp::Write(v) => Some(*v),
                RegOp::Read(v) => (v == state).then_some(*state),
            }
        }
    }

    fn timed(op: RegOp, call: u64, ret: u64) -> Timed<RegOp> {
        Timed { op, call, ret }
    }

    #[test]
    fn concurrent_operations_may_take_effect_in_either_order() {
        let ops = [
            timed(RegOp::Write(1), 0, 10),
            timed(RegOp::Read(1), 1, 2),
            timed(RegOp::Read(0), 3, 4),
        ];
        // The write is linearized between the two reads... but the read of 1
        // returned before the read of 0 was called: impossible.
        assert!(matches!(
            search(&Register, &ops, None),
            Search::NotLinearizable { .. }
        ));
        let ops = [
            timed(RegOp::Write(1), 0, 10),
            timed(RegOp::Read(0), 1, 2),
            timed(RegOp::Read(1), 3, 4),
        ];
        assert_eq!(search(&Register, &ops, None), Search::Linearizable);
    }

    #[test]
    fn a_stale_read_after_a_completed_write_is_caught() {
        let ops = [timed(RegOp::Write(1), 0, 1), timed(RegOp::Read(0), 2, 3)];
        assert!(matches!(
            search(&Register, &ops, None),
            Search::NotLinearizable { .. }
        ));
    }

    #[test]
    fn an_operation_that_never_returned_may_take_effect_late_or_never() {
        let late = [
            timed(RegOp::Write(1), 0, u64::MAX),
            timed(RegOp::Read(0), 1, 2),
            timed(RegOp::Read(1), 3, 4),
        ];
        assert_eq!(search(&Register, &late, None), Search::Linearizable);
        let never = [
            timed(RegOp::Write(1), 0, u64::MAX),
            timed(RegOp::Read(0), 5, 6),
        ];
        assert_eq!(search(&Register, &never, None), Search::Linearizable);
    }
}
