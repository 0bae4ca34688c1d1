//! The Wing–Gong–Lowe search for a linearization, with memoization of
//! refuted configurations and three reductions that keep it exact.
//!
//! Operations are intervals [call, return]. A *configuration* is the set of
//! operations linearized so far and the model state they lead to. From a
//! configuration the search may linearize any *candidate*: an operation not
//! yet linearized whose call comes before the earliest return of an
//! operation not yet linearized (every operation that returned before its
//! call is then linearized). It backtracks when no candidate leads to a
//! linearization of everything.
//!
//! # Parts
//!
//! A [`Model`] may declare that its state is a tuple of independent *parts*
//! (the keys of a map): each operation reads and writes one part, so
//! operations on different parts commute and cannot change each other's
//! legality. The *projection* of a configuration on part `p` is the set of
//! part-`p` operations linearized and part `p`'s state. Call the
//! configuration *good* if some order of the remaining operations
//! completes it, and a projection good if its part's remaining operations
//! alone can complete it. By Herlihy & Wing's locality theorem a
//! configuration is good iff all its projections are; the remaining
//! operations keep the real-time order of an interval history, which is
//! all the theorem needs. The search below never splits the history by
//! part: it runs one search over all operations and the whole state, and
//! uses parts only through two consequences of that theorem.
//!
//! **Persistent set.** Let `x` be the operation with the earliest return
//! among those not linearized, and `p` its part. Then only candidates of
//! part `p` need to be tried. Proof: take any completion, and let `c` be its
//! first operation of part `p` (there is one: `x`). Every operation before
//! `c` is of another part, so it commutes with `c`; none of them must
//! precede `c` in real time, because it is not linearized and so returns
//! after `x`, while `c` is called before `x` returns. Moving `c` to the
//! front therefore gives a completion that starts with a part-`p`
//! candidate.
//!
//! **Nogoods per part.** The candidates of part `p` are exactly the
//! candidates of part `p`'s own sub-problem, whose earliest pending return
//! is also `x`'s. So when every one of them fails because its projection
//! on `p` is bad, the node's projection on `p` is bad, and it is recorded.
//! Any later configuration with that projection is refuted at once, and the
//! search jumps back over every choice that did not touch part `p`: those
//! configurations share the bad projection. With a single part (the
//! register) a projection is the whole configuration and this is porcupine's
//! memoization.
//!
//! # Reductions within a part
//!
//! **Reads first.** If a candidate `r` is a read (it changes no state in
//! which it is legal, see [`Model::is_read`]) and is legal now, it is the
//! only child tried. Proof: in any completion, moving `r` to the front
//! keeps it valid: nothing must precede `r` in real time (it is a
//! candidate), it is legal in the current state, and neither there nor
//! where it was does it change the state the others see. An operation that
//! merely leaves *this* state unchanged does not qualify: a write of the
//! current value, taken first, would not rewrite the value later where a
//! completion may need it.
//!
//! **Identical operations.** Of two candidates with equal operations, only
//! the one that returns first is tried. Proof: swap them in a completion
//! that linearizes the later-returning one first. The earlier-returning
//! one may take the front (it is a candidate); the later-returning one may
//! take the other's old place, since everything before that place was
//! called before the earlier one returned, hence before the later one did;
//! the states are the same because the operations are.
//!
//! **Doomed operations.** An operation not yet linearized must still be
//! linearized before it returns, after only operations of its part that
//! are called before then, and after every one of those that returned
//! before it was called. If the model can tell that no such sequence
//! leaves it legal ([`Model::may_become_legal`]), the configuration's
//! projection on that part is bad. Nothing in this argument needs the
//! operation to be a candidate, so the search asks about the illegal
//! candidates of every node (the node is refuted without trying a child),
//! and, right after a step, about the pending operations whose legality
//! the step touched ([`Model::affected`]; the step is then undone like one
//! into a refuted projection), among those called in a window ahead (asking
//! about every later one made a long history's search cubic). The second finds a wrong order of two
//! writes as soon as it is made, not only when the read it dooms is
//! called, after every choice in between (notably of which writes of
//! unknown outcome took effect) has been tried.
//!
//! Which child is tried first does not matter for exactness; the one that
//! returns first is, which keeps long-running operations pending until a
//! later read shows where they took effect.
//!
//! Each reduction is a statement about one node and one part, so they
//! compose, and a recorded nogood is as final as without them. A test
//! checks them all together against brute force on random histories.

use std::hash::{Hash, Hasher};
use std::time::Instant;

use crate::hash::{mix, splitmix64, FxHasher};

