//! Readers for porcupine's test histories, and the two models they need.
//!
//! The files are described in `tests/data/porcupine/FORMAT.md`: Jepsen
//! logs of a single etcd register (read / write / cas) and key-value logs
//! (get / put / append). A line's position is its time. An operation that
//! never completes (`:info`, or no completion at all) stays open to the end:
//! it may take effect at any time after its call, or never.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use crate::search::{search, search_bounded, search_parts, Earlier, Model, Search, Timed};

/// A register operation with what was observed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RegisterOp {
    /// A read that returned this value (`None`: the register was unset).
    Read(Option<i64>),
    /// A write.
    Write(i64),
    /// A compare-and-set; `succeeded` is `None` when its outcome is unknown.
    Cas {
        /// The value it expected.
        from: i64,
        /// The value it set.
        to: i64,
        /// Whether it applied, if known.
        succeeded: Option<bool>,
    },
}

/// A single register that starts unset (porcupine's etcd model).
pub struct Register;

impl Model for Register {
    type State = Option<i64>;
    type Op = RegisterOp;

    fn init(&self) -> Option<i64> {
        None
    }

    fn step(&self, state: &Option<i64>, op: &RegisterOp) -> Option<Option<i64>> {
        match *op {
            RegisterOp::Read(seen) => (seen == *state).then_some(*state),
            RegisterOp::Write(v) => Some(Some(v)),
            RegisterOp::Cas {
                from,
                to,
                succeeded,
            } => {
                let holds = *state == Some(from);
                match succeeded {
                    Some(s) if s != holds => None,
                    _ if holds => Some(Some(to)),
                    _ => Some(*state),
                }
            }
        }
    }

    /// A read or a successful compare-and-set that is illegal now needs its
    /// value written by one of `before`; nothing unsets the register.
    fn may_become_legal<'a>(
        &self,
        state: &Option<i64>,
        op: &RegisterOp,
        mut before: impl Iterator<Item = Earlier<'a, RegisterOp>>,
    ) -> bool {
        if self.legal(state, op) {
            return true;
        }
        let needed = match *op {
            RegisterOp::Read(seen) => seen,
            RegisterOp::Cas {
                from,
                succeeded: Some(true),
                ..
            } => Some(from),
            _ => return true,
        };
        needed.is_some_and(|v| before.any(|w| writes(w.op, v)))
    }

    fn is_read(&self, op: &RegisterOp) -> bool {
        matches!(
            op,
            RegisterOp::Read(_)
                | RegisterOp::Cas {
                    succeeded: Some(false),
                    ..
                }
        )
    }
}

/// Whether `op` may leave the register holding `value`.
fn writes(op: &RegisterOp, value: i64) -> bool {
    match *op {
        RegisterOp::Write(v) => v == value,
        RegisterOp::Cas { to, succeeded, .. } => to == value && succeeded != Some(false),
        RegisterOp::Read(_) => false,
    }
}

/// A string of porcupine's kv model, as its number in an [`AppendMap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Value(u32);

/// A key-value operation of porcupine's kv logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AppendOp {
    /// A get of key `.0` that returned `.1` (a missing key reads as "").
    Get(usize, Value),
    /// A put.
    Put(usize, Value),
    /// An append to the key's value.
    Append(usize, Value),
}

impl AppendOp {
    /// The index of the key it touches.
    pub fn key(&self) -> usize {
        match self {
            AppendOp::Get(k, _) | AppendOp::Put(k, _) | AppendOp::Append(k, _) => *k,
        }
    }
}

/// Every string the search has met, each once, so that a state is a
/// number: stepping, comparing and hashing it cost the same however long
/// the value has grown.
///
/// The texts sit end to end in one buffer. Each has a polynomial hash,
/// `h(a + b) = h(a) * B^len(b) + h(b)` (wrapping), so the hash of an
/// append comes from its two halves without reading them; an entry is
/// matched by comparing the text, so a hash collision costs a comparison,
/// never a wrong identity.
struct Strings {
    bytes: Vec<u8>,
    /// Per value: where its text starts and ends in `bytes`.
    spans: Vec<(usize, usize)>,
    /// Per value: its hash and `BASE^len`.
    hashes: Vec<(u64, u64)>,
    /// Open addressing on the hash: a value's number, or `u32::MAX`.
    slots: Vec<u32>,
}

