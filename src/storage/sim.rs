//! An in-memory disk with a page cache that a crash throws away, and syncs
//! that take time.

use std::collections::BTreeMap;
use std::io;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use madsim::rand::{thread_rng, Rng};

use super::Disk;

/// The unit in which a page cache writes data back.
pub const PAGE: usize = 4096;

/// How long a simulated disk's syncs take: mostly fast, sometimes slow, now
/// and then very slow, as a real disk's fsync latencies are (a long tail
/// under contention, garbage collection in an SSD, a busy neighbour).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskLatency {
    /// The usual sync.
    pub fast: Range<Duration>,
    /// Syncs in a thousand that are slow.
    pub slow_per_mille: u32,
    /// A slow sync.
    pub slow: Range<Duration>,
    /// Syncs in ten thousand that are very slow.
    pub very_slow_per_10k: u32,
    /// A very slow sync.
    pub very_slow: Range<Duration>,
}

impl DiskLatency {
    /// A disk whose syncs are durable the instant they are asked for.
    pub const INSTANT: DiskLatency = DiskLatency {
        fast: Duration::ZERO..Duration::ZERO,
        slow_per_mille: 0,
        slow: Duration::ZERO..Duration::ZERO,
        very_slow_per_10k: 0,
        very_slow: Duration::ZERO..Duration::ZERO,
    };

    /// One sync's latency.
    pub fn draw(&self, rng: &mut impl Rng) -> Duration {
        let roll = rng.gen_range(0..10_000);
        let range = if roll < self.very_slow_per_10k {
            &self.very_slow
        } else if roll < self.very_slow_per_10k + self.slow_per_mille * 10 {
            &self.slow
        } else {
            &self.fast
        };
        if range.is_empty() {
            range.start
        } else {
            rng.gen_range(range.clone())
        }
    }
}

impl Default for DiskLatency {
    fn default() -> Self {
        Self::INSTANT
    }
}

/// What a file had not made durable when the power went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsynced {
    /// `bytes` were appended after the durable content.
    Appended {
        /// How many.
        bytes: usize,
        /// The pages (of [`PAGE`] bytes, aligned to file offsets) those
        /// bytes touch.
        pages: usize,
    },
    /// The file was replaced or cut since its last sync.
    Rewritten,
}

/// What a crash keeps of a file's unsynced writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kept {
    /// Nothing: the file is as it was at its last sync.
    Nothing,
    /// The first bytes of an appended tail (a write torn part way).
    Prefix(usize),
    /// The pages of an appended tail the page cache happened to write
    /// back, in any order: `true` for each page kept; a page not kept reads
    /// as zeros if a later one was kept.
    Pages(Vec<bool>),
    /// Everything, as if it had been synced.
    Everything,
}

/// A simulated disk, shared by the harness and the member that uses it.
///
/// Cloning gives another handle to the same files. The harness keeps one
/// handle across kills and restarts of the member; it calls [`SimDisk::crash`]
/// when the member's machine loses power.
#[derive(Clone, Default)]
pub struct SimDisk {
    files: Arc<Mutex<BTreeMap<String, SimFile>>>,
    latency: Arc<Mutex<DiskLatency>>,
    /// Added to every sync (the slow-fsync fault).
    extra_latency: Arc<Mutex<Duration>>,
}

#[derive(Clone, Default)]
struct SimFile {
    /// What a reader sees now: durable content plus unsynced writes.
    current: Vec<u8>,
    /// What survives a crash.
    durable: Vec<u8>,
    /// `current` and `durable` agree on their first this many bytes: a
    /// sync copies only what follows, so syncing a log that only grows
    /// costs what was appended, not the whole file.
    same_until: usize,
}

impl SimDisk {
    /// An empty disk.
    pub fn new() -> Self {
        Self::default()
    }

    /// How long this disk's syncs take from now on.
    pub fn set_latency(&self, latency: DiskLatency) {
        *self.latency.lock().unwrap() = latency;
    }

    /// Makes every sync take `latency` longer (a slow-fsync fault); zero
    /// restores the disk's own latency.
    pub fn set_sync_latency(&self, latency: Duration) {
        *self.extra_latency.lock().unwrap() = latency;
    }