/// A sequential specification: an object whose state is a tuple of
/// [`Model::parts`] independent parts, each starting at [`Model::init`].
pub trait Model {
    /// The state of one part (of the whole object when it has one part).
    type State: Clone + Eq + Hash;
    /// An operation with its observed outcome. Equal operations must have
    /// equal effects: the search tries only one of several equal ones.
    type Op: Eq + Hash;
    /// The initial state of every part.
    fn init(&self) -> Self::State;
    /// The part's state after `op`, or `None` if `op`'s outcome is
    /// impossible in `state`.
    fn step(&self, state: &Self::State, op: &Self::Op) -> Option<Self::State>;
    /// Whether `op` leaves every state in which it is legal unchanged (a
    /// read, a compare-and-set known to have failed). The search takes
    /// such an operation as soon as it is legal, so a wrong `true` can hide
    /// a linearization; `false` is always safe.
    fn is_read(&self, _op: &Self::Op) -> bool {
        false
    }
    /// Whether `op`, not yet linearized, could be legal where it is: in
    /// `state` after some of `before` have taken effect, in some order,
    /// including at least every one that is [`Earlier::forced`]. `before`
    /// are the part's operations not yet linearized that may precede `op`
    /// in real time. The search abandons a configuration in which some
    /// operation never can, so a wrong `false` can hide a linearization;
    /// `true` is always safe.
    fn may_become_legal<'a>(
        &self,
        _state: &Self::State,
        _op: &Self::Op,
        _before: impl Iterator<Item = Earlier<'a, Self::Op>>,
    ) -> bool
    where
        Self::Op: 'a,
    {
        true
    }
    /// Whether the step from `before` to `after` changed something `op`'s
    /// legality depends on. The search then asks
    /// [`Model::may_become_legal`] about `op` at once, though `op` is not a
    /// candidate yet; which operations it asks about only changes how early
    /// a dead end is seen, never the verdict. By default: `op`'s legality
    /// changed.
    fn affected(&self, before: &Self::State, after: &Self::State, op: &Self::Op) -> bool {
        self.legal(before, op) != self.legal(after, op)
    }
    /// Whether `op`'s outcome is possible in `state`: `step(..).is_some()`,
    /// for models that can tell without computing the next state.
    fn legal(&self, state: &Self::State, op: &Self::Op) -> bool {
        self.step(state, op).is_some()
    }
    /// How many parts the state has. An operation of one part must neither
    /// depend on nor change any other part.
    fn parts(&self) -> usize {
        1
    }
    /// The part `op` reads and writes, below [`Model::parts`].
    fn part(&self, _op: &Self::Op) -> usize {
        0
    }
}

/// An operation that may take effect before another one (see
/// [`Model::may_become_legal`]).
#[derive(Debug)]
pub struct Earlier<'a, Op> {
    /// The operation.
    pub op: &'a Op,
    /// It returned before the other was called, so it certainly takes
    /// effect first.
    pub forced: bool,
    /// When it was called and when it returned, as ranks in the order in
    /// which the search sees events: `a.ret < b.call` iff `a` must take
    /// effect before `b`.
    pub call: usize,
    /// See `call`.
    pub ret: usize,
}

// Copy whatever `Op` is: only a reference is copied.
impl<Op> Clone for Earlier<'_, Op> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<Op> Copy for Earlier<'_, Op> {}

/// An operation placed in time; `ret == u64::MAX` means it never returned.
#[derive(Debug, Clone)]
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
    /// None exists; the longest order any attempt found (porcupine's
    /// partial linearization), for a person to see where it got stuck.
    NotLinearizable {
        /// The longest linearizable prefix found: indices into the
        /// operations searched, in the order it linearized them.
        prefix: Vec<usize>,
    },
    /// The deadline passed first, or the search remembered [`MEMO_LIMIT`]
    /// dead ends.
    TimedOut,
    /// The step budget ran out first (see [`search_parts`]).
    OutOfSteps,
}

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
    let mut budget = 4000;
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

/// [`search`] that gives up with [`Search::OutOfSteps`] after `max_steps`
/// configurations.
pub fn search_bounded<M: Model>(
    model: &M,
    ops: &[Timed<M::Op>],
    deadline: Option<Instant>,
    max_steps: u64,
) -> Search {
    Searcher::new(model, ops).run(deadline, max_steps)
}

const NIL: usize = usize::MAX;

/// The calls and returns in time order, as a doubly linked list from which
/// linearized operations are lifted out (Lowe's representation): the
/// candidates are then the calls before the list's first return.
struct Events {
    next: Vec<usize>,
    prev: Vec<usize>,
    /// The operation of each event, and whether the event is its return.
    event: Vec<(usize, bool)>,
    call_at: Vec<usize>,
    ret_at: Vec<usize>,
}

