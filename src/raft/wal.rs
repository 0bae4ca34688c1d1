//! The write-ahead log: raft entries and hard state, durable before they count.
//!
//! # Record framing
//!
//! The log is one file, `wal`, a sequence of records:
//!
//! ```text
//! +-------------+-----------------+-------------+------+-------------------------+
//! | len: u32 LE | len_crc: u32 LE | crc: u32 LE | kind | payload (len - 1 bytes) |
//! +-------------+-----------------+-------------+------+-------------------------+
//! ```
//!
//! `len_crc` is CRC-32 (IEEE) of the four `len` bytes, `crc` of `kind` and
//! `payload`. The length has a checksum of its own so that a corrupt length
//! in the middle of the log cannot pass for a record torn at the end. `kind` 1 is an
//! `eraftpb::Entry`, `kind` 2 an `eraftpb::HardState`, both in raft-rs's own
//! protobuf encoding.
//!
//! # Replay
//!
//! Records are replayed in order. An entry whose index is not past the last
//! one replaces that suffix of the log (a new leader overwrote it), exactly as
//! raft's storage append does; the last hard state wins.
//!
//! A record cut short by the end of the file is a torn write: the process
//! died while appending and the record was never synced, so nothing that
//! depended on it was acknowledged. Replay truncates it and reports it.
//! (A torn write keeps a prefix of what was written, so a complete header
//! is genuine: if its length checksum fails, that is corruption.) A
//! record whose checksums fail is corruption of data that *was* synced:
//! replay stops with [`WalError::Corrupt`] instead of skipping it, because a
//! member that silently forgets an acknowledged entry breaks raft's safety.
//!
//! # Generations
//!
//! Log compaction rewrites the log without the entries its snapshot covers.
//! A member that keeps older snapshots (etcd's `--max-snapshots`) keeps the
//! logs they need as well: a rewrite renames the log it replaces
//! `wal-<n:016x>` (`n` counting up) instead of dropping it, and keeps the
//! newest [`Wal::with_generations`] of them. If the newest snapshot turns
//! out corrupt, a start can go back to an older one and replay the older
//! generations before the log ([`Wal::older_generations`],
//! [`Replay::then`]). A crash between the rewrite's two renames leaves no
//! `wal`: opening puts the newest generation back, the log as it was
//! before the rewrite.

use std::fmt;
use std::io;
use std::sync::Arc;

use protobuf::Message as _;
use raft::eraftpb::{Entry, HardState};

use crate::offload::offload;
use crate::storage::{self, read_if_exists, Disk};

const WAL_FILE: &str = "wal";
const GENERATION_PREFIX: &str = "wal-";
const HEADER_LEN: usize = 12;
const KIND_ENTRY: u8 = 1;
const KIND_HARD_STATE: u8 = 2;

/// Why the log could not be read back.
#[derive(Debug)]
pub enum WalError {
    /// The disk failed.
    Io(io::Error),
    /// A generation kept from before a rewrite does not join the log
    /// after it: entries in between are missing.
    Gap {
        /// The last index the older generation holds.
        last: u64,
        /// The first index of the log after it.
        next: u64,
    },
    /// A complete record at `offset` fails its checksum or does not decode.
    Corrupt {
        /// Byte offset of the bad record in the file.
        offset: usize,
        /// What was wrong with it.
        reason: String,
    },
}

impl fmt::Display for WalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalError::Io(e) => write!(f, "wal: {e}"),
            WalError::Gap { last, next } => write!(
                f,
                "wal: an older generation ends at index {last}, the log after it begins at {next}"
            ),
            WalError::Corrupt { offset, reason } => {
                write!(f, "wal: corrupt record at offset {offset}: {reason}")
            }
        }
    }
}

impl std::error::Error for WalError {}

impl From<io::Error> for WalError {
    fn from(e: io::Error) -> Self {
        WalError::Io(e)
    }
}

/// What a member finds in its log when it starts.
#[derive(Debug, Default, Clone)]
pub struct Replay {
    /// The last hard state written, default if none.
    pub hard_state: HardState,
    /// The log, after overwrites, in index order.
    pub entries: Vec<Entry>,
    /// Bytes of a torn last record that were cut off, if any.
    pub torn_bytes: Option<usize>,
}

