//! Raft RPCs as typed messages on the bus: openraft's network, implemented by sending
//! [`StoreRequest::RaftAppend`], [`StoreRequest::RaftVote`] and
//! [`StoreRequest::RaftSnapshot`] to the target node's `store` actor.
//!
//! Snapshots travel in chunks (openraft's `snapshot_max_chunk_size`, well under the bus
//! frame limit), so heartbeats on the same link never wait behind a whole snapshot.

use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, SnapshotMismatch,
    Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use rudder_protocol::messages::store::{self as wire, StoreError, StoreReply, StoreRequest};
use rudder_protocol::messages::BusError;
use rudder_protocol::ActorRef;

use super::types::*;
use crate::bus::Bus;

/// The store actor's name on every control-plane node.
pub const STORE_ACTOR: &str = rudder_protocol::names::actors::STORE;

/// Makes one [`BusNetwork`] per target replica.
#[derive(Clone)]
pub struct BusNetworkFactory {
    /// The node's bus.
    pub bus: Bus,
}

/// Sends Raft RPCs to one replica over the bus.
pub struct BusNetwork {
    bus: Bus,
    target: u64,
    to: ActorRef,
}

impl RaftNetworkFactory<TypeConfig> for BusNetworkFactory {
    type Network = BusNetwork;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> Self::Network {
        BusNetwork {
            bus: self.bus.clone(),
            target,
            to: ActorRef::new(node.addr.clone(), STORE_ACTOR),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Remote(String);

impl BusNetwork {
    async fn call<E: std::error::Error>(
        &self,
        req: StoreRequest,
        option: &RPCOption,
    ) -> Result<StoreReply, RPCError<u64, BasicNode, RaftError<u64, E>>> {
        let timeout = option.hard_ttl().max(Duration::from_millis(50));
        match self.bus.call(self.to.clone(), req, timeout).await {
            Ok(StoreReply::Error(e)) => {
                Err(RPCError::Network(NetworkError::new(&Remote(e.to_string()))))
            }
            Ok(reply) => Ok(reply),
            Err(e @ (BusError::Unreachable { .. } | BusError::NoSuchActor { .. })) => {
                Err(RPCError::Unreachable(Unreachable::new(&e)))
            }
            Err(e) => Err(RPCError::Network(NetworkError::new(&e))),
        }
    }
}

fn unexpected<E: std::error::Error>(what: &str) -> RPCError<u64, BasicNode, RaftError<u64, E>> {
    RPCError::Network(NetworkError::new(&Remote(format!(
        "unexpected reply to {what}"
    ))))
}

impl RaftNetwork<TypeConfig> for BusNetwork {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        let req = StoreRequest::RaftAppend(append_to_wire(&rpc));
        match self.call(req, &option).await? {
            StoreReply::RaftAppend(r) => Ok(append_response_from_wire(&r)),
            _ => Err(unexpected("append entries")),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<u64>,
        RPCError<u64, BasicNode, RaftError<u64, InstallSnapshotError>>,
    > {
        let snapshot_id = rpc.meta.snapshot_id.clone();
        let req = StoreRequest::RaftSnapshot(wire::InstallSnapshot {
            vote: vote_to_wire(&rpc.vote),
            meta: snapshot_meta_to_wire(&rpc.meta),
            offset: rpc.offset,
            data: rpc.data,
            done: rpc.done,
        });
        let timeout = option.hard_ttl().max(Duration::from_millis(50));
        match self.bus.call(self.to.clone(), req, timeout).await {
            Ok(StoreReply::RaftSnapshot(r)) => Ok(InstallSnapshotResponse {
                vote: vote_from_wire(&r.vote),
            }),
            Ok(StoreReply::Error(StoreError::SnapshotMismatch {
                expected_offset,
                got_offset,
            })) => {
                let mismatch = SnapshotMismatch {
                    expect: (snapshot_id.clone(), expected_offset).into(),
                    got: (snapshot_id, got_offset).into(),
                };
                Err(RPCError::RemoteError(RemoteError::new(
                    self.target,
                    RaftError::APIError(InstallSnapshotError::SnapshotMismatch(mismatch)),
                )))
            }
            Ok(StoreReply::Error(e)) => {
                Err(RPCError::Network(NetworkError::new(&Remote(e.to_string()))))
            }
            Ok(_) => Err(unexpected("install snapshot")),
            Err(e @ (BusError::Unreachable { .. } | BusError::NoSuchActor { .. })) => {
                Err(RPCError::Unreachable(Unreachable::new(&e)))
            }
            Err(e) => Err(RPCError::Network(NetworkError::new(&e))),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        let req = StoreRequest::RaftVote(wire::VoteRequest {
            vote: vote_to_wire(&rpc.vote),
            last_log_id: opt_log_id_to_wire(&rpc.last_log_id),
        });
        match self.call(req, &option).await? {
            StoreReply::RaftVote(r) => Ok(VoteResponse {
                vote: vote_from_wire(&r.vote),
                vote_granted: r.vote_granted,
                last_log_id: opt_log_id_from_wire(&r.last_log_id),
            }),
            _ => Err(unexpected("vote")),
        }
    }
}

/// To wire.
pub fn append_to_wire(rpc: &AppendEntriesRequest<TypeConfig>) -> wire::AppendEntries {
    wire::AppendEntries {
        vote: vote_to_wire(&rpc.vote),
        prev_log_id: opt_log_id_to_wire(&rpc.prev_log_id),
        entries: rpc.entries.iter().map(entry_to_wire).collect(),
        leader_commit: opt_log_id_to_wire(&rpc.leader_commit),
    }
}

/// From wire.
pub fn append_from_wire(rpc: wire::AppendEntries) -> AppendEntriesRequest<TypeConfig> {
    AppendEntriesRequest {
        vote: vote_from_wire(&rpc.vote),
        prev_log_id: opt_log_id_from_wire(&rpc.prev_log_id),
        entries: rpc.entries.into_iter().map(entry_from_wire).collect(),
        leader_commit: opt_log_id_from_wire(&rpc.leader_commit),
    }
}

/// To wire.
pub fn append_response_to_wire(r: &AppendEntriesResponse<u64>) -> wire::AppendEntriesResponse {
    match r {
        AppendEntriesResponse::Success => wire::AppendEntriesResponse::Success,
        AppendEntriesResponse::PartialSuccess(id) => {
            wire::AppendEntriesResponse::PartialSuccess(opt_log_id_to_wire(id))
        }
        AppendEntriesResponse::Conflict => wire::AppendEntriesResponse::Conflict,
        AppendEntriesResponse::HigherVote(v) => {
            wire::AppendEntriesResponse::HigherVote(vote_to_wire(v))
        }
    }
}

/// From wire.
pub fn append_response_from_wire(r: &wire::AppendEntriesResponse) -> AppendEntriesResponse<u64> {
    match r {
        wire::AppendEntriesResponse::Success => AppendEntriesResponse::Success,
        wire::AppendEntriesResponse::PartialSuccess(id) => {
            AppendEntriesResponse::PartialSuccess(opt_log_id_from_wire(id))
        }
        wire::AppendEntriesResponse::Conflict => AppendEntriesResponse::Conflict,
        wire::AppendEntriesResponse::HigherVote(v) => {
            AppendEntriesResponse::HigherVote(vote_from_wire(v))
        }
    }
}
