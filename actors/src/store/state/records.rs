//! Stored records. Each is a plain tuple through the one codec (this crate does not
//! derive bincode itself), wrapped in a private struct so that field names stay visible.

use openraft::{BasicNode, StoredMembership};
use rudder_protocol::codec::{self, CodecError};
use rudder_protocol::messages::store::{self as wire, KeyValue};

use crate::store::types::{
    log_id_from_wire, opt_log_id_to_wire, stored_membership_from_wire, stored_membership_to_wire,
    LogId,
};

/// The `sm` record: where the state machine is.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct SmMeta {
    pub(super) last_applied: Option<LogId>,
    pub(super) membership: StoredMembership<u64, BasicNode>,
    pub(super) revision: u64,
    pub(super) compact_revision: u64,
}

/// Disk form of [`SmMeta`]: (last applied, membership log id, membership, revision,
/// compact revision).
pub(super) type SmMetaDisk = (
    Option<wire::LogId>,
    Option<wire::LogId>,
    wire::Membership,
    u64,
    u64,
);

impl SmMeta {
    pub(super) fn encode(&self) -> Result<Vec<u8>, CodecError> {
        let (membership_log_id, membership) = stored_membership_to_wire(&self.membership);
        let disk: SmMetaDisk = (
            opt_log_id_to_wire(&self.last_applied),
            membership_log_id,
            membership,
            self.revision,
            self.compact_revision,
        );
        codec::encode(&disk)
    }

    pub(super) fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        let (last_applied, membership_log_id, membership, revision, compact_revision): SmMetaDisk =
            codec::decode(bytes)?;
        Ok(SmMeta {
            last_applied: last_applied.as_ref().map(log_id_from_wire),
            membership: stored_membership_from_wire(&membership_log_id, &membership),
            revision,
            compact_revision,
        })
    }
}

/// Disk form of a key's value in `kv`: (value, create revision, mod revision, version).
pub(super) type StoredValueDisk = (Vec<u8>, u64, u64, u64);

pub(super) fn encode_value(kv: &KeyValue) -> Result<Vec<u8>, CodecError> {
    codec::encode(&(&kv.value, kv.create_revision, kv.mod_revision, kv.version))
}

pub(super) fn decode_value(key: &str, bytes: &[u8]) -> Result<KeyValue, CodecError> {
    let (value, create_revision, mod_revision, version): StoredValueDisk = codec::decode(bytes)?;
    Ok(KeyValue {
        key: key.to_owned(),
        value,
        create_revision,
        mod_revision,
        version,
    })
}

/// The `history` key of event `seq` of revision `revision`: sorts by revision, then seq.
pub(super) fn history_key(revision: u64, seq: u32) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..8].copy_from_slice(&revision.to_be_bytes());
    k[8..].copy_from_slice(&seq.to_be_bytes());
    k
}

pub(super) fn parse_history_key(key: &[u8]) -> Option<(u64, u32)> {
    let rev: [u8; 8] = key.get(..8)?.try_into().ok()?;
    let seq: [u8; 4] = key.get(8..)?.try_into().ok()?;
    Some((u64::from_be_bytes(rev), u32::from_be_bytes(seq)))
}
