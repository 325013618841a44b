//! `rudderctl kubeconfig --user NAME [--group G]... [--out FILE] [--expiration 24h]
//! [--client-out FILE]`: a kubeconfig for a user who authenticates with a client
//! certificate and, with `--client-out`, a client config with which `rudderctl` and the
//! Rust client act on the bus as the same user.
//!
//! The steps are those an administrator takes with kubectl, done through the API on
//! the bus: a new key and a PKCS#10 request (CN = user, O = groups), a
//! CertificateSigningRequest for `kubernetes.io/kube-apiserver-client`, its approval
//! (as the caller, which the `approval` subresource and the `approve` verb on `signers`
//! must allow), then a wait for the signer to issue the certificate. The kubeconfig
//! names the API server of the node this client is connected to (its lease's address,
//! or `--server`) and trusts every API server's CA (the cluster's CA bundle); the key
//! never leaves this process except into the file.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use rudder_actors::apiserver::certificates::{ca_cert_from_secret, CLIENT_CA_SECRET};
use rudder_actors::apiserver::presence::{ADDRESS_ANNOTATION, CA_BUNDLE, LEASE_NAMESPACE};
use rudder_actors::apiserver::x509;
use rudder_protocol::client::{Client, ClientConfig};
use rudder_protocol::messages::api::{ApiRequest, ResourceRef};
use rudder_protocol::resources::{Secret, KUBE_APISERVER_CLIENT_SIGNER, USAGE_CLIENT_AUTH};
use serde_json::{json, Value};

use super::objects::call;

/// What to issue and where to write it.
#[derive(Debug, clap::Args)]
pub struct KubeconfigArgs {
    /// The user (the certificate's common name).
    #[arg(long)]
    user: String,
    /// The user's group (the certificate's organization); at most one.
    #[arg(long = "group")]
    groups: Vec<String>,
    /// Write the kubeconfig here (mode 0600) instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
    /// How long the certificate is valid: `90m`, `24h`, `30d` or seconds (at least
    /// 10 minutes; the signer issues at most a year).
    #[arg(long, default_value = "24h")]
    expiration: String,
    /// The API server's URL (default: the API server of the connected node).
    #[arg(long)]
    server: Option<String>,
    /// Also write a client config for `rudderctl --client-config` and the Rust client
    /// (this node's bus address; the certificate, its key and the cluster's client CA,
    /// which nodes prove themselves with, in FILE.crt, FILE.key and FILE.ca.crt beside
    /// it, mode 0600): they then act on the bus as the user, as RBAC allows.
    #[arg(long)]
    client_out: Option<PathBuf>,
    /// Give up waiting for the certificate after this many seconds.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
}

/// `90m`, `24h`, `30d`, `600s` or `600` in seconds.
fn parse_duration(text: &str) -> anyhow::Result<i64> {
    let t = text.trim();
    let (digits, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let n: i64 = digits
        .parse()
        .with_context(|| format!("invalid duration {text:?}"))?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => bail!("invalid duration {text:?}: use s, m, h or d"),
    };
    Ok(n.saturating_mul(scale))
}

