//! The Rust client: a small bus participant.
//!
//! It connects to any node, proves the cluster token in the handshake and sends typed
//! requests to any actor in the cluster; the node it is connected to forwards requests
//! for other nodes. It runs on whatever tokio runtime the caller uses.
//!
//! ```no_run
//! # async fn demo() -> Result<(), rudder_protocol::client::ClientError> {
//! use rudder_protocol::client::{Client, ClientConfig};
//! use rudder_protocol::messages::chaos::ChaosRequest;
//! let client = Client::connect(&ClientConfig::discover(None)?).await?;
//! let node = client.node().clone();
//! let actors = client.call(rudder_protocol::ActorRef::new(node, "chaos"), ChaosRequest::ListActors).await?;
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;

use crate::actor::{ActorRef, NodeName};
use crate::frame::Peer;
use crate::messages::{BusError, Protocol, Reply, Request};
use crate::net::{self, Credentials, HandshakeError, Link, LinkOptions};

/// Environment variable naming the client config file.
pub const CONFIG_ENV: &str = "RUDDER_CLIENT_CONFIG";

/// Where the client looks last: the default data dir of `rudderd`.
pub const DEFAULT_CONFIG_PATH: &str = "./.rudder/client.toml";

/// The client config file `rudderd` writes as `<data-dir>/client.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// The bus address of a node, `host:port`.
    pub bus_address: String,
    /// The cluster id to present in the handshake.
    pub cluster_id: String,
    /// The file holding the cluster token (the administrator's credential); relative
    /// paths are relative to this file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// Instead of a token: a client certificate (PEM, the chain) issued by the
    /// cluster's client CA, as `rudderctl kubeconfig --client-config` writes it. The
    /// client then acts as the certificate's user and groups, as kubectl would.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_file: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// With a certificate: the cluster's client CA (PEM), which the node's bus
    /// certificate must chain to (a node proves itself to such a client with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_authority_file: Option<PathBuf>,
}

/// How a client proves who it is.
#[derive(Debug, Clone)]
pub enum ClientAuth {
    /// The cluster token: the administrator.
    Token(Credentials),
    /// A user's client certificate.
    Certificate(net::CertificateCredentials),
}

/// Why the client could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The config file could not be read or parsed.
    #[error("client config {path}: {message}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The TCP connection failed.
    #[error("cannot connect to {address}: {source}")]
    Connect {
        /// The address dialled.
        address: String,
        /// The error.
        source: std::io::Error,
    },
    /// The handshake failed (wrong token, wrong cluster, ...).
    #[error("handshake with {address} failed: {source}")]
    Handshake {
        /// The address dialled.
        address: String,
        /// The error.
        source: HandshakeError,
    },
    /// The request was sent but got no reply.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// The API server (or the kubelet behind it) refused to start an exec, attach or
    /// port-forward stream.
    #[error("{message} ({code})")]
    Refused {
        /// The HTTP status the REST API would answer with.
        code: u16,
        /// Kubernetes' message.
        message: String,
    },
}

