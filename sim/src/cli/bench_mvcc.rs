//! `etcd-sim bench mvcc`: single-thread throughput of the MVCC store
//! against a plain `BTreeMap` doing the same work in the same run.
//!
//! The baseline is the floor of what an ordered in-memory map costs; the
//! ratio says what revisions, the key index and history cost on top.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use etcd_sim::mvcc::{KvStore, RangeOptions};

/// `etcd-sim bench mvcc`.
#[derive(clap::Args, Debug, Clone)]
pub struct MvccArgs {
    /// Distinct keys written, then read.
    #[arg(long, default_value_t = 100_000)]
    pub keys: usize,
    /// Bytes per value.
    #[arg(long, default_value_t = 100)]
    pub value_bytes: usize,
    /// Measure this many times and keep the fastest.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
}

/// One workload's time on both stores.
struct Pair {
    name: &'static str,
    ops: usize,
    mvcc: Duration,
    map: Duration,
}

/// Runs the benchmark; prints ops/s for both and their ratio.
pub fn run(args: &MvccArgs) -> u8 {
    if args.keys == 0 || args.runs == 0 {
        eprintln!("error: --keys and --runs must be at least 1");
        return super::EXIT_USAGE;
    }
    let keys: Vec<Vec<u8>> = (0..args.keys)
        .map(|i| format!("key/{i:010}").into_bytes())
        .collect();
    let value = vec![b'v'; args.value_bytes];
    let mut best: Option<Vec<Pair>> = None;
    for _ in 0..args.runs {
        let pairs = measure(&keys, &value);
        best = Some(match best {
            None => pairs,
            Some(old) => old
                .into_iter()
                .zip(pairs)
                .map(|(a, b)| Pair {
                    mvcc: a.mvcc.min(b.mvcc),
                    map: a.map.min(b.map),
                    ..a
                })
                .collect(),
        });
    }
    println!(
        "bench mvcc: {} keys, {}-byte values, single thread, fastest of {}",
        args.keys, args.value_bytes, args.runs
    );
    for pair in best.expect("at least one run") {
        let rate = |d: Duration| pair.ops as f64 / d.as_secs_f64().max(1e-9);
        println!(
            "{:<28} mvcc {:>12.0} ops/s   BTreeMap {:>12.0} ops/s   mvcc/BTreeMap {:.2}",
            pair.name,
            rate(pair.mvcc),
            rate(pair.map),
            rate(pair.mvcc) / rate(pair.map)
        );
    }
    super::EXIT_OK
}

fn measure(keys: &[Vec<u8>], value: &[u8]) -> Vec<Pair> {
    let mut store = KvStore::new();
    let mut map: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let put_mvcc = timed(|| {
        for key in keys {
            let mut txn = store.write();
            txn.put(key, value, 0);
            txn.end();
        }
    });
    let put_map = timed(|| {
        for key in keys {
            map.insert(key.clone(), value.to_vec());
        }
    });
    let get_mvcc = timed(|| {
        for key in keys {
            black_box(store.range(key, &[], RangeOptions::default()).unwrap());
        }
    });
    let get_map = timed(|| {
        for key in keys {
            black_box(map.get(key).cloned());
        }
    });
    // Ranges of 100 consecutive keys.
    let starts: Vec<&Vec<u8>> = keys.iter().step_by(100).collect();
    let span = |i: usize| &keys[(i * 100 + 99).min(keys.len() - 1)];
    let range_mvcc = timed(|| {
        for (i, start) in starts.iter().enumerate() {
            black_box(
                store
                    .range(start, span(i), RangeOptions::default())
                    .unwrap(),
            );
        }
    });
    let range_map = timed(|| {
        for (i, start) in starts.iter().enumerate() {
            let found: Vec<(Vec<u8>, Vec<u8>)> = map
                .range::<Vec<u8>, _>(*start..span(i))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            black_box(found);
        }
    });
    vec![
        Pair {
            name: "put (new key)",
            ops: keys.len(),
            mvcc: put_mvcc,
            map: put_map,
        },
        Pair {
            name: "range (one key)",
            ops: keys.len(),
            mvcc: get_mvcc,
            map: get_map,
        },
        Pair {
            name: "range (100 keys)",
            ops: starts.len(),
            mvcc: range_mvcc,
            map: range_map,
        },
    ]
}

fn timed(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}
