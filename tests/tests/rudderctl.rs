//! `rudderctl` as a user runs it, against a real `rudderd`: actors and kill, store
//! status, and the everyday object commands (apply, get, scale, delete).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use rudder_tests::{eventually, rudderctl_bin, Cluster, NodeProc};

fn rudderctl(client_config: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(rudderctl_bin())
        .arg("--client-config")
        .arg(client_config)
        .args(args)
        .output()
        .expect("rudderctl runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(cc: &Path, args: &[&str]) -> String {
    let (success, out, err) = rudderctl(cc, args);
    assert!(success, "rudderctl {args:?}: {out}{err}");
    out
}

const APP: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: rudder-demo:latest\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {app: web}\n  ports:\n  - port: 80\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everyday_commands() -> anyhow::Result<()> {
    let mut cluster = Cluster::new()?;
    let spec = cluster.spec("single-node.toml", "solo");
    cluster.nodes.push(NodeProc::start(spec).await?);
    let cc = cluster.nodes[0].client_config();

    let out = ok(&cc, &["actors"]);
    let header: Vec<&str> = out
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(&header[..4], ["NODE", "NAME", "STATE", "RESTARTS"], "{out}");
    for actor in ["apiserver", "chaos", "echo", "store"] {
        assert!(out.contains(actor), "{out}");
    }
    ok(&cc, &["kill", "echo"]);
    let json = ok(&cc, &["actors", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json)?;
    let echo = v["actors"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["name"] == "echo"))
        .cloned();
    assert!(
        echo.is_some_and(|e| e["restarts"].as_u64() >= Some(1)),
        "{json}"
    );
    let (success, _, err) = rudderctl(&cc, &["kill", "nobody"]);
    assert!(!success && err.contains("no actor named"), "{err}");

    let out = ok(&cc, &["store", "status"]);
    assert!(
        out.contains("leader: solo") && out.contains("voter"),
        "{out}"
    );

    let cc2 = cc.clone();
    eventually(Duration::from_secs(10), move || {
        let cc = cc2.clone();
        async move { Ok(rudderctl(&cc, &["get", "ns", "default"]).0.then_some(())) }
    })
    .await?;
    let file = cluster.dir.path().join("app.yaml");
    std::fs::write(&file, APP)?;
    let f = file.to_string_lossy().to_string();
    let out = ok(&cc, &["apply", "-f", &f]);
    assert!(
        out.contains("deployment.apps/web created") && out.contains("service/web created"),
        "{out}"
    );
    let out = ok(&cc, &["apply", "-f", &f]);
    assert!(out.contains("deployment.apps/web unchanged"), "{out}");
    let out = ok(&cc, &["get", "deploy"]);
    assert!(
        out.starts_with("NAME") && out.contains("READY") && out.contains("0/2"),
        "{out}"
    );
    // One object as a table, printed by the server (as for kubectl get).
    let out = ok(&cc, &["get", "deploy", "web"]);
    assert!(
        out.starts_with("NAME") && out.lines().count() == 2 && out.contains("web"),
        "{out}"
    );
    ok(&cc, &["scale", "deploy/web", "--replicas", "4"]);
    let out = ok(&cc, &["get", "deploy", "web", "-o", "yaml"]);
    assert!(out.contains("replicas: 4"), "{out}");
    let out = ok(&cc, &["describe", "deploy", "web"]);
    for want in [
        "Name:             web",
        "Namespace:        default",
        "4 desired",
        "StrategyType:",
        "Events:",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
    let (success, _, err) = rudderctl(&cc, &["describe", "svc", "nope"]);
    assert!(!success && err.contains("NotFound"), "{err}");
    let out = ok(&cc, &["delete", "-f", &f]);
    assert!(out.contains("deployment \"web\" deleted"), "{out}");
    let (success, _, err) = rudderctl(&cc, &["get", "deploy", "web"]);
    assert!(!success && err.contains("NotFound"), "{err}");
    Ok(())
}
