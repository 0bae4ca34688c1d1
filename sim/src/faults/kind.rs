//! The kinds of fault, by name, and sets of them as the CLI spells them.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// One kind of fault the nemesis can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// Kill the leader (power loss: unsynced writes are lost), restart it later.
    KillLeader,
    /// Kill a random member, restart it later.
    Kill,
    /// Kill every member at once, restart them all later.
    KillAll,
    /// Freeze a member's tasks, then let them go on.
    Pause,
    /// Freeze the leader, so that it wakes up believing it still leads.
    PauseLeader,
    /// Split the members into two random sides.
    Partition,
    /// Cut the leader off from every other member (clients still reach it).
    IsolateLeader,
    /// Two sides that each see one bridge member but not each other.
    Bridge,
    /// Drop every packet on one link, in one direction only.
    OneWayClog,
    /// Drop a share of all packets.
    PacketLoss,
    /// Deliver packets late, up to hundreds of milliseconds.
    LatencySpike,
    /// Arm a random crash point of a random member for a while.
    CrashPoint,
    /// Make a random member's fsyncs slow.
    SlowFsync,
    /// Make a random member's clock run slow or fast.
    ClockSkew,
    /// Ask the leader to hand leadership to another member (MoveLeader).
    TransferLeader,
    /// Remove a member from the cluster, wipe its data, and add it back as
    /// a new member (etcd robustness's MemberReplace), as a voter or as a
    /// learner promoted once it caught up.
    MemberReplace,
    /// Remove the leader from the cluster (it applies its own removal and
    /// stops; the others elect), wipe its data and add it back as a new
    /// member.
    RemoveLeader,
    /// Add members in spare slots until the cluster has two more, then
    /// remove them again (3 -> 5 -> 3).
    GrowShrink,
}

impl FaultKind {
    /// Every kind, in a fixed order.
    pub const ALL: [FaultKind; 18] = [
        FaultKind::KillLeader,
        FaultKind::Kill,
        FaultKind::KillAll,
        FaultKind::Pause,
        FaultKind::PauseLeader,
        FaultKind::Partition,
        FaultKind::IsolateLeader,
        FaultKind::Bridge,
        FaultKind::OneWayClog,
        FaultKind::PacketLoss,
        FaultKind::LatencySpike,
        FaultKind::CrashPoint,
        FaultKind::SlowFsync,
        FaultKind::ClockSkew,
        FaultKind::TransferLeader,
        FaultKind::MemberReplace,
        FaultKind::RemoveLeader,
        FaultKind::GrowShrink,
    ];

    /// The name used on the command line and in traces.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::KillLeader => "kill-leader",
            FaultKind::Kill => "kill",
            FaultKind::KillAll => "kill-all",
            FaultKind::Pause => "pause",
            FaultKind::PauseLeader => "pause-leader",
            FaultKind::Partition => "partition",
            FaultKind::IsolateLeader => "isolate-leader",
            FaultKind::Bridge => "bridge",
            FaultKind::OneWayClog => "one-way-clog",
            FaultKind::PacketLoss => "packet-loss",
            FaultKind::LatencySpike => "latency",
            FaultKind::CrashPoint => "crash-point",
            FaultKind::SlowFsync => "slow-fsync",
            FaultKind::ClockSkew => "clock-skew",
            FaultKind::TransferLeader => "transfer-leader",
            FaultKind::MemberReplace => "member-replace",
            FaultKind::RemoveLeader => "remove-leader",
            FaultKind::GrowShrink => "grow-shrink",
        }
    }
}

impl FaultKind {
    /// How often the nemesis draws this kind against the other kinds that
    /// are on. A crash point is many faults in one, one per point, and
    /// most points are reached only now and then (a snapshot save, a
    /// compaction): drawn as often as one kind, each point would be armed
    /// about once in fifty seeds, and a point inside a snapshot save would
    /// fire in none of the first two hundred.
    pub fn weight(self) -> u32 {
        match self {
            FaultKind::CrashPoint => 6,
            _ => 1,
        }
    }