impl Replay {
    /// This older generation's log followed by `newer`: `newer`'s entries
    /// replace this one's from its first index on, as an overwrite in one
    /// file does, and its hard state wins.
    pub fn then(mut self, newer: Replay) -> Result<Replay, WalError> {
        if let Some(first) = newer.entries.first() {
            let last = self.entries.last().map_or(0, |e| e.index);
            if first.index > last + 1 {
                return Err(WalError::Gap {
                    last,
                    next: first.index,
                });
            }
            let keep = self.entries.partition_point(|e| e.index < first.index);
            self.entries.truncate(keep);
        }
        self.entries.extend(newer.entries);
        Ok(Replay {
            hard_state: newer.hard_state,
            entries: self.entries,
            torn_bytes: newer.torn_bytes,
        })
    }
}

/// The write-ahead log of one member. A clone writes to the same log, so the
/// raft loop can hand a write to [`crate::offload`].
#[derive(Clone)]
pub struct Wal {
    disk: Arc<dyn Disk>,
    /// The `skip-fsync` bug: write, but never sync.
    skip_fsync: bool,
    /// How many logs a rewrite leaves as older generations.
    generations: usize,
}

impl Wal {
    /// Opens the log on `disk`, replaying what it holds and truncating a
    /// torn tail.
    pub fn open(disk: Arc<dyn Disk>) -> Result<(Wal, Replay), WalError> {
        let names = disk.list()?;
        if !names.iter().any(|n| n == WAL_FILE) {
            // A crash between a rewrite's renames: the log before it stands.
            if let Some(newest) = generation_names(&names).pop() {
                disk.rename(&newest, WAL_FILE)?;
            }
        }
        let data = read_if_exists(disk.as_ref(), WAL_FILE)?.unwrap_or_default();
        let replay = replay(&data)?;
        if let Some(torn) = replay.torn_bytes {
            disk.truncate(WAL_FILE, (data.len() - torn) as u64)?;
            disk.sync(WAL_FILE)?;
        }
        Ok((
            Wal {
                disk,
                skip_fsync: false,
                generations: 0,
            },
            replay,
        ))
    }

    /// Replays the log on `disk` without changing it: what a member would
    /// find if it started now. Tools read a member's persisted requests
    /// with it, as etcd's robustness tests read its WAL.
    pub fn read(disk: &dyn Disk) -> Result<Replay, WalError> {
        replay(&read_if_exists(disk, WAL_FILE)?.unwrap_or_default())
    }

    /// Keeps the `generations` newest logs each rewrite replaces.
    pub fn with_generations(mut self, generations: usize) -> Self {
        self.generations = generations;
        self
    }

    /// The generations kept on `disk`, each replayed alone, newest first.
    /// A torn tail in one is cut (it was never synced, so nothing counted
    /// on it); corruption stops the list there.
    pub fn older_generations(disk: &dyn Disk) -> io::Result<Vec<Replay>> {
        let mut names = generation_names(&disk.list()?);
        names.reverse();
        let mut generations = Vec::new();
        for name in names {
            match replay(&disk.read(&name)?) {
                Ok(replay) => generations.push(replay),
                Err(_) => break,
            }
        }
        Ok(generations)
    }

    /// Switches the `skip-fsync` bug on or off.
    pub fn set_skip_fsync(&mut self, skip: bool) {
        self.skip_fsync = skip;
    }

    /// Replaces the whole log with `entries` and `hard_state`, atomically:
    /// after log compaction the entries a snapshot covers are dropped. The
    /// log replaced becomes the newest older generation, if any are kept.
    pub async fn rewrite(&self, entries: Vec<Entry>, hard_state: HardState) -> io::Result<()> {
        let tmp = format!("{WAL_FILE}.tmp");
        let disk = self.disk.clone();
        let written = tmp.clone();
        offload(move || disk.write(&written, &encode_records(&entries, Some(&hard_state))?))
            .await?;
        storage::sync(&self.disk, &tmp).await?;
        if self.generations == 0 {
            return self.disk.rename(&tmp, WAL_FILE);
        }
        let names = self.disk.list()?;
        let mut kept = generation_names(&names);
        if names.iter().any(|n| n == WAL_FILE) {
            let next = kept
                .last()
                .map_or(0, |newest| generation_number(newest) + 1);
            self.disk.rename(WAL_FILE, &generation_name(next))?;
            kept.push(generation_name(next));
        }
        self.disk.rename(&tmp, WAL_FILE)?;
        let surplus = kept.len().saturating_sub(self.generations);
        for old in &kept[..surplus] {
            self.disk.remove(old)?;
        }
        Ok(())
    }