impl ClientConfig {
    /// Reads a config file.
    pub fn load(path: &Path) -> Result<Self, ClientError> {
        let err = |message: String| ClientError::Config {
            path: path.to_owned(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let mut cfg: ClientConfig = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
        let files = [
            &mut cfg.token_file,
            &mut cfg.certificate_file,
            &mut cfg.key_file,
            &mut cfg.certificate_authority_file,
        ];
        for file in files.into_iter().flatten() {
            if let (true, Some(dir)) = (file.is_relative(), path.parent()) {
                *file = dir.join(&*file);
            }
        }
        match (&cfg.token_file, &cfg.certificate_file, &cfg.key_file) {
            (Some(_), None, None) if cfg.certificate_authority_file.is_none() => Ok(cfg),
            (None, Some(_), Some(_)) if cfg.certificate_authority_file.is_some() => Ok(cfg),
            (None, Some(_), Some(_)) => Err(err(
                "certificate_file needs certificate_authority_file, the cluster's client CA \
                 that nodes prove themselves with (rudderctl kubeconfig --client-out writes it)"
                    .into(),
            )),
            (Some(_), None, None) => Err(err(
                "certificate_authority_file goes with certificate_file, not token_file".into(),
            )),
            (Some(_), _, _) => Err(err(
                "token_file and certificate_file/key_file exclude each other".into(),
            )),
            (None, None, None) => Err(err(
                "no credential: give token_file, or certificate_file and key_file".into(),
            )),
            (None, _, _) => Err(err("certificate_file and key_file go together".into())),
        }
    }

    /// Finds the config: `explicit` (a `--client-config` flag), then `$RUDDER_CLIENT_CONFIG`,
    /// then `./.rudder/client.toml`.
    pub fn discover(explicit: Option<&Path>) -> Result<Self, ClientError> {
        let path = match (explicit, std::env::var_os(CONFIG_ENV)) {
            (Some(p), _) => p.to_owned(),
            (None, Some(p)) if !p.is_empty() => PathBuf::from(p),
            _ => PathBuf::from(DEFAULT_CONFIG_PATH),
        };
        Self::load(&path)
    }

    /// Reads the token file (a config with a certificate has none: an error).
    pub fn credentials(&self) -> Result<Credentials, ClientError> {
        match self.auth()? {
            ClientAuth::Token(creds) => Ok(creds),
            ClientAuth::Certificate(_) => Err(ClientError::Config {
                path: self.certificate_file.clone().unwrap_or_default(),
                message: "this client authenticates with a certificate, not the cluster token"
                    .into(),
            }),
        }
    }

    /// Reads the credential the config names: the token file, or the certificate and
    /// its key.
    pub fn auth(&self) -> Result<ClientAuth, ClientError> {
        match (&self.token_file, &self.certificate_file, &self.key_file) {
            (Some(file), _, _) => {
                let token = read_token(file).map_err(|message| ClientError::Config {
                    path: file.clone(),
                    message,
                })?;
                Ok(ClientAuth::Token(Credentials::token(
                    self.cluster_id.clone(),
                    token.into_bytes(),
                )))
            }
            (None, Some(cert), Some(key)) => {
                let authority = self.certificate_authority_file.as_deref().ok_or_else(|| {
                    ClientError::Config {
                        path: cert.clone(),
                        message: "no certificate_authority_file to check the node with".into(),
                    }
                })?;
                crate::keys::certificate_credentials(&self.cluster_id, cert, key, authority)
                    .map(ClientAuth::Certificate)
                    .map_err(|message| ClientError::Config {
                        path: cert.clone(),
                        message,
                    })
            }
            _ => Err(ClientError::Config {
                path: PathBuf::new(),
                message: "no credential: give token_file, or certificate_file and key_file".into(),
            }),
        }
    }
}

/// Reads a token file: its content with surrounding whitespace removed, never empty.
pub fn read_token(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read token: {e}"))?;
    let token = text.trim();
    if token.is_empty() {
        return Err("token file is empty".into());
    }
    Ok(token.to_owned())
}

/// Time allowed for a client's handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// The label a client gives in its handshake, for the node's logs.
fn label() -> String {
    format!("client-{}", std::process::id())
}

async fn dial(address: &str) -> Result<TcpStream, ClientError> {
    TcpStream::connect(address)
        .await
        .map_err(|source| ClientError::Connect {
            address: address.to_owned(),
            source,
        })
}

/// Closes the link when the last clone of a [`Client`] goes (its tasks hold clones too).
#[derive(Debug)]
struct CloseOnDrop(Link);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// A connection to one node of a cluster. Cheap to clone; all clones share the link.
#[derive(Debug, Clone)]
pub struct Client {
    link: Arc<CloseOnDrop>,
    node: NodeName,
    timeout: Duration,
}

impl Client {
    /// Connects using a client config file's contents.
    pub async fn connect(cfg: &ClientConfig) -> Result<Client, ClientError> {
        match cfg.auth()? {
            ClientAuth::Token(creds) => Self::connect_to(&cfg.bus_address, &creds).await,
            ClientAuth::Certificate(creds) => {
                Self::connect_with_certificate(&cfg.bus_address, &creds).await
            }
        }
    }

    /// Connects to `address` with explicit credentials.
    pub async fn connect_to(address: &str, creds: &Credentials) -> Result<Client, ClientError> {
        let stream = dial(address).await?;
        let me = Peer::Client { label: label() };
        let est = net::dial_handshake(stream, me, creds, HANDSHAKE_TIMEOUT)
            .await
            .map_err(|source| ClientError::Handshake {
                address: address.to_owned(),
                source,
            })?;
        Ok(Self::established(est))
    }

    /// Connects to `address` (a node that serves the API) as the user of a client
    /// certificate: what the link may do is what RBAC grants that user.
    pub async fn connect_with_certificate(
        address: &str,
        creds: &net::CertificateCredentials,
    ) -> Result<Client, ClientError> {
        let stream = dial(address).await?;
        let est = net::dial_certificate_handshake(stream, label(), creds, HANDSHAKE_TIMEOUT)
            .await
            .map_err(|source| ClientError::Handshake {
                address: address.to_owned(),
                source,
            })?;
        Ok(Self::established(est))
    }

    fn established(est: net::Established) -> Client {
        let node = NodeName::new(est.peer.label());
        let link = Link::spawn(est, Arc::new(net::Refuse), LinkOptions::default());
        Client {
            link: Arc::new(CloseOnDrop(link)),
            node,
            timeout: Duration::from_secs(10),
        }
    }

    /// The node this client is connected to.
    pub fn node(&self) -> &NodeName {
        &self.node
    }

    /// Returns a client whose requests wait up to `timeout` (default 10 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sends a typed request and waits for its typed reply.
    pub async fn call<P: Protocol>(&self, to: ActorRef, req: P) -> Result<P::Reply, ClientError> {
        let reply = self
            .link
            .0
            .request(to.clone(), req.into_request(), self.timeout)
            .await?;
        Ok(P::from_reply(reply, &to)?)
    }

    /// Sends an untyped request.
    pub async fn request(&self, to: ActorRef, req: Request) -> Result<Reply, BusError> {
        self.link.0.request(to, req, self.timeout).await
    }

    /// Sends an untyped request as part of `trace` (see [`crate::trace`]): the nodes that
    /// serve it record spans under it, which `rudderctl traces ID` shows.
    pub async fn request_traced(
        &self,
        to: ActorRef,
        req: Request,
        trace: crate::trace::TraceContext,
    ) -> Result<Reply, BusError> {
        self.link
            .0
            .request_traced(to, req, self.timeout, Some(trace))
            .await
    }

    /// Opens a stream to the `apiserver` actor of the connected node and waits for its
    /// start (see [`crate::messages::kubelet::ApiStream`]).
    async fn open_api_stream(
        &self,
        open: crate::messages::kubelet::ApiStream,
    ) -> Result<(crate::stream::StreamWriter, crate::stream::StreamReader), ClientError> {
        use crate::messages::kubelet::ExecStart;
        let to = ActorRef::new(self.node.clone(), crate::names::actors::APISERVER);
        let (w, mut r) = self
            .link
            .0
            .open_stream(
                to,
                crate::messages::StreamOpen::Api(open),
                crate::stream::DEFAULT_WINDOW,
                self.timeout,
            )
            .await?;
        let first = tokio::time::timeout(self.timeout.max(Duration::from_secs(30)), r.recv())
            .await
            .map_err(|_| ClientError::Refused {
                code: 504,
                message: "the stream did not start in time".into(),
            })??;
        let start = first
            .ok_or_else(|| ClientError::Refused {
                code: 500,
                message: "the stream ended before it started".into(),
            })
            .and_then(|b| {
                crate::codec::decode::<ExecStart>(&b).map_err(|e| ClientError::Refused {
                    code: 500,
                    message: format!("the stream's start could not be read: {e}"),
                })
            })?;
        match start {
            ExecStart::Ready => Ok((w, r)),
            ExecStart::Refused { code, message } => Err(ClientError::Refused { code, message }),
        }
    }

    /// Runs a command in a pod's container: the stream carries channel messages (first
    /// byte the channel of [`crate::messages::kubelet::channel`]): stdin, resize and
    /// close to the container; stdout, stderr and the final `Status` (JSON, on the error
    /// channel) back. An empty `container` means the pod's only one.
    pub async fn exec(
        &self,
        req: crate::messages::kubelet::ExecRequest,
    ) -> Result<(crate::stream::StreamWriter, crate::stream::StreamReader), ClientError> {
        self.open_api_stream(crate::messages::kubelet::ApiStream::Exec(req))
            .await
    }

    /// Joins a container's main process (as [`Client::exec`], without a command).
    pub async fn attach(
        &self,
        req: crate::messages::kubelet::ExecRequest,
    ) -> Result<(crate::stream::StreamWriter, crate::stream::StreamReader), ClientError> {
        self.open_api_stream(crate::messages::kubelet::ApiStream::Attach(req))
            .await
    }

    /// One TCP connection to `port` of a pod, as a byte stream both ways (finishing the
    /// writer half-closes the connection).
    pub async fn port_forward(
        &self,
        namespace: &str,
        pod: &str,
        port: u16,
    ) -> Result<(crate::stream::StreamWriter, crate::stream::StreamReader), ClientError> {
        self.open_api_stream(crate::messages::kubelet::ApiStream::PortForward(
            crate::messages::kubelet::PortForwardRequest {
                namespace: namespace.to_owned(),
                pod: pod.to_owned(),
                uid: String::new(),
                port,
            },
        ))
        .await
    }

    /// True once the connection is gone.
    pub fn is_closed(&self) -> bool {
        self.link.0.is_closed()
    }

    /// Closes the connection.
    pub fn close(&self) {
        self.link.0.close();
    }
}

pub use crate::api::{Api, ApiError, ApiResource, DynamicObject, Object, WatchEvent};

impl From<ClientError> for ApiError {
    fn from(e: ClientError) -> Self {
        ApiError::Unreachable(e.to_string())
    }
}

/// Carries API requests over a client's link to one node's `apiserver` actor.
struct ClientTransport {
    client: Client,
    to: ActorRef,
    /// Whom the requests impersonate, if anyone.
    caller: Option<crate::messages::api::Caller>,
}

impl crate::api::ApiTransport for ClientTransport {
    fn call(
        &self,
        req: crate::messages::api::ApiRequest,
    ) -> crate::api::BoxFuture<'_, Result<crate::messages::api::ApiReply, ApiError>> {
        let req = match &self.caller {
            Some(caller) => crate::messages::api::ApiRequest::As {
                caller: caller.clone(),
                request: Box::new(req),
            },
            None => req,
        };
        Box::pin(async move { Ok(self.client.call(self.to.clone(), req).await?) })
    }
}

impl Client {
    /// Typed handle on objects of kind `K` (in `namespace`, or all namespaces / cluster
    /// scope with `None`), served by the `apiserver` of the node this client is on.
    pub fn api<K: crate::resources::Resource>(&self, namespace: Option<&str>) -> Api<K> {
        Api::new(self.transport(None), namespace)
    }

