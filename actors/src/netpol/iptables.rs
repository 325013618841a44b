//! The packet-filter side of NetworkPolicy: a [`Desired`] as chains of the `filter`
//! table, written by one `iptables-restore --noflush` per sync, as the proxy writes its
//! NAT chains.
//!
//! The chains carry the proxy's owner tag ([`crate::proxy::iptables::owner`], one per
//! cluster and node), so several nodes on one machine keep their own, and the proxy's
//! [`crate::proxy::iptables::remove_owner`] removes them with its own:
//!
//! - `RUDDER-<o>-NETPOL`, entered from the top of Docker's `DOCKER-USER` chain (or of
//!   `FORWARD` where Docker has none), ahead of the shared pod-to-pod accept rule: replies
//!   of tracked connections return at once; traffic from an egress-isolated pod of this
//!   node goes through its `PE` chain, traffic to an ingress-isolated one through its
//!   `PI` chain. Everything else returns untouched to Docker's rules.
//! - `RUDDER-<o>-PI<hash>` / `PE<hash>`: one per isolated pod and direction; clear the
//!   allow mark, pass through the chains of the pod's policies, return if one marked the
//!   packet, drop otherwise.
//! - `RUDDER-<o>-NP<hash>`: one per policy and direction; sets the allow mark on what
//!   the policy's rules allow.
//! - `RUDDER-<o>-NB<hash>`: an IP block with exceptions (return on an exception, mark on
//!   the block).
//!
//! The node itself is never filtered (traffic from and to the host takes INPUT and
//! OUTPUT, not FORWARD): probes and the node-local DNS keep working under any policy, as
//! Kubernetes requires for the node's own traffic to its pods.

use std::fmt::Write as _;
use std::process::{Command, Stdio};

use super::plan::{Desired, Direction, Peer, PolicyChain};
use crate::proxy::iptables::{iptables, prefix, restore_text, table_chains};

/// The bit of the packet mark that says "a policy allows this" (the proxy uses 0x4000).
const ALLOW_MARK: &str = "0x20000/0x20000";
/// The rule comment of every jump into an owner's entry chain.
const JUMP_COMMENT: &str = "rudder network policies";

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The owner's entry chain.
pub fn entry_chain(owner: &str) -> String {
    format!("RUDDER-{owner}-NETPOL")
}

/// A chain of `owner` named by `kind` (two letters) and a hash of `seed`; at most 28
/// characters, as iptables wants.
fn chain(owner: &str, kind: &str, seed: &str) -> String {
    format!("RUDDER-{owner}-{kind}{:010X}", fnv(seed) >> 24)
}

/// The chain of one direction of an isolated pod.
pub fn pod_chain(owner: &str, ip: std::net::Ipv4Addr, direction: Direction) -> String {
    match direction {
        Direction::Ingress => chain(owner, "PI", &ip.to_string()),
        Direction::Egress => chain(owner, "PE", &ip.to_string()),
    }
}

/// The chain of one direction of one policy.
pub fn policy_chain(owner: &str, p: &PolicyChain) -> String {
    chain(owner, "NP", &p.id())
}

