//! One fault as a value: its kind, its victims and its parameters, all
//! drawn before anything is applied.
//!
//! A value, not a procedure, because a schedule file must say everything a
//! replay needs: a step that says only "kill" leaves the victim to whatever
//! the random stream holds when it runs, so one change anywhere (a cut
//! step, one operation less) hits another member. Drawn whole, a fault
//! replays as it ran, and the shrinker can make it smaller (a milder loss
//! rate, a kill of one member instead of all). Faults aimed at "the leader"
//! keep that aim as their victim: who leads is the cluster's state when the
//! fault begins, which is what such a fault is about.

use std::fmt;
use std::str::FromStr;

use etcd_sim::crash::CrashPoint;
use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::FaultKind;

/// A member by its index in the cluster (0 is `n1`); files spell it `n1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Member(pub usize);

impl fmt::Display for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0 + 1)
    }
}

impl FromStr for Member {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.strip_prefix('n')
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|&n| n >= 1)
            .map(|n| Member(n - 1))
            .ok_or_else(|| format!("{s:?} is not a member name (n1, n2, ...)"))
    }
}

impl Serialize for Member {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Member {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// One fault with everything it needs. Its duration is the plan step's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Fault {
    /// Power loss at whichever member leads when the fault begins.
    KillLeader,
    /// Power loss at `member`.
    Kill {
        /// The victim.
        member: Member,
    },
    /// Power loss at every member at once.
    KillAll,
    /// `member`'s tasks freeze.
    Pause {
        /// The victim.
        member: Member,
    },
    /// The leader's tasks freeze, so that it wakes believing it leads.
    PauseLeader,
    /// `minority` cannot reach the other members, nor they it.
    Partition {
        /// One side; the other side is every other member.
        minority: Vec<Member>,
    },
    /// The leader cannot reach the other members (clients still reach it).
    IsolateLeader,
    /// `side` and the members beyond `bridge` each see `bridge` but not
    /// each other.
    Bridge {
        /// The member both sides see.
        bridge: Member,
        /// One side; the other side is every member but these and `bridge`.
        side: Vec<Member>,
    },
    /// Every packet from `from` to `to` is dropped; the reverse flows.
    OneWayClog {
        /// The sender whose packets are lost.
        from: Member,
        /// The receiver that never hears them.
        to: Member,
    },
    /// A share of all packets is dropped.
    PacketLoss {
        /// Percent of packets lost.
        percent: u32,
    },
    /// Packets arrive 1 ms to `max_ms` late.
    #[serde(rename = "latency")]
    LatencySpike {
        /// The longest delay.
        max_ms: u64,
    },
    /// `point` of `member` is armed: the member crashes when it passes it.
    CrashPoint {
        /// The victim.
        member: Member,
        /// Where it crashes (see `etcd-sim bugs --crash-points`).
        #[serde(with = "crash_point_name")]
        point: CrashPoint,
    },
    /// Every fsync of `member` takes `latency_ms` longer.
    SlowFsync {
        /// The victim.
        member: Member,
        /// Added to every sync.
        latency_ms: u64,
    },
    /// `member`'s clock runs at `percent` of real speed.
    ClockSkew {
        /// The victim.
        member: Member,
        /// 100 is true time.
        percent: u32,
    },
    /// The leader is asked to hand leadership to the member `offset`
    /// places after it (counting round the cluster).
    TransferLeader {
        /// 1 ..= members - 1.
        offset: usize,
    },
    /// `member` is removed from the cluster, its data wiped, and it is
    /// added back as a new member (a learner promoted once it caught up,
    /// if `learner`) and started again.
    MemberReplace {
        /// The member replaced.
        member: Member,
        /// Whether it comes back as a learner first.
        learner: bool,
        /// Whether it is stopped before its removal (as etcd robustness's
        /// MemberReplace stops it), so that it never applies it, and then
        /// started once with its old data, as an operator may by mistake.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        down_first: bool,
        /// A fault in the middle of the change.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        amid: Option<ChangeFault>,
    },
    /// The leader is removed and replaced as [`Fault::MemberReplace`]
    /// replaces a member.
    RemoveLeader {
        /// Whether it comes back as a learner first.
        learner: bool,
        /// A fault in the middle of the change.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        amid: Option<ChangeFault>,
    },
    /// Two members are added in spare slots, one at a time, and removed
    /// again once the fault's time is up.
    GrowShrink {
        /// A fault in the middle of the change.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        amid: Option<ChangeFault>,
    },
}

/// A fault that lands in the middle of a membership change, on `member`
/// (never the member being changed): faults run one at a time, so this is
/// how a crash, a pause or a partition meets a change half done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeFault {
    /// The member it hits.
    pub member: Member,
    /// What it does to it.
    #[serde(flatten)]
    pub what: MidChange,
}