impl Events {
    fn new<Op>(ops: &[Timed<Op>]) -> Self {
        let n = ops.len();
        // At equal times calls come first, so touching intervals count as
        // concurrent (never a false alarm).
        let mut sorted: Vec<(u64, bool, usize)> = Vec::with_capacity(2 * n);
        for (i, op) in ops.iter().enumerate() {
            sorted.push((op.call, false, i));
            sorted.push((op.ret, true, i));
        }
        sorted.sort_unstable();
        let head = 2 * n;
        let mut events = Events {
            next: vec![NIL; 2 * n + 1],
            prev: vec![NIL; 2 * n + 1],
            event: Vec::with_capacity(2 * n),
            call_at: vec![0; n],
            ret_at: vec![0; n],
        };
        let mut last = head;
        for (pos, &(_, is_ret, op)) in sorted.iter().enumerate() {
            if is_ret {
                events.ret_at[op] = pos;
            } else {
                events.call_at[op] = pos;
            }
            events.event.push((op, is_ret));
            events.next[last] = pos;
            events.prev[pos] = last;
            last = pos;
        }
        events
    }

    fn first(&self) -> usize {
        self.next[self.next.len() - 1]
    }

    fn lift(&mut self, op: usize) {
        for pos in [self.call_at[op], self.ret_at[op]] {
            let (p, q) = (self.prev[pos], self.next[pos]);
            self.next[p] = q;
            if q != NIL {
                self.prev[q] = p;
            }
        }
    }

    /// Undoes [`Events::lift`]; lifts and unlifts must nest.
    fn unlift(&mut self, op: usize) {
        for pos in [self.ret_at[op], self.call_at[op]] {
            let (p, q) = (self.prev[pos], self.next[pos]);
            self.next[p] = pos;
            if q != NIL {
                self.prev[q] = pos;
            }
        }
    }
}

/// What the search needs to know about an operation, computed once.
struct OpInfo {
    part: usize,
    /// Its bit in its part's set of linearized operations.
    bit: usize,
    /// Equal operations share a class.
    class: usize,
    /// A random word; a set's hash is the XOR of its members' (Zobrist).
    zobrist: u64,
}

/// One part's current projection and its refuted projections.
struct Part<S> {
    state: S,
    linearized: Vec<u64>,
    /// The Zobrist hash of `linearized`, kept as operations come and go.
    hash: u64,
    nogoods: Nogoods<S>,
}

impl<S: Hash> Part<S> {
    fn key(&self) -> u64 {
        let mut h = FxHasher::default();
        self.state.hash(&mut h);
        mix(self.hash ^ h.finish())
    }
}

/// A node of the search: its children are `children[start..end]`, of
/// which those before `next` have been tried; `part` is the part they
/// belong to, and the part the node's refutation is about.
struct Frame {
    part: usize,
    start: usize,
    end: usize,
    next: usize,
}

/// A return at or after this time is not an instant of the history: the
/// operation never returned (`u64::MAX`), or returned at some unknown time
/// (the KV model's writes known to have committed).
const OPEN_ENDED: u64 = u64::MAX - 1;

/// The fewest calls not yet linearized (of every part, in call order) that
/// a step's check for doomed operations looks through, however narrow the
/// window (see `Searcher::doomed_a_pending_operation`).
const MIN_LOOKAHEAD: usize = 256;

struct Searcher<'a, M: Model> {
    model: &'a M,
    ops: &'a [Timed<M::Op>],
    events: Events,
    info: Vec<OpInfo>,
    parts: Vec<Part<M::State>>,
    /// The children of every frame on the stack.
    children: Vec<usize>,
    /// The state each linearized operation replaced, in order.
    replaced: Vec<M::State>,
    frames: Vec<Frame>,
    /// Per class, the candidate that returns first, valid if stamped with
    /// the current `stamp`.
    first_of_class: Vec<(u64, usize)>,
    stamp: u64,
    candidates: Vec<usize>,
    /// Pending operations to ask [`Model::may_become_legal`] about.
    suspects: Vec<usize>,
    /// Operations that may take effect before a suspect.
    writers: Vec<usize>,
}

impl<'a, M: Model> Searcher<'a, M> {
    fn new(model: &'a M, ops: &'a [Timed<M::Op>]) -> Self {
        let mut sizes = vec![0; model.parts()];
        let mut classes = std::collections::HashMap::new();
        let mut seed = 0x5eed_u64;
        let info: Vec<OpInfo> = ops
            .iter()
            .map(|t| {
                let part = model.part(&t.op);
                sizes[part] += 1;
                let next_class = classes.len();
                OpInfo {
                    part,
                    bit: sizes[part] - 1,
                    class: *classes.entry(&t.op).or_insert(next_class),
                    zobrist: splitmix64(&mut seed),
                }
            })
            .collect();
        let parts = sizes
            .iter()
            .map(|&size| Part {
                state: model.init(),
                linearized: vec![0; size.div_ceil(64)],
                hash: 0,
                nogoods: Nogoods::new(size.div_ceil(64)),
            })
            .collect();
        Searcher {
            model,
            ops,
            events: Events::new(ops),
            info,
            parts,
            children: Vec::new(),
            replaced: Vec::new(),
            frames: Vec::new(),
            first_of_class: vec![(0, 0); classes.len()],
            stamp: 0,
            candidates: Vec::new(),
            suspects: Vec::new(),
            writers: Vec::new(),
        }
    }

