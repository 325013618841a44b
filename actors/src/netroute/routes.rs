//! The kernel side of the pod routes: the main table read with `ip -4 route show`, the
//! changes decided by the pure [`changes`], and applied with `ip route replace` /
//! `ip route del`, each route tagged with the protocol number [`RTPROT`] so that only
//! the actor's own routes are ever changed or removed. Nodes off this node's links are
//! routed through the VXLAN tunnel of [`super::vxlan`].

use std::net::Ipv4Addr;
use std::process::Command;

use ipnetwork::Ipv4Network;

use super::Desired;

/// The routing protocol number of Rudder's pod routes (unassigned in iproute2's
/// `rt_protos`).
pub const RTPROT: &str = "77";

/// Route types `ip route` prints before the destination.
const TYPES: &[&str] = &[
    "unicast",
    "local",
    "broadcast",
    "multicast",
    "throw",
    "unreachable",
    "prohibit",
    "blackhole",
    "nat",
];

/// One route of the table, as far as the actor cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The destination (`None`: `default`).
    pub dest: Option<Ipv4Network>,
    /// The route's type when not unicast (`blackhole`, ...).
    pub kind: Option<String>,
    /// The gateway.
    pub via: Option<Ipv4Addr>,
    /// The protocol, as printed (a number or a name).
    pub proto: Option<String>,
    /// The device, when printed.
    pub dev: Option<String>,
}

impl Route {
    fn ours(&self) -> bool {
        self.proto.as_deref() == Some(RTPROT)
    }
}

/// The routes of `ip -4 route show` output.
pub fn parse(table: &str) -> Vec<Route> {
    table
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace().peekable();
            let kind = match words.peek() {
                Some(w) if TYPES.contains(w) => words.next().map(str::to_owned),
                _ => None,
            };
            let dest = match words.next()? {
                "default" => None,
                d => Some(d.parse::<Ipv4Network>().ok()?),
            };
            let rest: Vec<&str> = words.collect();
            let after = |key: &str| {
                rest.windows(2)
                    .find(|w| w[0] == key)
                    .map(|w| w[1].to_owned())
            };
            Some(Route {
                dest,
                kind,
                via: after("via").and_then(|v| v.parse().ok()),
                proto: after("proto"),
                dev: after("dev"),
            })
        })
        .collect()
}

/// One change to the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Add the route, or move it to this gateway.
    Replace(Ipv4Network, Ipv4Addr),
    /// Remove our route to this prefix.
    Delete(Ipv4Network),
}

/// What turns `current` into `desired`, touching only our routes; the desired prefixes
/// left alone because another route holds exactly that prefix, with why.
pub fn changes(current: &[Route], desired: &Desired) -> (Vec<Change>, Vec<(Ipv4Network, String)>) {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for (cidr, via) in desired {
        let same: Vec<&Route> = current
            .iter()
            .filter(|r| r.dest == Some(*cidr) && r.kind.is_none())
            .collect();
        if let Some(other) = same.iter().find(|r| !r.ours()) {
            skipped.push((
                *cidr,
                format!(
                    "the prefix is already routed (protocol {})",
                    other.proto.as_deref().unwrap_or("boot")
                ),
            ));
            continue;
        }
        if !same.iter().any(|r| r.via == Some(*via)) {
            out.push(Change::Replace(*cidr, *via));
        }
    }
    for r in current.iter().filter(|r| r.ours()) {
        if let Some(d) = r.dest {
            if !desired.contains_key(&d) {
                out.push(Change::Delete(d));
            }
        }
    }
    (out, skipped)
}

/// `ip` (iproute2) in `netns`: success, standard output, standard error.
pub(super) fn ip(netns: Option<&str>, args: &[&str]) -> std::io::Result<(bool, String, String)> {
    iproute2("ip", netns, args)
}

/// An iproute2 tool (`ip`, `bridge`) in `netns` (`None`: this process's namespace).
pub(super) fn iproute2(
    tool: &str,
    netns: Option<&str>,
    args: &[&str],
) -> std::io::Result<(bool, String, String)> {
    let mut cmd = Command::new(tool);
    if let Some(ns) = netns {
        cmd.args(["-n", ns]);
    }
    let out = cmd.args(args).output()?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    ))
}

/// The main table of `netns` (`None`: this process's namespace).
pub fn current(netns: Option<&str>) -> std::io::Result<Vec<Route>> {
    let (ok, out, err) = ip(netns, &["-4", "route", "show", "table", "main"])?;
    if !ok {
        return Err(std::io::Error::other(format!("ip route show: {err}")));
    }
    Ok(parse(&out))
}

