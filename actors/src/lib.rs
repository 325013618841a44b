//! Rudder's components as actix actors, and the node that hosts them.
//!
//! - [`apirelay`]: where a worker's pods reach the API (the `kubernetes` Service).
//! - [`apiserver`]: the Kubernetes REST API over the store (HTTP and bus fronts, watch
//!   cache, discovery, OpenAPI, validation, defaults, selectors, patches, tables).
//! - [`bus`]: actor registry, authenticated links between nodes, routing, membership.
//! - [`supervisor`]: starts every component actor and restarts it when it stops or panics.
//! - [`chaos`]: lists and kills this node's actors on request.
//! - [`dns`]: the cluster DNS (CoreDNS's role), one per worker node, answering pods on
//!   their own node.
//! - [`echo`]: answers pings; reachability checks and bus benchmarks.
//! - [`events`]: the event recorder shared by controllers and kubelets (client-go's
//!   aggregation and spam filter).
//! - [`config`]: the node's TOML configuration and its defaults.
//! - [`controllers`]: the control loops (replica sets, deployments, endpoints, namespace,
//!   node lifecycle, GC, ...), one actor each.
//! - [`fsutil`]: durable small-file writes (configs, tokens, keys).
//! - [`informer`]: informers, work queues, leader election and API access for components.
//! - [`kubelet`]: runs the pods bound to this node as Docker containers.
//! - [`metrics_server`]: scrapes the kubelets' CPU and memory measurements (the
//!   metrics-server role) for the resource metrics API and the autoscaler.
//! - [`netpol`]: NetworkPolicy enforcement with the packet filter, one per worker node.
//! - [`netroute`]: host-gw routes to the other nodes' pod CIDRs, one per worker node.
//! - [`proxy`]: the service proxy (kube-proxy): packet-filter rules or forwarding.
//! - [`provisioner`]: the local-path provisioner: volumes as directories on the node
//!   that runs the pod, one instance per worker node.
//! - [`retry`]: back-off counters and the log limiter every retry loop uses.
//! - [`node`]: start-up and shutdown of one `rudderd` node.
//! - [`nodeaddr`]: the node's own address (its InternalIP), configured or found.
//! - [`scheduler`]: assigns pending pods to nodes (snapshot, plugins, cycle).
//! - [`simnode`]: simulated nodes (kwok-style) for benchmarks and scale tests.
//! - [`store`]: the replicated store (openraft over RocksDB).
//! - [`telemetry`]: the node's metrics (Prometheus text format, Kubernetes' names) and
//!   the metrics address.

pub mod apirelay;
pub mod apiserver;
pub mod bus;
pub mod chaos;
pub mod config;
pub mod controllers;
pub mod dns;
pub mod echo;
pub mod events;
pub mod fsutil;
pub mod informer;
pub mod ingress;
pub mod kubelet;
pub mod metrics_server;
pub mod netpol;
pub mod netroute;
pub mod node;
pub mod nodeaddr;
pub mod provisioner;
pub mod proxy;
pub mod retry;
pub mod scheduler;
pub mod simnode;
pub mod store;
pub mod supervisor;
pub mod telemetry;
