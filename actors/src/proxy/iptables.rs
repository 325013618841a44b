//! The packet-filter back end: Services as iptables NAT rules, in the spirit of
//! kube-proxy's iptables mode.
//!
//! Every sync writes the complete set of Rudder's chains through one
//! `iptables-restore --noflush` (atomic per table, and idempotent: the same desired state
//! gives the same text). Chains that are no longer wanted, including any left by an
//! earlier process, are flushed and deleted in the same restore.
//!
//! Chains are owned: every name carries the [`owner`] of the proxy that made it (a short
//! hash of the cluster id and the node name, `RUDDER-<owner>-...`), so several nodes or
//! clusters on one machine (tests side by side, the local three-node cluster) each keep
//! their own set, jumped to from the built-in chains by their own rules. A proxy reads,
//! rewrites and deletes only its owner's chains ([`remove_owner`] on a clean stop of its
//! node); the one accept rule in Docker's `DOCKER-USER` chain (pods on different node
//! bridges may talk) is shared.
//!
//! - `RUDDER-<o>-SERVICES` (from PREROUTING and OUTPUT): cluster IP:port -> the service
//!   port's chain; local node ports -> `RUDDER-<o>-NODEPORTS`.
//! - `RUDDER-<o>-S<hash>`: one per service port; random choice among its endpoints'
//!   chains with kube-proxy's probabilities (1/n, 1/(n-1), ..., 1), ClientIP affinity
//!   through `recent`.
//! - `RUDDER-<o>-E<hash>`: one per endpoint; DNAT to it.
//! - `RUDDER-<o>-MARK-MASQ` / `RUDDER-<o>-POSTROUTING`: masquerade what needs it (traffic
//!   from outside the cluster CIDR, hairpin, node ports).

use std::fmt::Write as _;
use std::net::SocketAddrV4;
use std::process::{Command, Stdio};

use ipnetwork::Ipv4Network;

use super::plan::{Desired, ServicePort};

const MASQ_MARK: &str = "0x4000/0x4000";
/// The comment on the `DOCKER-USER` rule that lets pods of different nodes talk.
const POD_TO_POD: &str = "rudder-pod-to-pod";

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The owner tag of the proxy of node `node` in cluster `cluster_id`: 8 hex digits,
/// stable across restarts.
pub fn owner(cluster_id: &str, node: &str) -> String {
    format!("{:08X}", fnv(&format!("{cluster_id}/{node}")) as u32)
}

/// The prefix of every chain of `owner`.
pub(crate) fn prefix(owner: &str) -> String {
    format!("RUDDER-{owner}-")
}

/// The owner's entry chain (from PREROUTING and OUTPUT).
pub fn services_chain(owner: &str) -> String {
    format!("RUDDER-{owner}-SERVICES")
}
fn nodeports_chain(owner: &str) -> String {
    format!("RUDDER-{owner}-NODEPORTS")
}
fn mark_masq_chain(owner: &str) -> String {
    format!("RUDDER-{owner}-MARK-MASQ")
}
fn postrouting_chain(owner: &str) -> String {
    format!("RUDDER-{owner}-POSTROUTING")
}