    /// Dead ends remembered over all parts.
    fn remembered(&self) -> usize {
        self.parts.iter().map(|p| p.nogoods.len()).sum()
    }

    fn run(mut self, deadline: Option<Instant>, max_steps: u64) -> Search {
        let Some(root) = self.expand() else {
            return Search::Linearizable;
        };
        self.frames.push(root);
        // The longest prefix so far, and how many of its operations the
        // stack's current choices still agree with: only the rest is
        // copied when the stack grows past it, so keeping it costs at most
        // one copy per step.
        let mut longest: Vec<usize> = Vec::new();
        let mut agree = 0;
        let mut steps: u64 = 0;
        loop {
            let top = self
                .frames
                .last_mut()
                .expect("the loop returns on an empty stack");
            if top.next < top.end {
                let child = top.next;
                top.next += 1;
                steps += 1;
                if steps >= max_steps {
                    return Search::OutOfSteps;
                }
                if steps % 4096 == 0
                    && (deadline.is_some_and(|d| Instant::now() >= d)
                        || self.remembered() >= MEMO_LIMIT)
                {
                    return Search::TimedOut;
                }
                agree = agree.min(self.frames.len() - 1);
                let part = self.apply(child);
                // Every applied child extends a legal prefix, even one the
                // checks below then refute as a dead end.
                let depth = self.frames.len();
                if depth > longest.len() {
                    longest.truncate(agree);
                    let chosen = self.frames[agree..depth]
                        .iter()
                        .map(|f| self.children[f.next - 1]);
                    longest.extend(chosen);
                    agree = depth;
                }
                if self.parts[part].refuted() || self.doomed_a_pending_operation(part) {
                    self.undo(child);
                    continue;
                }
                let Some(frame) = self.expand() else {
                    return Search::Linearizable;
                };
                self.frames.push(frame);
            } else if !self.refute_top() {
                return Search::NotLinearizable { prefix: longest };
            }
        }
    }

    /// The node on top has no child left, so its projection on its part is
    /// bad: records it, and backs up to the nearest node whose choice
    /// touched that part. Returns false if that refutes the root.
    fn refute_top(&mut self) -> bool {
        let failed = self.frames.pop().expect("a node to refute");
        self.parts[failed.part].refute();
        self.children.truncate(failed.start);
        while let Some(parent) = self.frames.last() {
            let same_part = parent.part == failed.part;
            self.undo(parent.next - 1);
            if same_part {
                return true;
            }
            // The parent's choice left the refuted projection as it was.
            let parent = self.frames.pop().expect("just seen");
            self.children.truncate(parent.start);
        }
        false
    }

    /// The current configuration as a node, or `None` if every operation
    /// is linearized.
    fn expand(&mut self) -> Option<Frame> {
        let events = &self.events;
        let mut pos = events.first();
        if pos == NIL {
            return None;
        }
        self.candidates.clear();
        while let (op, false) = events.event[pos] {
            self.candidates.push(op);
            pos = events.next[pos];
        }
        let part = self.info[events.event[pos].0].part;
        self.candidates.retain(|&c| self.info[c].part == part);
        self.keep_first_of_each_class();
        // Earliest return first (see the module docs).
        let ret_at = &self.events.ret_at;
        self.candidates.sort_unstable_by_key(|&c| ret_at[c]);
        let start = self.children.len();
        let state = &self.parts[part].state;
        self.suspects.clear();
        for &c in &self.candidates {
            if !self.model.legal(state, &self.ops[c].op) {
                self.suspects.push(c);
                continue;
            }
            if self.model.is_read(&self.ops[c].op) {
                self.children.truncate(start);
                self.children.push(c);
                self.suspects.clear();
                break;
            }
            self.children.push(c);
        }
        if self.some_suspect_is_doomed(part) {
            self.children.truncate(start);
        }
        Some(Frame {
            part,
            start,
            end: self.children.len(),
            next: start,
        })
    }