    /// Appends a hard state whose only change is the commit index, without
    /// syncing it, as etcd does: a commit index lost in a crash is learned
    /// again from the leader, and the next synced write makes it durable
    /// anyway. Syncing it cost every member a second fsync per write.
    pub fn save_commit(&self, hard_state: &HardState) -> io::Result<()> {
        self.disk
            .append(WAL_FILE, &encode_records(&[], Some(hard_state))?)
    }

    /// Appends `entries` and `hard_state` and syncs them: when this returns,
    /// they survive a crash; until then a crash may lose them, or keep any
    /// part of them.
    pub async fn save(&self, entries: Vec<Entry>, hard_state: Option<HardState>) -> io::Result<()> {
        if entries.is_empty() && hard_state.is_none() {
            return Ok(());
        }
        self.write(entries, hard_state).await?;
        self.sync().await
    }

    /// Appends `entries` and `hard_state` without syncing them: the first
    /// half of [`Wal::save`].
    pub async fn write(
        &self,
        entries: Vec<Entry>,
        hard_state: Option<HardState>,
    ) -> io::Result<()> {
        let disk = self.disk.clone();
        offload(move || disk.append(WAL_FILE, &encode_records(&entries, hard_state.as_ref())?))
            .await
    }

    /// Makes everything written so far durable: the second half of
    /// [`Wal::save`].
    pub async fn sync(&self) -> io::Result<()> {
        crate::coverage::bug_site(crate::bugs::Bug::SkipFsync);
        if self.skip_fsync {
            return Ok(());
        }
        storage::sync(&self.disk, WAL_FILE).await
    }
}

/// The generations among `names`, oldest first.
fn generation_names(names: &[String]) -> Vec<String> {
    let mut generations: Vec<String> = names
        .iter()
        .filter(|n| {
            n.strip_prefix(GENERATION_PREFIX)
                .is_some_and(|n| u64::from_str_radix(n, 16).is_ok())
        })
        .cloned()
        .collect();
    // Fixed-width hex sorts as its number.
    generations.sort();
    generations
}

fn generation_name(number: u64) -> String {
    format!("{GENERATION_PREFIX}{number:016x}")
}

fn generation_number(name: &str) -> u64 {
    let hex = name
        .strip_prefix(GENERATION_PREFIX)
        .expect("a generation's name");
    u64::from_str_radix(hex, 16).expect("a generation's number")
}

/// Replays the records in `data` (see the module docs).
fn replay(data: &[u8]) -> Result<Replay, WalError> {
    let mut replay = Replay::default();
    let mut offset = 0;
    while offset < data.len() {
        let Some((kind, payload)) = next_record(data, offset)? else {
            replay.torn_bytes = Some(data.len() - offset);
            break;
        };
        let corrupt = |reason: String| WalError::Corrupt { offset, reason };
        match kind {
            KIND_ENTRY => {
                let entry = Entry::parse_from_bytes(payload)
                    .map_err(|e| corrupt(format!("entry does not decode: {e}")))?;
                let keep = replay.entries.partition_point(|e| e.index < entry.index);
                replay.entries.truncate(keep);
                replay.entries.push(entry);
            }
            KIND_HARD_STATE => {
                replay.hard_state = HardState::parse_from_bytes(payload)
                    .map_err(|e| corrupt(format!("hard state does not decode: {e}")))?;
            }
            other => return Err(corrupt(format!("unknown record kind {other}"))),
        }
        offset += HEADER_LEN + 1 + payload.len();
    }
    Ok(replay)
}

fn encode_records(entries: &[Entry], hard_state: Option<&HardState>) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    for entry in entries {
        let payload = entry.write_to_bytes().map_err(io_error)?;
        encode_record(&mut buf, KIND_ENTRY, &payload);
    }
    if let Some(hs) = hard_state {
        let payload = hs.write_to_bytes().map_err(io_error)?;
        encode_record(&mut buf, KIND_HARD_STATE, &payload);
    }
    Ok(buf)
}

fn io_error(e: protobuf::ProtobufError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

fn encode_record(buf: &mut Vec<u8>, kind: u8, payload: &[u8]) {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&[kind]);
    hasher.update(payload);
    let len = ((payload.len() + 1) as u32).to_le_bytes();
    buf.extend_from_slice(&len);
    buf.extend_from_slice(&crc32fast::hash(&len).to_le_bytes());
    buf.extend_from_slice(&hasher.finalize().to_le_bytes());
    buf.push(kind);
    buf.extend_from_slice(payload);
}

