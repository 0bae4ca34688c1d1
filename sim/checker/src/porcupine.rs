//! Readers for porcupine's test histories, and the two models they need.
//!
//! The files are described in `shared/peer-data/porcupine/FORMAT.md`: Jepsen
//! logs of a single etcd register (read / write / cas) and key-value logs
//! (get / put / append). A line's position is its time. An operation that
//! never completes (`:info`, or no completion at all) stays open to the end:
//! it may take effect at any time after its call, or never.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use crate::search::{search, search_bounded, search_parts, FxBuild, Model, Search, Timed};

/// A register operation with what was observed.
#[derive(Debug, Clone, PartialEq, Eq)]
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

    fn is_pure(&self, op: &RegisterOp) -> bool {
        matches!(
            op,
            RegisterOp::Read(_)
                | RegisterOp::Cas {
                    succeeded: Some(false),
                    ..
                }
        )
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
}

/// A key-value operation of porcupine's kv logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendOp {
    /// A get of key `.0` that returned `.1` (a missing key reads as "").
    Get(usize, String),
    /// A put.
    Put(usize, String),
    /// An append to the key's value.
    Append(usize, String),
}

/// A map of strings (porcupine's kv model), over `keys` keys.
///
/// Values are interned: a state is one id per key, so that a search step
/// copies and hashes a few integers rather than strings that grow with
/// every append. The table only grows; an append's result is cached by
/// (value, suffix) so each distinct append is concatenated once.
pub struct AppendMap {
    keys: usize,
    table: RefCell<Interned>,
}

#[derive(Default)]
struct Interned {
    ids: HashMap<String, u32, FxBuild>,
    values: Vec<String>,
    appended: HashMap<(u32, u32), u32, FxBuild>,
}

impl Interned {
    fn id(&mut self, value: &str) -> u32 {
        if let Some(&id) = self.ids.get(value) {
            return id;
        }
        let id = self.values.len() as u32;
        self.values.push(value.to_string());
        self.ids.insert(value.to_string(), id);
        id
    }
}

/// An [`AppendOp`] with its strings interned by an [`AppendMap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InternedOp {
    /// A get of key `.0` that returned value `.1`.
    Get(usize, u32),
    /// A put of value `.1`.
    Put(usize, u32),
    /// An append of the string `.1`.
    Append(usize, u32),
}

impl AppendMap {
    /// The model over `keys` keys, all starting as "".
    pub fn new(keys: usize) -> Self {
        let map = AppendMap {
            keys,
            table: RefCell::default(),
        };
        map.table.borrow_mut().id("");
        map
    }

    /// `op` in this model's terms.
    pub fn intern(&self, op: &AppendOp) -> InternedOp {
        let mut table = self.table.borrow_mut();
        match op {
            AppendOp::Get(k, v) => InternedOp::Get(*k, table.id(v)),
            AppendOp::Put(k, v) => InternedOp::Put(*k, table.id(v)),
            AppendOp::Append(k, v) => InternedOp::Append(*k, table.id(v)),
        }
    }
}

impl Model for AppendMap {
    type State = Vec<u32>;
    type Op = InternedOp;

    fn init(&self) -> Vec<u32> {
        vec![0; self.keys]
    }

    fn is_pure(&self, op: &InternedOp) -> bool {
        matches!(op, InternedOp::Get(..))
    }

    fn step(&self, state: &Vec<u32>, op: &InternedOp) -> Option<Vec<u32>> {
        let set = |k: usize, v: u32| {
            let mut next = state.clone();
            next[k] = v;
            next
        };
        match *op {
            InternedOp::Get(k, v) => (state[k] == v).then(|| state.clone()),
            InternedOp::Put(k, v) => Some(set(k, v)),
            InternedOp::Append(k, suffix) => {
                let mut table = self.table.borrow_mut();
                let cached = table.appended.get(&(state[k], suffix)).copied();
                let joined = cached.unwrap_or_else(|| {
                    let joined =
                        table.values[state[k] as usize].clone() + &table.values[suffix as usize];
                    let id = table.id(&joined);
                    table.appended.insert((state[k], suffix), id);
                    id
                });
                Some(set(k, joined))
            }
        }
    }
}

