//! Seeded random chaos schedules: which actor to kill next, decided only by a seed and
//! the sorted listing of the cluster's actors, so a failing run can be replayed.
//!
//! - [`TargetSet`]: which (node, actor) pairs may be killed, parsed from a short syntax
//!   (`role=control-plane,actor=controller-*,exclude=store`).
//! - [`Schedule`]: the seed, the period and the duration; [`Schedule::choose`] picks one
//!   candidate per step with a [`SplitMix64`] generator (no dependency on `rand`, whose
//!   streams may change between versions).
//! - [`run_schedule`] (with the `client` feature): drives a schedule against a cluster
//!   through a [`crate::client::Client`], reporting each step as a [`ScheduleEvent`].
//!
//! `bus` and `chaos` ([`NEVER_KILLED`]) are never candidates.

use std::fmt;
use std::time::Duration;

use crate::actor::Role;
use crate::messages::chaos::{glob_match, NEVER_KILLED};

/// A small, fixed pseudo-random generator (Steele, Lea and Flood's SplitMix64).
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        // Multiply-shift: no modulo bias worth caring about for small n.
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
}

/// Which actors a schedule may kill. Empty lists mean "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetSet {
    /// Nodes must have one of these roles.
    pub roles: Vec<Role>,
    /// Node names must match one of these globs.
    pub nodes: Vec<String>,
    /// Actor names must match one of these globs.
    pub actors: Vec<String>,
    /// Actor names matching any of these globs are never chosen (besides `bus`, `chaos`).
    pub exclude: Vec<String>,
}

impl std::str::FromStr for TargetSet {
    type Err = String;

    /// Comma-separated `key=value` terms: `role=`, `node=`, `actor=`, `exclude=`; `all`
    /// alone means every actor of every node.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut t = TargetSet::default();
        for term in s.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            if term == "all" {
                continue;
            }
            let (k, v) = term.split_once('=').ok_or_else(|| {
                format!("{term:?}: expected key=value (role, node, actor, exclude)")
            })?;
            let v = v.trim().to_owned();
            if v.is_empty() {
                return Err(format!("{term:?}: empty value"));
            }
            match k.trim() {
                "role" => t.roles.push(v.parse()?),
                "node" => t.nodes.push(v),
                "actor" => t.actors.push(v),
                "exclude" => t.exclude.push(v),
                other => {
                    return Err(format!(
                        "unknown target key {other:?} (role, node, actor, exclude)"
                    ))
                }
            }
        }
        Ok(t)
    }
}

impl fmt::Display for TargetSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut terms: Vec<String> = Vec::new();
        terms.extend(self.roles.iter().map(|r| format!("role={r}")));
        terms.extend(self.nodes.iter().map(|n| format!("node={n}")));
        terms.extend(self.actors.iter().map(|a| format!("actor={a}")));
        terms.extend(self.exclude.iter().map(|a| format!("exclude={a}")));
        if terms.is_empty() {
            f.write_str("all")
        } else {
            f.write_str(&terms.join(","))
        }
    }
}

impl TargetSet {
    /// Whether a node with these roles may be targeted.
    pub fn node_selected(&self, node: &str, roles: &[Role]) -> bool {
        (self.roles.is_empty() || self.roles.iter().any(|r| roles.contains(r)))
            && (self.nodes.is_empty() || self.nodes.iter().any(|g| glob_match(g, node)))
    }

    /// Whether an actor of a selected node may be killed.
    pub fn actor_selected(&self, actor: &str) -> bool {
        !NEVER_KILLED.contains(&actor)
            && !self.exclude.iter().any(|g| glob_match(g, actor))
            && (self.actors.is_empty() || self.actors.iter().any(|g| glob_match(g, actor)))
    }

    /// The candidates among a listing of nodes (name, roles, actor names), sorted by node
    /// then actor, so the choice depends on the listing's content and not its order.
    pub fn candidates(&self, listing: &[(String, Vec<Role>, Vec<String>)]) -> Vec<Candidate> {
        let mut out: Vec<Candidate> = listing
            .iter()
            .filter(|(node, roles, _)| self.node_selected(node, roles))
            .flat_map(|(node, _, actors)| {
                actors
                    .iter()
                    .filter(|a| self.actor_selected(a))
                    .map(|a| Candidate {
                        node: node.clone(),
                        actor: a.clone(),
                    })
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// One actor a schedule may kill.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Candidate {
    /// Its node.
    pub node: String,
    /// Its name.
    pub actor: String,
}

impl fmt::Display for Candidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.node, self.actor)
    }
}