/// The jumps from the built-in chains into the owner's, as (built-in, owner's chain).
pub fn jumps(owner: &str) -> [(&'static str, String); 3] {
    [
        ("PREROUTING", services_chain(owner)),
        ("OUTPUT", services_chain(owner)),
        ("POSTROUTING", postrouting_chain(owner)),
    ]
}

/// The chain of a service port (stable across restarts; at most 28 characters).
pub fn svc_chain(owner: &str, sp: &ServicePort) -> String {
    format!(
        "RUDDER-{owner}-S{:010X}",
        fnv(&format!("{}/{}", sp.id, sp.proto.name())) >> 24
    )
}

/// The chain of one endpoint of a service port.
pub fn sep_chain(owner: &str, sp: &ServicePort, ep: SocketAddrV4) -> String {
    format!(
        "RUDDER-{owner}-E{:010X}",
        fnv(&format!("{}/{}/{ep}", sp.id, sp.proto.name())) >> 24
    )
}

/// The `iptables-restore` input for the nat table: every wanted chain and rule, and the
/// deletion of `existing` Rudder chains that are no longer wanted.
///
/// All cluster-IP traffic is masqueraded, pods' own included: pods of one node share a
/// Docker bridge, and an endpoint's reply to a pod on the same bridge would otherwise
/// bypass the de-NAT (the price: endpoints see the node's address, not the client's).
/// Masquerading keeps the client's source port where it can (no `--random-fully`): with
/// random ports, `bench-proxy` saw a few new connections in ten thousand land on a
/// backend's TIME_WAIT entry and lose its SYN for a second; with the port kept, none.
pub fn nat_rules(owner: &str, desired: &Desired, existing: &[String]) -> String {
    nat_plan(owner, desired, existing).0
}

/// [`nat_rules`], and the owner's chains that exist once they are restored (to pass as
/// `existing` next time without asking iptables). Chains of other owners in `existing`
/// are left alone.
pub fn nat_plan(owner: &str, desired: &Desired, existing: &[String]) -> (String, Vec<String>) {
    let (services, nodeports, mark_masq, postrouting) = (
        services_chain(owner),
        nodeports_chain(owner),
        mark_masq_chain(owner),
        postrouting_chain(owner),
    );
    let mut chains = vec![
        services.clone(),
        nodeports.clone(),
        mark_masq.clone(),
        postrouting.clone(),
    ];
    let mut rules = String::new();
    let mut line = |s: String| {
        rules.push_str(&s);
        rules.push('\n');
    };
    line(format!("-A {mark_masq} -j MARK --or-mark 0x4000"));
    line(format!(
        "-A {postrouting} -m mark ! --mark {MASQ_MARK} -j RETURN"
    ));
    line(format!("-A {postrouting} -j MARK --xor-mark 0x4000"));
    line(format!(
        "-A {postrouting} -m comment --comment \"rudder service traffic requiring SNAT\" -j MASQUERADE"
    ));
    for sp in desired.values() {
        if sp.endpoints.is_empty() {
            // No backend: nothing to DNAT to; the blackhole route drops the packets.
            continue;
        }
        let svc = svc_chain(owner, sp);
        chains.push(svc.clone());
        let proto = sp.proto.name();
        let comment = format!("-m comment --comment \"{}\"", sp.id);
        if let Some(ip) = sp.cluster_ip {
            line(format!(
                "-A {services} {comment} -d {ip}/32 -p {proto} -m {proto} --dport {} -j {svc}",
                sp.port
            ));
            line(format!(
                "-A {svc} {comment} -d {ip}/32 -p {proto} -m {proto} --dport {} -j {mark_masq}",
                sp.port
            ));
        }
        if let Some(np) = sp.node_port {
            line(format!(
                "-A {nodeports} {comment} -p {proto} -m {proto} --dport {np} -j {mark_masq}"
            ));
            line(format!(
                "-A {nodeports} {comment} -p {proto} -m {proto} --dport {np} -j {svc}"
            ));
        }
        let seps: Vec<String> = sp
            .endpoints
            .iter()
            .map(|ep| sep_chain(owner, sp, *ep))
            .collect();
        if let Some(ttl) = sp.affinity {
            for sep in &seps {
                line(format!(
                    "-A {svc} {comment} -m recent --name {sep} --mask 255.255.255.255 --rsource --rcheck --seconds {} --reap -j {sep}",
                    ttl.as_secs()
                ));
            }
        }
        let n = seps.len();
        for (i, sep) in seps.iter().enumerate() {
            let left = n - i;
            if left > 1 {
                line(format!(
                    "-A {svc} {comment} -m statistic --mode random --probability {:.10} -j {sep}",
                    1.0 / left as f64
                ));
            } else {
                line(format!("-A {svc} {comment} -j {sep}"));
            }
        }
        for (ep, sep) in sp.endpoints.iter().zip(&seps) {
            chains.push(sep.clone());
            line(format!(
                "-A {sep} {comment} -s {}/32 -j {mark_masq}",
                ep.ip()
            ));
            let recent = if sp.affinity.is_some() {
                format!(" -m recent --name {sep} --mask 255.255.255.255 --rsource --set")
            } else {
                String::new()
            };
            line(format!(
                "-A {sep} {comment}{recent} -p {proto} -m {proto} -j DNAT --to-destination {ep}"
            ));
        }
    }
    line(format!(
        "-A {services} -m comment --comment \"rudder node ports; must be last\" -m addrtype --dst-type LOCAL -j {nodeports}"
    ));
    (
        restore_text("nat", owner, &chains, &rules, existing),
        chains,
    )
}

/// The `iptables-restore` input for `table`: `chains` (the owner's wanted chains) declared
/// (and so flushed), `rules` appended, and the owner's `existing` chains no longer wanted
/// flushed and deleted. Other owners' chains are left alone. Shared with the network
/// policies' filter chains ([`crate::netpol::iptables`]).
pub(crate) fn restore_text(
    table: &str,
    owner: &str,
    chains: &[String],
    rules: &str,
    existing: &[String],
) -> String {
    let mine = prefix(owner);
    let stale: Vec<&String> = existing
        .iter()
        .filter(|c| c.starts_with(&mine) && !chains.contains(c))
        .collect();
    let mut out = format!("*{table}\n");
    for c in chains.iter().chain(stale.iter().copied()) {
        let _ = writeln!(out, ":{c} - [0:0]");
    }
    out.push_str(rules);
    for c in stale {
        let _ = writeln!(out, "-X {c}");
    }
    out.push_str("COMMIT\n");
    out
}

/// The chains of `owner` present in the nat table now.
pub fn existing_chains(owner: &str) -> std::io::Result<Vec<String>> {
    let mine = prefix(owner);
    Ok(all_chains()?
        .into_iter()
        .filter(|c| c.starts_with(&mine))
        .collect())
}

/// Every Rudder chain (of any owner) present in the nat table now.
fn all_chains() -> std::io::Result<Vec<String>> {
    table_chains("nat", "RUDDER-")
}

/// The chains of `table` whose names begin with `start`, as `iptables-save` lists them.
pub(crate) fn table_chains(table: &str, start: &str) -> std::io::Result<Vec<String>> {
    let out = Command::new("iptables-save").args(["-t", table]).output()?;
    if !out.status.success() {
        return Err(std::io::Error::other(
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix(':'))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| c.starts_with(start))
        .map(str::to_owned)
        .collect())
}

/// Runs `iptables` with `args`; whether it succeeded.
pub(crate) fn iptables(args: &[&str]) -> std::io::Result<bool> {
    Ok(Command::new("iptables")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?
        .success())
}

/// True when this process may program the packet filter (root and a working iptables).
pub fn available() -> bool {
    iptables(&["-t", "nat", "-L", "-n"]).unwrap_or(false)
}

/// Makes sure the built-in chains jump into Rudder's (once), that pods on different
/// node bridges may reach each other, and that traffic to 127.0.0.1 node ports can be
/// DNATed to pods (as kube-proxy, through `route_localnet`).
pub fn ensure_base(owner: &str, cluster_cidr: Ipv4Network) -> std::io::Result<()> {
    // The chains must exist before anything can jump to them.
    let mut base = String::from("*nat\n");
    for c in [
        services_chain(owner),
        nodeports_chain(owner),
        mark_masq_chain(owner),
        postrouting_chain(owner),
    ] {
        let _ = writeln!(base, ":{c} - [0:0]");
    }
    base.push_str("COMMIT\n");
    if !existing_chains(owner)?.contains(&services_chain(owner)) {
        restore(&base)?;
    }
    for (from, to) in jumps(owner) {
        let to = to.as_str();
        let rule = ["-t", "nat", "-C", from, "-j", to];
        if !iptables(&rule)? {
            let add = ["-t", "nat", "-I", from, "1", "-j", to];
            if !iptables(&add)? {
                return Err(std::io::Error::other(format!(
                    "cannot add the jump from {from} to {to}"
                )));
            }
        }
    }
    let cidr = cluster_cidr.to_string();
    let accept = [
        "-s",
        cidr.as_str(),
        "-d",
        cidr.as_str(),
        "-m",
        "comment",
        "--comment",
        POD_TO_POD,
        "-j",
        "ACCEPT",
    ];
    if iptables(&["-t", "filter", "-L", "DOCKER-USER", "-n"])? {
        let mut check = vec!["-t", "filter", "-C", "DOCKER-USER"];
        check.extend(accept);
        if !iptables(&check)? {
            // Below the jumps into the nodes' network policies, never above them.
            let listing = Command::new("iptables")
                .args(["-t", "filter", "-S", "DOCKER-USER"])
                .stderr(Stdio::null())
                .output()?;
            let at =
                crate::netpol::iptables::accept_position(&String::from_utf8_lossy(&listing.stdout))
                    .to_string();
            let mut add = vec!["-t", "filter", "-I", "DOCKER-USER", at.as_str()];
            add.extend(accept);
            iptables(&add)?;
        }
    }
    let _ = std::fs::write("/proc/sys/net/ipv4/conf/all/route_localnet", "1");
    Ok(())
}

/// Removes what the proxy of `owner` installed: its jumps and its chains, and the
/// network-policy chains of the same owner; other owners' chains and the shared
/// pod-to-pod rule stay. A node's clean stop calls it.
pub fn remove_owner(owner: &str) -> std::io::Result<()> {
    for (from, to) in jumps(owner) {
        // Remove every copy (at most a few; bounded in case deletion keeps "working").
        for _ in 0..16 {
            if !iptables(&["-t", "nat", "-D", from, "-j", to.as_str()])? {
                break;
            }
        }
    }
    let chains = existing_chains(owner)?;
    if !chains.is_empty() {
        restore(&removal_rules(&chains))?;
    }
    // The node's network-policy chains (filter table) carry the same owner and go too.
    crate::netpol::iptables::remove_owner(owner)
}

/// Removes every owner's jumps and chains and the pod-to-pod accept rule (the blackhole
/// routes stay: they only ever drop traffic). For tests and benchmarks, which must leave
/// the machine's packet filter as they found it; a running proxy would put its own back.
pub fn remove_all() -> std::io::Result<()> {
    for from in ["PREROUTING", "OUTPUT", "POSTROUTING"] {
        let out = Command::new("iptables")
            .args(["-t", "nat", "-S", from])
            .stderr(Stdio::null())
            .output()?;
        for rule in String::from_utf8_lossy(&out.stdout).lines() {
            let Some(to) = rule
                .strip_prefix(&format!("-A {from} -j "))
                .filter(|to| to.starts_with("RUDDER-"))
            else {
                continue;
            };
            iptables(&["-t", "nat", "-D", from, "-j", to.trim()])?;
        }
    }
    let chains = all_chains()?;
    if !chains.is_empty() {
        restore(&removal_rules(&chains))?;
    }
    let out = Command::new("iptables")
        .args(["-t", "filter", "-S", "DOCKER-USER"])
        .stderr(Stdio::null())
        .output()?;
    for rule in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some(rest) = rule.strip_prefix("-A DOCKER-USER ") {
            if rest.contains(POD_TO_POD) {
                let mut args = vec!["-t", "filter", "-D", "DOCKER-USER"];
                args.extend(rest.split_whitespace());
                iptables(&args)?;
            }
        }
    }
    crate::netpol::iptables::remove_all()
}

