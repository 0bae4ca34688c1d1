//! Lease clients: each grants two leases, keeps one alive and lets the
//! other expire, reads both leases' keys as it goes, and finally revokes
//! the one it kept. Everything acknowledged goes into a [`LeaseLog`] for
//! the lease check ([`etcd_sim_checker::lease`]), and into the trace.

use std::future::Future;
use std::time::Duration;

use etcd_sim::client::{Client, ClientError, GetOptions, Op};
use etcd_sim::proto::etcdserverpb::ResponseHeader;
use etcd_sim_checker::lease::{LeaseEvent, Span};
use futures::future::BoxFuture;
use madsim::task::JoinHandle;
use tokio::time::timeout;

use crate::actors::context::ClientContext;
use crate::actors::lease_log::LeaseLog;
use crate::actors::{Actor, ActorContext, Running};
use crate::cluster::addresses::Node;

/// Lease keys start with this, apart from the KV workload's `k` keys.
const KEY_PREFIX: &str = "lease/";
/// The TTL of both leases: the 2 s minimum of the default election
/// timeout, so that the expiring lease expires within a run.
const TTL: i64 = 2;
/// Rounds of renew-and-read: about 3 s, a little longer than the KV
/// clients, so that the lease clients add little simulated time.
const ROUNDS: usize = 6;
/// The pause between rounds: renewals come every fifth of the TTL.
const PAUSE: Duration = Duration::from_millis(400);

/// The run's lease clients.
pub struct LeaseClients {
    /// How many.
    pub count: u32,
    /// How long one call may take before its outcome counts as unknown.
    pub deadline: Duration,
}

impl Actor for LeaseClients {
    fn start(self: Box<Self>, ctx: &ActorContext) -> Box<dyn Running> {
        let clients = (0..self.count)
            .map(|c| {
                let client = LeaseClient {
                    // The lease check judges the server alone.
                    ctx: ctx.client.with_id(c).without_bugs(),
                    log: ctx.logs.leases.clone(),
                    deadline: self.deadline,
                };
                ctx.spawn(Node::LeaseClient(c), client.run())
            })
            .collect();
        Box::new(RunningLeaseClients(clients))
    }
}

/// The lease clients, running; each ends by itself.
struct RunningLeaseClients(Vec<JoinHandle<()>>);

impl Running for RunningLeaseClients {
    fn finished(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            for client in self.0.drain(..) {
                client.await.expect("lease client task panicked");
            }
        })
    }
}

/// A lease client: its context (its number names its keys and its lines in
/// the trace), and where its acknowledged events go.
pub struct LeaseClient {
    /// Who it is, where the members are, the trace and the clock.
    pub ctx: ClientContext,
    /// Where acknowledged events go.
    pub log: LeaseLog,
    /// How long one call may take before its outcome counts as unknown.
    pub deadline: Duration,
}

impl LeaseClient {
    /// Runs the client to its end.
    pub async fn run(self) {
        let client = self.ctx.client();
        client.prefer_endpoint(self.ctx.id as usize);
        let kept = self.grant_and_put(&client, "kept").await;
        let expiring = self.grant_and_put(&client, "expiring").await;
        for round in 0..ROUNDS {
            if let Some((lease, key)) = &kept {
                self.renew(&client, *lease).await;
                self.read(&client, *lease, key).await;
            }
            // The expiring lease every other round: enough to see it go.
            if let Some((lease, key)) = expiring.as_ref().filter(|_| round % 2 == 1) {
                self.read(&client, *lease, key).await;
                self.time_to_live(&client, *lease).await;
            }
            tokio::time::sleep(PAUSE).await;
        }
        if let Some((lease, key)) = &kept {
            self.revoke(&client, *lease).await;
            self.read(&client, *lease, key).await;
        }
    }

    /// Grants a lease and puts a key with it; `None` if the grant failed.
    async fn grant_and_put(&self, client: &Client, name: &str) -> Option<(i64, String)> {
        let (at, granted) = self.timed(client.lease_grant(TTL, 0)).await;
        let granted = self.noted("grant", granted, |g| format!("{:x} ttl {}", g.id, g.ttl))?;
        let lease = granted.id;
        self.log.push(LeaseEvent::Renewed {
            lease,
            ttl: granted.ttl,
            at,
            id: None,
        });
        let key = format!("{KEY_PREFIX}c{}/{name}", self.ctx.id);
        let (at, put) = self
            .timed(client.put_op(Op::put(key.clone(), "v").lease(lease)))
            .await;
        let put = self.noted(&format!("put {key} lease {lease:x}"), put, |p| {
            format!("revision {}", revision(&p.header))
        });
        if put.is_some() {
            self.log.push(LeaseEvent::Put {
                lease,
                key: key.clone(),
                at,
            });
        }
        Some((lease, key))
    }