    /// Like [`Client::api`], impersonating the user `name` in `groups` (`kubectl --as
    /// NAME --as-group GROUP`): the API server checks that this client's own user may
    /// `impersonate` them, then decides every request as that user.
    pub fn api_as<K: crate::resources::Resource>(
        &self,
        namespace: Option<&str>,
        name: &str,
        groups: &[&str],
    ) -> Api<K> {
        let caller = crate::messages::api::Caller::User {
            name: name.to_owned(),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        };
        Api::new(self.transport(Some(caller)), namespace)
    }

    fn transport(&self, caller: Option<crate::messages::api::Caller>) -> Arc<ClientTransport> {
        Arc::new(ClientTransport {
            client: self.clone(),
            to: ActorRef::new(self.node.clone(), crate::names::actors::APISERVER),
            caller,
        })
    }

    /// Handle on the objects of `resource` (a kind known only at run time) as JSON with
    /// typed metadata, served by the `apiserver` of the node this client is on.
    pub fn dynamic_api(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
    ) -> Api<DynamicObject> {
        Api::dynamic(self.transport(None), resource, namespace)
    }
}

/// Chaos commands (see [`crate::messages::chaos`] and [`crate::chaos`]).
impl Client {
    async fn chaos(
        &self,
        node: &NodeName,
        req: crate::messages::chaos::ChaosRequest,
    ) -> Result<crate::messages::chaos::ChaosReply, ClientError> {
        self.call(
            ActorRef::new(node.clone(), crate::names::actors::CHAOS),
            req,
        )
        .await
    }