/// Makes the table match `desired` (pod CIDR -> node address), from this node at `own`:
/// a node on one of this node's links is routed to directly (host-gw), any other
/// through the VXLAN tunnel ([`super::vxlan`]). Returns the prefixes that could not be
/// routed, with why (held by another route, a node address with no route to it, a
/// gateway or a tunnel the kernel refuses); fails when the table cannot be read or a
/// route of ours cannot be removed.
pub fn sync(
    netns: Option<&str>,
    own: Ipv4Addr,
    desired: &Desired,
) -> std::io::Result<Vec<(Ipv4Network, String)>> {
    let mut skipped = Vec::new();
    let mut gateways = Desired::new();
    let mut tunneled = Desired::new();
    // One read of the table decides every node's path (no `ip route get` per node).
    let table = current(netns)?;
    for (cidr, node) in desired {
        match super::vxlan::on_link(&table, *node) {
            Some(true) => {
                gateways.insert(*cidr, *node);
            }
            Some(false) => {
                tunneled.insert(*cidr, *node);
                gateways.insert(*cidr, cidr.network());
            }
            None => skipped.push((*cidr, format!("no route to the node's address {node}"))),
        }
    }
    if let Err(e) = super::vxlan::sync(netns, own, &tunneled) {
        // No tunnel (a kernel without VXLAN?): those nodes are out of reach.
        for cidr in tunneled.keys() {
            skipped.push((*cidr, format!("VXLAN tunnel: {e}")));
            gateways.remove(cidr);
        }
        tunneled.clear();
    }
    let (todo, held) = changes(&current(netns)?, &gateways);
    skipped.extend(held);
    for c in todo {
        match c {
            Change::Replace(cidr, via) => {
                let (cidr_s, via_s) = (cidr.to_string(), via.to_string());
                let mut args = vec!["route", "replace", &cidr_s, "via", &via_s];
                if tunneled.contains_key(&cidr) {
                    args.extend(["dev", super::vxlan::DEVICE, "onlink"]);
                }
                args.extend(["proto", RTPROT]);
                let (ok, _, err) = ip(netns, &args)?;
                if !ok {
                    skipped.push((cidr, err));
                }
            }
            Change::Delete(cidr) => {
                let cidr_s = cidr.to_string();
                let (ok, _, err) = ip(netns, &["route", "del", &cidr_s, "proto", RTPROT])?;
                if !ok {
                    return Err(std::io::Error::other(format!("ip route del {cidr}: {err}")));
                }
            }
        }
    }
    Ok(skipped)
}

/// The comment of the nat rule that keeps pod-to-pod traffic un-NATed.
const NO_MASQUERADE: &str = "rudder pod-to-pod without NAT";