/// The base of the polynomial hash (odd, so that powers never vanish).
const BASE: u64 = 0x100_0000_01b3;

impl Default for Strings {
    fn default() -> Self {
        let mut strings = Strings {
            bytes: Vec::new(),
            spans: Vec::new(),
            hashes: Vec::new(),
            slots: vec![u32::MAX; 64],
        };
        strings.intern("");
        strings
    }
}

impl Strings {
    fn intern(&mut self, text: &str) -> Value {
        let text = text.as_bytes();
        let hash = text.iter().fold((0u64, 1u64), |(h, p), &b| {
            (
                h.wrapping_mul(BASE).wrapping_add(b.into()),
                p.wrapping_mul(BASE),
            )
        });
        self.find(hash, |t| t == text).unwrap_or_else(|slot| {
            let start = self.bytes.len();
            self.bytes.extend_from_slice(text);
            self.add(slot, hash, start)
        })
    }

    fn append(&mut self, to: Value, piece: Value) -> Value {
        let ((h1, p1), (h2, p2)) = (self.hashes[to.0 as usize], self.hashes[piece.0 as usize]);
        let hash = (h1.wrapping_mul(p2).wrapping_add(h2), p1.wrapping_mul(p2));
        let (a, b) = (self.text(to), self.text(piece));
        let found = self.find(hash, |t| {
            t.len() == a.len() + b.len() && t.starts_with(a) && t.ends_with(b)
        });
        found.unwrap_or_else(|slot| {
            let start = self.bytes.len();
            for v in [to, piece] {
                let (from, until) = self.spans[v.0 as usize];
                self.bytes.extend_from_within(from..until);
            }
            self.add(slot, hash, start)
        })
    }

    /// The value with this hash whose text passes `is`, or the free slot
    /// where it belongs.
    fn find(&self, hash: (u64, u64), is: impl Fn(&[u8]) -> bool) -> Result<Value, usize> {
        let mask = self.slots.len() - 1;
        let mut slot = crate::hash::mix(hash.0) as usize & mask;
        while self.slots[slot] != u32::MAX {
            let v = Value(self.slots[slot]);
            if self.hashes[v.0 as usize] == hash && is(self.text(v)) {
                return Ok(v);
            }
            slot = (slot + 1) & mask;
        }
        Err(slot)
    }

    /// Records the text from `start` to the end of `bytes` as a new value.
    fn add(&mut self, slot: usize, hash: (u64, u64), start: usize) -> Value {
        let v = Value(u32::try_from(self.spans.len()).expect("fewer than 2^32 strings"));
        self.spans.push((start, self.bytes.len()));
        self.hashes.push(hash);
        self.slots[slot] = v.0;
        if 2 * self.spans.len() > self.slots.len() {
            self.grow();
        }
        v
    }

    fn grow(&mut self) {
        self.slots = vec![u32::MAX; 2 * self.slots.len()];
        let mask = self.slots.len() - 1;
        for (v, &(hash, _)) in self.hashes.iter().enumerate() {
            let mut slot = crate::hash::mix(hash) as usize & mask;
            while self.slots[slot] != u32::MAX {
                slot = (slot + 1) & mask;
            }
            self.slots[slot] = v as u32;
        }
    }

    fn text(&self, v: Value) -> &[u8] {
        let (start, end) = self.spans[v.0 as usize];
        &self.bytes[start..end]
    }
}

/// A map of strings (porcupine's kv model); each key is a part of the
/// state. It owns the strings its operations' [`Value`]s stand for.
pub struct AppendMap {
    keys: Vec<String>,
    /// Grows as the search appends: a cache, not part of any state.
    strings: RefCell<Strings>,
}

impl AppendMap {
    /// A map over `keys`, every value empty.
    pub fn new(keys: Vec<String>) -> Self {
        AppendMap {
            keys,
            strings: RefCell::new(Strings::default()),
        }
    }

