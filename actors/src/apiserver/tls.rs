//! The API server's credentials: a self-generated CA and serving certificate, the admin
//! bearer token, and the kubeconfig `rudderd` writes for kubectl.
//!
//! On first start `<data-dir>/pki/` gets `ca.crt`, `apiserver.crt` and `apiserver.key`
//! (the CA key is not kept: nothing else is ever signed) and `<data-dir>/admin.token` a
//! random token. Later starts reuse them, so a kubeconfig stays valid across restarts.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Why the API server's credentials could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Certificate generation failed.
    #[error("generating certificates: {0}")]
    Generate(#[from] rcgen::Error),
    /// A stored certificate or key does not parse.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// rustls refused the certificate and key.
    #[error("tls configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TlsError + '_ {
    move |source| TlsError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The serving certificate, its key and the CA that signed it (PEM).
pub struct Pki {
    /// PEM of the CA certificate (goes into the kubeconfig).
    pub ca_pem: String,
    cert_pem: String,
    key_pem: String,
    cert_path: PathBuf,
}

/// Loads `<data-dir>/pki`, creating a CA and a serving certificate for `names` (DNS
/// names or IPs) on first use.
pub fn load_or_create_pki(data_dir: &Path, names: &[String]) -> Result<Pki, TlsError> {
    let dir = data_dir.join("pki");
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let (ca_path, cert_path, key_path) = (
        dir.join("ca.crt"),
        dir.join("apiserver.crt"),
        dir.join("apiserver.key"),
    );
    // The names the certificate was made for: a certificate made for other names (an
    // older version's, or before the service range changed) is made again, CA and all
    // (the CA key is not kept), and the kubeconfig written at start follows.
    let names_path = dir.join("names");
    let wanted = names.join("\n");
    let same_names = std::fs::read_to_string(&names_path).is_ok_and(|n| n == wanted);
    if same_names && ca_path.exists() && cert_path.exists() && key_path.exists() {
        let read = |p: &Path| std::fs::read_to_string(p).map_err(io(p));
        return Ok(Pki {
            ca_pem: read(&ca_path)?,
            cert_pem: read(&cert_path)?,
            key_pem: read(&key_path)?,
            cert_path,
        });
    }
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "rudder-ca");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key)?;
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(names.to_vec())?;
    params
        .distinguished_name
        .push(DnType::CommonName, "rudder-apiserver");
    let cert = params.signed_by(&key, &ca_cert, &ca_key)?;
    let pki = Pki {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        cert_path: cert_path.clone(),
    };
    let write = |path: &Path, data: &str, private: bool| {
        crate::fsutil::write_atomic(path, data.as_bytes(), private).map_err(io(path))
    };
    write(&ca_path, &pki.ca_pem, false)?;
    write(&cert_path, &pki.cert_pem, false)?;
    write(&key_path, &pki.key_pem, true)?;
    write(&names_path, &wanted, false)?;
    tracing::info!(dir = %dir.display(), "created API server certificates");
    Ok(pki)
}

impl Pki {
    /// A rustls server configuration serving this certificate, asking clients for theirs.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let parse = |message: String| TlsError::Parse {
            path: self.cert_path.clone(),
            message,
        };
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(self.cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .map_err(|e| parse(e.to_string()))?;
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes())
            .map_err(|e| parse(e.to_string()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            // Client certificates are asked for and judged per request
            // ([`super::certificates`]).
            .with_client_cert_verifier(Arc::new(super::certificates::RequestClientCert::default()))
            .with_single_cert(certs, key)?;
        Ok(Arc::new(config))
    }
}

/// The names pods reach the API by: the `kubernetes` Service's DNS names.
const SERVICE_NAMES: &[&str] = &[
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
];

/// The subject names for the serving certificate of an API server on `listen`, reached
/// by pods at `service_ip` (the `kubernetes` Service's address).
pub fn serving_names(listen: &str, node: &str, service_ip: std::net::Ipv4Addr) -> Vec<String> {
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        node.to_owned(),
        service_ip.to_string(),
    ];
    names.extend(SERVICE_NAMES.iter().map(|s| (*s).to_owned()));
    if let Ok(addr) = listen.parse::<std::net::SocketAddr>() {
        let ip: IpAddr = addr.ip();
        if !ip.is_unspecified() && !names.contains(&ip.to_string()) {
            names.push(ip.to_string());
        }
    }
    names
}

/// A kubeconfig for kubectl: the server, its CA and the admin token.
pub fn kubeconfig(server: &str, ca_pem: &str, token: &str, cluster: &str) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: {cluster}\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\nusers:\n- name: {cluster}-admin\n  user:\n    token: {token}\ncontexts:\n- name: {cluster}\n  context:\n    cluster: {cluster}\n    user: {cluster}-admin\n    namespace: default\ncurrent-context: {cluster}\npreferences: {{}}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pki_is_created_once_and_serves() {
        let dir = tempfile::tempdir().expect("tempdir");
        let names = serving_names(
            "127.0.0.1:6443",
            "n1",
            std::net::Ipv4Addr::new(10, 96, 0, 1),
        );
        let a = load_or_create_pki(dir.path(), &names).expect("created");
        let b = load_or_create_pki(dir.path(), &names).expect("reused");
        assert_eq!(a.ca_pem, b.ca_pem);
        assert!(b.server_config().is_ok());
        assert!(names.iter().any(|n| n == "10.96.0.1"));
        assert!(names.iter().any(|n| n == "kubernetes.default.svc"));
        // Other names: made again, under a new CA.
        let c = load_or_create_pki(dir.path(), &names[..3]).expect("remade");
        assert_ne!(a.ca_pem, c.ca_pem);
        let kc = kubeconfig("https://127.0.0.1:6443", &a.ca_pem, "tok", "rudder");
        assert!(kc.contains("token: tok") && kc.contains("certificate-authority-data: "));
    }
}
