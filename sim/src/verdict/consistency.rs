//! After a run settles, every member must hold the same history.
//!
//! Members apply one log, so once they have applied the same raft index
//! they must stand at the same revision and compaction, and their HashKV
//! must agree (etcd's own corruption check asks the same of its members). A member that applied an entry twice, lost
//! one, or restored a snapshot that does not match its index disagrees,
//! even when no client read ever happened to show it.

use std::collections::BTreeMap;
use std::time::Duration;

use etcd_sim::client::Client;

use crate::cluster::clock::Clock;
use crate::record::recorder::Recorder;

/// How many times to ask before giving up on the members settling, and
/// how long to wait between asks.
const SETTLE_ROUNDS: usize = 25;
const ROUND: Duration = Duration::from_millis(200);

/// One member's answers: the raft index it had applied, the revision it
/// hashed at, its compaction, the hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MemberHash {
    applied: u64,
    revision: i64,
    compact_revision: i64,
    hash: u32,
}

/// Asks every member for its applied index and HashKV at its current
/// revision until all have applied the same index, then records a broken
/// `hashkv` check if their revisions, compactions or hashes differ. Members
/// that cannot be compared in time (one is still catching up, or
/// unreachable) are noted, not failed: the check judges only what it saw.
pub async fn compare_members(endpoints: &[String], recorder: &Recorder, clock: Clock) {
    let clients: Vec<Client> = endpoints
        .iter()
        .map(|e| Client::new([e], Duration::from_secs(1)).expect("valid endpoint"))
        .collect();
    let mut hashes = BTreeMap::new();
    for _ in 0..SETTLE_ROUNDS {
        hashes.clear();
        for (member, client) in clients.iter().enumerate() {
            if let Some(hash) = ask(client).await {
                hashes.insert(member, hash);
            }
        }
        if let Some(first) = settled(&hashes, clients.len()) {
            if hashes.values().any(|h| h != &first) {
                recorder.broken(
                    clock.now_ns(),
                    "hashkv",
                    format!(
                        "members differ at applied index {}: {}",
                        first.applied,
                        describe(&hashes)
                    ),
                );
            } else {
                recorder.note(
                    clock.now_ns(),
                    format_args!(
                        "hashkv: all {} members agree at revision {}: {:08x}",
                        hashes.len(),
                        first.revision,
                        first.hash
                    ),
                );
            }
            return;
        }
        tokio::time::sleep(ROUND).await;
    }
    recorder.note(
        clock.now_ns(),
        format_args!(
            "hashkv: members did not settle on one applied index: {}",
            describe(&hashes)
        ),
    );
}

/// A member's applied index and hash, if it answers both and applied
/// nothing in between (the status's revision is the hashed one).
async fn ask(client: &Client) -> Option<MemberHash> {
    let status = client.status().await.ok()?;
    let answer = client.hash_kv(0).await.ok()?;
    let revision = answer.header.map_or(0, |h| h.revision);
    (status.header.map_or(0, |h| h.revision) == revision).then_some(MemberHash {
        applied: status.raft_applied_index,
        revision,
        compact_revision: answer.compact_revision,
        hash: answer.hash,
    })
}

/// The first member's answers if all `members` answered at one applied
/// index: only then must the rest of their answers be equal.
fn settled(hashes: &BTreeMap<usize, MemberHash>, members: usize) -> Option<MemberHash> {
    let first = *hashes.values().next()?;
    let comparable = hashes.len() == members && hashes.values().all(|h| h.applied == first.applied);
    comparable.then_some(first)
}

fn describe(hashes: &BTreeMap<usize, MemberHash>) -> String {
    hashes
        .iter()
        .map(|(member, h)| {
            format!(
                "member {member} applied {} rev {} compacted {} hash {:08x}",
                h.applied, h.revision, h.compact_revision, h.hash
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}