fn interned(model: &AppendMap, ops: &[Timed<AppendOp>]) -> Vec<Timed<InternedOp>> {
    ops.iter()
        .map(|t| Timed {
            op: model.intern(&t.op),
            call: t.call,
            ret: t.ret,
        })
        .collect()
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

/// Parses a porcupine kv log; returns the keys and each operation with the
/// index of its key.
pub fn read_kv(text: &str) -> Result<(Vec<String>, Vec<Timed<AppendOp>>), PorcupineError> {
    let mut keys: Vec<String> = Vec::new();
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
                    ":get" => AppendOp::Get(k, String::new()),
                    ":put" => {
                        AppendOp::Put(k, value.ok_or_else(|| bad("put without value"))?.into())
                    }
                    ":append" => AppendOp::Append(
                        k,
                        value.ok_or_else(|| bad("append without value"))?.into(),
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
                    *seen = value.unwrap_or_default().to_string();
                }
                ops[i].ret = time;
            }
            _ => return Err(bad("unknown type")),
        }
    }
    // A get that never returned tells nothing.
    let unanswered: Vec<usize> = open
        .into_values()
        .filter(|&i| matches!(ops[i].op, AppendOp::Get(..)))
        .collect();
    for i in unanswered.into_iter().rev() {
        ops.remove(i);
    }
    Ok((keys, ops))
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

/// Checks a kv log, per key or as one map.
pub fn check_kv_log(
    keys: &[String],
    ops: Vec<Timed<AppendOp>>,
    by_key: bool,
    deadline: Option<std::time::Instant>,
) -> Search {
    if !by_key {
        let model = AppendMap::new(keys.len());
        return search(&model, &interned(&model, &ops), deadline);
    }
    let mut by_key: BTreeMap<usize, Vec<Timed<AppendOp>>> = BTreeMap::new();
    for op in ops {
        let k = match &op.op {
            AppendOp::Get(k, _) | AppendOp::Put(k, _) | AppendOp::Append(k, _) => *k,
        };
        by_key.entry(k).or_default().push(op);
    }
    // One model per part: each interns only its own key's values.
    let parts: Vec<(AppendMap, Vec<Timed<InternedOp>>)> = by_key
        .into_values()
        .map(|part| {
            // Within a part every operation touches the one key; renumber it 0.
            let part: Vec<Timed<AppendOp>> = part
                .into_iter()
                .map(|t| Timed {
                    op: match t.op {
                        AppendOp::Get(_, v) => AppendOp::Get(0, v),
                        AppendOp::Put(_, v) => AppendOp::Put(0, v),
                        AppendOp::Append(_, v) => AppendOp::Append(0, v),
                    },
                    call: t.call,
                    ret: t.ret,
                })
                .collect();
            let model = AppendMap::new(1);
            let ops = interned(&model, &part);
            (model, ops)
        })
        .collect();
    match search_parts(parts.len(), |i, budget| {
        search_bounded(&parts[i].0, &parts[i].1, deadline, budget)
    }) {
        None => Search::Linearizable,
        Some((_, failed)) => failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timed<Op>(op: Op, call: u64, ret: u64) -> Timed<Op> {
        Timed { op, call, ret }
    }

    /// A failed CAS is pure, so the search places it as soon as it is
    /// legal; that must neither hide a linearization nor invent one.
    #[test]
    fn a_failed_cas_goes_first_without_changing_verdicts() {
        let failed_cas = |from| RegisterOp::Cas {
            from,
            to: 2,
            succeeded: Some(false),
        };
        let ok = [
            timed(RegisterOp::Write(1), 0, 10),
            timed(failed_cas(1), 1, 2),
            timed(RegisterOp::Read(Some(1)), 3, 4),
        ];
        // Legal only before the write: pure-first places it there.
        assert_eq!(search(&Register, &ok, None), Search::Linearizable);
        let bad = [
            timed(RegisterOp::Write(1), 0, 1),
            timed(failed_cas(1), 2, 3),
        ];
        assert!(matches!(
            search(&Register, &bad, None),
            Search::NotLinearizable { .. }
        ));
    }

    #[test]
    fn appends_are_interned_and_reads_see_their_concatenation() {
        let log = [
            timed(AppendOp::Append(0, "a".into()), 0, 1),
            timed(AppendOp::Append(0, "b".into()), 2, 3),
            timed(AppendOp::Get(0, "ab".into()), 4, 5),
        ];
        let keys = ["x".to_string()];
        assert_eq!(
            check_kv_log(&keys, log.to_vec(), false, None),
            Search::Linearizable
        );
        let mut wrong = log.to_vec();
        wrong[2].op = AppendOp::Get(0, "ba".into());
        assert!(matches!(
            check_kv_log(&keys, wrong, true, None),
            Search::NotLinearizable { .. }
        ));
    }

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
        let (keys, ops) = read_kv(log).unwrap();
        assert_eq!(keys, vec!["1".to_string()]);
        assert_eq!(check_kv_log(&keys, ops, true, None), Search::Linearizable);
    }
}
