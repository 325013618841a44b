//! The host-gw pod routes on a real kernel, inside a network namespace the test makes
//! (`rudder-rt-<pid>`, with a veth pair on 192.168.77.0/24 standing for the hosts'
//! private network), so the machine's own routing table is never touched:
//!
//! - the routes of a plan are installed with Rudder's protocol number, via the nodes'
//!   addresses;
//! - a node's move and a node's removal are followed, a prefix a local interface holds is
//!   never replaced, a gateway off the link is reported, not fatal;
//! - removing them leaves only what was there before;
//! - nodes on different subnets (two namespaces behind a third that routes between
//!   them) reach each other's pod addresses through the VXLAN tunnel, which is removed
//!   with the routes.
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
    let own_v4: std::net::Ipv4Addr = "192.168.77.1".parse()?;
    let own = std::net::IpAddr::V4(own_v4);
    let mut nodes = vec![
        node("w1", "10.244.1.0/24", "192.168.77.1"),
        node("w2", "10.244.2.0/24", "192.168.77.2"),
        node("w3", "10.244.3.0/24", "192.168.77.3"),
    ];
    let desired =
        |nodes: &[Node]| -> Desired { plan("w1", own, cluster, &nodes.iter().collect::<Vec<_>>()) };

    let skipped = routes::sync(netns, own_v4, &desired(&nodes))?;
    assert!(skipped.is_empty(), "{skipped:?}");
    assert_eq!(
        ours(&ns.table()),
        vec![
            "10.244.2.0/24 via 192.168.77.2",
            "10.244.3.0/24 via 192.168.77.3"
        ]
    );
    // Idempotent.
    routes::sync(netns, own_v4, &desired(&nodes))?;
    assert_eq!(ours(&ns.table()).len(), 2);

    // w2 moves, w3 goes, w4 is off the link: reported, the rest still applied.
    nodes[1] = node("w2", "10.244.2.0/24", "192.168.77.22");
    nodes.pop();
    nodes.push(node("w4", "10.244.4.0/24", "10.99.0.4"));
    let skipped = routes::sync(netns, own_v4, &desired(&nodes))?;
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
    let skipped = routes::sync(netns, own_v4, &wanted)?;
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

fn ip_ok(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .status()
        .is_ok_and(|s| s.success())
}

/// Namespaces `<prefix>-a`, `-b` and `-r`: hosts a (192.168.10.2/24) and b
/// (192.168.20.2/24) on two subnets that r (192.168.10.1, 192.168.20.1) routes between;
/// a holds the "pod" address 10.244.1.1/24, b 10.244.2.1/24 (on a veth pair standing for
/// the pod bridge). r knows no route to the pod networks: only a tunnel gets pod traffic
/// across.
struct TwoSubnets(Vec<Netns>);

impl TwoSubnets {
    /// `Ok(None)` where namespaces cannot be made (not root); an error when a later step
    /// fails.
    fn create() -> anyhow::Result<Option<TwoSubnets>> {
        let prefix = format!("rudder-vx-{}", std::process::id());
        let mut made = Vec::new();
        for n in ["a", "b", "r"] {
            let name = format!("{prefix}-{n}");
            if !ip_ok(&["netns", "add", &name]) {
                return Ok(None);
            }
            made.push(Netns(name));
        }
        let (a, b, r) = (&made[0].0, &made[1].0, &made[2].0);
        let steps: Vec<Vec<&str>> = vec![
            vec![
                "-n", a, "link", "add", "ea", "type", "veth", "peer", "name", "ra", "netns", r,
            ],
            vec![
                "-n", b, "link", "add", "eb", "type", "veth", "peer", "name", "rb", "netns", r,
            ],
            vec!["-n", a, "addr", "add", "192.168.10.2/24", "dev", "ea"],
            vec!["-n", b, "addr", "add", "192.168.20.2/24", "dev", "eb"],
            vec!["-n", r, "addr", "add", "192.168.10.1/24", "dev", "ra"],
            vec!["-n", r, "addr", "add", "192.168.20.1/24", "dev", "rb"],
            vec!["-n", a, "link", "set", "ea", "up"],
            vec!["-n", b, "link", "set", "eb", "up"],
            vec!["-n", r, "link", "set", "ra", "up"],
            vec!["-n", r, "link", "set", "rb", "up"],
            vec!["-n", a, "link", "set", "lo", "up"],
            vec!["-n", b, "link", "set", "lo", "up"],
            vec!["-n", a, "route", "add", "default", "via", "192.168.10.1"],
            vec!["-n", b, "route", "add", "default", "via", "192.168.20.1"],
            vec![
                "-n",
                a,
                "link",
                "add",
                "pods",
                "type",
                "veth",
                "peer",
                "name",
                "pods-peer",
            ],
            vec![
                "-n",
                b,
                "link",
                "add",
                "pods",
                "type",
                "veth",
                "peer",
                "name",
                "pods-peer",
            ],
            vec!["-n", a, "link", "set", "pods-peer", "up"],
            vec!["-n", b, "link", "set", "pods-peer", "up"],
            vec!["-n", a, "addr", "add", "10.244.1.1/24", "dev", "pods"],
            vec!["-n", b, "addr", "add", "10.244.2.1/24", "dev", "pods"],
            vec!["-n", a, "link", "set", "pods", "up"],
            vec!["-n", b, "link", "set", "pods", "up"],
        ];
        for step in steps {
            anyhow::ensure!(ip_ok(&step), "ip {step:?} failed");
        }
        let forwarding = Command::new("ip")
            .args(["netns", "exec", r, "sysctl", "-qw", "net.ipv4.ip_forward=1"])
            .status()
            .is_ok_and(|s| s.success());
        anyhow::ensure!(forwarding, "cannot turn forwarding on in {r}");
        Ok(Some(TwoSubnets(made)))
    }

