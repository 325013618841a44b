//! The membership table: who is in the cluster and whether they are alive.
//!
//! Pure data, no I/O: the bus feeds it facts (a link came up, a link is still hearing
//! its peer, a gossip report arrived) with the current instant, and asks it questions
//! (who should I dial, what is everyone's state). Liveness comes from silence: a member
//! not heard from, directly or through a fresher gossip report, for `suspect_after` is
//! Suspect, for `dead_after` Dead. A member that starts again gets a higher incarnation,
//! which replaces what was known of the old process.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rudder_protocol::actor::{NodeName, Role};
use rudder_protocol::frame::NodeIdentity;
use rudder_protocol::messages::bus::{MemberInfo, MemberState};

/// Silence thresholds.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    /// Silence after which a member is Suspect.
    pub suspect_after: Duration,
    /// Silence after which a member is Dead.
    pub dead_after: Duration,
}

#[derive(Debug, Clone)]
struct Member {
    identity: NodeIdentity,
    last_heard: Instant,
    linked: bool,
}

/// This node's view of the cluster.
#[derive(Debug)]
pub struct Membership {
    me: NodeIdentity,
    started: Instant,
    members: BTreeMap<NodeName, Member>,
    thresholds: Thresholds,
}

impl Membership {
    /// A table that knows only this node.
    pub fn new(me: NodeIdentity, thresholds: Thresholds, now: Instant) -> Self {
        Self {
            me,
            started: now,
            members: BTreeMap::new(),
            thresholds,
        }
    }

    /// This node.
    pub fn me(&self) -> &NodeIdentity {
        &self.me
    }

    /// Records a direct link to `peer` (just established). Returns true when it is a newer
    /// incarnation than the one known, i.e. the peer restarted.
    pub fn linked(&mut self, peer: &NodeIdentity, now: Instant) -> bool {
        match self.members.get_mut(&peer.name) {
            Some(m) => {
                let restarted = peer.incarnation > m.identity.incarnation;
                if peer.incarnation >= m.identity.incarnation {
                    m.identity = peer.clone();
                }
                m.last_heard = now;
                m.linked = true;
                restarted
            }
            None => {
                self.members.insert(
                    peer.name.clone(),
                    Member {
                        identity: peer.clone(),
                        last_heard: now,
                        linked: true,
                    },
                );
                false
            }
        }
    }

    /// Records that the direct link to `peer` went down; its silence starts counting.
    pub fn unlinked(&mut self, peer: &NodeName) {
        if let Some(m) = self.members.get_mut(peer) {
            m.linked = false;
        }
    }

    /// Records that `peer` was heard `silent_for` ago over a live link.
    pub fn heard(&mut self, peer: &NodeName, silent_for: Duration, now: Instant) {
        if let Some(m) = self.members.get_mut(peer) {
            let at = now.checked_sub(silent_for).unwrap_or(now);
            if at > m.last_heard {
                m.last_heard = at;
            }
        }
    }

    /// Merges a gossip report from `from`. Returns the members that were new to this table.
    pub fn merge(&mut self, from: &NodeName, report: &[MemberInfo], now: Instant) -> Vec<NodeName> {
        let mut new = Vec::new();
        for info in report {
            if info.name == self.me.name || &info.name == from {
                continue;
            }
            let identity = NodeIdentity {
                name: info.name.clone(),
                address: info.address.clone(),
                roles: info.roles.clone(),
                incarnation: info.incarnation,
            };
            // What the reporter heard, in our clock; a Dead report carries no news.
            let heard_at = if info.state == MemberState::Dead {
                None
            } else {
                now.checked_sub(Duration::from_millis(info.last_seen_ms))
            };
            match self.members.get_mut(&info.name) {
                Some(m) => {
                    if info.incarnation > m.identity.incarnation {
                        m.identity = identity;
                    }
                    if let Some(at) = heard_at {
                        if !m.linked && at > m.last_heard {
                            m.last_heard = at;
                        }
                    }
                }
                None => {
                    // Learned second hand: unheard until someone reports hearing it.
                    let last_heard = heard_at.unwrap_or(self.started);
                    self.members.insert(
                        info.name.clone(),
                        Member {
                            identity,
                            last_heard,
                            linked: false,
                        },
                    );
                    new.push(info.name.clone());
                }
            }
        }
        new
    }

