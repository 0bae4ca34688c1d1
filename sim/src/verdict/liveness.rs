//! The liveness phase: after the last fault is healed, the cluster must
//! serve again, fully, within [`BOUND`] of simulated time.
//!
//! Safety alone lets a cluster that never recovers pass: its final reads
//! fail, and a failed read is a legal outcome. So, from the moment the
//! nemesis heals its last fault, the probe checks, in order, until each
//! holds (a stage is retried until it holds or the bound runs out):
//!
//! 1. **one leader**: every member answers Status and names the same
//!    leader, which names itself;
//! 2. **writes and reads through every member**: a put, then a
//!    linearizable get that returns it, through each member alone;
//! 3. **leases**: a lease granted, renewed through every member, revoked;
//! 4. **one applied index**: every member has applied the same raft index;
//! 5. **one membership**: every member lists the same members, the ones
//!    the harness runs under their current ids, none of them a learner
//!    (a replaced member is back and promoted);
//! 6. **watchers caught up**: every watcher has seen the revision of the
//!    probe's last write (an event or a progress notification), unless the
//!    server cancelled its watch because its revision was compacted, or
//!    its client closed it.
//!
//! A cluster that does not get there in time is `stuck`, with evidence:
//! the stage and member that failed and what they answered, and every
//! member's raft state (role, term, commit, applied index, snapshot, the
//! leader it follows).

use std::time::Duration;

use etcd_sim::client::{Client, GetOptions};
use etcd_sim::proto::etcdserverpb::StatusResponse;
use etcd_sim_checker::watch::{Delivery, WatcherLog};
use tokio::time::{timeout, Instant};

use crate::actors::watch_log::{told, WatchLogs};
use crate::cluster::observer::Observations;

/// How long after the heal the cluster has to converge: ten election
/// timeouts and more, so that a member restarted at the very end (a
/// crash-point restart comes up to 10 s later) can still catch up by
/// snapshot, while a cluster that will never recover is told apart
/// quickly. A healthy cluster needs a few hundred milliseconds to 3 s.
pub const BOUND: Duration = Duration::from_secs(30);
/// The pause before a stage is tried again.
const RETRY: Duration = Duration::from_millis(100);
/// How long one call may take.
const CALL: Duration = Duration::from_secs(2);
/// Where the probe writes, apart from the workload's and lease client's keys.
const KEY_PREFIX: &str = "liveness/";

/// One member, as the probe sees it.
pub struct Member {
    /// Raft id.
    pub id: u64,
    /// Name (`n1`, …).
    pub name: String,
    /// Client URL.
    pub endpoint: String,
}

/// What the probe needs.
pub struct Probe {
    /// The members.
    pub members: Vec<Member>,
    /// The watchers' logs, to see whether they caught up.
    pub watch_logs: WatchLogs,
    /// The members' logs (role, snapshot), for evidence.
    pub observations: Observations,
}

/// Why a stage does not hold (yet).
#[derive(Debug, Clone)]
struct Lack {
    /// The member it is about, if one.
    member: Option<usize>,
    /// What is missing, for a person.
    what: String,
}

fn lack(member: Option<usize>, what: impl Into<String>) -> Lack {
    Lack {
        member,
        what: what.into(),
    }
}

impl Probe {
    /// Runs the checks until they all hold; the time that took, or the
    /// evidence of what did not hold when [`BOUND`] ran out.
    pub async fn run(&self) -> Result<Duration, String> {
        let started = Instant::now();
        let deadline = started + BOUND;
        let clients: Vec<Client> = self
            .members
            .iter()
            .map(|m| Client::new([&m.endpoint], Duration::from_secs(1)).expect("valid endpoint"))
            .collect();
        let mut stage = 0;
        let mut newest = 0;
        let mut attempt = 0u64;
        loop {
            attempt += 1;
            let result = match stage {
                0 => self.one_leader(&clients).await.map(|_| ()),
                1 => self.writes_and_reads(&clients, attempt, &mut newest).await,
                2 => self.leases(&clients, &mut newest).await,
                3 => self.one_applied_index(&clients).await,
                4 => self.one_membership(&clients).await,
                _ => self.watchers_caught_up(newest),
            };
            let lacking = match result {
                Ok(()) if stage == 5 => return Ok(started.elapsed()),
                Ok(()) => {
                    stage += 1;
                    continue;
                }
                Err(lacking) => lacking,
            };
            if Instant::now() >= deadline {
                return Err(self.evidence(&clients, stage, lacking).await);
            }
            tokio::time::sleep(RETRY).await;
        }
    }

    async fn statuses(&self, clients: &[Client]) -> Vec<Option<StatusResponse>> {
        let mut statuses = Vec::with_capacity(clients.len());
        for client in clients {
            statuses.push(
                timeout(CALL, client.status())
                    .await
                    .ok()
                    .and_then(Result::ok),
            );
        }
        statuses
    }