/// The record at `offset`, or `None` if it was torn: the file ends inside
/// it, or it fails a checksum where part of it reads as zeros.
fn next_record(data: &[u8], offset: usize) -> Result<Option<(u8, &[u8])>, WalError> {
    let Some(header) = data.get(offset..offset + HEADER_LEN) else {
        return Ok(None);
    };
    let word = |i: usize| u32::from_le_bytes(header[i..i + 4].try_into().unwrap());
    let (len, len_crc, crc) = (word(0) as usize, word(4), word(8));
    if crc32fast::hash(&header[..4]) != len_crc {
        if has_zeroed_sector(data, offset..offset + HEADER_LEN) {
            return Ok(None);
        }
        return Err(WalError::Corrupt {
            offset,
            reason: "length checksum mismatch".to_string(),
        });
    }
    let end = offset + HEADER_LEN + len;
    let Some(body) = data.get(offset + HEADER_LEN..end) else {
        return Ok(None);
    };
    if len == 0 || crc32fast::hash(body) != crc {
        if has_zeroed_sector(data, offset..end) {
            return Ok(None);
        }
        return Err(WalError::Corrupt {
            offset,
            reason: "checksum mismatch".to_string(),
        });
    }
    Ok(Some((body[0], &body[1..])))
}

/// The sector a disk writes atomically; a page cache writes back whole
/// pages of them.
const SECTOR: usize = 512;