    async fn renew(&self, client: &Client, lease: i64) {
        let (at, renewed) = self.timed(client.lease_keep_alive_once(lease)).await;
        let renewed = self.noted(&format!("keep-alive {lease:x}"), renewed, |r| {
            format!("ttl {}", r.ttl)
        });
        let Some(renewed) = renewed else {
            return;
        };
        self.log.push(if renewed.ttl > 0 {
            LeaseEvent::Renewed {
                lease,
                ttl: renewed.ttl,
                at,
                id: Some(renewed.id),
            }
        } else {
            LeaseEvent::Gone {
                lease,
                revision: None,
                at,
            }
        });
    }

    async fn time_to_live(&self, client: &Client, lease: i64) {
        let (at, ttl) = self.timed(client.lease_time_to_live(lease, false)).await;
        let ttl = self.noted(&format!("time-to-live {lease:x}"), ttl, |t| {
            format!("ttl {}", t.ttl)
        });
        let Some(ttl) = ttl else {
            return;
        };
        self.log.push(if ttl.ttl == -1 {
            LeaseEvent::Gone {
                lease,
                revision: None,
                at,
            }
        } else {
            LeaseEvent::TimeToLive {
                lease,
                id: ttl.id,
                ttl: ttl.ttl,
                granted_ttl: ttl.granted_ttl,
                at,
            }
        });
    }

    async fn revoke(&self, client: &Client, lease: i64) {
        let invoke = self.ctx.clock.now_ns();
        self.log.push(LeaseEvent::RevokeAsked { lease, invoke });
        let (at, revoked) = self.timed(client.lease_revoke(lease)).await;
        let revoked = self.noted(&format!("revoke {lease:x}"), revoked, |r| {
            format!("revision {}", revision(&r.header))
        });
        if let Some(revoked) = revoked {
            let revision = revoked.header.map(|h| h.revision);
            self.log.push(LeaseEvent::Gone {
                lease,
                revision,
                at,
            });
        }
    }

    async fn read(&self, client: &Client, lease: i64, key: &str) {
        let (at, got) = self.timed(client.get(key, GetOptions::default())).await;
        let got = self.noted(&format!("get {key}"), got, |g| {
            let found = if g.kvs.is_empty() { "absent" } else { "found" };
            format!("{found} at revision {}", revision(&g.header))
        });
        if let Some(got) = got {
            self.log.push(LeaseEvent::Read {
                lease,
                key: key.to_string(),
                found: !got.kvs.is_empty(),
                revision: revision(&got.header),
                at,
            });
        }
    }

    /// Runs `call` within the deadline, timing it.
    async fn timed<T>(
        &self,
        call: impl Future<Output = Result<T, ClientError>>,
    ) -> (Span, Result<T, ClientError>) {
        let invoke = self.ctx.clock.now_ns();
        let result = timeout(self.deadline, call)
            .await
            .unwrap_or(Err(ClientError::DeadlineExceeded));
        let at = Span {
            invoke,
            response: self.ctx.clock.now_ns(),
        };
        (at, result)
    }

    /// Notes `what` and its answer (as `show` puts it) in the trace; the
    /// value if it succeeded.
    fn noted<T>(
        &self,
        what: &str,
        result: Result<T, ClientError>,
        show: impl FnOnce(&T) -> String,
    ) -> Option<T> {
        let answer = match &result {
            Ok(value) => show(value),
            Err(e) => format!("error: {e}"),
        };
        let note = format!("lease client {}: {what}: {answer}", self.ctx.id);
        self.ctx.recorder.note(self.ctx.clock.now_ns(), note);
        result.ok()
    }
}

/// A response header's revision, 0 without one.
fn revision(header: &Option<ResponseHeader>) -> i64 {
    header.as_ref().map_or(0, |h| h.revision)
}
