//! Alarms and the backend quota (etcd's `alarm` store and `quota.go`).
//!
//! An alarm is raised and cleared through raft, so every member agrees on
//! it and it survives restarts (it is part of the snapshot, and the entry
//! that raised it is in the log). While NOSPACE is raised the applier
//! refuses writes that could grow the store; reads, deletes and compactions
//! still work, so that an operator can make room and disarm it.

use std::collections::BTreeSet;

use crate::proto::etcdserverpb::request_op::Request;
use crate::proto::etcdserverpb::{AlarmMember, AlarmType, PutRequest, TxnRequest};

/// The raised alarms: (member id, alarm type), in a fixed order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Alarms(BTreeSet<(u64, i32)>);

impl Alarms {
    /// Raises `alarm` for `member`; returns it (raised now or before).
    pub fn activate(&mut self, member: u64, alarm: AlarmType) -> Option<AlarmMember> {
        if alarm == AlarmType::None {
            return None;
        }
        self.0.insert((member, alarm as i32));
        Some(member_alarm(member, alarm as i32))
    }

    /// Clears `alarm` for `member`; returns it if it was raised.
    pub fn deactivate(&mut self, member: u64, alarm: AlarmType) -> Option<AlarmMember> {
        self.0
            .remove(&(member, alarm as i32))
            .then(|| member_alarm(member, alarm as i32))
    }

    /// The raised alarms of type `alarm`, or all of them for `None`.
    pub fn get(&self, alarm: AlarmType) -> Vec<AlarmMember> {
        self.0
            .iter()
            .filter(|(_, a)| alarm == AlarmType::None || *a == alarm as i32)
            .map(|&(m, a)| member_alarm(m, a))
            .collect()
    }

    /// Whether any member raised NOSPACE: writes that grow the store are
    /// refused.
    pub fn no_space(&self) -> bool {
        self.0.iter().any(|(_, a)| *a == AlarmType::Nospace as i32)
    }

    /// Whether an alarm is raised whose type is not in `excluded` (the
    /// health check's verdict on alarms; `/health?exclude=NOSPACE`).
    pub fn any_except(&self, excluded: &[AlarmType]) -> bool {
        self.0
            .iter()
            .any(|&(_, alarm)| !excluded.iter().any(|e| *e as i32 == alarm))
    }

    /// The alarms as `Status` reports them, in etcd's text form.
    pub fn describe(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|&(member, alarm)| {
                let name = AlarmType::try_from(alarm).map_or("UNKNOWN", |a| a.as_str_name());
                format!("memberID:{member} alarm:{name} ")
            })
            .collect()
    }

    /// The alarms as bytes, for snapshots.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = (self.0.len() as u32).to_be_bytes().to_vec();
        for &(member, alarm) in &self.0 {
            out.extend_from_slice(&member.to_be_bytes());
            out.extend_from_slice(&alarm.to_be_bytes());
        }
        out
    }

    /// Alarms encoded by [`Alarms::encode`] at the start of `bytes`, and
    /// the bytes after them; `None` if they are cut short.
    pub fn decode(bytes: &[u8]) -> Option<(Alarms, &[u8])> {
        let (count, mut rest) = bytes.split_first_chunk::<4>()?;
        let mut alarms = Alarms::default();
        for _ in 0..u32::from_be_bytes(*count) {
            let (member, after) = rest.split_first_chunk::<8>()?;
            let (alarm, after) = after.split_first_chunk::<4>()?;
            alarms
                .0
                .insert((u64::from_be_bytes(*member), i32::from_be_bytes(*alarm)));
            rest = after;
        }
        Some((alarms, rest))
    }
}

fn member_alarm(member: u64, alarm: i32) -> AlarmMember {
    AlarmMember {
        member_id: member,
        alarm,
    }
}

/// The backend quota: writes that would take the backend past it raise
/// NOSPACE and are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// The limit in bytes; `None`: no quota.
    limit: Option<u64>,
}

