//! An in-memory disk with a page cache that a crash throws away.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::Disk;

/// A simulated disk, shared by the harness and the member that uses it.
///
/// Cloning gives another handle to the same files. The harness keeps one
/// handle across kills and restarts of the member; it calls [`SimDisk::crash`]
/// when the member's machine loses power.
#[derive(Clone, Default)]
pub struct SimDisk {
    files: Arc<Mutex<BTreeMap<String, SimFile>>>,
    sync_latency: Arc<Mutex<Duration>>,
}

#[derive(Clone, Default)]
struct SimFile {
    /// What a reader sees now: durable content plus unsynced writes.
    current: Vec<u8>,
    /// What survives a crash.
    durable: Vec<u8>,
}

impl SimDisk {
    /// An empty disk.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every sync take `latency` longer (a slow-fsync fault); zero
    /// restores a fast disk.
    pub fn set_sync_latency(&self, latency: Duration) {
        *self.sync_latency.lock().unwrap() = latency;
    }

    /// Loses every write that was not synced, as a power failure does.
    ///
    /// `torn_prefix` chooses, per file with unsynced appended bytes, how many
    /// of those bytes were nevertheless written out before the power went
    /// (a torn write); it is given the count of unsynced bytes and returns a
    /// number up to it. Pass `|_| 0` for a clean loss.
    pub fn crash(&self, mut torn_prefix: impl FnMut(usize) -> usize) {
        let mut files = self.files.lock().unwrap();
        for file in files.values_mut() {
            let extends_durable =
                file.current.len() > file.durable.len() && file.current.starts_with(&file.durable);
            if extends_durable {
                let unsynced = file.current.len() - file.durable.len();
                let kept = torn_prefix(unsynced).min(unsynced);
                file.current.truncate(file.durable.len() + kept);
            } else {
                file.current = file.durable.clone();
            }
            file.durable = file.current.clone();
        }
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
        files.entry(name.to_string()).or_default().current = data.to_vec();
        Ok(())
    }

    fn truncate(&self, name: &str, len: u64) -> io::Result<()> {
        self.with_file(name, |f| f.current.truncate(len as usize))
    }

    fn sync(&self, name: &str) -> io::Result<()> {
        self.with_file(name, |f| f.durable = f.current.clone())
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
        *self.sync_latency.lock().unwrap()
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
        disk.crash(|_| 0);
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
            assert_eq!(unsynced, 5);
            2
        });
        assert_eq!(disk.read("wal").unwrap(), b"abcde");
    }

    #[test]
    fn crash_restores_an_overwritten_file() {
        let disk = SimDisk::new();
        disk.write("meta", b"old").unwrap();
        disk.sync("meta").unwrap();
        disk.write("meta", b"new!").unwrap();
        disk.crash(|n| n);
        assert_eq!(disk.read("meta").unwrap(), b"old");
    }

    #[test]
    fn a_file_never_synced_is_empty_after_a_crash() {
        let disk = SimDisk::new();
        disk.append("wal", b"abc").unwrap();
        disk.crash(|_| 0);
        assert_eq!(disk.read("wal").unwrap(), b"");
    }
}
