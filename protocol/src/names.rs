//! Well-known names every component uses: the names actors are registered under on each
//! node's bus, the namespaces the cluster creates for itself, and the condition types of
//! pods and nodes. A name used in more than one place is a constant here.

/// The names actors are registered under on each node's bus.
pub mod actors {
    /// The bus itself (membership, fault rules); never killed.
    pub const BUS: &str = "bus";
    /// Kills actors and injects bus faults on demand; never killed.
    pub const CHAOS: &str = "chaos";
    /// Answers pings (reachability, benchmarks).
    pub const ECHO: &str = "echo";
    /// The replicated store (etcd's role), on control-plane nodes.
    pub const STORE: &str = "store";
    /// The API server's bus front, on control-plane nodes.
    pub const APISERVER: &str = "apiserver";
    /// The scheduler, on control-plane nodes.
    pub const SCHEDULER: &str = "scheduler";
    /// The node agent, on workers.
    pub const KUBELET: &str = "kubelet";
    /// The service proxy, on workers.
    pub const PROXY: &str = "proxy";
}

/// The namespaces the cluster creates for itself (Kubernetes' system namespaces).
pub mod namespaces {
    /// Where objects go when a request names no namespace.
    pub const DEFAULT: &str = "default";
    /// The cluster's own objects (leader-election Leases, ...).
    pub const KUBE_SYSTEM: &str = "kube-system";
    /// Readable by everyone.
    pub const KUBE_PUBLIC: &str = "kube-public";
    /// The nodes' heartbeat Leases.
    pub const KUBE_NODE_LEASE: &str = "kube-node-lease";
    /// Every namespace above, in the order they are created.
    pub const SYSTEM: [&str; 4] = [DEFAULT, KUBE_SYSTEM, KUBE_PUBLIC, KUBE_NODE_LEASE];
}

/// Condition types of pods and nodes.
pub mod conditions {
    /// A pod that serves, or a node that runs pods.
    pub const READY: &str = "Ready";
    /// A pod bound to a node (or why it cannot be).
    pub const POD_SCHEDULED: &str = "PodScheduled";
    /// A pod whose sandbox, with its network, is up.
    pub const POD_READY_TO_START_CONTAINERS: &str = "PodReadyToStartContainers";
    /// A pod whose init containers all succeeded.
    pub const INITIALIZED: &str = "Initialized";
    /// A pod whose containers are all ready.
    pub const CONTAINERS_READY: &str = "ContainersReady";
    /// A node short of memory.
    pub const MEMORY_PRESSURE: &str = "MemoryPressure";
    /// A node short of disk.
    pub const DISK_PRESSURE: &str = "DiskPressure";
    /// A node short of process ids.
    pub const PID_PRESSURE: &str = "PIDPressure";
}