/// The `iptables-restore` input for the filter table, and the owner's chains that exist
/// once it is restored. `existing` chains of the owner that are no longer wanted are
/// flushed and deleted; other owners' chains are left alone.
pub fn filter_plan(owner: &str, desired: &Desired, existing: &[String]) -> (String, Vec<String>) {
    let entry = entry_chain(owner);
    let mut chains = vec![entry.clone()];
    let mut rules = String::new();
    let mut line = |s: String| {
        rules.push_str(&s);
        rules.push('\n');
    };
    line(format!(
        "-A {entry} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN"
    ));
    for (ip, pod) in &desired.pods {
        let comment = format!("-m comment --comment \"{}\"", pod.pod);
        for (direction, policies, flag) in [
            (Direction::Egress, &pod.egress, "-s"),
            (Direction::Ingress, &pod.ingress, "-d"),
        ] {
            let Some(policies) = policies else { continue };
            let pc = pod_chain(owner, *ip, direction);
            line(format!("-A {entry} {comment} {flag} {ip}/32 -j {pc}"));
            line(format!("-A {pc} -j MARK --set-xmark 0x0/0x20000"));
            for id in policies {
                if let Some(p) = desired.policies.get(id) {
                    line(format!("-A {pc} -j {}", policy_chain(owner, p)));
                }
            }
            line(format!("-A {pc} -m mark --mark {ALLOW_MARK} -j RETURN"));
            let what = match direction {
                Direction::Ingress => "ingress",
                Direction::Egress => "egress",
            };
            line(format!(
                "-A {pc} -m comment --comment \"{} {what} not allowed by policy\" -j DROP",
                pod.pod
            ));
            chains.push(pc);
        }
    }
    for p in desired.policies.values() {
        let pc = policy_chain(owner, p);
        let comment = format!("-m comment --comment \"{}\"", p.id());
        let (peer_flag, pod_flag) = match p.direction {
            Direction::Ingress => ("-s", "-d"),
            Direction::Egress => ("-d", "-s"),
        };
        for (i, a) in p.allows.iter().enumerate() {
            let mut m = String::new();
            if let Some(pod) = a.pod {
                let _ = write!(m, " {pod_flag} {pod}/32");
            }
            if let Some(proto) = a.proto {
                let name = proto.name();
                let _ = write!(m, " -p {name}");
                if let Some((first, last)) = a.ports {
                    if first == last {
                        let _ = write!(m, " -m {name} --dport {first}");
                    } else {
                        let _ = write!(m, " -m {name} --dport {first}:{last}");
                    }
                }
            }
            match &a.peer {
                Peer::Any => line(format!(
                    "-A {pc} {comment}{m} -j MARK --set-xmark {ALLOW_MARK}"
                )),
                Peer::Pod(ip) => line(format!(
                    "-A {pc} {comment} {peer_flag} {ip}/32{m} -j MARK --set-xmark {ALLOW_MARK}"
                )),
                Peer::Block(cidr, except) if except.is_empty() => line(format!(
                    "-A {pc} {comment} {peer_flag} {cidr}{m} -j MARK --set-xmark {ALLOW_MARK}"
                )),
                Peer::Block(cidr, except) => {
                    let bc = chain(owner, "NB", &format!("{}/{i}", p.id()));
                    line(format!("-A {pc} {comment} {peer_flag} {cidr}{m} -j {bc}"));
                    for e in except {
                        line(format!("-A {bc} {peer_flag} {e} -j RETURN"));
                    }
                    line(format!("-A {bc} -j MARK --set-xmark {ALLOW_MARK}"));
                    chains.push(bc);
                }
            }
        }
        chains.push(pc);
    }
    (
        restore_text("filter", owner, &chains, &rules, existing),
        chains,
    )
}

/// Every Rudder chain of `owner` in the filter table now.
pub fn existing_chains(owner: &str) -> std::io::Result<Vec<String>> {
    table_chains("filter", &prefix(owner))
}

/// The built-in chains the owner's entry chain hangs from, in order: Docker's
/// `DOCKER-USER` (which Docker keeps first in `FORWARD`, and where the proxy's shared
/// pod-to-pod accept lives) where it exists, and `FORWARD` itself. The second jump covers
/// the moments when Docker takes its `DOCKER-USER` jump out of `FORWARD` to put it back on
/// top (it does so whenever a network is created): without it, pod traffic would meet
/// Docker's accepts unfiltered. A packet that passes both is judged twice, the same way.
fn hooks() -> std::io::Result<Vec<&'static str>> {
    let mut hooks = Vec::with_capacity(2);
    if iptables(&["-t", "filter", "-L", "DOCKER-USER", "-n"])? {
        hooks.push("DOCKER-USER");
    }
    hooks.push("FORWARD");
    Ok(hooks)
}

/// Whether the rules of a hook (as `iptables -S` prints them) jump to `entry` before any
/// rule that accepts (the proxy's pod-to-pod accept, Docker's per-network accepts).
pub fn jump_in_place(listing: &str, entry: &str) -> bool {
    let jump = format!("-j {entry}");
    for rule in listing.lines().filter(|l| l.starts_with("-A ")) {
        if rule.contains(&jump) {
            return true;
        }
        if rule.ends_with("-j ACCEPT") {
            return false;
        }
    }
    false
}

/// The `iptables-restore` input that moves the jump into `entry` to the top of `hook`
/// in one transaction (so no packet passes while it moves): the `copies` already there
/// deleted, one inserted first.
fn jump_move_text(hook: &str, entry: &str, copies: usize) -> String {
    let rule = format!("-m comment --comment \"{JUMP_COMMENT}\" -j {entry}");
    let mut text = String::from("*filter\n");
    for _ in 0..copies {
        let _ = writeln!(text, "-D {hook} {rule}");
    }
    let _ = writeln!(text, "-I {hook} 1 {rule}");
    text.push_str("COMMIT\n");
    text
}

