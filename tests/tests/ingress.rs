//! The built-in ingress controller on real Docker with the newest kubectl: two Services
//! behind one Ingress, routed by host and by path through the node's ingress port from
//! the host, over TLS with a Secret's certificate (checked by curl against that
//! certificate alone); the Ingress gets the default class `rudder` and the node's address
//! in its status; unknown hosts get a 404.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::Context as _;
use rudder_protocol::client::Api;
use rudder_protocol::resources::{Deployment, Ingress, IntOrString, Pod, Service, ServicePort};
use rudder_tests::services::{self, backends, docker_available, wait_backends, HTTP_PORT};
use rudder_tests::{eventually, kubectl_bin};

fn kubectl(kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> anyhow::Result<String> {
    use std::io::Write as _;
    let mut cmd = Command::new(kubectl_bin());
    cmd.arg("--kubeconfig").arg(kubeconfig).args(args);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn()?;
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .context("kubectl stdin")?
            .write_all(input.as_bytes())?;
    }
    drop(child.stdin.take());
    let out = child.wait_with_output()?;
    anyhow::ensure!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn cluster_ip_service(name: &str) -> Service {
    let mut s = Service::new(name);
    s.spec.selector = [("app".to_owned(), name.to_owned())].into();
    s.spec.ports = vec![ServicePort {
        name: "http".into(),
        port: 80,
        target_port: Some(IntOrString::Int(i32::from(HTTP_PORT))),
        ..Default::default()
    }];
    s
}

/// `curl` through the ingress: the body's last line (the answering pod's name), or the
/// HTTP status code when `status` is asked for.
fn curl(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "5"])
        .args(args)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// A demo backend that answers its pod name at `/`, `/beta/`, `/beta/x` and `/betamax`,
/// so any route shows which Service it reached.
fn named_backend(app: &str) -> Deployment {
    let mut d = backends(app, 1);
    d.spec.template.spec.containers[0].command = vec![
        "sh".into(),
        "-c".into(),
        format!(
            "mkdir -p /www/beta && for f in index.html beta/index.html beta/x betamax; \
             do hostname > /www/$f; done; exec httpd -f -p {HTTP_PORT} -h /www"
        ),
    ];
    d.spec.template.spec.termination_grace_period_seconds = Some(1);
    d
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_services_behind_one_ingress_by_host_path_and_tls() -> anyhow::Result<()> {
    if !docker_available("the ingress test") {
        return Ok(());
    }
    let (http, https) = (free_port()?, free_port()?);
    let node = "ingress-node";
    let (_cleanup, cluster, client) = services::start_pod_node(
        node,
        vec![
            ("RUDDER_INGRESS_HTTP".into(), format!("127.0.0.1:{http}")),
            ("RUDDER_INGRESS_HTTPS".into(), format!("127.0.0.1:{https}")),
        ],
    )
    .await?;
    let kubeconfig = cluster.nodes[0].kubeconfig();
    let deployments: Api<Deployment> = client.api(Some("default"));
    let svcs: Api<Service> = client.api(Some("default"));
    for app in ["alpha", "beta"] {
        deployments.create(&named_backend(app)).await?;
        svcs.create(&cluster_ip_service(app)).await?;
    }
    let pods: Api<Pod> = client.api(Some("default"));
    wait_backends(&pods, "alpha", 1, 90).await?;
    wait_backends(&pods, "beta", 1, 90).await?;

    // A self-signed certificate for the TLS host, in a kubernetes.io/tls Secret.
    let dir = tempfile::tempdir()?;
    let (crt, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    let status = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=secure.example.com"])
        .args(["-addext", "subjectAltName=DNS:secure.example.com"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .output()?;
    anyhow::ensure!(status.status.success(), "openssl: {status:?}");
    kubectl(
        &kubeconfig,
        &[
            "create",
            "secret",
            "tls",
            "secure-tls",
            &format!("--cert={}", crt.display()),
            &format!("--key={}", key.display()),
        ],
        None,
    )?;
    let manifest = r#"
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
spec:
  tls:
  - hosts: [secure.example.com]
    secretName: secure-tls
  rules:
  - host: alpha.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: alpha, port: {number: 80}}}}
  - host: paths.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: alpha, port: {name: http}}}}
      - {path: /beta, pathType: Prefix, backend: {service: {name: beta, port: {number: 80}}}}
  - host: secure.example.com
    http:
      paths:
      - {path: /, pathType: Exact, backend: {service: {name: beta, port: {number: 80}}}}
"#;
    kubectl(&kubeconfig, &["apply", "-f", "-"], Some(manifest))?;

    // The default class was filled in, and the node's address is published.
    let ingresses: Api<Ingress> = client.api(Some("default"));
    let (ing, _) = eventually(Duration::from_secs(30), || {
        let ingresses = ingresses.clone();
        async move {
            let i = ingresses.get("web").await?;
            Ok((!i.status.load_balancer.ingress.is_empty()).then_some(i))
        }
    })
    .await?;
    assert_eq!(ing.spec.ingress_class_name.as_deref(), Some("rudder"));
    let table = kubectl(
        &kubeconfig,
        &["get", "ingress", "web", "--no-headers"],
        None,
    )?;
    let cols: Vec<&str> = table.split_whitespace().collect();
    assert_eq!(cols[..2], ["web", "rudder"], "{table}");
    assert!(cols.contains(&"80,") && cols.contains(&"443"), "{table}");
    assert!(
        cols[3] == ing.status.load_balancer.ingress[0].ip,
        "ADDRESS column: {table}"
    );
    let classes = kubectl(&kubeconfig, &["get", "ingressclass", "--no-headers"], None)?;
    assert!(
        classes.starts_with("rudder") && classes.contains("rudder.io/ingress"),
        "{classes}"
    );

    let get = |host: &str, path: &str| {
        curl(&[
            "-H",
            &format!("Host: {host}"),
            &format!("http://127.0.0.1:{http}{path}"),
        ])
    };
    // The first request may race the listener's opening.
    eventually(Duration::from_secs(20), || async {
        Ok(get("alpha.example.com", "/").ok())
    })
    .await?;
    let cases = [
        ("host rule", "alpha.example.com", "/", "alpha-"),
        (
            "host rule, any path",
            "alpha.example.com",
            "/beta/x",
            "alpha-",
        ),
        ("path rule", "paths.example.com", "/beta/", "beta-"),
        (
            "path rule below the prefix",
            "paths.example.com",
            "/beta/x",
            "beta-",
        ),
        ("root path by port name", "paths.example.com", "/", "alpha-"),
        (
            "prefix is element-wise",
            "paths.example.com",
            "/betamax",
            "alpha-",
        ),
    ];
    for (name, host, path, want) in cases {
        let id = get(host, path)?;
        assert!(id.starts_with(want), "{name}: {host}{path} answered {id:?}");
    }
    // No rule for this host and no default backend: 404 from the controller itself.
    let code = curl(&[
        "-H",
        "Host: nobody.example.com",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("http://127.0.0.1:{http}/"),
    ])?;
    assert_eq!(code, "404");

    // TLS with the Secret's certificate, verified by curl against it alone.
    let secure = curl(&[
        "--cacert",
        &crt.display().to_string(),
        "--resolve",
        &format!("secure.example.com:{https}:127.0.0.1"),
        &format!("https://secure.example.com:{https}/"),
    ])?;
    assert!(secure.starts_with("beta-"), "over TLS: {secure}");
    Ok(())
}