    /// The keys.
    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    /// The number of `text`.
    pub fn value(&self, text: &str) -> Value {
        self.strings.borrow_mut().intern(text)
    }

    /// The text of `value`.
    pub fn text(&self, value: Value) -> String {
        String::from_utf8_lossy(self.strings.borrow().text(value)).into_owned()
    }
}

impl Model for AppendMap {
    type State = Value;
    type Op = AppendOp;

    fn init(&self) -> Value {
        Value(0)
    }

    fn step(&self, &state: &Value, op: &AppendOp) -> Option<Value> {
        match *op {
            AppendOp::Get(_, seen) => (state == seen).then_some(state),
            AppendOp::Put(_, v) => Some(v),
            AppendOp::Append(_, piece) => Some(self.strings.borrow_mut().append(state, piece)),
        }
    }

    /// Appends only extend a value, so a get can still succeed only if what
    /// it saw extends the current value or a value that one of `before`
    /// puts.
    fn may_become_legal<'a>(
        &self,
        &state: &Value,
        op: &AppendOp,
        mut before: impl Iterator<Item = Earlier<'a, AppendOp>>,
    ) -> bool {
        let AppendOp::Get(_, seen) = *op else {
            return true;
        };
        let strings = self.strings.borrow();
        let extends = |v: Value| strings.text(seen).starts_with(strings.text(v));
        extends(state) || before.any(|w| matches!(*w.op, AppendOp::Put(_, v) if extends(v)))
    }

    fn legal(&self, &state: &Value, op: &AppendOp) -> bool {
        !matches!(*op, AppendOp::Get(_, seen) if seen != state)
    }

    fn is_read(&self, op: &AppendOp) -> bool {
        matches!(op, AppendOp::Get(..))
    }

    fn parts(&self) -> usize {
        self.keys.len()
    }

    fn part(&self, op: &AppendOp) -> usize {
        op.key()
    }
}

/// A line that does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PorcupineError {
    /// The 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub reason: String,
}

impl std::fmt::Display for PorcupineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for PorcupineError {}

/// Parses a Jepsen etcd log into register operations.
pub fn read_jepsen_etcd(text: &str) -> Result<Vec<Timed<RegisterOp>>, PorcupineError> {
    let mut ops: Vec<Timed<RegisterOp>> = Vec::new();
    // Per process: the index of its open operation; reads whose answer is
    // lost are marked for removal (they constrain nothing).
    let mut open: BTreeMap<u64, usize> = BTreeMap::new();
    let mut dropped = vec![];
    for (n, line) in text.lines().enumerate() {
        let bad = |reason: &str| PorcupineError {
            line: n + 1,
            reason: reason.to_string(),
        };
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(dash) = fields.iter().position(|f| *f == "-") else {
            return Err(bad(
                "expected 'INFO jepsen.util - <process> <type> <f> <value>'",
            ));
        };
        let [process, kind, f, value @ ..] = &fields[dash + 1..] else {
            return Err(bad("too few fields"));
        };
        let process: u64 = process
            .parse()
            .map_err(|_| bad("process is not a number"))?;
        let value = value.join(" ");
        let time = n as u64;
        match *kind {
            ":invoke" => {
                let op = match *f {
                    ":read" => RegisterOp::Read(None),
                    ":write" => {
                        RegisterOp::Write(value.parse().map_err(|_| bad("bad write value"))?)
                    }
                    ":cas" => {
                        let (from, to) = parse_pair(&value).ok_or_else(|| bad("bad cas value"))?;
                        RegisterOp::Cas {
                            from,
                            to,
                            succeeded: None,
                        }
                    }
                    _ => return Err(bad("unknown function")),
                };
                if open.insert(process, ops.len()).is_some() {
                    return Err(bad("a process invoked twice without completing"));
                }
                ops.push(Timed {
                    op,
                    call: time,
                    ret: u64::MAX,
                });
            }
            ":ok" | ":fail" => {
                let i = open
                    .remove(&process)
                    .ok_or_else(|| bad("completion without invoke"))?;
                let ok = *kind == ":ok";
                match (&mut ops[i].op, ok) {
                    (RegisterOp::Read(seen), true) => {
                        *seen = if value == "nil" {
                            None
                        } else {
                            Some(value.parse().map_err(|_| bad("bad read value"))?)
                        };
                    }
                    (RegisterOp::Read(_), false) => dropped.push(i),
                    (RegisterOp::Write(_), true) => {}
                    (RegisterOp::Write(_), false) => dropped.push(i),
                    (RegisterOp::Cas { succeeded, .. }, ok) => *succeeded = Some(ok),
                }
                ops[i].ret = time;
            }
            ":info" => {
                // Outcome unknown: the operation stays open to the end.
                if let Some(i) = open.remove(&process) {
                    if matches!(ops[i].op, RegisterOp::Read(_)) {
                        dropped.push(i);
                    }
                }
            }
            _ => return Err(bad("unknown type")),
        }
    }
    // Reads still open at the end returned nothing: drop them too.
    dropped.extend(
        open.into_values()
            .filter(|&i| matches!(ops[i].op, RegisterOp::Read(_))),
    );
    dropped.sort_unstable();
    for i in dropped.into_iter().rev() {
        ops.remove(i);
    }
    Ok(ops)
}