/// Whether some piece of `record`, cut at sector boundaries of the file,
/// is all zeros: what a write torn by the page cache leaves (the pages it
/// never wrote back read as zeros in a file extended past them), as
/// opposed to corruption of data that was synced, which is not zeros.
fn has_zeroed_sector(data: &[u8], record: std::ops::Range<usize>) -> bool {
    let mut start = record.start;
    while start < record.end {
        let end = ((start / SECTOR + 1) * SECTOR).min(record.end);
        if data[start..end].iter().all(|&b| b == 0) {
            return true;
        }
        start = end;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{Kept, SimDisk, PAGE};

    fn entry(index: u64, term: u64, data: &[u8]) -> Entry {
        Entry {
            index,
            term,
            data: data.to_vec().into(),
            ..Default::default()
        }
    }

    fn hard_state(term: u64, commit: u64) -> HardState {
        HardState {
            term,
            commit,
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn an_unsynced_commit_index_is_lost_in_a_crash_unless_a_later_sync_covers_it() {
        let disk = Arc::new(SimDisk::new());
        let (wal, _) = Wal::open(disk.clone()).unwrap();
        wal.save(vec![entry(1, 1, b"a")], Some(hard_state(1, 0)))
            .await
            .unwrap();
        wal.save_commit(&hard_state(1, 1)).unwrap();
        assert_eq!(
            Wal::open(disk.clone()).unwrap().1.hard_state,
            hard_state(1, 1)
        );
        disk.crash(|_| Kept::Nothing);
        let (wal, replay) = Wal::open(disk.clone()).unwrap();
        assert_eq!(
            replay.hard_state,
            hard_state(1, 0),
            "the commit was not synced"
        );
        wal.save_commit(&hard_state(1, 1)).unwrap();
        wal.save(vec![entry(2, 1, b"b")], None).await.unwrap();
        disk.crash(|_| Kept::Nothing);
        let replay = Wal::open(disk).unwrap().1;
        assert_eq!(
            replay.hard_state,
            hard_state(1, 1),
            "the next sync covered it"
        );
        assert_eq!(replay.entries.len(), 2);
    }

    #[tokio::test]
    async fn replays_entries_and_the_last_hard_state() {
        let disk = Arc::new(SimDisk::new());
        let (wal, replay) = Wal::open(disk.clone()).unwrap();
        assert!(replay.entries.is_empty());
        wal.save(
            vec![entry(1, 1, b"a"), entry(2, 1, b"b")],
            Some(hard_state(1, 1)),
        )
        .await
        .unwrap();
        wal.save(vec![], Some(hard_state(1, 2))).await.unwrap();
        let (_, replay) = Wal::open(disk).unwrap();
        assert_eq!(replay.entries, vec![entry(1, 1, b"a"), entry(2, 1, b"b")]);
        assert_eq!(replay.hard_state, hard_state(1, 2));
        assert_eq!(replay.torn_bytes, None);
    }

    #[tokio::test]
    async fn an_overwritten_suffix_is_replaced_on_replay() {
        let disk = Arc::new(SimDisk::new());
        let (wal, _) = Wal::open(disk.clone()).unwrap();
        wal.save(
            vec![entry(1, 1, b"a"), entry(2, 1, b"b"), entry(3, 1, b"c")],
            None,
        )
        .await
        .unwrap();
        wal.save(vec![entry(2, 2, b"x")], None).await.unwrap();
        let (_, replay) = Wal::open(disk).unwrap();
        assert_eq!(replay.entries, vec![entry(1, 1, b"a"), entry(2, 2, b"x")]);
    }

    #[tokio::test]
    async fn a_torn_tail_is_truncated_and_reported() {
        let disk = Arc::new(SimDisk::new());
        let (wal, _) = Wal::open(disk.clone()).unwrap();
        wal.save(vec![entry(1, 1, b"a")], None).await.unwrap();
        // A whole header promising 9 bytes, and 2 of them.
        let mut torn = vec![9, 0, 0, 0];
        torn.extend_from_slice(&crc32fast::hash(&[9, 0, 0, 0]).to_le_bytes());
        torn.extend_from_slice(&[0xaa; 4]);
        torn.extend_from_slice(&[1, 2]);
        disk.append(WAL_FILE, &torn).unwrap();
        let (wal, replay) = Wal::open(disk.clone()).unwrap();
        assert_eq!(replay.torn_bytes, Some(14));
        assert_eq!(replay.entries.len(), 1);
        wal.save(vec![entry(2, 1, b"b")], None).await.unwrap();
        let (_, replay) = Wal::open(disk).unwrap();
        assert_eq!(replay.entries.len(), 2);
    }

    #[tokio::test]
    async fn a_rewrite_replaces_the_log() {
        let disk = Arc::new(SimDisk::new());
        let (wal, _) = Wal::open(disk.clone()).unwrap();
        wal.save(vec![entry(1, 1, b"a"), entry(2, 1, b"b")], None)
            .await
            .unwrap();
        wal.rewrite(vec![entry(2, 1, b"b")], hard_state(1, 2))
            .await
            .unwrap();
        disk.crash(|_| Kept::Nothing);
        let (_, replay) = Wal::open(disk).unwrap();
        assert_eq!(replay.entries, vec![entry(2, 1, b"b")]);
        assert_eq!(replay.hard_state, hard_state(1, 2));
    }

    #[tokio::test]
    async fn a_rewrite_keeps_the_logs_it_replaces_as_generations() {
        let disk = Arc::new(SimDisk::new());
        let (wal, _) = Wal::open(disk.clone()).unwrap();
        let wal = wal.with_generations(2);
        wal.save(vec![entry(1, 1, b"a"), entry(2, 1, b"b")], None)
            .await
            .unwrap();
        for last in 3..=5 {
            wal.rewrite(vec![entry(last - 1, 1, b"x")], hard_state(1, last - 1))
                .await
                .unwrap();
            wal.save(vec![entry(last, 1, b"y")], None).await.unwrap();
        }
        disk.crash(|_| Kept::Nothing);
        let mut names = disk.list().unwrap();
        names.retain(|n| n.starts_with(GENERATION_PREFIX));
        assert_eq!(names, [generation_name(1), generation_name(2)]);
        let (_, current) = Wal::open(disk.clone()).unwrap();
        let older = Wal::older_generations(disk.as_ref()).unwrap();
        assert_eq!(older.len(), 2);
        let indexes = |r: &Replay| r.entries.iter().map(|e| e.index).collect::<Vec<_>>();
        assert_eq!(indexes(&current), [4, 5]);
        assert_eq!(indexes(&older[0]), [3, 4]);
        assert_eq!(indexes(&older[1]), [2, 3]);
        let joined = older[1].clone().then(older[0].clone()).unwrap();
        let joined = joined.then(current).unwrap();
        assert_eq!(indexes(&joined), [2, 3, 4, 5]);
        // The newer generation wins where they overlap.
        assert_eq!(joined.entries[2], entry(4, 1, b"x"));
        assert_eq!(joined.hard_state, hard_state(1, 4));
    }

    #[tokio::test]
    async fn generations_that_do_not_join_are_refused() {
        let older = Replay {
            entries: vec![entry(1, 1, b"a"), entry(2, 1, b"b")],
            ..Replay::default()
        };
        let newer = Replay {
            entries: vec![entry(4, 1, b"d")],
            ..Replay::default()
        };
        let gap = older.then(newer).unwrap_err();
        assert!(matches!(gap, WalError::Gap { last: 2, next: 4 }), "{gap}");
    }

    #[tokio::test]
    async fn a_crash_between_a_rewrites_renames_leaves_the_log_before_it() {
        let disk = Arc::new(SimDisk::new());
        let (wal, _) = Wal::open(disk.clone()).unwrap();
        wal.save(vec![entry(1, 1, b"a"), entry(2, 1, b"b")], None)
            .await
            .unwrap();
        // The first rename done, the second not.
        disk.rename(WAL_FILE, &generation_name(0)).unwrap();
        let (_, replay) = Wal::open(disk.clone()).unwrap();
        assert_eq!(replay.entries, vec![entry(1, 1, b"a"), entry(2, 1, b"b")]);
        assert_eq!(disk.list().unwrap(), [WAL_FILE]);
    }

    #[tokio::test]
    async fn a_torn_header_is_truncated_too() {
        let disk = Arc::new(SimDisk::new());
        let (wal, _) = Wal::open(disk.clone()).unwrap();
        wal.save(vec![entry(1, 1, b"a")], None).await.unwrap();
        disk.append(WAL_FILE, &[9, 0, 0]).unwrap();
        let (_, replay) = Wal::open(disk).unwrap();
        assert_eq!(replay.torn_bytes, Some(3));
        assert_eq!(replay.entries.len(), 1);
    }

    #[tokio::test]
    async fn a_corrupt_length_in_the_middle_is_not_mistaken_for_a_torn_tail() {
        let disk = Arc::new(SimDisk::new());
        let (wal, _) = Wal::open(disk.clone()).unwrap();
        wal.save(vec![entry(1, 1, b"a"), entry(2, 1, b"b")], None)
            .await
            .unwrap();
        let mut data = disk.read(WAL_FILE).unwrap();
        data[1] = 0x7f; // the first record now claims to be huge
        disk.write(WAL_FILE, &data).unwrap();
        let err = Wal::open(disk).err().expect("corruption must stop replay");
        assert!(err.to_string().contains("length checksum"), "{err}");
    }

    #[tokio::test]
    async fn a_corrupt_record_in_the_middle_stops_replay() {
        let disk = Arc::new(SimDisk::new());
        let (wal, _) = Wal::open(disk.clone()).unwrap();
        wal.save(vec![entry(1, 1, b"a"), entry(2, 1, b"b")], None)
            .await
            .unwrap();
        let mut data = disk.read(WAL_FILE).unwrap();
        data[HEADER_LEN + 2] ^= 0xff;
        disk.write(WAL_FILE, &data).unwrap();
        let err = Wal::open(disk).err().expect("corruption must stop replay");
        assert!(matches!(err, WalError::Corrupt { offset: 0, .. }), "{err}");
    }

    #[tokio::test]
    async fn pages_the_page_cache_wrote_back_out_of_order_are_a_torn_tail() {
        let disk = Arc::new(SimDisk::new());
        let (wal, _) = Wal::open(disk.clone()).unwrap();
        wal.save(vec![entry(1, 1, b"a")], None).await.unwrap();
        let synced = disk.read(WAL_FILE).unwrap().len();
        // Three unsynced entries over three pages; the crash keeps only the
        // last page, so the first of them reads as zeros.
        let big = vec![7; PAGE];
        let entries = vec![entry(2, 1, &big), entry(3, 1, &big), entry(4, 1, b"d")];
        disk.append(WAL_FILE, &encode_records(&entries, None).unwrap())
            .unwrap();
        disk.crash(|_| Kept::Pages(vec![false, false, true]));
        assert!(disk.read(WAL_FILE).unwrap()[synced..synced + 12]
            .iter()
            .all(|&b| b == 0));
        let (_, replay) = Wal::open(disk.clone()).expect("a torn tail, not corruption");
        assert_eq!(replay.entries, vec![entry(1, 1, b"a")]);
        assert!(replay.torn_bytes.is_some());
        assert_eq!(disk.read(WAL_FILE).unwrap().len(), synced);
    }
}