/// The `iptables-restore` input that flushes and deletes `chains` (Rudder's only).
fn removal_rules(chains: &[String]) -> String {
    let ours: Vec<&String> = chains.iter().filter(|c| c.starts_with("RUDDER-")).collect();
    let mut out = String::from("*nat\n");
    for c in &ours {
        let _ = writeln!(out, ":{c} - [0:0]");
    }
    for c in &ours {
        let _ = writeln!(out, "-X {c}");
    }
    out.push_str("COMMIT\n");
    out
}

/// Feeds `rules` to `iptables-restore --noflush`.
pub fn restore(rules: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut child = Command::new("iptables-restore")
        .arg("--noflush")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(rules.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "iptables-restore failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Installs blackhole routes for `cidrs` where none exists, so that service or pod
/// traffic without a more specific route is dropped here instead of leaving the
/// machine (the bridges' connected routes and DNAT still win).
pub fn ensure_blackholes(cidrs: &[Ipv4Network]) {
    for c in cidrs {
        let net = c.to_string();
        let _ = Command::new("ip")
            .args(["route", "replace", "blackhole", net.as_str()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::type_complexity)]
    use super::*;
    use crate::proxy::plan::Proto;
    use std::time::Duration;

    const O: &str = "0A0B0C0D";

    fn sp(endpoints: &[&str], node_port: Option<u16>, affinity: bool) -> ServicePort {
        ServicePort {
            id: "default/web:http".into(),
            proto: Proto::Tcp,
            cluster_ip: Some("10.96.0.10".parse().unwrap()),
            port: 80,
            node_port,
            endpoints: endpoints.iter().map(|e| e.parse().unwrap()).collect(),
            affinity: affinity.then_some(Duration::from_secs(10_800)),
        }
    }

    fn desired(sps: Vec<ServicePort>) -> Desired {
        sps.into_iter().map(|s| (s.id.clone(), s)).collect()
    }

    #[test]
    fn rules_per_case() {
        let three = sp(
            &["10.244.1.2:8080", "10.244.1.3:8080", "10.244.2.2:8080"],
            Some(30080),
            false,
        );
        let svc = svc_chain(O, &three);
        let cases: Vec<(&str, Desired, Vec<String>, Vec<String>, Vec<String>)> = vec![
            (
                "three endpoints with a node port",
                desired(vec![three.clone()]),
                vec![],
                vec![
                    format!("-d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j {svc}"),
                    "--probability 0.3333333333".into(),
                    "--probability 0.5000000000".into(),
                    "-j DNAT --to-destination 10.244.2.2:8080".into(),
                    format!("--dport 30080 -j {svc}"),
                    format!("--dst-type LOCAL -j RUDDER-{O}-NODEPORTS"),
                ],
                vec!["-X".into(), "--random-fully".into()],
            ),
            (
                "no endpoints: no service chain",
                desired(vec![sp(&[], None, false)]),
                vec![],
                vec![],
                vec![svc.clone()],
            ),
            (
                "affinity uses recent",
                desired(vec![sp(&["10.244.1.2:8080"], None, true)]),
                vec![],
                vec![
                    "--rcheck --seconds 10800 --reap".into(),
                    "--rsource --set".into(),
                ],
                vec!["--probability".into()],
            ),
            (
                "stale chains are flushed and deleted",
                desired(vec![]),
                vec![
                    format!("RUDDER-{O}-S0000000001"),
                    "RUDDER-0000BEEF-S0000000001".into(),
                    "DOCKER".into(),
                ],
                vec![
                    format!(":RUDDER-{O}-S0000000001 - [0:0]"),
                    format!("-X RUDDER-{O}-S0000000001"),
                ],
                vec!["-X DOCKER".into(), "RUDDER-0000BEEF".into()],
            ),
        ];
        for (name, d, existing, want, not) in cases {
            let text = nat_rules(O, &d, &existing);
            assert!(
                text.starts_with("*nat\n") && text.ends_with("COMMIT\n"),
                "{name}"
            );
            for w in want {
                assert!(text.contains(&w), "{name}: missing {w:?} in\n{text}");
            }
            for n in not {
                assert!(!text.contains(&n), "{name}: unexpected {n:?} in\n{text}");
            }
        }
    }

    #[test]
    fn removal_touches_only_rudder_chains() {
        let text = removal_rules(&["RUDDER-SERVICES".into(), "DOCKER".into()]);
        let _ = O;
        assert_eq!(
            text,
            "*nat\n:RUDDER-SERVICES - [0:0]\n-X RUDDER-SERVICES\nCOMMIT\n"
        );
    }

    #[test]
    fn same_state_same_text_and_names_fit_iptables() {
        let d = desired(vec![sp(
            &["10.244.1.2:8080", "10.244.1.3:8080"],
            Some(30080),
            true,
        )]);
        assert_eq!(nat_rules(O, &d, &[]), nat_rules(O, &d, &[]));
        // What exists after a restore is exactly what the plan wanted: restoring the same
        // state again deletes nothing.
        let (_, chains) = nat_plan(O, &d, &[format!("RUDDER-{O}-S0000000001")]);
        assert!(!chains.iter().any(|c| c.ends_with("0001")));
        assert!(!nat_rules(O, &d, &chains).contains("-X"));
        let s = sp(&["10.244.1.2:8080"], None, false);
        assert!(svc_chain(O, &s).len() <= 28);
        assert!(sep_chain(O, &s, s.endpoints[0]).len() <= 28);
        assert_ne!(svc_chain(O, &s), sep_chain(O, &s, s.endpoints[0]));
    }

    #[test]
    fn chain_names_per_owner() {
        let (a, b) = (owner("c1", "node-1"), owner("c1", "node-2"));
        let cases = [
            ("stable", owner("c1", "node-1"), a.clone(), true),
            ("another node", b.clone(), a.clone(), false),
            ("another cluster", owner("c2", "node-1"), a.clone(), false),
        ];
        for (name, x, y, same) in cases {
            assert_eq!(x == y, same, "{name}");
            assert_eq!(x.len(), 8, "{name}");
        }
        let d = desired(vec![sp(
            &["10.244.1.2:8080", "10.244.1.3:8080"],
            Some(30080),
            true,
        )]);
        let (text_a, chains_a) = nat_plan(&a, &d, &[]);
        let (text_b, chains_b) = nat_plan(&b, &d, &chains_a);
        for c in chains_a.iter().chain(&chains_b) {
            assert!(c.len() <= 28, "{c} fits iptables' 28 characters");
        }
        assert!(chains_a.iter().all(|c| !chains_b.contains(c)), "disjoint");
        assert!(chains_a
            .iter()
            .all(|c| c.starts_with(&format!("RUDDER-{a}-"))));
        // B's sync sees A's chains and neither declares nor deletes them.
        for c in &chains_a {
            assert!(!text_b.contains(c.as_str()), "B touches {c}:\n{text_b}");
        }
        assert!(!text_a.contains(&b));
        let jumps_a: Vec<String> = jumps(&a).into_iter().map(|(_, c)| c).collect();
        assert!(jumps_a.iter().all(|c| chains_a.contains(c)));
    }
}