/// What a [`ChangeFault`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "what", rename_all = "kebab-case")]
pub enum MidChange {
    /// `point` is armed while the change goes on: the member crashes when
    /// it passes it (one of `CrashPoint::MEMBERSHIP`, unless a test asks
    /// for another).
    Crash {
        /// Where.
        #[serde(with = "crash_point_name")]
        point: CrashPoint,
    },
    /// `after_ms` into the change, the member is frozen for `hold_ms`.
    Pause {
        /// From the change's start.
        after_ms: u64,
        /// How long.
        hold_ms: u64,
    },
    /// `after_ms` into the change, the member is cut off from every other
    /// member for `hold_ms`.
    Isolate {
        /// From the change's start.
        after_ms: u64,
        /// How long.
        hold_ms: u64,
    },
}

impl ChangeFault {
    /// Half the time, a fault of a member other than `spared`: a crash at
    /// one of `points` (if any), or a pause or an isolation of 0.3 to 3 s
    /// within the change's first 2 s.
    fn draw(
        members: usize,
        spared: Option<Member>,
        points: &[CrashPoint],
        rng: &mut impl Rng,
    ) -> Option<ChangeFault> {
        let candidates: Vec<Member> = (0..members)
            .map(Member)
            .filter(|m| Some(*m) != spared)
            .collect();
        let happens = rng.gen_bool(0.5);
        let member = *candidates.choose(rng)?;
        let (after_ms, hold_ms) = (rng.gen_range(0..2_000), rng.gen_range(300..3_000));
        let mut kinds = vec![
            MidChange::Pause { after_ms, hold_ms },
            MidChange::Isolate { after_ms, hold_ms },
        ];
        if let Some(&point) = points.choose(rng) {
            kinds.push(MidChange::Crash { point });
        }
        let what = *kinds.choose(rng).expect("not empty");
        happens.then_some(ChangeFault { member, what })
    }
}

impl fmt::Display for ChangeFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let member = self.member;
        match self.what {
            MidChange::Crash { point } => write!(f, "{member} crashes at {point}"),
            MidChange::Pause { after_ms, hold_ms } => {
                write!(f, "{member} paused {hold_ms} ms from {after_ms} ms in")
            }
            MidChange::Isolate { after_ms, hold_ms } => {
                write!(f, "{member} cut off {hold_ms} ms from {after_ms} ms in")
            }
        }
    }
}