/// Makes sure the entry chain exists and is jumped to from each hook ahead of any accept
/// (the proxy's pod-to-pod accept, which an older proxy put on top, or Docker's).
pub fn ensure_jump(owner: &str) -> std::io::Result<()> {
    let entry = entry_chain(owner);
    if !existing_chains(owner)?.contains(&entry) {
        restore(&format!("*filter\n:{entry} - [0:0]\nCOMMIT\n"))?;
    }
    for hook in hooks()? {
        let listing = Command::new("iptables")
            .args(["-t", "filter", "-S", hook])
            .stderr(Stdio::null())
            .output()?;
        let listing = String::from_utf8_lossy(&listing.stdout);
        if jump_in_place(&listing, &entry) {
            continue;
        }
        let jump = format!("-j {entry}");
        let copies = listing
            .lines()
            .filter(|l| l.starts_with("-A ") && l.contains(&jump))
            .count();
        restore(&jump_move_text(hook, &entry, copies)).map_err(|e| {
            std::io::Error::other(format!(
                "cannot put the jump from {hook} to {entry} on top: {e}"
            ))
        })?;
    }
    Ok(())
}

/// Where the proxy's shared pod-to-pod accept goes in `DOCKER-USER` (listed by
/// `iptables -S`): right after the last jump into some node's network policies (1-based;
/// 1 where there is none), so that it never passes traffic a policy would drop.
pub fn accept_position(listing: &str) -> usize {
    listing
        .lines()
        .filter(|l| l.starts_with("-A "))
        .enumerate()
        .filter(|(_, l)| l.contains(JUMP_COMMENT))
        .map(|(i, _)| i + 2)
        .last()
        .unwrap_or(1)
}

/// Removes the owner's jump and chains from the filter table (a clean stop of its node;
/// the proxy's removal calls it).
pub fn remove_owner(owner: &str) -> std::io::Result<()> {
    let entry = entry_chain(owner);
    for hook in ["DOCKER-USER", "FORWARD"] {
        for _ in 0..16 {
            let del = [
                "-t",
                "filter",
                "-D",
                hook,
                "-m",
                "comment",
                "--comment",
                JUMP_COMMENT,
                "-j",
                entry.as_str(),
            ];
            if !iptables(&del)? {
                break;
            }
        }
    }
    let chains = existing_chains(owner)?;
    if chains.is_empty() {
        return Ok(());
    }
    let mut text = String::from("*filter\n");
    for c in &chains {
        let _ = writeln!(text, ":{c} - [0:0]");
    }
    for c in &chains {
        let _ = writeln!(text, "-X {c}");
    }
    text.push_str("COMMIT\n");
    restore(&text)
}

/// Removes every owner's network-policy jumps and chains (the proxy's
/// [`crate::proxy::iptables::remove_all`], for tests and benchmarks).
pub fn remove_all() -> std::io::Result<()> {
    for hook in ["DOCKER-USER", "FORWARD"] {
        let out = Command::new("iptables")
            .args(["-t", "filter", "-S", hook])
            .stderr(Stdio::null())
            .output()?;
        for rule in String::from_utf8_lossy(&out.stdout).lines() {
            let Some(rest) = rule.strip_prefix(&format!("-A {hook} ")) else {
                continue;
            };
            let Some(to) = rest.split_whitespace().last() else {
                continue;
            };
            if to.starts_with("RUDDER-") && to.ends_with("-NETPOL") {
                let del = [
                    "-t",
                    "filter",
                    "-D",
                    hook,
                    "-m",
                    "comment",
                    "--comment",
                    JUMP_COMMENT,
                    "-j",
                    to,
                ];
                iptables(&del)?;
            }
        }
    }
    let owners: std::collections::BTreeSet<String> = table_chains("filter", "RUDDER-")?
        .iter()
        .filter_map(|c| c.strip_prefix("RUDDER-"))
        .filter_map(|c| c.split('-').next())
        .map(str::to_owned)
        .collect();
    for o in owners {
        remove_owner(&o)?;
    }
    Ok(())
}

