//! The ingress controller's HTTP and HTTPS front: hyper serves each connection, looks
//! the request's backend up in the current [`Routing`], and relays it with a hyper
//! client connection to one ready endpoint of the backend's Service port (round robin).
//! HTTPS is terminated here with rustls; the certificate is chosen by SNI among the
//! Ingresses' TLS Secrets.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, HOST};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::{TcpListener, TcpStream};
use tracing::debug;

use super::routes::{Backend, Table};
use crate::proxy::plan::{Desired, Proto};

/// How long connecting to a backend may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

type Body = BoxBody<Bytes, hyper::Error>;

/// What requests are routed by: the table, the Services' ready endpoints, and the
/// certificates by host.
#[derive(Default)]
pub struct Routing {
    /// The routes.
    pub table: Table,
    /// Every Service port with its ready endpoints (the proxy's plan).
    pub ports: Desired,
    /// Certificates by lower-case host (`*.` for wildcards).
    pub certs: HashMap<String, Arc<CertifiedKey>>,
    /// The certificate for hosts no entry names.
    pub default_cert: Option<Arc<CertifiedKey>>,
}

impl Routing {
    /// The ready endpoints of `b`.
    pub fn endpoints(&self, b: &Backend) -> Vec<SocketAddr> {
        let prefix = format!("{}/{}:", b.namespace, b.service);
        self.ports
            .iter()
            .filter(|(id, p)| {
                p.proto == Proto::Tcp
                    && id.strip_prefix(&prefix).is_some_and(|name| {
                        if b.port_name.is_empty() {
                            i32::from(p.port) == b.port_number
                        } else {
                            name == b.port_name
                        }
                    })
            })
            .flat_map(|(_, p)| p.endpoints.iter().map(|e| SocketAddr::V4(*e)))
            .collect()
    }
}

/// The routing shared by every connection, replaced whole on each change.
#[derive(Default)]
pub struct Shared {
    current: RwLock<Arc<Routing>>,
    next: AtomicUsize,
}

impl Shared {
    /// The routing now.
    pub fn get(&self) -> Arc<Routing> {
        self.current
            .read()
            .map_or_else(|p| p.into_inner().clone(), |g| g.clone())
    }

    /// Replaces the routing.
    pub fn set(&self, r: Routing) {
        match self.current.write() {
            Ok(mut g) => *g = Arc::new(r),
            Err(p) => *p.into_inner() = Arc::new(r),
        }
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Shared")
    }
}

/// Picks the certificate by SNI: the host, then its wildcard, then the default.
#[derive(Debug)]
pub struct SniResolver(pub Arc<Shared>);

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let r = self.0.get();
        if let Some(name) = hello.server_name() {
            let name = name.to_ascii_lowercase();
            if let Some(c) = r.certs.get(&name) {
                return Some(c.clone());
            }
            if let Some((_, parent)) = name.split_once('.') {
                if let Some(c) = r.certs.get(&format!("*.{parent}")) {
                    return Some(c.clone());
                }
            }
        }
        r.default_cert
            .clone()
            .or_else(|| r.certs.values().next().cloned())
    }
}

/// Parses a `kubernetes.io/tls` Secret's PEM certificate chain and key.
pub fn certified_key(crt: &[u8], key: &[u8]) -> Result<Arc<CertifiedKey>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(crt)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("tls.crt: {e}"))?;
    if certs.is_empty() {
        return Err("tls.crt holds no certificate".into());
    }
    let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| format!("tls.key: {e}"))?;
    let signer = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| format!("tls.key: {e}"))?;
    Ok(Arc::new(CertifiedKey::new(certs, signer)))
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut r = Response::new(
        Full::new(Bytes::from(body.to_owned()))
            .map_err(|never| match never {})
            .boxed(),
    );
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("text/plain"));
    r
}

async fn relay(
    mut req: Request<Incoming>,
    to: SocketAddr,
    peer: SocketAddr,
    scheme: &'static str,
) -> Result<Response<Body>, String> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(to))
        .await
        .map_err(|_| format!("connecting to {to} timed out"))?
        .map_err(|e| format!("connecting to {to}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            debug!(error = %e, "backend connection ended");
        }
    });
    let h = req.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&peer.ip().to_string()) {
        h.append("x-forwarded-for", v);
    }
    h.insert("x-forwarded-proto", HeaderValue::from_static(scheme));
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    Ok(resp.map(BodyExt::boxed))
}

async fn handle(
    req: Request<Incoming>,
    shared: Arc<Shared>,
    peer: SocketAddr,
    scheme: &'static str,
) -> Result<Response<Body>, Infallible> {
    let host = req
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().host().map(str::to_owned))
        .unwrap_or_default();
    let routing = shared.get();
    let Some(backend) = routing.table.route(&host, req.uri().path()) else {
        return Ok(text(StatusCode::NOT_FOUND, "404 page not found\n"));
    };
    let endpoints = routing.endpoints(backend);
    if endpoints.is_empty() {
        return Ok(text(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!(
                "no ready endpoints for service {}/{}\n",
                backend.namespace, backend.service
            ),
        ));
    }
    let to = endpoints[shared.next.fetch_add(1, Ordering::Relaxed) % endpoints.len()];
    Ok(match relay(req, to, peer, scheme).await {
        Ok(r) => r,
        Err(e) => {
            debug!(backend = %to, error = %e, "relaying failed");
            text(StatusCode::BAD_GATEWAY, "502 bad gateway\n")
        }
    })
}

fn serve_conn<S>(io: S, shared: Arc<Shared>, peer: SocketAddr, scheme: &'static str)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let svc = hyper::service::service_fn(move |req| handle(req, shared.clone(), peer, scheme));
        if let Err(e) = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(io), svc)
            .await
        {
            debug!(%peer, error = %e, "ingress connection ended");
        }
    });
}

/// Serves plain HTTP on `listener` until dropped.
pub async fn serve_http(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((s, peer)) => {
                let _ = s.set_nodelay(true);
                serve_conn(s, shared.clone(), peer, "http");
            }
            Err(e) => {
                debug!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// The TLS configuration: certificates chosen by SNI from `shared`.
pub fn tls_config(shared: Arc<Shared>) -> Result<rustls::ServerConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SniResolver(shared)));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Serves HTTPS on `listener` with `config` until dropped.
pub async fn serve_https(listener: TcpListener, shared: Arc<Shared>, config: rustls::ServerConfig) {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    loop {
        match listener.accept().await {
            Ok((s, peer)) => {
                let _ = s.set_nodelay(true);
                let (acceptor, shared) = (acceptor.clone(), shared.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(s)).await {
                        Ok(Ok(tls)) => serve_conn(tls, shared, peer, "https"),
                        Ok(Err(e)) => debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
            Err(e) => {
                debug!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