    /// The roles `name` announced (this node's own for its name), if it is known.
    pub fn roles(&self, name: &NodeName) -> Option<&[Role]> {
        if *name == self.me.name {
            return Some(&self.me.roles);
        }
        self.members.get(name).map(|m| m.identity.roles.as_slice())
    }

    /// Liveness of `name` now.
    pub fn state(&self, name: &NodeName, now: Instant) -> Option<MemberState> {
        if *name == self.me.name {
            return Some(MemberState::Alive);
        }
        self.members.get(name).map(|m| self.state_of(m, now))
    }

    fn state_of(&self, m: &Member, now: Instant) -> MemberState {
        let silent = now.saturating_duration_since(m.last_heard);
        if silent >= self.thresholds.dead_after {
            MemberState::Dead
        } else if silent >= self.thresholds.suspect_after {
            MemberState::Suspect
        } else {
            MemberState::Alive
        }
    }

    /// The identity last known for `name`.
    pub fn identity(&self, name: &NodeName) -> Option<&NodeIdentity> {
        self.members.get(name).map(|m| &m.identity)
    }

    /// Every member including this node, sorted by name, as reported to users and peers.
    pub fn report(&self, now: Instant) -> Vec<MemberInfo> {
        let mut out: Vec<MemberInfo> = self
            .members
            .values()
            .map(|m| MemberInfo {
                name: m.identity.name.clone(),
                address: m.identity.address.clone(),
                roles: m.identity.roles.clone(),
                state: self.state_of(m, now),
                incarnation: m.identity.incarnation,
                last_seen_ms: now.saturating_duration_since(m.last_heard).as_millis() as u64,
                linked: m.linked,
            })
            .collect();
        out.push(MemberInfo {
            name: self.me.name.clone(),
            address: self.me.address.clone(),
            roles: self.me.roles.clone(),
            state: MemberState::Alive,
            incarnation: self.me.incarnation,
            last_seen_ms: 0,
            linked: false,
        });
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Members this node should hold a link to and currently does not.
    ///
    /// Workers link to control-plane nodes only; control-plane nodes mesh, the one with
    /// the smaller name dialling (a restarted larger one finds the mesh through its seeds).
    /// Control-plane nodes never dial workers: workers dial them.
    pub fn to_dial(&self) -> Vec<NodeIdentity> {
        let i_am_cp = self.me.roles.contains(&Role::ControlPlane);
        self.members
            .values()
            .filter(|m| !m.linked)
            .filter(|m| {
                let cp = m.identity.roles.contains(&Role::ControlPlane);
                cp && (!i_am_cp || self.me.name < m.identity.name)
            })
            .map(|m| m.identity.clone())
            .collect()
    }

    /// Whether a link between this node and `peer` is allowed by the topology.
    pub fn may_link(&self, peer: &NodeIdentity) -> bool {
        self.me.roles.contains(&Role::ControlPlane) || peer.roles.contains(&Role::ControlPlane)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(name: &str, roles: &[Role], inc: u64) -> NodeIdentity {
        NodeIdentity {
            name: NodeName::new(name),
            address: format!("{name}:1"),
            roles: roles.to_vec(),
            incarnation: inc,
        }
    }

    const CP: &[Role] = &[Role::ControlPlane];
    const W: &[Role] = &[Role::Worker];

    fn table(me: NodeIdentity, now: Instant) -> Membership {
        Membership::new(
            me,
            Thresholds {
                suspect_after: Duration::from_secs(2),
                dead_after: Duration::from_secs(10),
            },
            now,
        )
    }

    #[test]
    fn silence_moves_alive_to_suspect_to_dead() {
        let t0 = Instant::now();
        let mut m = table(id("a", CP, 1), t0);
        let b = id("b", CP, 1);
        m.linked(&b, t0);
        m.unlinked(&b.name);
        let cases = [
            ("fresh", 0, MemberState::Alive),
            ("just under suspect", 1999, MemberState::Alive),
            ("suspect", 2000, MemberState::Suspect),
            ("still suspect", 9999, MemberState::Suspect),
            ("dead", 10_000, MemberState::Dead),
        ];
        for (name, ms, want) in cases {
            let now = t0 + Duration::from_millis(ms);
            assert_eq!(m.state(&b.name, now), Some(want), "{name}");
        }
    }

    #[test]
    fn hearing_over_a_link_keeps_alive() {
        let t0 = Instant::now();
        let mut m = table(id("a", CP, 1), t0);
        let b = id("b", CP, 1);
        m.linked(&b, t0);
        let later = t0 + Duration::from_secs(30);
        m.heard(&b.name, Duration::from_millis(100), later);
        assert_eq!(m.state(&b.name, later), Some(MemberState::Alive));
    }

    #[test]
    fn newer_incarnation_is_a_restart() {
        let t0 = Instant::now();
        let mut m = table(id("a", CP, 1), t0);
        assert!(!m.linked(&id("b", CP, 5), t0));
        assert!(!m.linked(&id("b", CP, 5), t0), "same incarnation again");
        assert!(m.linked(&id("b", CP, 6), t0));
        assert_eq!(
            m.identity(&NodeName::new("b")).map(|i| i.incarnation),
            Some(6)
        );
    }

    #[test]
    fn gossip_adds_members_and_freshens_unlinked_ones() {
        let t0 = Instant::now();
        let mut m = table(id("a", CP, 1), t0);
        let later = t0 + Duration::from_secs(5);
        let report = vec![MemberInfo {
            name: NodeName::new("c"),
            address: "c:1".into(),
            roles: CP.to_vec(),
            state: MemberState::Alive,
            incarnation: 3,
            last_seen_ms: 100,
            linked: true,
        }];
        let new = m.merge(&NodeName::new("b"), &report, later);
        assert_eq!(new, vec![NodeName::new("c")]);
        assert_eq!(
            m.state(&NodeName::new("c"), later),
            Some(MemberState::Alive)
        );
        // A report about ourselves or the reporter is ignored.
        let mut own = report.clone();
        own[0].name = NodeName::new("a");
        assert!(m.merge(&NodeName::new("b"), &own, later).is_empty());
    }

    #[test]
    fn dial_policy_follows_topology() {
        let t0 = Instant::now();
        let mut cp = table(id("cp-2", CP, 1), t0);
        let report: Vec<MemberInfo> = [("cp-1", CP), ("cp-3", CP), ("w-1", W)]
            .into_iter()
            .map(|(n, r)| MemberInfo {
                name: NodeName::new(n),
                address: format!("{n}:1"),
                roles: r.to_vec(),
                state: MemberState::Alive,
                incarnation: 1,
                last_seen_ms: 0,
                linked: true,
            })
            .collect();
        cp.merge(&NodeName::new("x"), &report, t0);
        let dial: Vec<String> = cp.to_dial().into_iter().map(|i| i.name.0).collect();
        assert_eq!(
            dial,
            vec!["cp-3"],
            "cp dials larger cp names only, never workers"
        );

        let mut w = table(id("w-2", W, 1), t0);
        w.merge(&NodeName::new("x"), &report, t0);
        let dial: Vec<String> = w.to_dial().into_iter().map(|i| i.name.0).collect();
        assert_eq!(
            dial,
            vec!["cp-1", "cp-3"],
            "workers dial every cp, no worker"
        );
        assert!(!w.may_link(&id("w-1", W, 1)));
        assert!(w.may_link(&id("cp-1", CP, 1)));
    }
}