    /// Loses what a power failure loses, as the seed decides: per file,
    /// usually every unsynced write, sometimes a torn prefix of an appended
    /// tail, sometimes the pages the page cache wrote back early, in any
    /// order, and now and then a rewrite that reached the disk whole.
    pub fn power_loss(&self) {
        let mut rng = thread_rng();
        self.crash(|unsynced| match (unsynced, rng.gen_range(0..10)) {
            (_, 0..6) => Kept::Nothing,
            (Unsynced::Appended { bytes, .. }, 6..8) => Kept::Prefix(rng.gen_range(0..=bytes)),
            (Unsynced::Appended { pages, .. }, _) => {
                Kept::Pages((0..pages).map(|_| rng.gen_bool(0.5)).collect())
            }
            (Unsynced::Rewritten, 6..8) => Kept::Everything,
            (Unsynced::Rewritten, _) => Kept::Nothing,
        });
    }

    /// Loses every write that was not synced, as a power failure does,
    /// except what `keep` says reached the disk anyway; `keep` is asked
    /// once for each file with unsynced writes.
    pub fn crash(&self, mut keep: impl FnMut(Unsynced) -> Kept) {
        let mut files = self.files.lock().unwrap();
        for file in files.values_mut() {
            if file.current == file.durable {
                continue;
            }
            let durable_len = file.durable.len();
            let extends_durable =
                file.current.len() > durable_len && file.current.starts_with(&file.durable);
            let unsynced = if extends_durable {
                let bytes = file.current.len() - durable_len;
                let pages = file.current.len().div_ceil(PAGE) - durable_len / PAGE;
                Unsynced::Appended { bytes, pages }
            } else {
                Unsynced::Rewritten
            };
            match keep(unsynced) {
                Kept::Nothing => file.current = file.durable.clone(),
                Kept::Everything => {}
                Kept::Prefix(bytes) if extends_durable => {
                    file.current
                        .truncate(durable_len + bytes.min(file.current.len() - durable_len));
                }
                Kept::Pages(kept) if extends_durable => {
                    let first_page = durable_len / PAGE;
                    let end = kept
                        .iter()
                        .rposition(|&k| k)
                        .map_or(durable_len, |last| (first_page + last + 1) * PAGE);
                    for (i, _) in kept.iter().enumerate().filter(|(_, &k)| !k) {
                        let page = (first_page + i) * PAGE;
                        let lost = page.max(durable_len)..(page + PAGE).min(file.current.len());
                        file.current[lost].fill(0);
                    }
                    file.current.truncate(end.min(file.current.len()));
                }
                Kept::Prefix(_) | Kept::Pages(_) => file.current = file.durable.clone(),
            }
            file.durable = file.current.clone();
            file.same_until = file.current.len();
        }
    }

    /// Erases every file, as a new, empty disk in the same machine would
    /// (an operator wiping a replaced member's data dir).
    pub fn wipe(&self) {
        self.files.lock().unwrap().clear();
    }

    /// Total bytes that a crash right now would lose.
    pub fn unsynced_bytes(&self) -> usize {
        let files = self.files.lock().unwrap();
        files
            .values()
            .map(|f| f.current.len().abs_diff(f.durable.len()))
            .sum()
    }

    fn with_file<T>(&self, name: &str, f: impl FnOnce(&mut SimFile) -> T) -> io::Result<T> {
        let mut files = self.files.lock().unwrap();
        let file = files.get_mut(name).ok_or_else(|| not_found(name))?;
        Ok(f(file))
    }
}

fn not_found(name: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{name}: no such file"))
}

