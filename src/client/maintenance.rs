//! Maintenance and cluster calls (clientv3's `Maintenance`: `AlarmList`,
//! `AlarmDisarm`, `Status`, `MoveLeader`, `HashKV`; `Cluster`:
//! `MemberAdd`, `MemberRemove`, `MemberUpdate`, `MemberPromote`,
//! `MemberList`), on the current endpoint.

use super::{Client, ClientError, Retry};
use crate::proto::etcdserverpb::alarm_request::AlarmAction;
use crate::proto::etcdserverpb::cluster_client::ClusterClient;
use crate::proto::etcdserverpb::{
    AlarmMember, AlarmRequest, AlarmType, HashKvRequest, HashKvResponse, MemberAddRequest,
    MemberAddResponse, MemberListRequest, MemberListResponse, MemberPromoteRequest,
    MemberPromoteResponse, MemberRemoveRequest, MemberRemoveResponse, MemberUpdateRequest,
    MemberUpdateResponse, MoveLeaderRequest, StatusRequest, StatusResponse,
};

impl Client {
    /// Every raised alarm of the cluster.
    pub async fn alarm_list(&self) -> Result<Vec<AlarmMember>, ClientError> {
        self.alarm(AlarmAction::Get, 0, AlarmType::None).await
    }

    /// Clears `alarm` raised by `member`; with `member` 0 and
    /// [`AlarmType::None`], clears every raised alarm (as etcdctl's
    /// `alarm disarm` does). Returns the alarms cleared.
    pub async fn alarm_disarm(
        &self,
        member: u64,
        alarm: AlarmType,
    ) -> Result<Vec<AlarmMember>, ClientError> {
        let targets = if member == 0 && alarm == AlarmType::None {
            self.alarm_list().await?
        } else {
            vec![AlarmMember {
                member_id: member,
                alarm: alarm as i32,
            }]
        };
        let mut cleared = Vec::new();
        for target in targets {
            let alarm = AlarmType::try_from(target.alarm).unwrap_or(AlarmType::None);
            cleared.extend(
                self.alarm(AlarmAction::Deactivate, target.member_id, alarm)
                    .await?,
            );
        }
        Ok(cleared)
    }

    /// The status of the member at the current endpoint.
    pub async fn status(&self) -> Result<StatusResponse, ClientError> {
        let mut stub = self.maintenance().await?;
        Ok(stub.status(StatusRequest {}).await?.into_inner())
    }

    /// Asks the member at the current endpoint, which must lead, to hand
    /// leadership to member `target`.
    pub async fn move_leader(&self, target: u64) -> Result<(), ClientError> {
        let mut stub = self.maintenance().await?;
        let request = MoveLeaderRequest { target_id: target };
        stub.move_leader(request).await?;
        Ok(())
    }

    /// The hash of the current endpoint's key-value history up to
    /// `revision` (0: its current revision), for comparing members.
    pub async fn hash_kv(&self, revision: i64) -> Result<HashKvResponse, ClientError> {
        let mut stub = self.maintenance().await?;
        Ok(stub.hash_kv(HashKvRequest { revision }).await?.into_inner())
    }

    /// The cluster's members, as the current endpoint knows them (the next
    /// one if it is gone). A membership change below is never retried once
    /// sent, but a member that is gone (removed, down) is left for the next,
    /// as clientv3 leaves an endpoint it cannot reach.
    pub async fn member_list(&self) -> Result<MemberListResponse, ClientError> {
        self.call_on(Retry::Idempotent, |channel| async move {
            ClusterClient::new(channel)
                .member_list(MemberListRequest {})
                .await
        })
        .await
    }

    /// Adds a member at `peer_urls` (a learner if `is_learner`).
    pub async fn member_add(
        &self,
        peer_urls: Vec<String>,
        is_learner: bool,
    ) -> Result<MemberAddResponse, ClientError> {
        let request = MemberAddRequest {
            peer_ur_ls: peer_urls,
            is_learner,
        };
        self.call_on(Retry::Never, |channel| {
            let request = request.clone();
            async move { ClusterClient::new(channel).member_add(request).await }
        })
        .await
    }

    /// Removes member `id` from the cluster for good.
    pub async fn member_remove(&self, id: u64) -> Result<MemberRemoveResponse, ClientError> {
        let request = MemberRemoveRequest { id };
        self.call_on(Retry::Never, |channel| async move {
            ClusterClient::new(channel).member_remove(request).await
        })
        .await
    }

    /// Moves member `id` to `peer_urls`.
    pub async fn member_update(
        &self,
        id: u64,
        peer_urls: Vec<String>,
    ) -> Result<MemberUpdateResponse, ClientError> {
        let request = MemberUpdateRequest {
            id,
            peer_ur_ls: peer_urls,
        };
        self.call_on(Retry::Never, |channel| {
            let request = request.clone();
            async move { ClusterClient::new(channel).member_update(request).await }
        })
        .await
    }

    /// Promotes learner `id` to a voter.
    pub async fn member_promote(&self, id: u64) -> Result<MemberPromoteResponse, ClientError> {
        let request = MemberPromoteRequest { id };
        self.call_on(Retry::Never, |channel| async move {
            ClusterClient::new(channel).member_promote(request).await
        })
        .await
    }

    async fn alarm(
        &self,
        action: AlarmAction,
        member: u64,
        alarm: AlarmType,
    ) -> Result<Vec<AlarmMember>, ClientError> {
        let mut stub = self.maintenance().await?;
        let request = AlarmRequest {
            action: action as i32,
            member_id: member,
            alarm: alarm as i32,
        };
        Ok(stub.alarm(request).await?.into_inner().alarms)
    }
}
