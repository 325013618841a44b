//! Fault injection on the bus: rules that delay or drop the requests a node exchanges
//! with chosen peers, for a while (set by the `chaos` actor).
//!
//! Owns the node's [`FaultRule`]s with their expiry. The bus asks [`Faults::verdict`]
//! for every request it sends to a peer (outbound) and every request or gossip frame it
//! receives from one (inbound). With no rule set, that is one relaxed atomic load.
//! Raft traffic rides the bus, so "drop both ways between A and {B, C}" partitions A.
//! Requests to `chaos` and `bus` are exempt, so a partitioned node's faults can always be
//! listed and cleared through another node.
//!
//! The decision ([`decide`]) is a pure function of the rules, the peer, the direction,
//! the time and a random roll, tested on its own.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rudder_protocol::messages::chaos::{ActiveFault, Direction, FaultAction, FaultRule};

/// What to do with one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Pass it on now.
    Pass,
    /// Pass it on after this long.
    Delay(Duration),
    /// Lose it.
    Drop,
}

/// A rule in force and when it ends.
#[derive(Debug, Clone)]
struct Held {
    id: u64,
    rule: FaultRule,
    until: Instant,
}

/// The fault rules of one node's bus.
#[derive(Debug, Default)]
pub struct Faults {
    /// True while any rule may be in force: the only thing the hot path reads.
    active: AtomicBool,
    rules: Mutex<Vec<Held>>,
    next_id: AtomicU64,
}

impl Faults {
    fn rules(&self) -> std::sync::MutexGuard<'_, Vec<Held>> {
        // A poisoned list of plain rules is still the best list there is.
        self.rules.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a rule; returns its id.
    pub fn add(&self, rule: FaultRule) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let until = Instant::now() + Duration::from_millis(rule.duration_ms);
        tracing::warn!(id, peers = ?rule.peers, direction = rule.direction.as_str(), action = ?rule.action, duration_ms = rule.duration_ms, "bus fault rule set");
        let mut rules = self.rules();
        rules.push(Held { id, rule, until });
        self.active.store(true, Ordering::Release);
        id
    }

    /// Removes every rule; returns how many were in force.
    pub fn clear(&self) -> usize {
        let mut rules = self.rules();
        let now = Instant::now();
        let n = rules.iter().filter(|h| h.until > now).count();
        rules.clear();
        self.active.store(false, Ordering::Release);
        if n > 0 {
            tracing::warn!(count = n, "bus fault rules cleared");
        }
        n
    }

    /// The rules in force.
    pub fn list(&self) -> Vec<ActiveFault> {
        let now = Instant::now();
        self.rules()
            .iter()
            .filter(|h| h.until > now)
            .map(|h| ActiveFault {
                id: h.id,
                rule: h.rule.clone(),
                remaining_ms: h.until.duration_since(now).as_millis() as u64,
            })
            .collect()
    }

    /// What to do with a message to or from `peer`.
    pub fn verdict(&self, peer: &str, way: Direction) -> Verdict {
        if !self.active.load(Ordering::Acquire) {
            return Verdict::Pass;
        }
        let now = Instant::now();
        let mut rules = self.rules();
        rules.retain(|h| h.until > now);
        if rules.is_empty() {
            self.active.store(false, Ordering::Release);
            return Verdict::Pass;
        }
        let roll = rand::random::<u16>() % 1000;
        decide(
            rules.iter().map(|h| (&h.rule, h.until)),
            peer,
            way,
            now,
            roll,
        )
    }
}

