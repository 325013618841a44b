//! The host-gw pod routes on a real kernel, inside a network namespace the test makes
//! (`rudder-rt-<pid>`, with a veth pair on 192.168.77.0/24 standing for the hosts'
//! private network), so the machine's own routing table is never touched:
//!
//! - the routes of a plan are installed with Rudder's protocol number, via the nodes'
//!   addresses;
//! - a node's move and a node's removal are followed, a prefix a local interface holds is
//!   never replaced, a gateway off the link is reported, not fatal;
//! - removing them leaves only what was there before.
//!
//! Without root (`ip netns add` refused) it prints a loud SKIP and returns.

use std::process::Command;

use rudder_actors::netroute::routes::{self, RTPROT};
use rudder_actors::netroute::{plan, Desired};
use rudder_protocol::resources::{Node, NodeAddress, NodeAddressType};

struct Netns(String);

impl Netns {
    fn create() -> Option<Netns> {
        let name = format!("rudder-rt-{}", std::process::id());
        let ok = |args: &[&str]| {
            Command::new("ip")
                .args(args)
                .status()
                .is_ok_and(|s| s.success())
        };
        if !ok(&["netns", "add", &name]) {
            return None;
        }
        let ns = Netns(name.clone());
        let steps: [&[&str]; 5] = [
            &[
                "-n", &name, "link", "add", "v0", "type", "veth", "peer", "name", "v1",
            ],
            &["-n", &name, "link", "set", "v0", "up"],
            &["-n", &name, "link", "set", "v1", "up"],
            &["-n", &name, "addr", "add", "192.168.77.1/24", "dev", "v0"],
            // A "local bridge" holding this node's own pod CIDR.
            &["-n", &name, "addr", "add", "10.244.1.1/24", "dev", "v1"],
        ];
        for s in steps {
            if !ok(s) {
                return None;
            }
        }
        Some(ns)
    }

    fn table(&self) -> String {
        Command::new("ip")
            .args(["-n", &self.0, "-4", "route", "show", "table", "main"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn node(name: &str, cidr: &str, ip: &str) -> Node {
    let mut n = Node::new(name);
    n.spec.pod_cidr = cidr.into();
    n.status.addresses = vec![NodeAddress {
        type_: NodeAddressType::InternalIp,
        address: ip.into(),
    }];
    n
}

fn ours(table: &str) -> Vec<String> {
    let mut v: Vec<String> = table
        .lines()
        .filter(|l| l.contains(&format!("proto {RTPROT}")))
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            format!("{} via {}", w[0], w.get(2).copied().unwrap_or("?"))
        })
        .collect();
    v.sort();
    v
}

#[test]
fn pod_routes_follow_the_nodes_in_a_network_namespace() -> anyhow::Result<()> {
    let Some(ns) = Netns::create() else {
        eprintln!(
            "SKIP: cannot make a network namespace (not root?): the pod-route test did not run"
        );
        return Ok(());
    };
    let netns = Some(ns.0.as_str());
    let before = ns.table();
    let cluster = "10.244.0.0/16".parse()?;
    let own = "192.168.77.1".parse()?;
    let mut nodes = vec![
        node("w1", "10.244.1.0/24", "192.168.77.1"),
        node("w2", "10.244.2.0/24", "192.168.77.2"),
        node("w3", "10.244.3.0/24", "192.168.77.3"),
    ];
    let desired =
        |nodes: &[Node]| -> Desired { plan("w1", own, cluster, &nodes.iter().collect::<Vec<_>>()) };

    let skipped = routes::sync(netns, &desired(&nodes))?;
    assert!(skipped.is_empty(), "{skipped:?}");
    assert_eq!(
        ours(&ns.table()),
        vec![
            "10.244.2.0/24 via 192.168.77.2",
            "10.244.3.0/24 via 192.168.77.3"
        ]
    );
    // Idempotent.
    routes::sync(netns, &desired(&nodes))?;
    assert_eq!(ours(&ns.table()).len(), 2);

    // w2 moves, w3 goes, w4 is off the link: reported, the rest still applied.
    nodes[1] = node("w2", "10.244.2.0/24", "192.168.77.22");
    nodes.pop();
    nodes.push(node("w4", "10.244.4.0/24", "10.99.0.4"));
    let skipped = routes::sync(netns, &desired(&nodes))?;
    assert_eq!(
        skipped
            .iter()
            .map(|(c, _)| c.to_string())
            .collect::<Vec<_>>(),
        vec!["10.244.4.0/24"],
        "{skipped:?}"
    );
    assert_eq!(ours(&ns.table()), vec!["10.244.2.0/24 via 192.168.77.22"]);

    // A prefix a local interface holds is left alone.
    let mut wanted = desired(&nodes);
    wanted.insert("10.244.1.0/24".parse()?, "192.168.77.9".parse()?);
    let skipped = routes::sync(netns, &wanted)?;
    assert!(
        skipped
            .iter()
            .any(|(c, why)| c.to_string() == "10.244.1.0/24" && why.contains("already routed")),
        "{skipped:?}"
    );
    assert!(
        ns.table().contains("10.244.1.0/24 dev v1 proto kernel"),
        "{}",
        ns.table()
    );

    // Removal leaves the table as it was.
    assert_eq!(routes::remove_all(netns)?, 1);
    assert_eq!(ns.table(), before);
    Ok(())
}