/// Feeds `rules` to `iptables-restore --noflush`.
pub fn restore(rules: &str) -> std::io::Result<()> {
    crate::proxy::iptables::restore(rules)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::netpol::plan::{Allow, IsolatedPod, Proto};

    const O: &str = "0A0B0C0D";

    fn desired() -> Desired {
        let web: std::net::Ipv4Addr = "10.244.1.2".parse().unwrap();
        let policy = PolicyChain {
            policy: "default/np".into(),
            direction: Direction::Ingress,
            allows: vec![
                Allow {
                    peer: Peer::Pod("10.244.2.2".parse().unwrap()),
                    proto: Some(Proto::Tcp),
                    ports: Some((8000, 8080)),
                    pod: None,
                },
                Allow {
                    peer: Peer::Block(
                        "10.0.0.0/8".parse().unwrap(),
                        vec!["10.1.0.0/16".parse().unwrap()],
                    ),
                    proto: Some(Proto::Udp),
                    ports: Some((53, 53)),
                    pod: Some(web),
                },
            ],
        };
        let mut d = Desired::default();
        d.pods.insert(
            web,
            IsolatedPod {
                pod: "default/web".into(),
                ingress: Some(vec![policy.id()]),
                egress: None,
            },
        );
        d.policies.insert(policy.id(), policy);
        d
    }

    #[test]
    fn rules_per_case() {
        let d = desired();
        let (text, chains) = filter_plan(O, &d, &[]);
        let pi = pod_chain(O, "10.244.1.2".parse().unwrap(), Direction::Ingress);
        let np = policy_chain(O, &d.policies["default/np/ingress"]);
        for want in [
            "*filter\n".to_owned(),
            format!("-A RUDDER-{O}-NETPOL -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN"),
            format!("-d 10.244.1.2/32 -j {pi}"),
            format!("-A {pi} -j {np}"),
            format!("-A {pi} -m mark --mark {ALLOW_MARK} -j RETURN"),
            "ingress not allowed by policy\" -j DROP".into(),
            "-s 10.244.2.2/32 -p tcp -m tcp --dport 8000:8080 -j MARK".into(),
            format!("-s 10.0.0.0/8 -d 10.244.1.2/32 -p udp -m udp --dport 53 -j RUDDER-{O}-NB"),
            "-s 10.1.0.0/16 -j RETURN".into(),
        ] {
            assert!(text.contains(&want), "missing {want:?} in\n{text}");
        }
        assert!(chains.iter().all(|c| c.len() <= 28), "{chains:?}");
        assert!(!text.contains("-X"));
        // The same state again deletes nothing; an empty state deletes all but the entry.
        assert!(!filter_plan(O, &d, &chains).0.contains("-X"));
        let (empty, left) = filter_plan(O, &Desired::default(), &chains);
        assert_eq!(left, vec![entry_chain(O)]);
        for c in chains.iter().filter(|c| **c != entry_chain(O)) {
            assert!(empty.contains(&format!("-X {c}")), "{c} deleted");
        }
        // Another owner's chains are never touched.
        let (other, _) = filter_plan(O, &d, &["RUDDER-0000BEEF-NP0000000001".into()]);
        assert!(!other.contains("0000BEEF"));
    }

    #[test]
    fn the_jump_must_precede_every_accept() {
        let entry = entry_chain(O);
        let jump = format!("-A DOCKER-USER -m comment --comment \"{JUMP_COMMENT}\" -j {entry}");
        let accept = "-A DOCKER-USER -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment rudder-pod-to-pod -j ACCEPT";
        let cases = [
            ("absent", "-N DOCKER-USER\n-A DOCKER-USER -j RETURN\n".to_owned(), false),
            ("first", format!("-N DOCKER-USER\n{jump}\n{accept}\n"), true),
            ("after the accept", format!("-N DOCKER-USER\n{accept}\n{jump}\n"), false),
            (
                "after Docker's jump, before its accepts",
                format!("-P FORWARD DROP\n-A FORWARD -j DOCKER-USER\n{}\n-A FORWARD -i br-1 -o br-1 -j ACCEPT\n", jump.replace("DOCKER-USER", "FORWARD")),
                true,
            ),
        ];
        for (name, listing, want) in cases {
            assert_eq!(jump_in_place(&listing, &entry), want, "{name}");
        }
    }

    #[test]
    fn the_jump_moves_in_one_transaction() {
        let entry = entry_chain(O);
        let text = jump_move_text("DOCKER-USER", &entry, 2);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.first(), Some(&"*filter"));
        assert_eq!(lines.last(), Some(&"COMMIT"));
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.starts_with("-D DOCKER-USER"))
                .count(),
            2
        );
        assert_eq!(
            lines[3],
            format!("-I DOCKER-USER 1 -m comment --comment \"{JUMP_COMMENT}\" -j {entry}")
        );
    }

    #[test]
    fn the_shared_accept_goes_below_every_policy_jump() {
        let j = |o: &str| {
            format!("-A DOCKER-USER -m comment --comment \"{JUMP_COMMENT}\" -j RUDDER-{o}-NETPOL")
        };
        assert_eq!(
            accept_position("-N DOCKER-USER\n-A DOCKER-USER -j RETURN\n"),
            1
        );
        assert_eq!(accept_position(&format!("-N DOCKER-USER\n{}\n", j("A"))), 2);
        assert_eq!(
            accept_position(&format!(
                "-N DOCKER-USER\n{}\n{}\n-A DOCKER-USER -j RETURN\n",
                j("A"),
                j("B")
            )),
            3
        );
    }
}
