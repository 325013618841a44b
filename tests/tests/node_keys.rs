//! Workers with their own bus credential, against real `rudderd` processes.
//!
//! A worker given only its node key (`rudderctl node-key`, `--node-key-file`) joins,
//! registers and runs pods, and holds no cluster token; what a node key cannot do, the
//! control plane refuses at the handshake or on the link:
//! - claim the control plane (a worker proving its node key in place of the token);
//! - claim another node's name;
//! - reach the store, chaos or another node's API server over its link; act as the
//!   scheduler or as the administrator; grant itself a role;
//! - change what the control plane believes about membership by gossip.
//!
//! And a control-plane node refuses to start with a node key.

use std::sync::Arc;
use std::time::Duration;

use rudder_protocol::actor::Role;
use rudder_protocol::frame::{Frame, NodeIdentity, Peer};
use rudder_protocol::messages::api::{
    ApiReply, ApiRequest, Caller, Component, ListParams, ResourceRef,
};
use rudder_protocol::messages::bus::{BusReply, BusRequest, MemberInfo, MemberState};
use rudder_protocol::messages::chaos::ChaosRequest;
use rudder_protocol::messages::echo::{EchoReply, EchoRequest};
use rudder_protocol::messages::store::{Consistency, StoreRequest};
use rudder_protocol::messages::{BusError, Reply, Request};
use rudder_protocol::net::{self, node_key, Credentials, HandshakeError, Link, LinkOptions};
use rudder_protocol::resources::{ClusterRoleBinding, Pod, PodPhase};
use rudder_protocol::{ActorRef, NodeName};
use rudder_tests::services::wait_node_ready;
use rudder_tests::{eventually, Cluster, NodeProc};

fn identity(name: &str, roles: &[Role]) -> NodeIdentity {
    NodeIdentity {
        name: NodeName::new(name),
        address: "127.0.0.1:9".into(),
        roles: roles.to_vec(),
        incarnation: 1,
    }
}

/// Dials `bus` as node `me` with `creds`.
async fn dial_as(
    bus: &str,
    me: NodeIdentity,
    creds: &Credentials,
) -> Result<net::Established, HandshakeError> {
    let stream = tokio::net::TcpStream::connect(bus)
        .await
        .map_err(|e| HandshakeError::Frame(e.into()))?;
    net::dial_handshake(stream, Peer::Node(me), creds, Duration::from_secs(5)).await
}

fn refused(outcome: Result<net::Established, HandshakeError>) -> String {
    match outcome {
        Err(HandshakeError::Refused(reason)) => reason,
        Err(other) => panic!("expected a refusal, got {other}"),
        Ok(_) => panic!("the handshake succeeded"),
    }
}

async fn api(link: &Link, to: &ActorRef, req: ApiRequest) -> anyhow::Result<ApiReply> {
    match link
        .request(
            to.clone(),
            Request::Api(Box::new(req)),
            Duration::from_secs(10),
        )
        .await?
    {
        Reply::Api(reply) => Ok(reply),
        other => anyhow::bail!("unexpected reply {other:?}"),
    }
}

fn status_code(reply: &ApiReply) -> Option<i32> {
    match reply {
        ApiReply::Error(status) => Some(status.code),
        _ => None,
    }
}