    /// Whether one of the `suspects` (pending operations of `part`) can
    /// never be legal where it must be linearized (see the module docs and
    /// [`Model::may_become_legal`]). Then the configuration's projection on
    /// `part` is bad.
    fn some_suspect_is_doomed(&mut self, part: usize) -> bool {
        let events = &self.events;
        let Some(horizon) = self.suspects.iter().map(|&c| events.ret_at[c]).max() else {
            return false;
        };
        self.writers.clear();
        let mut pos = events.first();
        while pos != horizon {
            let (op, is_ret) = events.event[pos];
            if !is_ret && self.info[op].part == part {
                self.writers.push(op);
            }
            pos = events.next[pos];
        }
        let state = &self.parts[part].state;
        self.suspects.iter().any(|&c| {
            let before = self
                .writers
                .iter()
                .take_while(|&&w| events.call_at[w] < events.ret_at[c])
                .filter(|&&w| w != c)
                .map(|&w| Earlier {
                    op: &self.ops[w].op,
                    forced: events.ret_at[w] < events.call_at[c],
                    call: events.call_at[w],
                    ret: events.ret_at[w],
                });
            !self.model.may_become_legal(state, &self.ops[c].op, before)
        })
    }

    /// Whether the operation just linearized, of `part`, doomed a pending
    /// operation of that part whose legality it affected (see the module
    /// docs). Then the new projection on `part` is bad.
    fn doomed_a_pending_operation(&mut self, part: usize) -> bool {
        let before = self.replaced.last().expect("called after apply");
        let after = &self.parts[part].state;
        if before == after {
            return false;
        }
        // Only the operations called within the *window* are asked about:
        // up to the latest return of an operation called before the first
        // pending return (of today's candidates), open-ended ones aside.
        // Asking about fewer only prunes less, so the search stays exact;
        // asking about every later operation made each step cost the rest
        // of the history twice over (every later read of a key the step
        // changed, each weighed against every write up to its return):
        // cubic in a long history. A read that a step dooms is nearly
        // always one that overlaps the operations that could go next.
        let events = &self.events;
        self.suspects.clear();
        let mut pos = events.first();
        let mut window_end: Option<usize> = None;
        let mut latest_return = pos;
        let mut calls = 0;
        while pos != NIL && (calls < MIN_LOOKAHEAD || window_end.is_none_or(|end| pos <= end)) {
            let (op, is_ret) = events.event[pos];
            calls += usize::from(!is_ret);
            if is_ret {
                window_end.get_or_insert(latest_return.max(pos));
            } else {
                if window_end.is_none() && self.ops[op].ret < OPEN_ENDED {
                    latest_return = latest_return.max(events.ret_at[op]);
                }
                if self.info[op].part == part
                    && self.model.affected(before, after, &self.ops[op].op)
                {
                    self.suspects.push(op);
                }
            }
            pos = events.next[pos];
        }
        self.some_suspect_is_doomed(part)
    }

    /// Drops every candidate that an equal candidate returning earlier
    /// makes redundant.
    fn keep_first_of_each_class(&mut self) {
        self.stamp += 1;
        for &c in &self.candidates {
            let slot = &mut self.first_of_class[self.info[c].class];
            if slot.0 != self.stamp || self.events.ret_at[c] < self.events.ret_at[slot.1] {
                *slot = (self.stamp, c);
            }
        }
        let (first, info) = (&self.first_of_class, &self.info);
        self.candidates.retain(|&c| first[info[c].class].1 == c);
    }

    /// Linearizes `children[child]`; returns its part.
    fn apply(&mut self, child: usize) -> usize {
        let op = self.children[child];
        let info = &self.info[op];
        let part = &mut self.parts[info.part];
        let after = (self.model.step(&part.state, &self.ops[op].op)).expect("children are legal");
        self.replaced
            .push(std::mem::replace(&mut part.state, after));
        part.linearized[info.bit / 64] |= 1 << (info.bit % 64);
        part.hash ^= info.zobrist;
        self.events.lift(op);
        info.part
    }

    /// Undoes [`Searcher::apply`].
    fn undo(&mut self, child: usize) {
        let op = self.children[child];
        let info = &self.info[op];
        let part = &mut self.parts[info.part];
        part.state = self.replaced.pop().expect("undo follows apply");
        part.linearized[info.bit / 64] &= !(1 << (info.bit % 64));
        part.hash ^= info.zobrist;
        self.events.unlift(op);
    }
}

/// The most dead ends one search remembers (a few hundred MiB): past it
/// the search gives up as if timed out, so that a hopeless history costs a
/// verdict of "unknown", not the machine's memory.
pub const MEMO_LIMIT: usize = 1 << 21;

impl<S: Clone + Eq + Hash> Part<S> {
    fn refuted(&self) -> bool {
        self.nogoods
            .contains(self.key(), &self.linearized, &self.state)
    }

    fn refute(&mut self) {
        let key = self.key();
        self.nogoods
            .insert(key, &self.linearized, self.state.clone());
    }
}

impl<S> Nogoods<S> {
    fn len(&self) -> usize {
        self.states.len()
    }
}