impl Quota {
    /// etcd's default quota, 2 GiB.
    pub const DEFAULT_BYTES: u64 = 2 << 30;
    /// What an empty backend already takes: a fresh etcd 3.4 reports a
    /// 20 kB database, and a quota below that refuses every write.
    pub const EMPTY_BACKEND_BYTES: u64 = 20 * 1024;
    /// What etcd charges a put besides its key and value.
    const PUT_OVERHEAD: u64 = 256;
    /// What etcd charges a lease grant (its `leaseOverhead`).
    pub const LEASE_COST: u64 = 64;

    /// `--quota-backend-bytes`: 0 is the default, below 0 is no quota.
    pub fn from_flag(bytes: i64) -> Self {
        let limit = match bytes {
            0 => Some(Self::DEFAULT_BYTES),
            b if b < 0 => None,
            b => Some(b as u64),
        };
        Quota { limit }
    }

    /// The limit in bytes, if there is one.
    pub fn limit(&self) -> Option<u64> {
        self.limit
    }

    /// Whether a request adding `cost` bytes fits next to a store of
    /// `store_bytes`. A request that adds nothing always fits (etcd 3.4.23
    /// passes read-only txns even past the quota).
    pub fn allows(&self, store_bytes: u64, cost: u64) -> bool {
        match self.limit {
            None => true,
            Some(_) if cost == 0 => true,
            Some(limit) => Self::EMPTY_BACKEND_BYTES + store_bytes + cost < limit,
        }
    }

    /// What a put may add to the backend.
    pub fn put_cost(put: &PutRequest) -> u64 {
        Self::PUT_OVERHEAD + (put.key.len() + put.value.len()) as u64
    }

    /// What a txn may add: the puts of its costlier branch (nested txns
    /// are not charged, as in etcd 3.4).
    pub fn txn_cost(txn: &TxnRequest) -> u64 {
        let branch = |ops: &[crate::proto::etcdserverpb::RequestOp]| -> u64 {
            ops.iter()
                .filter_map(|op| match &op.request {
                    Some(Request::RequestPut(put)) => Some(Self::put_cost(put)),
                    _ => None,
                })
                .sum()
        };
        branch(&txn.success).max(branch(&txn.failure))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::etcdserverpb::RequestOp;

    #[test]
    fn alarms_are_raised_once_cleared_once_and_survive_encoding() {
        let mut alarms = Alarms::default();
        assert!(!alarms.no_space());
        assert!(alarms.activate(7, AlarmType::Nospace).is_some());
        assert!(alarms.activate(7, AlarmType::Nospace).is_some());
        assert_eq!(alarms.get(AlarmType::None).len(), 1);
        assert!(alarms.no_space());
        assert_eq!(alarms.describe(), ["memberID:7 alarm:NOSPACE "]);
        let bytes = [alarms.encode(), b"tail".to_vec()].concat();
        let (decoded, rest) = Alarms::decode(&bytes).unwrap();
        assert_eq!((decoded, rest), (alarms.clone(), &b"tail"[..]));
        assert!(alarms.deactivate(7, AlarmType::Nospace).is_some());
        assert!(alarms.deactivate(7, AlarmType::Nospace).is_none());
        assert!(!alarms.no_space());
        assert!(Alarms::decode(&[0, 0, 0, 1, 0]).is_none());
    }

    #[test]
    fn the_quota_charges_puts_and_lets_read_only_requests_pass() {
        let quota = Quota::from_flag(Quota::EMPTY_BACKEND_BYTES as i64 + 300);
        let put = PutRequest {
            key: b"k".to_vec(),
            value: b"v".to_vec(),
            ..Default::default()
        };
        assert_eq!(Quota::put_cost(&put), 258);
        assert!(quota.allows(0, Quota::put_cost(&put)));
        assert!(!quota.allows(100, Quota::put_cost(&put)));
        assert!(quota.allows(1 << 40, 0));
        let txn = TxnRequest {
            success: vec![RequestOp {
                request: Some(Request::RequestPut(put.clone())),
            }],
            failure: vec![
                RequestOp {
                    request: Some(Request::RequestPut(put.clone())),
                },
                RequestOp {
                    request: Some(Request::RequestPut(put)),
                },
            ],
            ..Default::default()
        };
        assert_eq!(Quota::txn_cost(&txn), 2 * 258);
        assert!(Quota::from_flag(-1).allows(u64::MAX / 2, 1 << 40));
        assert!(!Quota::from_flag(1).allows(0, 1));
    }
}