/// A seeded random kill schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The seed.
    pub seed: u64,
    /// Time between kills.
    pub every: Duration,
    /// How long the schedule runs.
    pub total: Duration,
    /// What may be killed.
    pub targets: TargetSet,
    rng: SplitMix64,
}

impl Schedule {
    /// A schedule killing one of `targets` every `every` for `total`, seeded with `seed`.
    pub fn new(seed: u64, every: Duration, total: Duration, targets: TargetSet) -> Self {
        Self {
            seed,
            every,
            total,
            targets,
            rng: SplitMix64::new(seed),
        }
    }

    /// Number of kills: one at the end of every whole period within `total`.
    pub fn steps(&self) -> u32 {
        if self.every.is_zero() {
            return 0;
        }
        (self.total.as_nanos() / self.every.as_nanos()) as u32
    }

    /// Picks the next victim among `candidates` (sorted, as [`TargetSet::candidates`]
    /// returns them). Draws one number per step even when there is no candidate, so
    /// later steps do not shift.
    pub fn choose(&mut self, candidates: &[Candidate]) -> Option<Candidate> {
        let r = self.rng.next_u64();
        if candidates.is_empty() {
            return None;
        }
        let i = ((r as u128 * candidates.len() as u128) >> 64) as usize;
        candidates.get(i).cloned()
    }
}

/// What one step of a schedule did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleEvent {
    /// Step number, from 1.
    pub step: u32,
    /// Time since the schedule started.
    pub at: Duration,
    /// How many candidates there were.
    pub candidates: usize,
    /// The victim, if any.
    pub choice: Option<Candidate>,
    /// What happened: `killed (restarts before: N)`, `not running`, or an error.
    pub outcome: String,
}

impl fmt::Display for ScheduleEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.at.as_secs_f64();
        match &self.choice {
            Some(c) => write!(
                f,
                "[+{t:7.3}s] step {} kill {c} (1 of {}): {}",
                self.step, self.candidates, self.outcome
            ),
            None => write!(f, "[+{t:7.3}s] step {} no candidate", self.step),
        }
    }
}