    fn ns(&self, i: usize) -> &str {
        &self.0[i].0
    }

    /// Whether a ping (busybox's: the tests' images need busybox anyway) from address
    /// `from` in namespace `i` to `to` gets an answer.
    fn ping(&self, i: usize, from: &str, to: &str) -> bool {
        Command::new("ip")
            .args([
                "netns",
                "exec",
                self.ns(i),
                "busybox",
                "ping",
                "-c",
                "1",
                "-W",
                "2",
                "-I",
                from,
                to,
            ])
            .stdout(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

#[test]
fn nodes_on_other_subnets_are_reached_through_the_vxlan_tunnel() -> anyhow::Result<()> {
    let Some(hosts) = TwoSubnets::create()? else {
        eprintln!("SKIP: cannot make network namespaces (not root?): the VXLAN test did not run");
        return Ok(());
    };
    let cluster = "10.244.0.0/16".parse()?;
    let nodes = [
        node("a", "10.244.1.0/24", "192.168.10.2"),
        node("b", "10.244.2.0/24", "192.168.20.2"),
    ];
    let refs: Vec<&Node> = nodes.iter().collect();
    assert!(
        !hosts.ping(0, "10.244.1.1", "10.244.2.1"),
        "pod addresses must not cross without the tunnel"
    );
    for (i, (name, own)) in [("a", "192.168.10.2"), ("b", "192.168.20.2")]
        .into_iter()
        .enumerate()
    {
        let own: std::net::Ipv4Addr = own.parse()?;
        let desired = plan(name, std::net::IpAddr::V4(own), cluster, &refs);
        let skipped = routes::sync(Some(hosts.ns(i)), own, &desired)?;
        assert!(skipped.is_empty(), "{name}: {skipped:?}");
        // Idempotent.
        let skipped = routes::sync(Some(hosts.ns(i)), own, &desired)?;
        assert!(skipped.is_empty(), "{name}: {skipped:?}");
    }
    let table = Command::new("ip")
        .args(["-n", hosts.ns(0), "-4", "route", "show"])
        .output()?;
    let table = String::from_utf8_lossy(&table.stdout).into_owned();
    assert!(
        table.lines().any(
            |l| l.starts_with("10.244.2.0/24 via 10.244.2.0 dev rudder-vxlan")
                && l.contains(&format!("proto {RTPROT}"))
        ),
        "{table}"
    );
    assert!(
        hosts.ping(0, "10.244.1.1", "10.244.2.1"),
        "a's pods reach b's through the tunnel:\n{table}"
    );
    assert!(hosts.ping(1, "10.244.2.1", "10.244.1.1"), "and back");

    // Removal takes the tunnel with the routes; traffic stops.
    assert_eq!(routes::remove_all(Some(hosts.ns(0)))?, 1);
    let links = Command::new("ip")
        .args(["-n", hosts.ns(0), "link", "show"])
        .output()?;
    assert!(
        !String::from_utf8_lossy(&links.stdout).contains("rudder-vxlan"),
        "the tunnel device outlived its routes"
    );
    assert!(!hosts.ping(0, "10.244.1.1", "10.244.2.1"));
    Ok(())
}