fn parse_pair(value: &str) -> Option<(i64, i64)> {
    let inner = value.strip_prefix('[')?.strip_suffix(']')?;
    let mut parts = inner.split_whitespace();
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// Parses a porcupine kv log; returns the model over its keys and values,
/// and the operations.
pub fn read_kv(text: &str) -> Result<(AppendMap, Vec<Timed<AppendOp>>), PorcupineError> {
    let mut keys: Vec<String> = Vec::new();
    let mut strings = Strings::default();
    let mut ops: Vec<Timed<AppendOp>> = Vec::new();
    let mut open: BTreeMap<u64, usize> = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |reason: &str| PorcupineError {
            line: n + 1,
            reason: reason.to_string(),
        };
        let process: u64 = field(line, ":process ")
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| bad("no :process"))?;
        let kind = field(line, ":type ").ok_or_else(|| bad("no :type"))?;
        let f = field(line, ":f ").ok_or_else(|| bad("no :f"))?;
        let key = quoted(line, ":key ").ok_or_else(|| bad("no :key"))?;
        let value = quoted(line, ":value ");
        let k = match keys.iter().position(|x| *x == key) {
            Some(k) => k,
            None => {
                keys.push(key.to_string());
                keys.len() - 1
            }
        };
        let time = n as u64;
        match kind {
            ":invoke" => {
                let op = match f {
                    ":get" => AppendOp::Get(k, Value(0)),
                    ":put" => AppendOp::Put(
                        k,
                        strings.intern(value.ok_or_else(|| bad("put without value"))?),
                    ),
                    ":append" => AppendOp::Append(
                        k,
                        strings.intern(value.ok_or_else(|| bad("append without value"))?),
                    ),
                    _ => return Err(bad("unknown function")),
                };
                open.insert(process, ops.len());
                ops.push(Timed {
                    op,
                    call: time,
                    ret: u64::MAX,
                });
            }
            ":ok" => {
                let i = open
                    .remove(&process)
                    .ok_or_else(|| bad("completion without invoke"))?;
                if let AppendOp::Get(_, seen) = &mut ops[i].op {
                    *seen = strings.intern(value.unwrap_or_default());
                }
                ops[i].ret = time;
            }
            _ => return Err(bad("unknown type")),
        }
    }
    // A get that never returned observed nothing, so it is dropped (however
    // many there are; `open` is keyed by process, not by position). A put
    // or append that never returned stays open to the end: it may have
    // taken effect. porcupine's parser differs here: it closes every open
    // operation at the end of the history with an empty output, so an
    // unanswered get counts there as having read "" last.
    let unanswered: BTreeSet<usize> = open
        .into_values()
        .filter(|&i| matches!(ops[i].op, AppendOp::Get(..)))
        .collect();
    let mut position = 0;
    ops.retain(|_| {
        position += 1;
        !unanswered.contains(&(position - 1))
    });
    let model = AppendMap {
        keys,
        strings: RefCell::new(strings),
    };
    Ok((model, ops))
}