/// A set of (linearized set, state) pairs, compared exactly: the sets sit
/// side by side in one arena, so recording one allocates nothing new
/// (amortized), and the hash only picks where to look.
struct Nogoods<S> {
    width: usize,
    sets: Vec<u64>,
    states: Vec<S>,
    keys: Vec<u64>,
    /// Open addressing, linear probing: an index into `states`, or `EMPTY`.
    slots: Vec<u32>,
}

const EMPTY: u32 = u32::MAX;

impl<S: Eq> Nogoods<S> {
    fn new(width: usize) -> Self {
        Nogoods {
            width,
            sets: Vec::new(),
            states: Vec::new(),
            keys: Vec::new(),
            slots: vec![EMPTY; 16],
        }
    }

    /// The slot holding the entry, or the empty slot where it would go.
    fn find(&self, key: u64, set: &[u64], state: &S) -> usize {
        let mask = self.slots.len() - 1;
        let mut slot = key as usize & mask;
        loop {
            let entry = self.slots[slot];
            if entry == EMPTY {
                return slot;
            }
            let i = entry as usize;
            if self.keys[i] == key
                && self.sets[i * self.width..(i + 1) * self.width] == *set
                && self.states[i] == *state
            {
                return slot;
            }
            slot = (slot + 1) & mask;
        }
    }

    fn contains(&self, key: u64, set: &[u64], state: &S) -> bool {
        self.slots[self.find(key, set, state)] != EMPTY
    }

    fn insert(&mut self, key: u64, set: &[u64], state: S) {
        if 2 * (self.states.len() + 1) > self.slots.len() {
            self.grow();
        }
        let slot = self.find(key, set, &state);
        debug_assert_eq!(self.slots[slot], EMPTY, "a projection is refuted once");
        self.slots[slot] = u32::try_from(self.states.len()).expect("fewer than 2^32 nogoods");
        self.sets.extend_from_slice(set);
        self.states.push(state);
        self.keys.push(key);
    }

    fn grow(&mut self) {
        let mut slots = vec![EMPTY; 2 * self.slots.len()];
        let mask = slots.len() - 1;
        for (i, &key) in self.keys.iter().enumerate() {
            let mut slot = key as usize & mask;
            while slots[slot] != EMPTY {
                slot = (slot + 1) & mask;
            }
            slots[slot] = i as u32;
        }
        self.slots = slots;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Registers of integers, one per part: `Write` sets, `Read` must see.
    struct Registers(usize);
    #[derive(Debug, PartialEq, Eq, Hash)]
    enum RegOp {
        Write(usize, i32),
        Read(usize, i32),
    }
    use RegOp::{Read, Write};
    impl Model for Registers {
        type State = i32;
        type Op = RegOp;
        fn init(&self) -> i32 {
            0
        }
        fn step(&self, state: &i32, op: &RegOp) -> Option<i32> {
            match *op {
                Write(_, v) => Some(v),
                Read(_, v) => (v == *state).then_some(*state),
            }
        }
        fn is_read(&self, op: &RegOp) -> bool {
            matches!(op, Read(..))
        }
        fn may_become_legal<'a>(
            &self,
            state: &i32,
            op: &RegOp,
            before: impl Iterator<Item = Earlier<'a, RegOp>>,
        ) -> bool {
            let &Read(_, seen) = op else { return true };
            let before: Vec<Earlier<RegOp>> = before.collect();
            // The register holds the value and no write certain to come
            // first overwrites it, or one of `before` writes it again.
            let overwritten = before
                .iter()
                .any(|w| w.forced && matches!(*w.op, Write(_, v) if v != seen));
            (seen == *state && !overwritten)
                || before
                    .iter()
                    .any(|w| matches!(*w.op, Write(_, v) if v == seen))
        }
        fn parts(&self) -> usize {
            self.0
        }
        fn part(&self, op: &RegOp) -> usize {
            match *op {
                Write(p, _) | Read(p, _) => p,
            }
        }
    }

    fn timed(op: RegOp, call: u64, ret: u64) -> Timed<RegOp> {
        Timed { op, call, ret }
    }

    fn linearizable(parts: usize, ops: &[Timed<RegOp>]) -> bool {
        match search(&Registers(parts), ops, None) {
            Search::Linearizable => true,
            Search::NotLinearizable { .. } => false,
            other => panic!("no budget was given: {other:?}"),
        }
    }

    #[test]
    fn concurrent_operations_may_take_effect_in_either_order() {
        // The write is linearized between the two reads... but the read of 1
        // returned before the read of 0 was called: impossible.
        let ops = [
            timed(Write(0, 1), 0, 10),
            timed(Read(0, 1), 1, 2),
            timed(Read(0, 0), 3, 4),
        ];
        assert!(!linearizable(1, &ops));
        let ops = [
            timed(Write(0, 1), 0, 10),
            timed(Read(0, 0), 1, 2),
            timed(Read(0, 1), 3, 4),
        ];
        assert!(linearizable(1, &ops));
    }