    /// The members this client's node sees alive.
    pub async fn alive_members(
        &self,
    ) -> Result<Vec<crate::messages::bus::MemberInfo>, ClientError> {
        use crate::messages::bus::MemberState;
        let node = self.node.clone();
        Ok(self
            .members_seen_by(&node)
            .await?
            .into_iter()
            .filter(|m| m.state == MemberState::Alive)
            .collect())
    }

    /// Every member as node `node` sees it.
    pub async fn members_seen_by(
        &self,
        node: &NodeName,
    ) -> Result<Vec<crate::messages::bus::MemberInfo>, ClientError> {
        use crate::messages::bus::{BusReply, BusRequest};
        let to = ActorRef::new(node.clone(), crate::names::actors::BUS);
        match self.call(to.clone(), BusRequest::Members).await? {
            BusReply::Members(m) => Ok(m),
            _ => Err(ClientError::Bus(BusError::WrongProtocol {
                actor: to,
                protocol: "bus".into(),
            })),
        }
    }

    /// Every alive node with its roles and its actors' names (nodes that do not answer
    /// are left out): the listing a chaos schedule chooses from.
    pub async fn chaos_listing(
        &self,
    ) -> Result<Vec<(String, Vec<crate::actor::Role>, Vec<String>)>, ClientError> {
        use crate::messages::chaos::{ChaosReply, ChaosRequest};
        let members = self.alive_members().await?;
        let mut out = Vec::new();
        for m in members {
            if let Ok(ChaosReply::Actors(list)) =
                self.chaos(&m.name, ChaosRequest::ListActors).await
            {
                out.push((
                    m.name.to_string(),
                    m.roles,
                    list.into_iter().map(|a| a.name).collect(),
                ));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Stops the actors of `node` whose names match the glob `pattern` (never `bus` or
    /// `chaos`); returns their names and restart counts before the kill.
    pub async fn chaos_kill(
        &self,
        node: &NodeName,
        pattern: &str,
    ) -> Result<Vec<(String, u32)>, ClientError> {
        use crate::messages::chaos::{ChaosReply, ChaosRequest};
        match self
            .chaos(
                node,
                ChaosRequest::KillMatching {
                    pattern: pattern.to_owned(),
                },
            )
            .await?
        {
            ChaosReply::KilledMatching(v) => Ok(v),
            other => Err(unexpected(node, other)),
        }
    }

    /// Kills `node`'s process (as `kill -9`); returns its pid.
    pub async fn chaos_kill_process(&self, node: &NodeName) -> Result<u32, ClientError> {
        use crate::messages::chaos::{ChaosReply, ChaosRequest};
        match self.chaos(node, ChaosRequest::KillProcess).await? {
            ChaosReply::ProcessKilling { pid, .. } => Ok(pid),
            other => Err(unexpected(node, other)),
        }
    }

    /// Adds a fault rule to `node`'s bus; returns its id.
    pub async fn chaos_set_fault(
        &self,
        node: &NodeName,
        rule: crate::messages::chaos::FaultRule,
    ) -> Result<u64, ClientError> {
        use crate::messages::chaos::{ChaosReply, ChaosRequest};
        match self.chaos(node, ChaosRequest::SetFault(rule)).await? {
            ChaosReply::FaultSet { id } => Ok(id),
            other => Err(unexpected(node, other)),
        }
    }

    /// Removes every fault rule of `node`'s bus; returns how many there were.
    pub async fn chaos_clear_faults(&self, node: &NodeName) -> Result<u32, ClientError> {
        use crate::messages::chaos::{ChaosReply, ChaosRequest};
        match self.chaos(node, ChaosRequest::ClearFaults).await? {
            ChaosReply::FaultsCleared { count } => Ok(count),
            other => Err(unexpected(node, other)),
        }
    }

    /// The fault rules in force on `node`'s bus.
    pub async fn chaos_faults(
        &self,
        node: &NodeName,
    ) -> Result<Vec<crate::messages::chaos::ActiveFault>, ClientError> {
        use crate::messages::chaos::{ChaosReply, ChaosRequest};
        match self.chaos(node, ChaosRequest::ListFaults).await? {
            ChaosReply::Faults(v) => Ok(v),
            other => Err(unexpected(node, other)),
        }
    }
}

fn unexpected(node: &NodeName, reply: crate::messages::chaos::ChaosReply) -> ClientError {
    ClientError::Bus(BusError::Failed {
        actor: ActorRef::new(node.clone(), crate::names::actors::CHAOS),
        message: format!("unexpected reply {reply:?}"),
    })
}
