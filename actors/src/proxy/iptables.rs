//! The packet-filter back end: Services as iptables NAT rules, in the spirit of
//! kube-proxy's iptables mode.
//!
//! Every sync writes the complete set of Rudder's chains through one
//! `iptables-restore --noflush` (atomic per table, and idempotent: the same desired state
//! gives the same text). Chains that are no longer wanted, including any left by an
//! earlier process, are flushed and deleted in the same restore. Nothing outside the
//! `RUDDER-` chains is touched, except the three jumps into them and one accept rule in
//! Docker's `DOCKER-USER` chain so pods on different node bridges may talk.
//!
//! - `RUDDER-SERVICES` (from PREROUTING and OUTPUT): cluster IP:port -> `RUDDER-SVC-*`;
//!   local node ports -> `RUDDER-NODEPORTS`.
//! - `RUDDER-SVC-*`: one per service port; random choice among `RUDDER-SEP-*` with
//!   kube-proxy's probabilities (1/n, 1/(n-1), ..., 1), ClientIP affinity through
//!   `recent`.
//! - `RUDDER-SEP-*`: one per endpoint; DNAT to it.
//! - `RUDDER-MARK-MASQ` / `RUDDER-POSTROUTING`: masquerade what needs it (traffic from
//!   outside the cluster CIDR, hairpin, node ports).

use std::fmt::Write as _;
use std::net::SocketAddrV4;
use std::process::{Command, Stdio};

use ipnetwork::Ipv4Network;

use super::plan::{Desired, ServicePort};

const SERVICES: &str = "RUDDER-SERVICES";
const NODEPORTS: &str = "RUDDER-NODEPORTS";
const MARK_MASQ: &str = "RUDDER-MARK-MASQ";
const POSTROUTING: &str = "RUDDER-POSTROUTING";
const MASQ_MARK: &str = "0x4000/0x4000";
/// The comment on the `DOCKER-USER` rule that lets pods of different nodes talk.
const POD_TO_POD: &str = "rudder-pod-to-pod";

/// The jumps from the built-in chains into Rudder's, as `iptables -t nat` arguments.
pub const JUMPS: [(&str, &str); 3] = [
    ("PREROUTING", SERVICES),
    ("OUTPUT", SERVICES),
    ("POSTROUTING", POSTROUTING),
];

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The chain of a service port (stable across restarts; at most 28 characters).
pub fn svc_chain(sp: &ServicePort) -> String {
    format!(
        "RUDDER-SVC-{:016X}",
        fnv(&format!("{}/{}", sp.id, sp.proto.name()))
    )
}