    #[test]
    fn the_longest_prefix_is_a_legal_order_that_respects_real_time() {
        // Writes 1, 2, 3 in turn, reads that see them, then a stale read of
        // 1. The search refutes the first write at once (it dooms the stale
        // read), so the prefix it knows is that write alone.
        let ops = [
            timed(Write(0, 1), 0, 1),
            timed(Read(0, 1), 2, 3),
            timed(Write(0, 2), 4, 5),
            timed(Read(0, 2), 6, 7),
            timed(Write(0, 3), 8, 9),
            timed(Read(0, 1), 10, 11),
        ];
        let Search::NotLinearizable { prefix } = search(&Registers(1), &ops, None) else {
            panic!("the last read is stale");
        };
        assert_eq!(prefix, [0]);
        // And on random histories: whatever prefix comes back replays.
        let mut seed = 7u64;
        for _ in 0..300 {
            let mut ops = Vec::new();
            for i in 0..8u64 {
                let r = splitmix64(&mut seed);
                let call = i * 3 + r % 3;
                let op = if r % 2 == 0 {
                    Write(0, (r % 3) as i32)
                } else {
                    Read(0, (r >> 8) as i32 % 3)
                };
                ops.push(timed(op, call, call + 1 + (r >> 16) % 6));
            }
            let Search::NotLinearizable { prefix } = search(&Registers(1), &ops, None) else {
                continue;
            };
            let mut state = 0;
            for (k, &i) in prefix.iter().enumerate() {
                state = Registers(1)
                    .step(&state, &ops[i].op)
                    .expect("legal in order");
                let later = &prefix[k + 1..];
                assert!(
                    later.iter().all(|&j| ops[j].ret >= ops[i].call),
                    "nothing placed after #{i} returned before it was called"
                );
            }
        }
    }

    #[test]
    fn a_stale_read_after_a_completed_write_is_caught() {
        let ops = [timed(Write(0, 1), 0, 1), timed(Read(0, 0), 2, 3)];
        assert!(!linearizable(1, &ops));
    }

    #[test]
    fn an_operation_that_never_returned_may_take_effect_late_or_never() {
        let late = [
            timed(Write(0, 1), 0, u64::MAX),
            timed(Read(0, 0), 1, 2),
            timed(Read(0, 1), 3, 4),
        ];
        assert!(linearizable(1, &late));
        let never = [timed(Write(0, 1), 0, u64::MAX), timed(Read(0, 0), 5, 6)];
        assert!(linearizable(1, &never));
    }

    /// A read that is legal now is linearized at once and never
    /// reconsidered: it must still be possible to fail when that is wrong,
    /// and to succeed when the read has to wait for nothing.
    #[test]
    fn reads_first_neither_hides_nor_invents_a_violation() {
        // Read(0) is legal at the start and is taken first; the write of 1
        // must then precede Read(1), which it can.
        let good = [
            timed(Read(0, 0), 0, 10),
            timed(Write(0, 1), 1, 5),
            timed(Read(0, 1), 6, 7),
        ];
        assert!(linearizable(1, &good));
        // Read(0) is called after Read(1) returned: the write separates
        // them, so taking Read(0) early is not allowed.
        let bad = [
            timed(Write(0, 1), 0, 5),
            timed(Read(0, 1), 1, 2),
            timed(Read(0, 0), 3, 10),
        ];
        assert!(!linearizable(1, &bad));
    }

    /// A write of the value the register holds changes nothing now, but is
    /// no read: it must stay free to go later, where it does change it.
    #[test]
    fn a_write_of_the_current_value_is_not_taken_first() {
        let ops = [
            timed(Write(0, 0), 0, 100),
            timed(Write(0, 1), 1, 2),
            timed(Read(0, 0), 3, 4),
        ];
        assert!(linearizable(1, &ops));
    }

    /// A read that is illegal now condemns its configuration only if no
    /// operation called before it returns writes its value; that includes
    /// writes not yet called when the search looks.
    #[test]
    fn a_stuck_read_is_doomed_only_without_a_writer_before_its_return() {
        let good = [
            timed(Read(0, 1), 0, 10),
            timed(Write(0, 3), 1, 2),
            timed(Write(0, 1), 5, 6),
        ];
        assert!(linearizable(1, &good));
        let bad = [
            timed(Read(0, 1), 0, 4),
            timed(Write(0, 3), 1, 2),
            timed(Write(0, 1), 5, 6),
        ];
        assert!(!linearizable(1, &bad));
    }

