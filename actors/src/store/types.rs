//! openraft's type configuration for the store, and the conversions between openraft's
//! types and their wire twins in [`rudder_protocol::messages::store`].
//!
//! The protocol crate does not depend on openraft (a client never needs it), so every
//! Raft message that crosses the bus has a plain twin there. The same twins are what the
//! log keeps on disk, encoded by the one codec: one format for wire and disk.

use std::collections::{BTreeMap, BTreeSet};

use openraft::{BasicNode, CommittedLeaderId, EntryPayload, StoredMembership};
use rudder_protocol::messages::store as wire;

openraft::declare_raft_types!(
    /// Rudder's Raft type configuration: a log entry carries the transactions proposed
    /// together (one fsync for all of them); its response is one per transaction.
    pub TypeConfig:
        D = Vec<wire::Txn>,
        R = Vec<wire::TxnResponse>,
        NodeId = u64,
        Node = BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = std::io::Cursor<Vec<u8>>,
);

/// openraft's log id for this config.
pub type LogId = openraft::LogId<u64>;
/// openraft's vote for this config.
pub type Vote = openraft::Vote<u64>;
/// openraft's entry for this config.
pub type Entry = openraft::Entry<TypeConfig>;
/// openraft's membership for this config (a node's `addr` holds its node *name*).
pub type Membership = openraft::Membership<u64, BasicNode>;
/// openraft's storage error for this config.
pub type StorageError = openraft::StorageError<u64>;
/// The Raft handle.
pub type Raft = openraft::Raft<TypeConfig>;