    /// The leader's index, if every member names it and it names itself.
    async fn one_leader(&self, clients: &[Client]) -> Result<usize, Lack> {
        let statuses = self.statuses(clients).await;
        let mut leader = None;
        for (i, status) in statuses.iter().enumerate() {
            let Some(status) = status else {
                return Err(lack(Some(i), "does not answer Status"));
            };
            if status.leader == 0 {
                return Err(lack(Some(i), "knows no leader"));
            }
            match leader {
                None => leader = Some(status.leader),
                Some(l) if l != status.leader => {
                    let what = format!(
                        "follows {}, another member follows {}",
                        self.name_of(status.leader),
                        self.name_of(l)
                    );
                    return Err(lack(Some(i), what));
                }
                Some(_) => {}
            }
        }
        let leader = leader.expect("at least one member");
        let index = self.members.iter().position(|m| m.id == leader);
        match index {
            Some(i) if statuses[i].as_ref().is_some_and(|s| s.leader == leader) => Ok(i),
            _ => Err(lack(None, format!("leader {leader:x} is not a member"))),
        }
    }

    async fn writes_and_reads(
        &self,
        clients: &[Client],
        attempt: u64,
        newest: &mut i64,
    ) -> Result<(), Lack> {
        for (i, client) in clients.iter().enumerate() {
            let key = format!("{KEY_PREFIX}{}", self.members[i].name);
            let value = format!("a{attempt}");
            let put = timeout(CALL, client.put(key.as_str(), value.as_str())).await;
            match put {
                Ok(Ok(r)) => *newest = (*newest).max(r.header.map_or(0, |h| h.revision)),
                Ok(Err(e)) => return Err(lack(Some(i), format!("a put: {e}"))),
                Err(_) => return Err(lack(Some(i), "a put: no answer")),
            }
            let get = timeout(CALL, client.get(key.as_str(), GetOptions::default())).await;
            match get {
                Ok(Ok(r)) if r.kvs.first().is_some_and(|kv| kv.value == value.as_bytes()) => {}
                Ok(Ok(_)) => {
                    return Err(lack(Some(i), "a linearizable get missed the put before it"))
                }
                Ok(Err(e)) => return Err(lack(Some(i), format!("a linearizable get: {e}"))),
                Err(_) => return Err(lack(Some(i), "a linearizable get: no answer")),
            }
        }
        Ok(())
    }

    /// Grants a lease, renews it through every member, revokes it.
    async fn leases(&self, clients: &[Client], newest: &mut i64) -> Result<(), Lack> {
        let leader = self.one_leader(clients).await?;
        let granted = match timeout(CALL, clients[leader].lease_grant(5, 0)).await {
            Ok(Ok(granted)) => granted,
            Ok(Err(e)) => return Err(lack(Some(leader), format!("a lease grant: {e}"))),
            Err(_) => return Err(lack(Some(leader), "a lease grant: no answer")),
        };
        let mut renewed = Ok(());
        for (i, client) in clients.iter().enumerate() {
            let answer = timeout(CALL, client.lease_keep_alive_once(granted.id)).await;
            let failed = match answer {
                Ok(Ok(r)) if r.ttl > 0 => continue,
                Ok(Ok(_)) => "the lease was gone".to_string(),
                Ok(Err(e)) => e.to_string(),
                Err(_) => "no answer".to_string(),
            };
            renewed = Err(lack(Some(i), format!("a lease renewal: {failed}")));
            break;
        }
        // Revoked either way, so that a retry leaves no lease behind.
        let revoked = timeout(CALL, clients[leader].lease_revoke(granted.id)).await;
        renewed?;
        match revoked {
            Ok(Ok(r)) => {
                *newest = (*newest).max(r.header.map_or(0, |h| h.revision));
                Ok(())
            }
            Ok(Err(e)) => Err(lack(Some(leader), format!("a lease revocation: {e}"))),
            Err(_) => Err(lack(Some(leader), "a lease revocation: no answer")),
        }
    }

    async fn one_applied_index(&self, clients: &[Client]) -> Result<(), Lack> {
        let statuses = self.statuses(clients).await;
        let applied: Vec<Option<u64>> = statuses
            .iter()
            .map(|s| s.as_ref().map(|s| s.raft_applied_index))
            .collect();
        let newest = applied.iter().flatten().max().copied().unwrap_or(0);
        match applied.iter().position(|a| *a != Some(newest)) {
            None => Ok(()),
            Some(i) => {
                let what = match applied[i] {
                    Some(a) => format!("has applied index {a}, another member {newest}"),
                    None => "does not answer Status".to_string(),
                };
                Err(lack(Some(i), what))
            }
        }
    }

