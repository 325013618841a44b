//! `bench-rbac`: what authorization costs a request. One control-plane `rudderd`
//! (RBAC on, real RocksDB) holding 50 Roles and 200 RoleBindings spread over 10
//! namespaces, and two kube-rs clients over HTTPS: the bootstrap admin (in
//! `system:masters`, allowed before any rule is read) and `bench-user` from a static
//! token file, bound to `view` in the namespace read, whose every request walks the rule
//! index. Both get the same pod, interleaved one by one so that both see the same
//! machine, `--requests` times each (2000 by default) after a warm-up; it prints
//! p50/p99/max per caller and the p99 overhead of RBAC against the target (<= 10 %).
//!
//! A measurement, not a test: it exits 0 whatever the figures. Run:
//!
//! ```text
//! cargo build --workspace --all-targets && target/debug/examples/bench-rbac [--requests N]
//! ```

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use kube::api::{ObjectMeta, PostParams};
use kube::Api;
use rudder_tests::{eventually, Cluster, NodeProc};

const NAMESPACES: usize = 10;
const ROLES: usize = 50;
const BINDINGS: usize = 200;

async fn client(kubeconfig: &std::path::Path) -> anyhow::Result<kube::Client> {
    let kubeconfig = kube::config::Kubeconfig::read_from(kubeconfig)?;
    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await?;
    Ok(kube::Client::try_from(config)?)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn meta(name: &str, ns: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: ns.map(str::to_owned),
        ..ObjectMeta::default()
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let requests: usize = args
        .iter()
        .position(|a| a == "--requests")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let mut cluster = Cluster::new()?;
    let dir = cluster.dir.path().to_path_buf();
    std::fs::write(
        dir.join("tokens.csv"),
        "bench-token,bench-user,uid-1,bench\n",
    )?;
    std::fs::write(
        dir.join("node.toml"),
        format!(
            "cluster_id = \"rudder-bench\"\nlisten = \"127.0.0.1:0\"\nroles = [\"control-plane\"]\n\n[apiserver]\nauthorization = \"RBAC\"\ntoken_auth_file = \"{}\"\n",
            dir.join("tokens.csv").display()
        ),
    )?;
    let mut spec = cluster.spec("single-node.toml", "bench");
    spec.config = dir.join("node.toml");
    cluster.nodes.push(NodeProc::start(spec).await?);
    let admin_kc = cluster.nodes[0].kubeconfig();
    let admin = client(&admin_kc).await?;
    let text = std::fs::read_to_string(&admin_kc)?;
    let user_kc = dir.join("kubeconfig-user");
    let replaced: Vec<String> = text
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("token: ") {
                "    token: bench-token".to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect();
    std::fs::write(&user_kc, replaced.join("\n"))?;
    let user = client(&user_kc).await?;

    eventually(Duration::from_secs(30), || {
        let api: Api<Namespace> = Api::all(admin.clone());
        async move { Ok(api.get_opt("default").await?.map(|_| ())) }
    })
    .await?;
    let pp = PostParams::default();
    for n in 0..NAMESPACES {
        let ns = Namespace {
            metadata: meta(&format!("bench-{n}"), None),
            ..Namespace::default()
        };
        Api::<Namespace>::all(admin.clone())
            .create(&pp, &ns)
            .await?;
    }
    for r in 0..ROLES {
        let ns = format!("bench-{}", r % NAMESPACES);
        let role = Role {
            metadata: meta(&format!("role-{r}"), Some(&ns)),
            rules: Some(vec![PolicyRule {
                api_groups: Some(vec!["".into(), "apps".into()]),
                resources: Some(vec![format!("things{r}"), "configmaps".into()]),
                verbs: vec!["get".into(), "list".into()],
                ..PolicyRule::default()
            }]),
        };
        Api::<Role>::namespaced(admin.clone(), &ns)
            .create(&pp, &role)
            .await?;
    }
    for b in 0..BINDINGS {
        let ns = format!("bench-{}", b % NAMESPACES);
        let role = b % ROLES;
        let same_ns = role % NAMESPACES == b % NAMESPACES;
        let binding = RoleBinding {
            metadata: meta(&format!("binding-{b}"), Some(&ns)),
            role_ref: RoleRef {
                api_group: Some("rbac.authorization.k8s.io".into()),
                kind: if same_ns { "Role" } else { "ClusterRole" }.into(),
                name: if same_ns {
                    format!("role-{role}")
                } else {
                    "view".into()
                },
            },
            subjects: Some(vec![
                Subject {
                    kind: "User".into(),
                    name: format!("someone-{b}"),
                    api_group: Some("rbac.authorization.k8s.io".into()),
                    ..Subject::default()
                },
                Subject {
                    kind: "Group".into(),
                    name: format!("team-{}", b % 17),
                    api_group: Some("rbac.authorization.k8s.io".into()),
                    ..Subject::default()
                },
            ]),
        };
        Api::<RoleBinding>::namespaced(admin.clone(), &ns)
            .create(&pp, &binding)
            .await?;
    }
    let read_ns = "bench-3";
    let mine = RoleBinding {
        metadata: meta("bench-user-view", Some(read_ns)),
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "ClusterRole".into(),
            name: "view".into(),
        },
        subjects: Some(vec![Subject {
            kind: "User".into(),
            name: "bench-user".into(),
            api_group: Some("rbac.authorization.k8s.io".into()),
            ..Subject::default()
        }]),
    };
    Api::<RoleBinding>::namespaced(admin.clone(), read_ns)
        .create(&pp, &mine)
        .await?;
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "target", "namespace": read_ns},
        "spec": {"containers": [{"name": "c", "image": "rudder/demo:latest"}]},
    }))?;
    Api::<Pod>::namespaced(admin.clone(), read_ns)
        .create(&pp, &pod)
        .await?;
    let user_pods: Api<Pod> = Api::namespaced(user.clone(), read_ns);
    let admin_pods: Api<Pod> = Api::namespaced(admin.clone(), read_ns);
    eventually(Duration::from_secs(30), || {
        let p = user_pods.clone();
        async move { Ok(p.get("target").await.ok().map(|_| ())) }
    })
    .await?;

    for _ in 0..200 {
        admin_pods.get("target").await?;
        user_pods.get("target").await?;
    }
    let (mut a, mut u) = (Vec::with_capacity(requests), Vec::with_capacity(requests));
    for i in 0..requests {
        // Alternate who goes first, so neither always follows the other.
        let order = [i % 2 == 0, i % 2 != 0];
        for admin_turn in order {
            let t = Instant::now();
            if admin_turn {
                admin_pods.get("target").await?;
                a.push(t.elapsed());
            } else {
                user_pods.get("target").await?;
                u.push(t.elapsed());
            }
        }
    }
    a.sort();
    u.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "bench-rbac: {requests} GETs of one pod per caller, {ROLES} Roles, {BINDINGS} RoleBindings (+ bootstrap) in {NAMESPACES} namespaces"
    );
    println!(
        "{:<28} {:>9} {:>9} {:>9}",
        "caller", "p50 ms", "p99 ms", "max ms"
    );
    for (name, v) in [
        ("admin (system:masters)", &a),
        ("bench-user (RBAC: view)", &u),
    ] {
        println!(
            "{:<28} {:>9.3} {:>9.3} {:>9.3}",
            name,
            ms(percentile(v, 0.5)),
            ms(percentile(v, 0.99)),
            ms(percentile(v, 1.0))
        );
    }
    let overhead = (ms(percentile(&u, 0.99)) / ms(percentile(&a, 0.99)) - 1.0) * 100.0;
    let p50 = (ms(percentile(&u, 0.5)) / ms(percentile(&a, 0.5)) - 1.0) * 100.0;
    println!(
        "RBAC overhead: p50 {p50:+.1} %, p99 {overhead:+.1} % (target p99 <= +10 %): {}",
        if overhead <= 10.0 { "met" } else { "NOT met" }
    );
    Ok(())
}
