//! Names of nodes and actors.
//!
//! A node is one `rudderd` process; an actor is addressed by the node it lives on and its
//! role name (`scheduler`, `kubelet`, `chaos`, ...). Names are plain strings on the wire so
//! that a restarted node rejoins under the same name.

use std::fmt;

/// The name of a node (a `rudderd` process), unique in its cluster.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, bincode::Encode, bincode::Decode)]
pub struct NodeName(pub String);

impl NodeName {
    /// Wraps a node name.
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for NodeName {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl From<String> for NodeName {
    fn from(s: String) -> Self {
        Self(s)
    }
}

/// The address of one actor in the cluster: `(node, name)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, bincode::Encode, bincode::Decode)]
pub struct ActorRef {
    /// The node hosting the actor.
    pub node: NodeName,
    /// The actor's name on that node, e.g. `scheduler`.
    pub name: String,
}

impl ActorRef {
    /// Builds an actor address.
    pub fn new(node: impl Into<NodeName>, name: impl Into<String>) -> Self {
        Self {
            node: node.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for ActorRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.node, self.name)
    }
}

/// A role a node plays; it decides which actors the node runs.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    bincode::Encode,
    bincode::Decode,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Store, API server, controllers and scheduler.
    ControlPlane,
    /// Kubelet and proxy.
    Worker,
}

impl Role {
    /// The role's name as used in configs and flags.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::ControlPlane => "control-plane",
            Role::Worker => "worker",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "control-plane" | "controlplane" | "cp" => Ok(Role::ControlPlane),
            "worker" => Ok(Role::Worker),
            other => Err(format!(
                "unknown role {other:?} (expected control-plane or worker)"
            )),
        }
    }
}