    async fn one_membership(&self, clients: &[Client]) -> Result<(), Lack> {
        let describe = |members: &[(u64, bool)]| {
            let names = members.iter().map(|&(id, learner)| {
                format!(
                    "{}{}",
                    self.name_of(id),
                    if learner { " (learner)" } else { "" }
                )
            });
            names.collect::<Vec<_>>().join(", ")
        };
        let mut expected: Vec<(u64, bool)> = self.members.iter().map(|m| (m.id, false)).collect();
        expected.sort_unstable();
        for (i, client) in clients.iter().enumerate() {
            let Ok(Ok(answer)) = timeout(CALL, client.member_list()).await else {
                return Err(lack(Some(i), "does not answer MemberList"));
            };
            let mut listed: Vec<(u64, bool)> = answer
                .members
                .iter()
                .map(|m| (m.id, m.is_learner))
                .collect();
            listed.sort_unstable();
            if listed != expected {
                let what = format!(
                    "lists {}; the cluster is {}",
                    describe(&listed),
                    describe(&expected)
                );
                return Err(lack(Some(i), what));
            }
        }
        Ok(())
    }

    fn watchers_caught_up(&self, revision: i64) -> Result<(), Lack> {
        let logs = self.watch_logs.lock().unwrap();
        match behind(&logs, revision) {
            None => Ok(()),
            Some((watcher, seen)) => Err(lack(
                None,
                format!("watcher {watcher} has seen revision {seen}, the newest is {revision}"),
            )),
        }
    }

    fn name_of(&self, id: u64) -> String {
        self.members
            .iter()
            .find(|m| m.id == id)
            .map_or_else(|| format!("{id:x}"), |m| m.name.clone())
    }

    /// What a `stuck` verdict says: the stage, the member and what it
    /// lacks, then every member's raft state.
    async fn evidence(&self, clients: &[Client], stage: usize, lacking: Lack) -> String {
        const STAGES: [&str; 6] = [
            "one leader",
            "a put and a linearizable get through every member",
            "lease renewals through every member",
            "one applied index",
            "one membership",
            "every watcher caught up",
        ];
        let who = lacking
            .member
            .map_or_else(String::new, |i| format!("{} ", self.members[i].name));
        let statuses = self.statuses(clients).await;
        let states: Vec<String> = self
            .members
            .iter()
            .zip(&statuses)
            .map(|(m, status)| self.raft_state(m, status.as_ref()))
            .collect();
        format!(
            "no convergence within {}s of the heal: {} ({who}lacks it: {}); raft: {}",
            BOUND.as_secs(),
            STAGES[stage],
            lacking.what,
            states.join("; ")
        )
    }

    fn raft_state(&self, member: &Member, status: Option<&StatusResponse>) -> String {
        let log = self.observations.member(member.id);
        let role = match (&log.role, status) {
            (Some((role, term, _)), Some(s)) if *term == s.raft_term => role.clone(),
            (_, Some(s)) if s.leader == member.id => "Leader".to_string(),
            (_, Some(_)) => "Follower".to_string(),
            (Some((role, _, _)), None) => format!("{role} (last logged)"),
            (None, None) => "unknown".to_string(),
        };
        // As a leader sees its peers: their replication state as it last
        // changed (a follower left in Snapshot state never catches up).
        let peers: String = if role == "Leader" {
            log.progress
                .iter()
                .map(|(&peer, progress)| format!(", sees {}: {progress}", self.name_of(peer)))
                .collect()
        } else {
            String::new()
        };
        match status {
            Some(s) => format!(
                "{} {role} term {} commit {} applied {} snapshot {} leader {}{peers}",
                member.name,
                s.raft_term,
                s.raft_index,
                s.raft_applied_index,
                log.snapshot,
                if s.leader == 0 {
                    "none".to_string()
                } else {
                    self.name_of(s.leader)
                }
            ),
            None => format!(
                "{} {role}, no answer to Status, snapshot {}",
                member.name, log.snapshot
            ),
        }
    }
}

/// The first watcher that has not seen `revision` yet (an event or a
/// progress notification), with the newest it has seen. A watch the server
/// cancelled because its revision was compacted, or its client closed, has
/// nothing to catch up.
fn behind(logs: &[WatcherLog], revision: i64) -> Option<(u32, i64)> {
    let ended = |log: &WatcherLog| {
        log.closed
            || log
                .deliveries
                .iter()
                .any(|d| matches!(d, Delivery::Compacted(_)))
    };
    logs.iter()
        .filter(|log| !ended(log))
        .map(|log| (log.watcher, told(log)))
        .find(|&(_, seen)| seen < revision)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(watcher: u32, deliveries: Vec<Delivery>, closed: bool) -> WatcherLog {
        WatcherLog {
            watcher,
            prefix: "k".into(),
            start_revision: 1,
            deliveries,
            closed,
        }
    }

    #[test]
    fn a_watcher_is_behind_until_told_of_the_revision_unless_it_ended() {
        let told = log(0, vec![Delivery::Progress(7)], false);
        let short = log(1, vec![Delivery::Progress(5)], false);
        assert_eq!(behind(&[told.clone(), short.clone()], 7), Some((1, 5)));
        let compacted = log(1, vec![Delivery::Compacted(6)], false);
        assert_eq!(behind(&[told.clone(), compacted], 7), None);
        let closed = WatcherLog {
            closed: true,
            ..short
        };
        assert_eq!(behind(&[told, closed], 7), None);
    }
}