impl Fault {
    /// Draws a fault of `kind` for a cluster of `members`, arming one of
    /// `crash_points` if it is a crash-point fault (one that only a
    /// membership change passes if it is a membership fault, one of the
    /// others if not, unless there are no others).
    pub fn draw(
        kind: FaultKind,
        members: usize,
        crash_points: &[CrashPoint],
        rng: &mut impl Rng,
    ) -> Fault {
        assert!(members > 0, "a cluster has members");
        let (in_changes, elsewhere): (Vec<CrashPoint>, Vec<CrashPoint>) = crash_points
            .iter()
            .partition(|p| p.only_in_membership_changes());
        let elsewhere = if elsewhere.is_empty() {
            &in_changes
        } else {
            &elsewhere
        };
        let any = |rng: &mut dyn rand::RngCore| Member(rng.gen_range(0..members));
        let mut shuffled: Vec<Member> = (0..members).map(Member).collect();
        shuffled.shuffle(rng);
        match kind {
            FaultKind::KillLeader => Fault::KillLeader,
            FaultKind::Kill => Fault::Kill { member: any(rng) },
            FaultKind::KillAll => Fault::KillAll,
            FaultKind::Pause => Fault::Pause { member: any(rng) },
            FaultKind::PauseLeader => Fault::PauseLeader,
            FaultKind::Partition => {
                let size = rng.gen_range(1..=(members / 2).max(1));
                Fault::Partition {
                    minority: sorted(&shuffled[..size]),
                }
            }
            FaultKind::IsolateLeader => Fault::IsolateLeader,
            FaultKind::Bridge => {
                let (bridge, rest) = shuffled.split_first().expect("at least one member");
                Fault::Bridge {
                    bridge: *bridge,
                    side: sorted(&rest[..rest.len() / 2]),
                }
            }
            FaultKind::OneWayClog => Fault::OneWayClog {
                from: shuffled[0],
                to: shuffled[1 % members],
            },
            FaultKind::PacketLoss => Fault::PacketLoss {
                percent: rng.gen_range(5..30),
            },
            FaultKind::LatencySpike => Fault::LatencySpike {
                max_ms: rng.gen_range(50..500),
            },
            FaultKind::CrashPoint => Fault::CrashPoint {
                member: any(rng),
                point: *elsewhere.choose(rng).expect("a crash point to arm"),
            },
            FaultKind::SlowFsync => Fault::SlowFsync {
                member: any(rng),
                latency_ms: rng.gen_range(20..300),
            },
            FaultKind::ClockSkew => Fault::ClockSkew {
                member: any(rng),
                percent: if rng.gen_bool(0.5) {
                    rng.gen_range(25..80)
                } else {
                    rng.gen_range(150..400)
                },
            },
            FaultKind::TransferLeader => Fault::TransferLeader {
                offset: if members > 1 {
                    rng.gen_range(1..members)
                } else {
                    0
                },
            },
            FaultKind::MemberReplace => {
                let member = any(rng);
                Fault::MemberReplace {
                    member,
                    learner: rng.gen_bool(0.5),
                    down_first: rng.gen_bool(0.5),
                    amid: ChangeFault::draw(members, Some(member), &in_changes, rng),
                }
            }
            FaultKind::RemoveLeader => Fault::RemoveLeader {
                learner: rng.gen_bool(0.5),
                amid: ChangeFault::draw(members, None, &in_changes, rng),
            },
            FaultKind::GrowShrink => Fault::GrowShrink {
                amid: ChangeFault::draw(members, None, &in_changes, rng),
            },
        }
    }

    /// The fault's kind.
    pub fn kind(&self) -> FaultKind {
        match self {
            Fault::KillLeader => FaultKind::KillLeader,
            Fault::Kill { .. } => FaultKind::Kill,
            Fault::KillAll => FaultKind::KillAll,
            Fault::Pause { .. } => FaultKind::Pause,
            Fault::PauseLeader => FaultKind::PauseLeader,
            Fault::Partition { .. } => FaultKind::Partition,
            Fault::IsolateLeader => FaultKind::IsolateLeader,
            Fault::Bridge { .. } => FaultKind::Bridge,
            Fault::OneWayClog { .. } => FaultKind::OneWayClog,
            Fault::PacketLoss { .. } => FaultKind::PacketLoss,
            Fault::LatencySpike { .. } => FaultKind::LatencySpike,
            Fault::CrashPoint { .. } => FaultKind::CrashPoint,
            Fault::SlowFsync { .. } => FaultKind::SlowFsync,
            Fault::ClockSkew { .. } => FaultKind::ClockSkew,
            Fault::TransferLeader { .. } => FaultKind::TransferLeader,
            Fault::MemberReplace { .. } => FaultKind::MemberReplace,
            Fault::RemoveLeader { .. } => FaultKind::RemoveLeader,
            Fault::GrowShrink { .. } => FaultKind::GrowShrink,
        }
    }

    /// Every member this fault names, so that a schedule can be checked
    /// against its cluster's size.
    pub fn members(&self) -> Vec<Member> {
        match self {
            Fault::Kill { member }
            | Fault::Pause { member }
            | Fault::CrashPoint { member, .. }
            | Fault::SlowFsync { member, .. }
            | Fault::ClockSkew { member, .. }
            | Fault::MemberReplace {
                member, amid: None, ..
            } => vec![*member],
            Fault::MemberReplace {
                member,
                amid: Some(amid),
                ..
            } => vec![*member, amid.member],
            Fault::RemoveLeader { amid, .. } | Fault::GrowShrink { amid } => {
                amid.iter().map(|c| c.member).collect()
            }
            Fault::Partition { minority } => minority.clone(),
            Fault::Bridge { bridge, side } => {
                std::iter::once(*bridge).chain(side.clone()).collect()
            }
            Fault::OneWayClog { from, to } => vec![*from, *to],
            Fault::KillLeader
            | Fault::KillAll
            | Fault::PauseLeader
            | Fault::IsolateLeader
            | Fault::PacketLoss { .. }
            | Fault::LatencySpike { .. }
            | Fault::TransferLeader { .. } => vec![],
        }
    }