    /// Of two equal writes only the one that returns first is tried.
    #[test]
    fn equal_operations_are_tried_once_without_changing_the_verdict() {
        // Write(1) twice: the later-returning one must be the last write
        // before Read(1), after Write(2); the earlier-returning one must go
        // first, and so must be the one tried.
        let good = [
            timed(Write(0, 1), 0, 3),
            timed(Write(0, 1), 1, 20),
            timed(Write(0, 2), 4, 10),
            timed(Read(0, 1), 11, 12),
        ];
        assert!(linearizable(1, &good));
        // Both writes of 1 return before Write(2) is called, so Read(1)
        // after Write(2) returned is stale whichever write goes first.
        let bad = [
            timed(Write(0, 1), 0, 3),
            timed(Write(0, 1), 1, 4),
            timed(Write(0, 2), 5, 10),
            timed(Read(0, 1), 11, 12),
        ];
        assert!(!linearizable(1, &bad));
    }

    /// Parts interleave freely; a violation in one part is found however
    /// the other parts' operations are placed, and an interleaving that
    /// forces an order across parts is respected.
    #[test]
    fn parts_are_searched_together_and_refuted_alone() {
        let good = [
            timed(Write(0, 1), 0, 10),
            timed(Write(1, 1), 1, 11),
            timed(Read(1, 1), 12, 13),
            timed(Read(0, 0), 2, 3),
            timed(Read(0, 1), 14, 15),
        ];
        assert!(linearizable(2, &good));
        // Part 0 alone is fine, part 1 reads a value nobody wrote.
        let bad = [
            timed(Write(0, 1), 0, 10),
            timed(Write(1, 1), 1, 11),
            timed(Write(0, 2), 2, 12),
            timed(Read(1, 2), 13, 14),
            timed(Read(0, 1), 15, 16),
        ];
        assert!(!linearizable(2, &bad));
    }

    /// The persistent set tries only the part of the earliest pending
    /// return; operations of other parts that are concurrent still take
    /// effect in whatever order the later reads need.
    #[test]
    fn deferring_other_parts_keeps_every_order_they_need() {
        // Part 1's writes are concurrent with everything until part 1's
        // reads, which fix their order (2 then 1); part 0's read returns
        // first and is urgent throughout.
        let ops = [
            timed(Write(1, 1), 0, 20),
            timed(Write(1, 2), 1, 20),
            timed(Write(0, 5), 2, 3),
            timed(Read(0, 5), 4, 5),
            timed(Read(1, 2), 6, 7),
            timed(Read(1, 1), 21, 22),
        ];
        assert!(linearizable(2, &ops));
        // Reading 1 before 2, after both writes returned, is impossible.
        let bad = [
            timed(Write(1, 1), 0, 5),
            timed(Write(1, 2), 1, 5),
            timed(Write(0, 5), 2, 3),
            timed(Read(1, 1), 6, 7),
            timed(Read(1, 2), 8, 9),
        ];
        assert!(!linearizable(2, &bad));
    }

    /// Every reduction at once, against the definition, on many small
    /// random histories of one and two registers: small values and short
    /// times make equal operations, stuck reads, overlaps across parts and
    /// operations that never return common.
    #[test]
    fn agrees_with_brute_force_on_random_histories() {
        let mut seed = 7;
        let mut below = |n: u64| splitmix64(&mut seed) % n;
        let mut verdicts = [0; 2];
        for _ in 0..3000 {
            let model = Registers(1 + below(2) as usize);
            let ops: Vec<Timed<RegOp>> = (0..2 + below(6))
                .map(|_| {
                    let (part, value) = (below(model.0 as u64) as usize, below(3) as i32);
                    let op = if below(2) == 0 {
                        Write(part, value)
                    } else {
                        Read(part, value)
                    };
                    let call = below(12);
                    let ret = if below(8) == 0 && matches!(op, Write(..)) {
                        u64::MAX
                    } else {
                        call + 1 + below(6)
                    };
                    timed(op, call, ret)
                })
                .collect();
            let expected = crate::brute_force::linearizable(&model, &ops);
            assert_eq!(linearizable(model.0, &ops), expected, "{ops:?}");
            verdicts[usize::from(expected)] += 1;
        }
        assert!(
            verdicts.iter().all(|&n| n > 500),
            "both verdicts common: {verdicts:?}"
        );
    }

    #[test]
    fn nogoods_compare_sets_exactly() {
        let mut nogoods: Nogoods<i32> = Nogoods::new(1);
        for i in 0..100u64 {
            // Every key collides: only the exact comparison tells them apart.
            nogoods.insert(7, &[i], 0);
        }
        assert!(nogoods.contains(7, &[42], &0));
        assert!(!nogoods.contains(7, &[42], &1));
        assert!(!nogoods.contains(7, &[100], &0));
    }
}