/// The text after `name` up to the next comma or brace.
fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let rest = &line[line.find(name)? + name.len()..];
    Some(rest[..rest.find([',', '}']).unwrap_or(rest.len())].trim())
}

/// The quoted string after `name`, if it is one (not `nil`).
fn quoted<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let rest = line[line.find(name)? + name.len()..].strip_prefix('"')?;
    Some(&rest[..rest.find('"')?])
}

/// Checks a kv log, per key or as one map. Either way the search knows the
/// keys are independent parts of the state (see [`crate::search`]); split,
/// each key's operations are also searched on their own, the keys taking
/// turns so that a quick refutation is not stuck behind a long search.
pub fn check_kv_log(
    model: &AppendMap,
    ops: &[Timed<AppendOp>],
    by_key: bool,
    deadline: Option<std::time::Instant>,
) -> Search {
    if !by_key {
        return search(model, ops, deadline);
    }
    let mut by_key: Vec<Vec<Timed<AppendOp>>> = model.keys.iter().map(|_| Vec::new()).collect();
    for op in ops {
        by_key[op.op.key()].push(op.clone());
    }
    match search_parts(by_key.len(), |i, budget| {
        search_bounded(model, &by_key[i], deadline, budget)
    }) {
        None => Search::Linearizable,
        Some((_, failed)) => failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_jepsen_log_with_open_and_failed_operations() {
        let log = "INFO  jepsen.util - 0\t:invoke\t:write\t1\n\
                   INFO  jepsen.util - 1\t:invoke\t:cas\t[1 2]\n\
                   INFO  jepsen.util - 0\t:ok\t:write\t1\n\
                   INFO  jepsen.util - 1\t:info\t:cas\t:timed-out\n\
                   INFO  jepsen.util - 2\t:invoke\t:read\tnil\n\
                   INFO  jepsen.util - 2\t:ok\t:read\t2\n";
        let ops = read_jepsen_etcd(log).unwrap();
        assert_eq!(ops.len(), 3);
        assert_eq!(ops[1].ret, u64::MAX, "the :info cas stays open");
        assert_eq!(search(&Register, &ops, None), Search::Linearizable);
        let bad = log.replace(":ok\t:read\t2", ":ok\t:read\t3");
        assert!(matches!(
            search(&Register, &read_jepsen_etcd(&bad).unwrap(), None),
            Search::NotLinearizable { .. }
        ));
    }

    #[test]
    fn reads_a_kv_log() {
        let log = "{:process 0, :type :invoke, :f :append, :key \"1\", :value \"x 0 0 y\"}\n\
                   {:process 0, :type :ok, :f :append, :key \"1\", :value \"x 0 0 y\"}\n\
                   {:process 1, :type :invoke, :f :get, :key \"1\", :value nil}\n\
                   {:process 1, :type :ok, :f :get, :key \"1\", :value \"x 0 0 y\"}\n";
        let (model, ops) = read_kv(log).unwrap();
        assert_eq!(model.keys(), ["1".to_string()]);
        assert_eq!(model.text(model.value("x 0 0 y")), "x 0 0 y");
        assert_eq!(ops[1].op, AppendOp::Get(0, model.value("x 0 0 y")));
        assert_eq!(check_kv_log(&model, &ops, true, None), Search::Linearizable);
        assert_eq!(
            check_kv_log(&model, &ops, false, None),
            Search::Linearizable
        );
    }

    fn kv_line(process: u32, kind: &str, f: &str, value: &str) -> String {
        format!("{{:process {process}, :type :{kind}, :f :{f}, :key \"k\", :value {value}}}\n")
    }

    /// Unanswered gets are dropped by their position in the file, not by
    /// their process number: here the lower process called later, which
    /// once removed the completed get instead and called a read of a value
    /// nobody wrote linearizable.
    #[test]
    fn drops_every_unanswered_get_and_nothing_else() {
        let log = [
            kv_line(5, "invoke", "get", "nil"),
            kv_line(1, "invoke", "get", "nil"),
            kv_line(2, "invoke", "get", "nil"),
            kv_line(2, "ok", "get", "\"nobody wrote this\""),
        ]
        .concat();
        let (model, ops) = read_kv(&log).unwrap();
        assert_eq!(ops.len(), 1, "only the get that returned is left");
        assert_eq!(ops[0].call, 2);
        assert_eq!(
            ops[0].op,
            AppendOp::Get(0, model.value("nobody wrote this"))
        );
        assert!(matches!(
            check_kv_log(&model, &ops, true, None),
            Search::NotLinearizable { .. }
        ));
    }

    /// Unanswered gets after the last completed operation, called by
    /// processes numbered against their order: reading once panicked with
    /// an out-of-range removal.
    #[test]
    fn reads_unanswered_gets_in_any_process_order_without_panicking() {
        let log = [
            kv_line(9, "invoke", "get", "nil"),
            kv_line(3, "invoke", "put", "\"a\""),
            kv_line(3, "ok", "put", "\"a\""),
            kv_line(1, "invoke", "get", "nil"),
            kv_line(4, "invoke", "append", "\"b\""),
            kv_line(7, "invoke", "get", "nil"),
            kv_line(7, "ok", "get", "\"ab\""),
        ]
        .concat();
        let (model, ops) = read_kv(&log).unwrap();
        let calls: Vec<u64> = ops.iter().map(|op| op.call).collect();
        assert_eq!(
            calls,
            [1, 4, 5],
            "the put, the open append and the answered get"
        );
        assert_eq!(ops[1].ret, u64::MAX, "an unanswered append stays open");
        assert_eq!(check_kv_log(&model, &ops, true, None), Search::Linearizable);
        let unexplained = log.replace("\"ab\"}", "\"ba\"}");
        let (model, ops) = read_kv(&unexplained).unwrap();
        assert!(matches!(
            check_kv_log(&model, &ops, true, None),
            Search::NotLinearizable { .. }
        ));
    }

    fn timed<Op>(op: Op, call: u64, ret: u64) -> Timed<Op> {
        Timed { op, call, ret }
    }

    /// A successful compare-and-set is stuck until its expected value is
    /// written; it is doomed only if no write called before it returns
    /// writes that value.
    #[test]
    fn a_cas_waits_for_a_write_that_may_precede_it() {
        let cas = RegisterOp::Cas {
            from: 2,
            to: 3,
            succeeded: Some(true),
        };
        let history = |write_2_at: u64| {
            [
                timed(RegisterOp::Write(1), 0, 2),
                timed(cas.clone(), 1, 10),
                timed(RegisterOp::Write(2), write_2_at, write_2_at + 1),
                timed(RegisterOp::Read(Some(3)), 20, 21),
            ]
        };
        assert_eq!(search(&Register, &history(5), None), Search::Linearizable);
        assert!(matches!(
            search(&Register, &history(11), None),
            Search::NotLinearizable { .. }
        ));
    }

    /// A get that saw a put's value is stuck behind an append; it is
    /// doomed only if no put called before it returns could explain it.
    #[test]
    fn a_get_waits_for_a_put_that_may_precede_it() {
        let line = |p: u32, kind: &str, f: &str, value: &str| {
            format!("{{:process {p}, :type :{kind}, :f :{f}, :key \"k\", :value {value}}}\n")
        };
        let put = [
            line(2, "invoke", "put", "\"b\""),
            line(2, "ok", "put", "\"b\""),
        ]
        .concat();
        let history = |put_before_get_returns: bool| {
            let get_returns = line(1, "ok", "get", "\"b\"");
            [
                line(0, "invoke", "append", "\"a\""),
                line(1, "invoke", "get", "nil"),
                line(0, "ok", "append", "\"a\""),
                if put_before_get_returns {
                    format!("{put}{get_returns}")
                } else {
                    format!("{get_returns}{put}")
                },
            ]
            .concat()
        };
        for (put_first, expected) in [(true, true), (false, false)] {
            let (model, ops) = read_kv(&history(put_first)).unwrap();
            let found = check_kv_log(&model, &ops, false, None);
            assert_eq!(found == Search::Linearizable, expected, "{found:?}");
        }
    }
}