fn pods() -> ResourceRef {
    ResourceRef {
        group: String::new(),
        version: "v1".into(),
        plural: "pods".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_with_its_node_key_joins_as_itself_and_nothing_more() -> anyhow::Result<()> {
    let mut cluster = Cluster::new()?;
    let cp = cluster.spec("three-node/cp-1.toml", "cp-1");
    cluster.nodes.push(NodeProc::start(cp).await?);
    let admin = cluster.nodes[0].client().await?;
    let bus = cluster.nodes[0].bus.clone();
    let token = std::fs::read_to_string(cluster.token_file())?
        .trim()
        .to_owned();
    let cluster_id = admin_cluster_id(&cluster)?;

    // The key, as an operator makes it on a control-plane host.
    let key_file = cluster.dir.path().join("keys/w-1.key");
    rudder_tests::write_node_key(&cluster.nodes[0], "w-1", &key_file)?;
    let written =
        net::parse_node_key(&std::fs::read_to_string(&key_file)?).map_err(anyhow::Error::msg)?;
    assert_eq!(written, node_key(token.as_bytes(), &cluster_id, "w-1"));

    // A worker holding only that key joins, registers, and runs a pod.
    let mut spec = cluster.spec("three-node/cp-1.toml", "w-1");
    spec.roles = Some("worker".into());
    spec.node_key_file = Some(key_file.clone());
    cluster.nodes.push(NodeProc::start(spec).await?);
    wait_node_ready(&admin, "w-1").await?;
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "keyed"},
        "spec": {
            "nodeSelector": {"kubernetes.io/hostname": "w-1"},
            "containers": [{"name": "c", "image": rudder_actors::kubelet::images::DEMO_IMAGE}],
        },
    }))?;
    let api_pods = admin.api::<Pod>(Some("default"));
    api_pods.create(&pod).await?;
    let running = eventually(Duration::from_secs(60), || {
        let api_pods = api_pods.clone();
        async move {
            let p = api_pods.get("keyed").await?;
            Ok(
                (p.spec.node_name == "w-1" && p.status.phase == Some(PodPhase::Running))
                    .then_some(()),
            )
        }
    })
    .await;
    if let Err(e) = running {
        let pod = api_pods.get("keyed").await;
        anyhow::bail!(
            "{e}: the pod {pod:?}; w-1's log: {}",
            cluster.nodes[1].log_text()
        );
    }
    let w1_dir = &cluster.nodes[1].spec.data_dir;
    assert!(
        !w1_dir.join("token").exists(),
        "a keyed worker made a token"
    );
    assert!(
        !w1_dir.join("client.toml").exists(),
        "a keyed worker wrote a client config"
    );

    let key = Credentials::node_key(cluster_id.clone(), written.to_vec());
    // Its key does not make it the control plane: claimed with the key in the token's
    // place, the acceptor checks the token and refuses.
    let posing = Credentials::token(cluster_id.clone(), written.to_vec());
    let reason = refused(
        dial_as(
            &bus,
            identity("w-1", &[Role::ControlPlane, Role::Worker]),
            &posing,
        )
        .await,
    );
    assert!(reason.contains("wrong cluster token"), "{reason}");
    // Nor another node: w-1's key claimed as w-2's.
    let reason = refused(dial_as(&bus, identity("w-2", &[Role::Worker]), &key).await);
    assert!(reason.contains("node key for worker w-2"), "{reason}");
    // A node with only a key cannot even compute a control-plane proof.
    match dial_as(&bus, identity("w-1", &[Role::ControlPlane]), &key).await {
        Err(HandshakeError::Protocol(e)) => assert!(e.contains("cluster token"), "{e}"),
        other => panic!("expected a local refusal, got {:?}", other.map(|_| ())),
    }

    // What a keyed worker's link may do, as the test's own worker w-9.
    let w9 = Credentials::node_key(
        cluster_id.clone(),
        node_key(token.as_bytes(), &cluster_id, "w-9").to_vec(),
    );
    let est = dial_as(&bus, identity("w-9", &[Role::Worker]), &w9).await?;
    let link = Link::spawn(est, Arc::new(net::Refuse), LinkOptions::default());
    let cp1 = |name: &str| ActorRef::new("cp-1", name);
    let timeout = Duration::from_secs(10);
    // Membership and echo: yes.
    let pong = link
        .request(
            cp1("echo"),
            Request::Echo(EchoRequest::Ping { payload: vec![1] }),
            timeout,
        )
        .await?;
    assert!(
        matches!(pong, Reply::Echo(EchoReply::Pong { .. })),
        "{pong:?}"
    );
    // The store and chaos: no.
    let store = link
        .request(
            cp1("store"),
            Request::Store(Box::new(StoreRequest::Get {
                key: "/registry/namespaces/default".into(),
                consistency: Consistency::Linearizable,
            })),
            timeout,
        )
        .await;
    match store {
        Err(BusError::Forbidden { message }) => {
            assert!(message.contains("node w-9 is a worker"), "{message}")
        }
        other => panic!("the store answered a worker: {other:?}"),
    }
    let kill = link
        .request(
            cp1("chaos"),
            Request::Chaos(ChaosRequest::KillActor {
                name: "scheduler".into(),
            }),
            timeout,
        )
        .await;
    assert!(matches!(kill, Err(BusError::Forbidden { .. })), "{kill:?}");
    // The API server: as the worker's agents, who may list pods but not create a
    // binding to cluster-admin, and may not act as the scheduler.
    let apiserver = cp1("apiserver");
    let list = api(
        &link,
        &apiserver,
        ApiRequest::List {
            resource: pods(),
            namespace: None,
            params: ListParams::default(),
        },
    )
    .await?;
    assert!(matches!(list, ApiReply::Json(_)), "{list:?}");
    let grab = serde_json::json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "w-9-is-admin"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:rudder:node-agents"}],
    });
    let reply = api(
        &link,
        &apiserver,
        ApiRequest::Create {
            resource: ResourceRef {
                group: "rbac.authorization.k8s.io".into(),
                version: "v1".into(),
                plural: "clusterrolebindings".into(),
            },
            namespace: None,
            body: serde_json::to_vec(&grab)?,
        },
    )
    .await?;
    assert_eq!(status_code(&reply), Some(403), "{reply:?}");
    if let ApiReply::Error(status) = &reply {
        assert!(
            status.message.contains("system:rudder:node-agent:w-9"),
            "{}",
            status.message
        );
    }
    let as_scheduler = api(
        &link,
        &apiserver,
        ApiRequest::As {
            caller: Caller::Component(Component::Scheduler),
            request: Box::new(ApiRequest::List {
                resource: pods(),
                namespace: None,
                params: ListParams::default(),
            }),
        },
    )
    .await?;
    assert_eq!(status_code(&as_scheduler), Some(403), "{as_scheduler:?}");
    // Gossip from a worker changes nothing: a made-up member, and w-1 as control plane.
    let lie = vec![
        MemberInfo {
            name: NodeName::new("ghost"),
            address: "127.0.0.1:9".into(),
            roles: vec![Role::ControlPlane],
            state: MemberState::Alive,
            incarnation: 1,
            last_seen_ms: 0,
            linked: true,
        },
        MemberInfo {
            name: NodeName::new("w-1"),
            address: "127.0.0.1:9".into(),
            roles: vec![Role::ControlPlane],
            state: MemberState::Alive,
            incarnation: u64::MAX,
            last_seen_ms: 0,
            linked: true,
        },
    ];
    link.send(&Frame::Gossip { members: lie }).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let Reply::Bus(BusReply::Members(members)) = link
        .request(cp1("bus"), Request::Bus(BusRequest::Members), timeout)
        .await?
    else {
        anyhow::bail!("unexpected members reply");
    };
    assert!(
        !members.iter().any(|m| m.name.as_str() == "ghost"),
        "{members:?}"
    );
    let w1 = members
        .iter()
        .find(|m| m.name.as_str() == "w-1")
        .expect("w-1 is a member");
    assert_eq!(w1.roles, vec![Role::Worker], "{members:?}");

    // The node serves on, and nothing was granted.
    let crb = admin
        .api::<ClusterRoleBinding>(None)
        .get("w-9-is-admin")
        .await;
    assert!(crb.is_err(), "the binding exists: {crb:?}");
    let log = cluster.nodes[0].log_text();
    assert!(!log.contains("panicked"), "{log}");
    Ok(())
}

fn admin_cluster_id(cluster: &Cluster) -> anyhow::Result<String> {
    let cfg = rudder_protocol::client::ClientConfig::load(&cluster.nodes[0].client_config())?;
    Ok(cfg.cluster_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_control_plane_node_will_not_start_with_a_node_key() -> anyhow::Result<()> {
    let cluster = Cluster::new()?;
    let key_file = cluster.dir.path().join("cp.key");
    std::fs::write(&key_file, format!("{}\n", net::format_node_key(&[7; 32])))?;
    let mut spec = cluster.spec("three-node/cp-1.toml", "cp-1");
    spec.node_key_file = Some(key_file);
    let err = match NodeProc::start(spec).await {
        Ok(_) => anyhow::bail!("a control-plane node started with a node key"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("node_key_file"), "{err}");
    assert!(
        err.contains("control-plane node needs the cluster token"),
        "{err}"
    );
    Ok(())
}