/// The nat `POSTROUTING` rule that lets pod-to-pod traffic leave unchanged: Docker's
/// bridge networks masquerade whatever leaves them for another interface, which would
/// hide a pod's address from pods of other nodes (and from their network policies).
/// Service traffic the proxy marked for masquerading is not exempt.
pub fn no_masquerade_rule(cluster: Ipv4Network) -> Vec<String> {
    let c = cluster.to_string();
    [
        "-s",
        c.as_str(),
        "-d",
        c.as_str(),
        "-m",
        "mark",
        "!",
        "--mark",
        "0x4000/0x4000",
        "-m",
        "comment",
        "--comment",
        NO_MASQUERADE,
        "-j",
        "RETURN",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

/// Puts [`no_masquerade_rule`] at the top of nat `POSTROUTING` unless it is already above
/// every rule but other clusters' copies of it (shared by every node of the machine, like
/// the proxy's pod-to-pod accept). Docker inserts its masquerading rule for a bridge
/// network at the top when it creates one, so the kubelet calls this right after making
/// its pod network, and every sync checks it again. Returns false where iptables cannot
/// be used.
pub fn ensure_no_masquerade(cluster: Ipv4Network) -> bool {
    let rule = no_masquerade_rule(cluster);
    let iptables = |op: &[&str]| {
        let mut args: Vec<&str> = op.to_vec();
        args.extend(rule.iter().map(String::as_str));
        Command::new("iptables")
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let listing = match Command::new("iptables")
        .args(["-t", "nat", "-S", "POSTROUTING"])
        .stderr(std::process::Stdio::null())
        .output()
    {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).into_owned(),
        _ => return false,
    };
    if no_masquerade_on_top(&listing, cluster) {
        return true;
    }
    // Every copy out (a few at most), then one at the top.
    for _ in 0..8 {
        if !iptables(&["-t", "nat", "-D", "POSTROUTING"]) {
            break;
        }
    }
    iptables(&["-t", "nat", "-I", "POSTROUTING", "1"])
}

/// Whether `cluster`'s no-masquerade rule comes before every rule of nat `POSTROUTING`
/// (`iptables -S` output) but other no-masquerade rules.
fn no_masquerade_on_top(listing: &str, cluster: Ipv4Network) -> bool {
    let source = format!("-s {cluster} ");
    for rule in listing.lines().filter(|l| l.starts_with("-A POSTROUTING ")) {
        if !rule.contains(NO_MASQUERADE) {
            return false;
        }
        if rule.contains(&source) {
            return true;
        }
    }
    false
}

/// Removes every route of ours from the table, and the tunnel; how many routes there
/// were.
pub fn remove_all(netns: Option<&str>) -> std::io::Result<usize> {
    let tunneled = current(netns)?
        .iter()
        .filter(|r| r.ours() && r.dev.as_deref() == Some(super::vxlan::DEVICE))
        .count();
    super::vxlan::remove(netns)?;
    let (todo, _) = changes(&current(netns)?, &Desired::new());
    let n = todo.len() + tunneled;
    for c in todo {
        if let Change::Delete(cidr) = c {
            let cidr_s = cidr.to_string();
            ip(netns, &["route", "del", &cidr_s, "proto", RTPROT])?;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::type_complexity)]
    use super::*;

    const TABLE: &str = "default via 192.0.2.1 dev eth0 \n\
        blackhole 10.244.0.0/16 \n\
        10.244.1.0/24 dev br-1 proto kernel scope link src 10.244.1.1 \n\
        10.244.2.0/24 via 10.213.0.22 dev eth0 proto 77 \n\
        10.244.3.0/24 via 10.213.0.23 dev eth0 proto 77 \n\
        10.213.0.0/24 dev eth0 proto kernel scope link src 10.213.0.21 \n";

    #[test]
    fn no_masquerade_must_come_first() {
        let cluster: Ipv4Network = "10.246.0.0/16".parse().unwrap();
        let ours = format!(
            "-A POSTROUTING -s 10.246.0.0/16 -d 10.246.0.0/16 -m mark ! --mark 0x4000/0x4000 -m comment --comment \"{NO_MASQUERADE}\" -j RETURN"
        );
        let other_cluster = ours.replace("10.246.", "10.244.");
        let docker = "-A POSTROUTING -s 10.246.0.0/24 ! -o br-1 -j MASQUERADE";
        let cases = [
            ("alone", vec![ours.as_str()], true),
            ("above Docker's", vec![&ours, docker], true),
            ("below Docker's", vec![docker, &ours], false),
            (
                "after another cluster's",
                vec![&other_cluster, &ours, docker],
                true,
            ),
            (
                "only another cluster's",
                vec![&other_cluster, docker],
                false,
            ),
            ("absent", vec![docker], false),
            ("empty chain", vec![], false),
        ];
        for (name, rules, want) in cases {
            let listing = std::iter::once("-P POSTROUTING ACCEPT")
                .chain(rules)
                .collect::<Vec<_>>()
                .join("\n");
            assert_eq!(no_masquerade_on_top(&listing, cluster), want, "{name}");
        }
    }

    #[test]
    fn parses_ip_route_show() {
        let routes = parse(TABLE);
        assert_eq!(routes.len(), 6);
        assert_eq!(routes[0].dest, None);
        assert_eq!(routes[1].kind.as_deref(), Some("blackhole"));
        assert_eq!(routes[3].via, Some("10.213.0.22".parse().unwrap()));
        assert!(routes[3].ours() && !routes[2].ours());
    }

    #[test]
    fn changes_table() {
        let net = |s: &str| s.parse::<Ipv4Network>().unwrap();
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        let current = parse(TABLE);
        let cases: Vec<(&str, Vec<(&str, &str)>, Vec<Change>, usize)> = vec![
            (
                "in step: nothing",
                vec![
                    ("10.244.2.0/24", "10.213.0.22"),
                    ("10.244.3.0/24", "10.213.0.23"),
                ],
                vec![],
                0,
            ),
            (
                "a node gone, one moved, one new",
                vec![
                    ("10.244.2.0/24", "10.213.0.99"),
                    ("10.244.4.0/24", "10.213.0.24"),
                ],
                vec![
                    Change::Replace(net("10.244.2.0/24"), ip("10.213.0.99")),
                    Change::Replace(net("10.244.4.0/24"), ip("10.213.0.24")),
                    Change::Delete(net("10.244.3.0/24")),
                ],
                0,
            ),
            (
                "a prefix a local bridge holds is never replaced",
                vec![("10.244.1.0/24", "10.213.0.21")],
                vec![
                    Change::Delete(net("10.244.2.0/24")),
                    Change::Delete(net("10.244.3.0/24")),
                ],
                1,
            ),
        ];
        for (name, desired, want, skipped) in cases {
            let desired: Desired = desired.into_iter().map(|(c, v)| (net(c), ip(v))).collect();
            let (got, left) = changes(&current, &desired);
            assert_eq!(got, want, "{name}");
            assert_eq!(left.len(), skipped, "{name}: {left:?}");
        }
    }
}