/// The Raft node id of a node name: FNV-1a, so every replica derives the same id.
pub fn node_id(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// To wire.
pub fn log_id_to_wire(id: &LogId) -> wire::LogId {
    wire::LogId {
        term: id.leader_id.term,
        node: id.leader_id.node_id,
        index: id.index,
    }
}

/// From wire.
pub fn log_id_from_wire(id: &wire::LogId) -> LogId {
    LogId::new(CommittedLeaderId::new(id.term, id.node), id.index)
}

/// To wire.
pub fn opt_log_id_to_wire(id: &Option<LogId>) -> Option<wire::LogId> {
    id.as_ref().map(log_id_to_wire)
}

/// From wire.
pub fn opt_log_id_from_wire(id: &Option<wire::LogId>) -> Option<LogId> {
    id.as_ref().map(log_id_from_wire)
}

/// To wire.
pub fn vote_to_wire(v: &Vote) -> wire::Vote {
    wire::Vote {
        term: v.leader_id.term,
        node: v.leader_id.node_id,
        committed: v.committed,
    }
}

/// From wire.
pub fn vote_from_wire(v: &wire::Vote) -> Vote {
    if v.committed {
        Vote::new_committed(v.term, v.node)
    } else {
        Vote::new(v.term, v.node)
    }
}

/// To wire.
pub fn membership_to_wire(m: &Membership) -> wire::Membership {
    wire::Membership {
        configs: m
            .get_joint_config()
            .iter()
            .map(|c| c.iter().copied().collect())
            .collect(),
        nodes: m
            .nodes()
            .map(|(id, n)| wire::RaftMember {
                id: *id,
                name: n.addr.clone(),
            })
            .collect(),
    }
}

/// From wire.
pub fn membership_from_wire(m: &wire::Membership) -> Membership {
    let configs: Vec<BTreeSet<u64>> = m
        .configs
        .iter()
        .map(|c| c.iter().copied().collect())
        .collect();
    let nodes: BTreeMap<u64, BasicNode> = m
        .nodes
        .iter()
        .map(|n| (n.id, BasicNode::new(n.name.clone())))
        .collect();
    Membership::new(configs, nodes)
}

/// To wire.
pub fn stored_membership_to_wire(
    m: &StoredMembership<u64, BasicNode>,
) -> (Option<wire::LogId>, wire::Membership) {
    (
        opt_log_id_to_wire(m.log_id()),
        membership_to_wire(m.membership()),
    )
}

/// From wire.
pub fn stored_membership_from_wire(
    log_id: &Option<wire::LogId>,
    m: &wire::Membership,
) -> StoredMembership<u64, BasicNode> {
    StoredMembership::new(opt_log_id_from_wire(log_id), membership_from_wire(m))
}

/// To wire (and disk).
pub fn entry_to_wire(e: &Entry) -> wire::Entry {
    wire::Entry {
        log_id: log_id_to_wire(&e.log_id),
        payload: match &e.payload {
            EntryPayload::Blank => wire::EntryPayload::Blank,
            EntryPayload::Normal(txn) => wire::EntryPayload::Normal(txn.clone()),
            EntryPayload::Membership(m) => wire::EntryPayload::Membership(membership_to_wire(m)),
        },
    }
}

/// From wire (and disk).
pub fn entry_from_wire(e: wire::Entry) -> Entry {
    Entry {
        log_id: log_id_from_wire(&e.log_id),
        payload: match e.payload {
            wire::EntryPayload::Blank => EntryPayload::Blank,
            wire::EntryPayload::Normal(txn) => EntryPayload::Normal(txn),
            wire::EntryPayload::Membership(m) => EntryPayload::Membership(membership_from_wire(&m)),
        },
    }
}

/// To wire.
pub fn snapshot_meta_to_wire(m: &openraft::SnapshotMeta<u64, BasicNode>) -> wire::SnapshotMeta {
    let (last_membership_log_id, last_membership) = stored_membership_to_wire(&m.last_membership);
    wire::SnapshotMeta {
        last_log_id: opt_log_id_to_wire(&m.last_log_id),
        last_membership_log_id,
        last_membership,
        snapshot_id: m.snapshot_id.clone(),
    }
}

/// From wire.
pub fn snapshot_meta_from_wire(m: &wire::SnapshotMeta) -> openraft::SnapshotMeta<u64, BasicNode> {
    openraft::SnapshotMeta {
        last_log_id: opt_log_id_from_wire(&m.last_log_id),
        last_membership: stored_membership_from_wire(&m.last_membership_log_id, &m.last_membership),
        snapshot_id: m.snapshot_id.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rudder_protocol::codec;

    #[test]
    fn node_ids_are_stable_and_distinct() {
        assert_eq!(node_id("cp-1"), node_id("cp-1"));
        assert_ne!(node_id("cp-1"), node_id("cp-2"));
        // FNV-1a of the empty string is its offset basis.
        assert_eq!(node_id(""), 0xcbf2_9ce4_8422_2325);
    }

    #[test]
    fn entries_round_trip_through_wire_and_codec() {
        let m = membership_from_wire(&wire::Membership {
            configs: vec![vec![1, 2], vec![2, 3]],
            nodes: vec![
                wire::RaftMember {
                    id: 1,
                    name: "a".into(),
                },
                wire::RaftMember {
                    id: 2,
                    name: "b".into(),
                },
                wire::RaftMember {
                    id: 3,
                    name: "c".into(),
                },
                wire::RaftMember {
                    id: 4,
                    name: "learner".into(),
                },
            ],
        });
        let entries = vec![
            Entry {
                log_id: LogId::new(CommittedLeaderId::new(3, 1), 10),
                payload: EntryPayload::Blank,
            },
            Entry {
                log_id: LogId::new(CommittedLeaderId::new(3, 1), 11),
                payload: EntryPayload::Normal(vec![wire::Txn {
                    compares: vec![],
                    success: vec![wire::TxnOp::Put {
                        key: "k".into(),
                        value: b"v".to_vec(),
                    }],
                    failure: vec![],
                }]),
            },
            Entry {
                log_id: LogId::new(CommittedLeaderId::new(4, 2), 12),
                payload: EntryPayload::Membership(m),
            },
        ];
        for e in entries {
            let bytes = codec::encode(&entry_to_wire(&e)).expect("encodes");
            let back = entry_from_wire(codec::decode(&bytes).expect("decodes"));
            assert_eq!(back, e);
        }
    }

    #[test]
    fn votes_round_trip() {
        for v in [Vote::new(5, 7), Vote::new_committed(6, 8)] {
            assert_eq!(vote_from_wire(&vote_to_wire(&v)), v);
        }
    }
}