/// Runs `schedule` against the cluster `client` is connected to: at the end of every
/// period, lists the alive members and their actors, chooses a victim and kills it.
/// Calls `report` with each step as it happens and returns them all.
#[cfg(feature = "client")]
pub async fn run_schedule(
    client: &crate::client::Client,
    mut schedule: Schedule,
    mut report: impl FnMut(&ScheduleEvent),
) -> Vec<ScheduleEvent> {
    let start = tokio::time::Instant::now();
    let mut events = Vec::new();
    for step in 1..=schedule.steps() {
        tokio::time::sleep_until(start + schedule.every * step).await;
        let listing = client.chaos_listing().await;
        let (listing, err) = match listing {
            Ok(l) => (l, None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
        let candidates = schedule.targets.candidates(&listing);
        let choice = schedule.choose(&candidates);
        let outcome = match (&choice, err) {
            (_, Some(e)) => format!("listing failed: {e}"),
            (None, None) => String::new(),
            (Some(c), None) => {
                match client
                    .chaos_kill(&crate::actor::NodeName::new(c.node.as_str()), &c.actor)
                    .await
                {
                    Ok(killed) => match killed.first() {
                        Some((_, restarts)) => format!("killed (restarts before: {restarts})"),
                        None => "not running".to_owned(),
                    },
                    Err(e) => format!("error: {e}"),
                }
            }
        };
        let ev = ScheduleEvent {
            step,
            at: start.elapsed(),
            candidates: candidates.len(),
            choice,
            outcome,
        };
        report(&ev);
        events.push(ev);
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing() -> Vec<(String, Vec<Role>, Vec<String>)> {
        let actors = |names: &[&str]| names.iter().map(|s| s.to_string()).collect();
        vec![
            (
                "w-1".into(),
                vec![Role::Worker],
                actors(&["bus", "chaos", "kubelet", "proxy"]),
            ),
            (
                "cp-2".into(),
                vec![Role::ControlPlane],
                actors(&["scheduler", "store", "chaos", "controller-rs"]),
            ),
            (
                "cp-1".into(),
                vec![Role::ControlPlane, Role::Worker],
                actors(&["store", "scheduler", "kubelet", "controller-rs"]),
            ),
        ]
    }

    fn names(c: &[Candidate]) -> Vec<String> {
        c.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn target_sets() {
        let cases: [(&str, &str, &[&str]); 5] = [
            (
                "control plane",
                "role=control-plane",
                &[
                    "cp-1/controller-rs",
                    "cp-1/kubelet",
                    "cp-1/scheduler",
                    "cp-1/store",
                    "cp-2/controller-rs",
                    "cp-2/scheduler",
                    "cp-2/store",
                ],
            ),
            (
                "controllers only",
                "actor=controller-*",
                &["cp-1/controller-rs", "cp-2/controller-rs"],
            ),
            (
                "workers minus proxy",
                "role=worker,exclude=proxy",
                &[
                    "cp-1/controller-rs",
                    "cp-1/kubelet",
                    "cp-1/scheduler",
                    "cp-1/store",
                    "w-1/kubelet",
                ],
            ),
            (
                "one node, two actors",
                "node=cp-2,actor=s*",
                &["cp-2/scheduler", "cp-2/store"],
            ),
            (
                "never bus or chaos",
                "actor=*,node=w-*",
                &["w-1/kubelet", "w-1/proxy"],
            ),
        ];
        for (name, spec, want) in cases {
            let t: TargetSet = spec.parse().expect(name);
            assert_eq!(names(&t.candidates(&listing())), want, "{name}");
            let again: TargetSet = t.to_string().parse().expect(name);
            assert_eq!(again, t, "{name}: display round-trips");
        }
    }

    #[test]
    fn bad_target_sets() {
        for bad in ["role=boss", "colour=red", "node=", "kubelet"] {
            assert!(bad.parse::<TargetSet>().is_err(), "{bad}");
        }
        assert_eq!("all".parse::<TargetSet>(), Ok(TargetSet::default()));
    }

    #[test]
    fn same_seed_same_choices_whatever_the_listing_order() {
        let t = TargetSet::default();
        let mut reversed = listing();
        reversed.reverse();
        let run = |seed: u64, l: &[(String, Vec<Role>, Vec<String>)]| {
            let mut s = Schedule::new(
                seed,
                Duration::from_secs(2),
                Duration::from_secs(60),
                t.clone(),
            );
            let c = t.candidates(l);
            (0..s.steps())
                .map(|_| s.choose(&c).expect("candidates").to_string())
                .collect::<Vec<_>>()
        };
        let a = run(42, &listing());
        assert_eq!(a.len(), 30);
        assert_eq!(a, run(42, &reversed));
        assert_ne!(a, run(43, &listing()));
        // Spread: a 30-step schedule over 11 candidates hits several of them.
        let distinct: std::collections::BTreeSet<_> = a.iter().collect();
        assert!(distinct.len() >= 5, "{distinct:?}");
    }

    #[test]
    fn an_empty_step_does_not_shift_later_ones() {
        let c = TargetSet::default().candidates(&listing());
        let mut a = Schedule::new(
            7,
            Duration::from_secs(1),
            Duration::from_secs(3),
            TargetSet::default(),
        );
        let mut b = a.clone();
        a.choose(&c);
        assert_eq!(b.choose(&[]), None);
        assert_eq!(a.choose(&c), b.choose(&c));
    }

    #[test]
    fn steps() {
        let s = |every, total| {
            Schedule::new(
                1,
                Duration::from_millis(every),
                Duration::from_millis(total),
                TargetSet::default(),
            )
            .steps()
        };
        assert_eq!(s(2000, 60_000), 30);
        assert_eq!(s(2000, 1999), 0);
        assert_eq!(s(0, 1000), 0);
        assert_eq!(s(300, 1000), 3);
    }
}
