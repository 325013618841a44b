//! ControllerRevisions (`apps/v1 ControllerRevision`): immutable snapshots of a
//! workload's state that the DaemonSet and StatefulSet controllers keep as their
//! rollout history (what `kubectl rollout history` lists and `kubectl rollout undo`
//! goes back to).

use super::RawJson;

/// The label a DaemonSet or StatefulSet controller puts on its ControllerRevisions and
/// on the pods made from them: the revision's hash.
pub const CONTROLLER_REVISION_HASH_LABEL: &str = "controller-revision-hash";

kind! {
    /// An immutable snapshot of state data, with a revision number.
    #[schema(name = "io.k8s.api.apps.v1.ControllerRevision")]
    pub struct ControllerRevision: "apps/v1", "ControllerRevision", "controllerrevisions", namespaced = true {
        /// The serialized representation of the state.
        pub data: RawJson,
        /// The revision this object represents.
        #[schema(required)]
        pub revision: i64,
    }
}