    /// Milder faults of the same shape, for the shrinker: one victim
    /// instead of all, half the loss, latency or slowness, a clock nearer
    /// true time, a smaller side.
    pub fn milder(&self, members: usize) -> Vec<Fault> {
        match self {
            Fault::KillAll => (0..members)
                .map(|m| Fault::Kill { member: Member(m) })
                .collect(),
            Fault::Partition { minority } if minority.len() > 1 => (0..minority.len())
                .map(|drop| Fault::Partition {
                    minority: minority
                        .iter()
                        .enumerate()
                        .filter(|&(i, _)| i != drop)
                        .map(|(_, m)| *m)
                        .collect(),
                })
                .collect(),
            Fault::PacketLoss { percent } if *percent >= 2 => vec![Fault::PacketLoss {
                percent: percent / 2,
            }],
            Fault::LatencySpike { max_ms } if *max_ms >= 20 => {
                vec![Fault::LatencySpike { max_ms: max_ms / 2 }]
            }
            Fault::SlowFsync { member, latency_ms } if *latency_ms >= 10 => {
                vec![Fault::SlowFsync {
                    member: *member,
                    latency_ms: latency_ms / 2,
                }]
            }
            Fault::ClockSkew { member, percent } if percent.abs_diff(100) >= 10 => {
                vec![Fault::ClockSkew {
                    member: *member,
                    percent: (percent + 100) / 2,
                }]
            }
            _ => vec![],
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |ms: &[Member]| {
            ms.iter()
                .map(Member::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        write!(f, "{}", self.kind())?;
        match self {
            Fault::Kill { member } | Fault::Pause { member } => write!(f, " {member}"),
            Fault::Partition { minority } => write!(f, " {} | the rest", list(minority)),
            Fault::Bridge { bridge, side } => write!(f, " {} - {bridge} - the rest", list(side)),
            Fault::OneWayClog { from, to } => write!(f, " {from} -> {to}"),
            Fault::PacketLoss { percent } => write!(f, " {percent}%"),
            Fault::LatencySpike { max_ms } => write!(f, " 1..{max_ms} ms"),
            Fault::CrashPoint { member, point } => write!(f, " {member} at {point}"),
            Fault::SlowFsync { member, latency_ms } => write!(f, " {member} +{latency_ms} ms"),
            Fault::ClockSkew { member, percent } => write!(f, " {member} at {percent}%"),
            Fault::TransferLeader { offset } => write!(f, " to leader+{offset}"),
            Fault::MemberReplace {
                member,
                learner,
                down_first,
                amid,
            } => {
                let down = if *down_first { " (stopped first)" } else { "" };
                let learner = if *learner { " as a learner" } else { "" };
                write!(f, " {member}{down}{learner}")?;
                write_amid(f, amid)
            }
            Fault::RemoveLeader { learner, amid } => {
                if *learner {
                    write!(f, " back as a learner")?;
                }
                write_amid(f, amid)
            }
            Fault::GrowShrink { amid } => write_amid(f, amid),
            Fault::KillLeader | Fault::KillAll | Fault::PauseLeader | Fault::IsolateLeader => {
                Ok(())
            }
        }
    }
}

/// ", n2 paused …" and the like, if the change has a fault in its middle.
fn write_amid(f: &mut fmt::Formatter<'_>, amid: &Option<ChangeFault>) -> fmt::Result {
    match amid {
        Some(fault) => write!(f, ", {fault}"),
        None => Ok(()),
    }
}

fn sorted(members: &[Member]) -> Vec<Member> {
    let mut members = members.to_vec();
    members.sort();
    members
}

/// Crash points in files go by their names.
mod crash_point_name {
    use etcd_sim::crash::CrashPoint;
    use serde::{de::Error as _, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(point: &CrashPoint, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(point.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<CrashPoint, D::Error> {
        String::deserialize(d)?.parse().map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn every_kind_draws_a_fault_of_its_kind_within_the_cluster() {
        let mut rng = StdRng::seed_from_u64(7);
        for members in [1, 3, 5] {
            for kind in FaultKind::ALL {
                for _ in 0..20 {
                    let fault = Fault::draw(kind, members, &CrashPoint::ALL, &mut rng);
                    assert_eq!(fault.kind(), kind, "{fault}");
                    assert!(
                        fault.members().iter().all(|m| m.0 < members),
                        "{fault} in a cluster of {members}"
                    );
                }
            }
        }
    }

    #[test]
    fn crash_points_only_membership_changes_pass_are_armed_by_membership_faults_only() {
        let mut rng = StdRng::seed_from_u64(9);
        let (mut in_changes, mut elsewhere) = (0, 0);
        for _ in 0..200 {
            match Fault::draw(FaultKind::CrashPoint, 3, &CrashPoint::ALL, &mut rng) {
                Fault::CrashPoint { point, .. } => {
                    assert!(!point.only_in_membership_changes(), "{point}")
                }
                other => panic!("{other}"),
            }
            let amid = match Fault::draw(FaultKind::MemberReplace, 3, &CrashPoint::ALL, &mut rng) {
                Fault::MemberReplace { member, amid, .. } => {
                    assert!(amid.is_none_or(|c| c.member != member), "never the victim");
                    amid
                }
                other => panic!("{other}"),
            };
            match amid.map(|c| c.what) {
                Some(MidChange::Crash { point }) if point.only_in_membership_changes() => {
                    in_changes += 1
                }
                Some(MidChange::Crash { .. }) => elsewhere += 1,
                _ => {}
            }
        }
        assert!(
            in_changes > 15 && elsewhere == 0,
            "{in_changes} {elsewhere}"
        );
        // Asked for only such a point, a crash-point fault arms it all the same.
        let only = [CrashPoint::ConfChangeMidApply];
        let fault = Fault::draw(FaultKind::CrashPoint, 3, &only, &mut rng);
        assert!(matches!(
            fault,
            Fault::CrashPoint {
                point: CrashPoint::ConfChangeMidApply,
                ..
            }
        ));
    }

    #[test]
    fn a_fault_survives_its_file_format() {
        let faults = [
            Fault::Partition {
                minority: vec![Member(0), Member(2)],
            },
            Fault::CrashPoint {
                member: Member(1),
                point: CrashPoint::AfterApply,
            },
            Fault::LatencySpike { max_ms: 120 },
            Fault::KillLeader,
            Fault::MemberReplace {
                member: Member(2),
                learner: true,
                down_first: true,
                amid: None,
            },
            Fault::RemoveLeader {
                learner: false,
                amid: Some(ChangeFault {
                    member: Member(0),
                    what: MidChange::Crash {
                        point: CrashPoint::ConfChangeMidApply,
                    },
                }),
            },
            Fault::GrowShrink {
                amid: Some(ChangeFault {
                    member: Member(1),
                    what: MidChange::Isolate {
                        after_ms: 10,
                        hold_ms: 900,
                    },
                }),
            },
            Fault::GrowShrink { amid: None },
        ];
        for fault in faults {
            let text = serde_json::to_string(&fault).unwrap();
            assert_eq!(
                serde_json::from_str::<Fault>(&text).unwrap(),
                fault,
                "{text}"
            );
        }
        let text = serde_json::to_string(&Fault::Kill { member: Member(2) }).unwrap();
        assert_eq!(text, r#"{"kind":"kill","member":"n3"}"#);
        let bad = serde_json::from_str::<Fault>(r#"{"kind":"kill","member":"x3"}"#);
        assert!(bad.unwrap_err().to_string().contains("not a member name"));
        let bad = serde_json::from_str::<Fault>(
            r#"{"kind":"crash-point","member":"n1","point":"nowhere"}"#,
        );
        assert!(bad.is_err());
    }

    #[test]
    fn milder_faults_are_milder() {
        let all = Fault::KillAll.milder(3);
        assert_eq!(all.len(), 3);
        assert!(all.iter().all(|f| f.kind() == FaultKind::Kill));
        assert_eq!(
            Fault::ClockSkew {
                member: Member(0),
                percent: 300
            }
            .milder(3),
            vec![Fault::ClockSkew {
                member: Member(0),
                percent: 200
            }]
        );
        assert_eq!(Fault::PacketLoss { percent: 1 }.milder(3), vec![]);
        let partition = Fault::Partition {
            minority: vec![Member(0), Member(1)],
        };
        assert_eq!(partition.milder(5).len(), 2);
    }
}
