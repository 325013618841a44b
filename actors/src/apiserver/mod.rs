//! The API server: the Kubernetes REST API over the store.
//!
//! - [`request`]: the one request path: both fronts describe a request (caller, verb,
//!   resource, namespace, name) and call [`core::ApiCore::handle`].
//! - [`core`]: the operations (create, get, list, update, patch, delete, watch and the
//!   subresources) over the store, shared by every front.
//! - [`eviction`]: the `pods/eviction` subresource (a deletion that respects the
//!   pod's PodDisruptionBudget).
//! - [`exec`]: `pods/exec` and `pods/attach` over WebSocket (`v5`/`v4.channel.k8s.io`),
//!   relayed to the pod's kubelet over a bus stream.
//! - [`portforward`]: `pods/portforward` over WebSocket (kubectl's tunnelled SPDY and
//!   `v4.channel.k8s.io`), one bus stream to the kubelet per connection; [`spdy`] is its
//!   SPDY/3.1 frame codec; [`spdy_exec`] serves exec and attach over plain SPDY.
//! - [`admission`]: admission plugins that read other objects (Priority,
//!   RuntimeClass, ServiceAccount), run on create before the kind's own admission;
//!   [`limitranger`] is LimitRanger (defaults and bounds from LimitRanges), [`quota`]
//!   the ResourceQuota plugin (every create charged against its namespace's quotas)
//!   and the usage counting the quota controller shares. [`podsecurity`] is PodSecurity
//!   admission (the Pod Security Standards per namespace label), a validating plugin
//!   that runs on create and update; [`notes`] carries the warnings and audit
//!   annotations admission adds to a request.
//! - [`alloc`]: Service cluster IP and NodePort allocation (pure; the core writes it).
//! - [`encryption`]: Secrets encrypted at rest (AES-GCM), between the API server and
//!   the store.
//! - [`cache`]: the watch cache that serves lists and watches from memory.
//! - [`actor`]: the bus front (the `apiserver` actor, typed messages); [`bus_streams`]
//!   its exec, attach and port-forward streams for bus clients.
//! - [`http`]: the REST front (actix-web over TLS, bearer tokens).
//! - [`tunnel`]: byte transports (WebSocket messages, raw upgraded connections) for the
//!   streaming subresources' sessions.
//! - [`upgrade`]: lets plain `Upgrade: SPDY/3.1` requests through actix (a rewrite of
//!   each connection's first request head).
//! - [`rbac`]: authorization (node authorizer and RBAC over a rule index kept from the
//!   watch cache), escalation prevention, access reviews, bootstrap roles.
//! - [`audit`]: the audit log (Kubernetes' audit events, policy levels, rotation).
//! - [`authn_tokens`]: the static token file (`[apiserver] token_auth_file`).
//! - [`tls`]: self-generated CA and serving certificate, admin token, kubeconfig.
//! - [`certificates`]: client certificates: the cluster's client CA, who a client
//!   certificate is, CertificateSigningRequest approval admission; [`x509`] reads
//!   requests and certificates and issues from the CA.
//! - [`authn`]: who a bearer token is (the admin token, service-account tokens) and
//!   the `serviceaccounts/token` subresource that issues the latter.
//! - [`dashboard`]: the live dashboard under `/dashboard/` (page, live stream, chaos
//!   controls), served to the same callers as the API.
//! - [`watchers`]: the count of open watches per resource (`/debug/watchers`).
//! - [`presence`]: the `kubernetes` Service, each API server's lease, the Service's
//!   Endpoints from the current leases, and the bundle of the API servers' CAs.
//!
//! Pure parts (no I/O):
//! - [`registry`]: the served resources and their schemas (merge keys live here once).
//! - [`discovery`], [`openapi`]: what clients read to learn the API (`/api`, `/apis`,
//!   aggregated discovery, OpenAPI v3).
//! - [`crd`]: CustomResourceDefinitions and the custom resources they define (served
//!   next to the static table, learned from the watch cache of CRDs).
//! - [`kinds`]: one module per served kind (its strategy: hooks, field selectors, printer
//!   columns), registered by one list.
//! - [`validation`], [`defaults`]: Kubernetes' validation (as `422 Invalid` causes) and
//!   defaulting per kind.
//! - [`selectors`]: label and field selectors.
//! - [`watch`]: which state a list reads and where a watch starts (`resourceVersion`,
//!   `resourceVersionMatch`, `sendInitialEvents`), and the order of a watch's events.
//! - [`patch`]: JSON merge patch, JSON patch and strategic merge patch.
//! - [`apply`]: field ownership (`managedFields`) and server-side apply.
//! - [`media`], [`protobuf`]: content negotiation, and Kubernetes' protobuf encoding of
//!   every kind (driven by a generated table of the Kubernetes messages).
//! - [`table`]: server-side `Table` output for `kubectl get`.
//! - [`satoken`]: service-account JWTs: the signing key, signing and verification, the
//!   key set and OpenID discovery documents.

pub mod actor;
pub mod admission;
pub mod alloc;
pub mod apply;
pub mod audit;
pub mod authn;
pub mod authn_tokens;
pub mod bus_clients;
pub mod bus_streams;
pub mod cache;
pub mod certificates;
pub mod core;
pub mod crd;
pub mod dashboard;
pub mod defaults;
pub mod discovery;
pub mod encryption;
pub mod eviction;
pub mod exec;
pub mod http;
pub mod kinds;
pub mod limitranger;
pub mod media;
pub mod metrics;
pub mod notes;
pub mod openapi;
pub mod patch;
pub mod podsecurity;
pub mod portforward;
pub mod presence;
pub mod protobuf;
pub mod quota;
pub mod rbac;
pub mod registry;
pub mod request;
pub mod satoken;
pub mod selectors;
pub mod spdy;
pub mod spdy_exec;
pub mod table;
pub mod tls;
pub mod tunnel;
pub mod upgrade;
pub mod validation;
pub mod versions;
pub mod watch;
pub mod watchers;
pub mod x509;