/// The verdict of `rules` (with their ends) on a message to or from `peer` going `way`
/// at `now`, given a random `roll` in `0..1000`: a matching drop whose probability
/// exceeds the roll wins; otherwise the longest matching delay; otherwise pass.
pub fn decide<'a>(
    rules: impl IntoIterator<Item = (&'a FaultRule, Instant)>,
    peer: &str,
    way: Direction,
    now: Instant,
    roll: u16,
) -> Verdict {
    let mut delay = Duration::ZERO;
    for (rule, until) in rules {
        if until <= now
            || !rule.direction.covers(way)
            || !(rule.peers.is_empty() || rule.peers.iter().any(|p| p == peer))
        {
            continue;
        }
        match rule.action {
            FaultAction::Drop { per_mille } if roll < per_mille => return Verdict::Drop,
            FaultAction::Drop { .. } => {}
            FaultAction::Delay { ms } => delay = delay.max(Duration::from_millis(ms.into())),
        }
    }
    if delay.is_zero() {
        Verdict::Pass
    } else {
        Verdict::Delay(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Name, rules with their ends, peer, direction, roll, expected verdict.
    type Case = (
        &'static str,
        Vec<(FaultRule, Instant)>,
        &'static str,
        Direction,
        u16,
        Verdict,
    );

    fn rule(peers: &[&str], direction: Direction, action: FaultAction) -> FaultRule {
        FaultRule {
            peers: peers.iter().map(|p| p.to_string()).collect(),
            direction,
            action,
            duration_ms: 1000,
        }
    }

    #[test]
    fn decisions() {
        let now = Instant::now();
        let later = now + Duration::from_secs(1);
        let earlier = now - Duration::from_millis(1);
        let drop_all = FaultAction::Drop { per_mille: 1000 };
        let drop_half = FaultAction::Drop { per_mille: 500 };
        let delay = |ms| FaultAction::Delay { ms };
        use Direction::*;
        let cases: Vec<Case> = vec![
            ("no rules", vec![], "b", Outbound, 0, Verdict::Pass),
            (
                "drop both ways, outbound",
                vec![(rule(&["b"], Both, drop_all), later)],
                "b",
                Outbound,
                999,
                Verdict::Drop,
            ),
            (
                "drop both ways, inbound",
                vec![(rule(&["b"], Both, drop_all), later)],
                "b",
                Inbound,
                0,
                Verdict::Drop,
            ),
            (
                "other peer",
                vec![(rule(&["b"], Both, drop_all), later)],
                "c",
                Outbound,
                0,
                Verdict::Pass,
            ),
            (
                "every peer",
                vec![(rule(&[], Outbound, drop_all), later)],
                "c",
                Outbound,
                0,
                Verdict::Drop,
            ),
            (
                "wrong direction",
                vec![(rule(&["b"], Inbound, drop_all), later)],
                "b",
                Outbound,
                0,
                Verdict::Pass,
            ),
            (
                "expired",
                vec![(rule(&["b"], Both, drop_all), earlier)],
                "b",
                Outbound,
                0,
                Verdict::Pass,
            ),
            (
                "probability: lucky roll",
                vec![(rule(&["b"], Both, drop_half), later)],
                "b",
                Outbound,
                500,
                Verdict::Pass,
            ),
            (
                "probability: unlucky roll",
                vec![(rule(&["b"], Both, drop_half), later)],
                "b",
                Outbound,
                499,
                Verdict::Drop,
            ),
            (
                "longest delay",
                vec![
                    (rule(&["b"], Both, delay(50)), later),
                    (rule(&["b", "c"], Outbound, delay(200)), later),
                ],
                "b",
                Outbound,
                0,
                Verdict::Delay(Duration::from_millis(200)),
            ),
            (
                "drop beats delay",
                vec![
                    (rule(&["b"], Both, delay(50)), later),
                    (rule(&["b"], Both, drop_all), later),
                ],
                "b",
                Inbound,
                3,
                Verdict::Drop,
            ),
        ];
        for (name, rules, peer, way, roll, want) in cases {
            let got = decide(rules.iter().map(|(r, u)| (r, *u)), peer, way, now, roll);
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn rules_expire_and_clear() {
        let f = Faults::default();
        assert_eq!(f.verdict("b", Direction::Outbound), Verdict::Pass);
        let mut r = rule(
            &["b"],
            Direction::Both,
            FaultAction::Drop { per_mille: 1000 },
        );
        r.duration_ms = 30;
        f.add(r.clone());
        assert_eq!(f.verdict("b", Direction::Outbound), Verdict::Drop);
        assert_eq!(f.list().len(), 1);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(f.verdict("b", Direction::Outbound), Verdict::Pass);
        assert!(
            !f.active.load(Ordering::Relaxed),
            "flag reset once all expired"
        );
        r.duration_ms = 60_000;
        f.add(r);
        assert_eq!(f.clear(), 1);
        assert_eq!(f.verdict("b", Direction::Inbound), Verdict::Pass);
        assert!(f.list().is_empty());
    }
}