/// The chain of one endpoint of a service port.
pub fn sep_chain(sp: &ServicePort, ep: SocketAddrV4) -> String {
    format!(
        "RUDDER-SEP-{:016X}",
        fnv(&format!("{}/{}/{ep}", sp.id, sp.proto.name()))
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
pub fn nat_rules(desired: &Desired, existing: &[String]) -> String {
    nat_plan(desired, existing).0
}

/// [`nat_rules`], and the Rudder chains that exist once they are restored (to pass as
/// `existing` next time without asking iptables).
pub fn nat_plan(desired: &Desired, existing: &[String]) -> (String, Vec<String>) {
    let mut chains = vec![
        SERVICES.to_owned(),
        NODEPORTS.to_owned(),
        MARK_MASQ.to_owned(),
        POSTROUTING.to_owned(),
    ];
    let mut rules = String::new();
    let mut line = |s: String| {
        rules.push_str(&s);
        rules.push('\n');
    };
    line(format!("-A {MARK_MASQ} -j MARK --or-mark 0x4000"));
    line(format!(
        "-A {POSTROUTING} -m mark ! --mark {MASQ_MARK} -j RETURN"
    ));
    line(format!("-A {POSTROUTING} -j MARK --xor-mark 0x4000"));
    line(format!(
        "-A {POSTROUTING} -m comment --comment \"rudder service traffic requiring SNAT\" -j MASQUERADE"
    ));
    for sp in desired.values() {
        if sp.endpoints.is_empty() {
            // No backend: nothing to DNAT to; the blackhole route drops the packets.
            continue;
        }
        let svc = svc_chain(sp);
        chains.push(svc.clone());
        let proto = sp.proto.name();
        let comment = format!("-m comment --comment \"{}\"", sp.id);
        if let Some(ip) = sp.cluster_ip {
            line(format!(
                "-A {SERVICES} {comment} -d {ip}/32 -p {proto} -m {proto} --dport {} -j {svc}",
                sp.port
            ));
            line(format!(
                "-A {svc} {comment} -d {ip}/32 -p {proto} -m {proto} --dport {} -j {MARK_MASQ}",
                sp.port
            ));
        }
        if let Some(np) = sp.node_port {
            line(format!(
                "-A {NODEPORTS} {comment} -p {proto} -m {proto} --dport {np} -j {MARK_MASQ}"
            ));
            line(format!(
                "-A {NODEPORTS} {comment} -p {proto} -m {proto} --dport {np} -j {svc}"
            ));
        }
        let seps: Vec<String> = sp.endpoints.iter().map(|ep| sep_chain(sp, *ep)).collect();
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
                "-A {sep} {comment} -s {}/32 -j {MARK_MASQ}",
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
        "-A {SERVICES} -m comment --comment \"rudder node ports; must be last\" -m addrtype --dst-type LOCAL -j {NODEPORTS}"
    ));
    let stale: Vec<&String> = existing
        .iter()
        .filter(|c| c.starts_with("RUDDER-") && !chains.contains(c))
        .collect();
    let mut out = String::from("*nat\n");
    for c in chains.iter().chain(stale.iter().copied()) {
        let _ = writeln!(out, ":{c} - [0:0]");
    }
    out.push_str(&rules);
    for c in stale {
        let _ = writeln!(out, "-X {c}");
    }
    out.push_str("COMMIT\n");
    (out, chains)
}

/// The Rudder chains present in the nat table now.
pub fn existing_chains() -> std::io::Result<Vec<String>> {
    let out = Command::new("iptables-save").args(["-t", "nat"]).output()?;
    if !out.status.success() {
        return Err(std::io::Error::other(
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix(':'))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| c.starts_with("RUDDER-"))
        .map(str::to_owned)
        .collect())
}

fn iptables(args: &[&str]) -> std::io::Result<bool> {
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
pub fn ensure_base(cluster_cidr: Ipv4Network) -> std::io::Result<()> {
    // The chains must exist before anything can jump to them.
    let mut base = String::from("*nat\n");
    for c in [SERVICES, NODEPORTS, MARK_MASQ, POSTROUTING] {
        let _ = writeln!(base, ":{c} - [0:0]");
    }
    base.push_str("COMMIT\n");
    if existing_chains()?
        .iter()
        .filter(|c| c.as_str() == SERVICES)
        .count()
        == 0
    {
        restore(&base)?;
    }
    for (from, to) in JUMPS {
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
            let mut add = vec!["-t", "filter", "-I", "DOCKER-USER", "1"];
            add.extend(accept);
            iptables(&add)?;
        }
    }
    let _ = std::fs::write("/proc/sys/net/ipv4/conf/all/route_localnet", "1");
    Ok(())
}

/// Removes everything [`ensure_base`] and the syncs installed: the jumps into Rudder's
/// chains, the chains themselves and the pod-to-pod accept rule (the blackhole routes
/// stay: they only ever drop traffic). For tests and benchmarks, which must leave the
/// machine's packet filter as they found it; a running proxy would put it back.
pub fn remove_all() -> std::io::Result<()> {
    for (from, to) in JUMPS {
        // Remove every copy (at most a few; bounded in case deletion keeps "working").
        for _ in 0..16 {
            if !iptables(&["-t", "nat", "-D", from, "-j", to])? {
                break;
            }
        }
    }
    let chains = existing_chains()?;
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
    Ok(())
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
        let svc = svc_chain(&three);
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
                    "--dst-type LOCAL -j RUDDER-NODEPORTS".into(),
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
                vec!["RUDDER-SVC-0000000000000001".into(), "DOCKER".into()],
                vec![
                    ":RUDDER-SVC-0000000000000001 - [0:0]".into(),
                    "-X RUDDER-SVC-0000000000000001".into(),
                ],
                vec!["-X DOCKER".into()],
            ),
        ];
        for (name, d, existing, want, not) in cases {
            let text = nat_rules(&d, &existing);
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
        assert_eq!(nat_rules(&d, &[]), nat_rules(&d, &[]));
        // What exists after a restore is exactly what the plan wanted: restoring the same
        // state again deletes nothing.
        let (_, chains) = nat_plan(&d, &["RUDDER-SVC-0000000000000001".into()]);
        assert!(!chains.iter().any(|c| c.ends_with("0001")));
        assert!(!nat_rules(&d, &chains).contains("-X"));
        let s = sp(&["10.244.1.2:8080"], None, false);
        assert!(svc_chain(&s).len() <= 28);
        assert!(sep_chain(&s, s.endpoints[0]).len() <= 28);
        assert_ne!(svc_chain(&s), sep_chain(&s, s.endpoints[0]));
    }
}