    /// Whether it changes the members (through the Cluster API).
    pub fn changes_members(self) -> bool {
        matches!(
            self,
            FaultKind::MemberReplace | FaultKind::RemoveLeader | FaultKind::GrowShrink
        )
    }

    /// Whether the fault ends with members restarting (a kill, or a crash
    /// point that fired) rather than returning to service as they were.
    pub fn crashes_members(self) -> bool {
        matches!(
            self,
            FaultKind::KillLeader | FaultKind::Kill | FaultKind::KillAll | FaultKind::CrashPoint
        )
    }

    /// How long the nemesis holds this fault. Most faults last 0.3 to 3 s;
    /// isolating the leader lasts long enough for the others to elect a new
    /// leader and commit under it while the old one still believes it
    /// leads, which is the window its bugs live in. A crash point is held
    /// only until it fires, and some are passed once in seconds (a
    /// snapshot save): it waits as long as an isolation.
    pub fn durations(self) -> std::ops::Range<Duration> {
        match self {
            // How long the cluster stays grown.
            FaultKind::GrowShrink => Duration::from_secs(2)..Duration::from_secs(8),
            FaultKind::IsolateLeader | FaultKind::CrashPoint => {
                Duration::from_secs(2)..Duration::from_secs(6)
            }
            _ => Duration::from_millis(300)..Duration::from_secs(3),
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of fault kinds: `all`, `none`, or names separated by commas.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultSet(BTreeSet<FaultKind>);

impl FaultSet {
    /// No faults.
    pub fn none() -> Self {
        Self::default()
    }

    /// Every fault.
    pub fn all() -> Self {
        Self(FaultKind::ALL.into_iter().collect())
    }

    /// Exactly `kinds`.
    pub fn of(kinds: impl IntoIterator<Item = FaultKind>) -> Self {
        Self(kinds.into_iter().collect())
    }

    /// The kinds, in a fixed order.
    pub fn iter(&self) -> impl Iterator<Item = FaultKind> + '_ {
        self.0.iter().copied()
    }

    /// Whether no fault is enabled.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for FaultSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        if *self == Self::all() {
            return f.write_str("all");
        }
        let names: Vec<&str> = self.iter().map(FaultKind::name).collect();
        f.write_str(&names.join(","))
    }
}

/// A fault name that does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseFaultError(pub String);

impl fmt::Display for ParseFaultError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let known: Vec<&str> = FaultKind::ALL.iter().map(|k| k.name()).collect();
        write!(
            f,
            "unknown fault {:?}; known: all, none, {}",
            self.0,
            known.join(", ")
        )
    }
}

impl std::error::Error for ParseFaultError {}

impl FromStr for FaultSet {
    type Err = ParseFaultError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "all" => return Ok(Self::all()),
            "none" | "" => return Ok(Self::none()),
            _ => {}
        }
        s.split(',')
            .map(|name| {
                let name = name.trim();
                FaultKind::ALL
                    .into_iter()
                    .find(|k| k.name() == name)
                    .ok_or_else(|| ParseFaultError(name.to_string()))
            })
            .collect::<Result<BTreeSet<_>, _>>()
            .map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_sets_parse_and_print_as_the_cli_spells_them() {
        assert_eq!("all".parse::<FaultSet>().unwrap(), FaultSet::all());
        assert!("none".parse::<FaultSet>().unwrap().is_empty());
        let set: FaultSet = "partition, kill".parse().unwrap();
        assert_eq!(set.to_string(), "kill,partition");
        assert_eq!(set.to_string().parse::<FaultSet>().unwrap(), set);
        let err = "partition,flood".parse::<FaultSet>().unwrap_err();
        assert!(err.to_string().contains("unknown fault \"flood\""), "{err}");
    }
}