impl Disk for SimDisk {
    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        self.with_file(name, |f| f.current.clone())
    }

    fn append(&self, name: &str, data: &[u8]) -> io::Result<()> {
        let mut files = self.files.lock().unwrap();
        files
            .entry(name.to_string())
            .or_default()
            .current
            .extend_from_slice(data);
        Ok(())
    }

    fn write(&self, name: &str, data: &[u8]) -> io::Result<()> {
        let mut files = self.files.lock().unwrap();
        let file = files.entry(name.to_string()).or_default();
        file.current = data.to_vec();
        file.same_until = 0;
        Ok(())
    }

    fn truncate(&self, name: &str, len: u64) -> io::Result<()> {
        self.with_file(name, |f| {
            f.current.truncate(len as usize);
            f.same_until = f.same_until.min(f.current.len());
        })
    }

    fn sync(&self, name: &str) -> io::Result<()> {
        self.with_file(name, |f| {
            f.durable.truncate(f.same_until);
            f.durable.extend_from_slice(&f.current[f.same_until..]);
            f.same_until = f.current.len();
        })
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let mut files = self.files.lock().unwrap();
        let file = files.remove(from).ok_or_else(|| not_found(from))?;
        files.insert(to.to_string(), file);
        Ok(())
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        self.files.lock().unwrap().remove(name);
        Ok(())
    }

    fn list(&self) -> io::Result<Vec<String>> {
        Ok(self.files.lock().unwrap().keys().cloned().collect())
    }

    fn sync_latency(&self) -> Duration {
        let own = self.latency.lock().unwrap().draw(&mut thread_rng());
        own + *self.extra_latency.lock().unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_drops_unsynced_appends() {
        let disk = SimDisk::new();
        disk.append("wal", b"abc").unwrap();
        disk.sync("wal").unwrap();
        disk.append("wal", b"def").unwrap();
        assert_eq!(disk.unsynced_bytes(), 3);
        disk.crash(|_| Kept::Nothing);
        assert_eq!(disk.read("wal").unwrap(), b"abc");
        assert_eq!(disk.unsynced_bytes(), 0);
    }

    #[test]
    fn crash_can_keep_a_torn_prefix_of_the_unsynced_tail() {
        let disk = SimDisk::new();
        disk.append("wal", b"abc").unwrap();
        disk.sync("wal").unwrap();
        disk.append("wal", b"defgh").unwrap();
        disk.crash(|unsynced| {
            assert_eq!(unsynced, Unsynced::Appended { bytes: 5, pages: 1 });
            Kept::Prefix(2)
        });
        assert_eq!(disk.read("wal").unwrap(), b"abcde");
    }

    #[test]
    fn crash_restores_an_overwritten_file() {
        let disk = SimDisk::new();
        disk.write("meta", b"old").unwrap();
        disk.sync("meta").unwrap();
        disk.write("meta", b"new!").unwrap();
        disk.crash(|unsynced| {
            assert_eq!(unsynced, Unsynced::Rewritten);
            Kept::Prefix(4)
        });
        assert_eq!(disk.read("meta").unwrap(), b"old");
        disk.write("meta", b"new!").unwrap();
        disk.crash(|_| Kept::Everything);
        assert_eq!(disk.read("meta").unwrap(), b"new!");
    }

    #[test]
    fn a_file_never_synced_is_empty_after_a_crash() {
        let disk = SimDisk::new();
        disk.append("wal", b"abc").unwrap();
        disk.crash(|_| Kept::Nothing);
        assert_eq!(disk.read("wal").unwrap(), b"");
    }

    #[test]
    fn pages_written_back_out_of_order_leave_zeros_where_others_were_lost() {
        let disk = SimDisk::new();
        disk.append("wal", &[1; 100]).unwrap();
        disk.sync("wal").unwrap();
        // Unsynced: the rest of page 0, all of page 1, part of page 2.
        disk.append("wal", &[2; 2 * PAGE]).unwrap();
        disk.crash(|unsynced| {
            assert_eq!(
                unsynced,
                Unsynced::Appended {
                    bytes: 2 * PAGE,
                    pages: 3
                }
            );
            Kept::Pages(vec![false, true, false])
        });
        let data = disk.read("wal").unwrap();
        assert_eq!(data.len(), 2 * PAGE, "cut after the last page kept");
        assert!(data[..100].iter().all(|&b| b == 1), "durable bytes stay");
        assert!(
            data[100..PAGE].iter().all(|&b| b == 0),
            "a lost page reads as zeros"
        );
        assert!(
            data[PAGE..].iter().all(|&b| b == 2),
            "a kept page keeps its data"
        );
        assert_eq!(disk.unsynced_bytes(), 0);
    }

    #[tokio::test]
    async fn sync_latency_follows_the_profile_plus_the_fault() {
        let disk = SimDisk::new();
        assert_eq!(disk.sync_latency(), Duration::ZERO);
        let ms = Duration::from_millis;
        disk.set_latency(DiskLatency {
            fast: ms(1)..ms(2),
            slow_per_mille: 1000,
            slow: ms(10)..ms(11),
            very_slow_per_10k: 0,
            very_slow: ms(0)..ms(0),
        });
        disk.set_sync_latency(ms(100));
        let latency = disk.sync_latency();
        assert!((ms(110)..ms(111)).contains(&latency), "{latency:?}");
    }
}