fn csr_resource() -> ResourceRef {
    ResourceRef {
        group: "certificates.k8s.io".into(),
        version: "v1".into(),
        plural: "certificatesigningrequests".into(),
    }
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Issues the certificate and writes (or prints) the kubeconfig.
pub async fn run(client: &Client, cfg: &ClientConfig, args: KubeconfigArgs) -> anyhow::Result<()> {
    if args.groups.len() > 1 {
        bail!("at most one --group: the cluster's signer issues one organization per certificate");
    }
    let seconds = parse_duration(&args.expiration)?;
    let seconds = i32::try_from(seconds).context("--expiration is too long")?;
    let (key_pem, request_pem) = x509::new_client_request(&args.user, &args.groups)
        .context("generating the key and request")?;
    let csr = json!({
        "apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
        "metadata": {"generateName": format!("{}-", sanitize(&args.user))},
        "spec": {
            "request": b64(request_pem.as_bytes()),
            "signerName": KUBE_APISERVER_CLIENT_SIGNER,
            "usages": ["digital signature", "key encipherment", USAGE_CLIENT_AUTH],
            "expirationSeconds": seconds,
        },
    });
    let mut created = call(
        client,
        ApiRequest::Create {
            resource: csr_resource(),
            namespace: None,
            body: serde_json::to_vec(&csr)?,
        },
    )
    .await
    .context("creating the CertificateSigningRequest")?;
    let name = created["metadata"]["name"]
        .as_str()
        .context("the created request has no name")?
        .to_owned();
    let now = rudder_protocol::resources::Time::now();
    let approved = json!({
        "type": "Approved", "status": "True", "reason": "RudderctlApprove",
        "message": "This CSR was approved by rudderctl kubeconfig",
        "lastUpdateTime": now, "lastTransitionTime": now,
    });
    match created["status"]["conditions"].as_array_mut() {
        Some(c) => c.push(approved),
        None => created["status"] = json!({ "conditions": [approved] }),
    }
    call(
        client,
        ApiRequest::UpdateSubresource {
            resource: csr_resource(),
            namespace: None,
            name: name.clone(),
            subresource: "approval".into(),
            body: serde_json::to_vec(&created)?,
        },
    )
    .await
    .with_context(|| format!("approving certificatesigningrequest {name}"))?;
    let cert_pem = wait_for_certificate(client, &name, Duration::from_secs(args.timeout)).await?;
    let server = match args.server {
        Some(s) => s,
        None => own_server(client).await?,
    };
    let ca = ca_bundle(client).await?;
    let config = kubeconfig(&server, &ca, &args.user, &cert_pem, &key_pem);
    match args.out {
        Some(path) => {
            rudder_actors::fsutil::write_atomic(&path, config.as_bytes(), true)
                .with_context(|| format!("writing {}", path.display()))?;
            eprintln!(
                "wrote {} for user {:?} (certificatesigningrequest {name})",
                path.display(),
                args.user
            );
        }
        None => print!("{config}"),
    }
    if let Some(path) = args.client_out {
        let client_ca = client_ca(client).await?;
        write_client_config(&path, cfg, &cert_pem, &key_pem, &client_ca)?;
        eprintln!(
            "wrote {} for user {:?} on the bus",
            path.display(),
            args.user
        );
    }
    Ok(())
}

/// The cluster's client CA certificate (PEM), which nodes prove themselves to
/// certificate clients with: `tls.crt` of its Secret.
async fn client_ca(client: &Client) -> anyhow::Result<String> {
    let (namespace, name) = CLIENT_CA_SECRET;
    let secret = client
        .api::<Secret>(Some(namespace))
        .get(name)
        .await
        .with_context(|| format!("reading the cluster's client CA (secret {namespace}/{name})"))?;
    ca_cert_from_secret(&secret).map_err(|e| anyhow::anyhow!("secret {namespace}/{name}: {e}"))
}

/// Writes `path` (a client config naming `cfg`'s node and cluster) and the certificate,
/// key and cluster CA beside it, each mode 0600.
fn write_client_config(
    path: &std::path::Path,
    cfg: &ClientConfig,
    cert_pem: &str,
    key_pem: &str,
    ca_pem: &str,
) -> anyhow::Result<()> {
    let beside = |ext: &str| {
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(ext);
        path.with_file_name(name)
    };
    let (cert, key, ca) = (beside(".crt"), beside(".key"), beside(".ca.crt"));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let client = ClientConfig {
        bus_address: cfg.bus_address.clone(),
        cluster_id: cfg.cluster_id.clone(),
        token_file: None,
        // Relative: the three files move together.
        certificate_file: cert.file_name().map(PathBuf::from),
        key_file: key.file_name().map(PathBuf::from),
        certificate_authority_file: ca.file_name().map(PathBuf::from),
    };
    let text = toml::to_string(&client)?;
    for (file, bytes) in [
        (cert.as_path(), cert_pem.as_bytes()),
        (key.as_path(), key_pem.as_bytes()),
        (ca.as_path(), ca_pem.as_bytes()),
        (path, text.as_bytes()),
    ] {
        rudder_actors::fsutil::write_atomic(file, bytes, true)
            .with_context(|| format!("writing {}", file.display()))?;
    }
    Ok(())
}

/// A name prefix from a user name (a request's name is a path segment: no `/`, `%`).
fn sanitize(user: &str) -> String {
    let s: String = user
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    if s.is_empty() {
        "user".into()
    } else {
        s
    }
}

async fn get_csr(client: &Client, name: &str) -> anyhow::Result<Value> {
    call(
        client,
        ApiRequest::Get {
            resource: csr_resource(),
            namespace: None,
            name: name.to_owned(),
        },
    )
    .await
}

async fn wait_for_certificate(
    client: &Client,
    name: &str,
    timeout: Duration,
) -> anyhow::Result<String> {
    use base64::Engine as _;
    let start = Instant::now();
    loop {
        let csr = get_csr(client, name).await?;
        if let Some(cert) = csr["status"]["certificate"]
            .as_str()
            .filter(|c| !c.is_empty())
        {
            let pem = base64::engine::general_purpose::STANDARD
                .decode(cert)
                .context("the issued certificate is not base64")?;
            return Ok(String::from_utf8_lossy(&pem).into_owned());
        }
        let refused = csr["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| matches!(c["type"].as_str(), Some("Denied" | "Failed")));
        if let Some(c) = refused {
            bail!(
                "certificatesigningrequest {name} {}: {}",
                c["type"].as_str().unwrap_or_default().to_lowercase(),
                c["message"].as_str().unwrap_or_default()
            );
        }
        if start.elapsed() > timeout {
            bail!("certificatesigningrequest {name}: no certificate after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The URL of the connected node's API server, from its lease.
async fn own_server(client: &Client) -> anyhow::Result<String> {
    let lease = call(
        client,
        ApiRequest::Get {
            resource: ResourceRef {
                group: "coordination.k8s.io".into(),
                version: "v1".into(),
                plural: "leases".into(),
            },
            namespace: Some(LEASE_NAMESPACE.into()),
            name: format!("apiserver-{}", client.node()),
        },
    )
    .await
    .with_context(|| {
        format!(
            "finding the API server of node {} (pass --server)",
            client.node()
        )
    })?;
    let addr = lease["metadata"]["annotations"][ADDRESS_ANNOTATION]
        .as_str()
        .context("the API server's lease names no address (pass --server)")?;
    Ok(format!("https://{addr}"))
}

/// Every API server's CA (PEM), in the order of their nodes' names.
async fn ca_bundle(client: &Client) -> anyhow::Result<String> {
    let cm = call(
        client,
        ApiRequest::Get {
            resource: ResourceRef {
                group: String::new(),
                version: "v1".into(),
                plural: "configmaps".into(),
            },
            namespace: Some(CA_BUNDLE.0.into()),
            name: CA_BUNDLE.1.into(),
        },
    )
    .await
    .context("reading the API servers' CA bundle")?;
    let mut out = String::new();
    for pem in cm["data"].as_object().into_iter().flat_map(|m| m.values()) {
        out.push_str(pem.as_str().unwrap_or_default().trim_end());
        out.push('\n');
    }
    if out.is_empty() {
        bail!("the API servers' CA bundle is empty");
    }
    Ok(out)
}

/// The kubeconfig: one cluster, one user with its certificate and key, one context.
fn kubeconfig(server: &str, ca_pem: &str, user: &str, cert_pem: &str, key_pem: &str) -> String {
    let config = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "rudder", "cluster": {
            "server": server,
            "certificate-authority-data": b64(ca_pem.as_bytes()),
        }}],
        "users": [{"name": user, "user": {
            "client-certificate-data": b64(cert_pem.as_bytes()),
            "client-key-data": b64(key_pem.as_bytes()),
        }}],
        "contexts": [{"name": format!("{user}@rudder"), "context": {
            "cluster": "rudder", "user": user, "namespace": "default",
        }}],
        "current-context": format!("{user}@rudder"),
        "preferences": {},
    });
    serde_norway::to_string(&config).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let table = [
            ("90m", 5400),
            ("24h", 86_400),
            ("30d", 2_592_000),
            ("600", 600),
        ];
        for (text, want) in table {
            assert_eq!(parse_duration(text).ok(), Some(want), "{text}");
        }
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("h").is_err());
        assert_eq!(sanitize("Alice/Admin"), "alice-admin");
    }
}
