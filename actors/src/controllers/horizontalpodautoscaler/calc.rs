//! The autoscaler's decisions as pure functions, as Kubernetes' `replica_calculator.go`
//! and `horizontal.go` make them:
//!
//! - [`replicas_for`]: the replica count one resource metric asks for. Pods being
//!   deleted or failed are ignored; pending pods (and, for CPU, pods not Ready) are
//!   unready; pods without a measurement are missing. Within the tolerance (0.1) of the
//!   target nothing changes. When unready or missing pods could flip the decision they
//!   are counted conservatively: missing pods at 100% of their request (or at the
//!   target, for `AverageValue`) when scaling down and at 0 when scaling up, unready
//!   pods at 0 when scaling up; a decision those pods would reverse becomes "no change".
//! - [`stabilize`]: the stabilization window. Every recommendation is remembered; when
//!   scaling up the lowest recommendation of the scale-up window wins, when scaling down
//!   the highest of the scale-down window (300 s by default).
//! - [`limit_rate`]: the rate policies (`Pods` / `Percent` per `periodSeconds`, chosen
//!   by `selectPolicy`) against the scale events of each period, and min/max.

use rudder_protocol::resources::HPAScalingRules;

/// Kubernetes' default tolerance (`--horizontal-pod-autoscaler-tolerance`).
pub const TOLERANCE: f64 = 0.1;

/// What the calculation knows of one pod the target selects.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PodSample {
    /// The pod's name.
    pub name: String,
    /// Deleting, or phase Failed: left out altogether.
    pub ignored: bool,
    /// Phase Pending.
    pub pending: bool,
    /// Its Ready condition is True.
    pub ready: bool,
    /// Its request of the resource (milli-units), summed over the measured containers;
    /// `None` when a container has none.
    pub request: Option<i64>,
    /// Its measured usage (milli-units), when measured.
    pub usage: Option<i64>,
}

/// A resource metric's target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Percent of the pods' requests.
    Utilization(i32),
    /// Usage per pod, in milli-units.
    AverageValue(i64),
}

/// What one metric asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    /// The replica count.
    pub replicas: i32,
    /// The ready pods' usage as a percentage of their requests (`Utilization` only).
    pub utilization: Option<i32>,
    /// The ready pods' average usage, in milli-units.
    pub average: i64,
}

fn ceil_i32(x: f64) -> i32 {
    // Replica counts are small; the cast saturates at the bounds.
    x.ceil() as i32
}

/// The replica count a resource metric asks for (see the module docs); `cpu` turns on
/// the readiness rule for unready pods. An error when no ready pod was measured or a
/// measured pod has no request (for `Utilization`).
pub fn replicas_for(
    current: i32,
    pods: &[PodSample],
    target: Target,
    cpu: bool,
    resource: &str,
) -> Result<Estimate, String> {
    // (request, usage) of the pods counted, by class.
    let mut measured: Vec<(Option<i64>, i64)> = Vec::new();
    let mut missing: Vec<Option<i64>> = Vec::new();
    let mut unready: Vec<Option<i64>> = Vec::new();
    for p in pods {
        if p.ignored {
            continue;
        }
        if p.pending || (cpu && !p.ready && p.usage.is_some()) {
            unready.push(p.request);
            continue;
        }
        match p.usage {
            Some(u) => measured.push((p.request, u)),
            None => missing.push(p.request),
        }
    }
    if measured.is_empty() {
        return Err(format!(
            "did not receive metrics for targeted pods (pods might be unready): no {resource} measurement of a ready pod"
        ));
    }
    // The usage ratio of a set of (request, usage), and the utilization it came from.
    let ratio = |set: &[(Option<i64>, i64)]| -> Result<(f64, Option<i32>, i64), String> {
        let usage: i64 = set.iter().map(|(_, u)| u).sum();
        let average = usage / i64::try_from(set.len()).unwrap_or(1).max(1);
        match target {
            Target::Utilization(t) => {
                let mut requests = 0i64;
                for (r, _) in set {
                    match r {
                        Some(r) => requests += r,
                        None => return Err(format!("missing request for {resource}")),
                    }
                }
                if requests <= 0 {
                    return Err(format!("missing request for {resource}"));
                }
                let utilization = usage * 100 / requests;
                Ok((
                    utilization as f64 / f64::from(t.max(1)),
                    Some(i32::try_from(utilization).unwrap_or(i32::MAX)),
                    average,
                ))
            }
            Target::AverageValue(t) => Ok((average as f64 / t.max(1) as f64, None, average)),
        }
    };
    let (usage_ratio, utilization, average) = ratio(&measured)?;
    let estimate = |replicas| Estimate {
        replicas,
        utilization,
        average,
    };
    let rebalance_unready = !unready.is_empty() && usage_ratio > 1.0;
    if !rebalance_unready && missing.is_empty() {
        if (1.0 - usage_ratio).abs() <= TOLERANCE {
            return Ok(estimate(current));
        }
        return Ok(estimate(ceil_i32(usage_ratio * measured.len() as f64)));
    }
    // What a pod counts as that could not be measured: its request (its target) when
    // scaling down, nothing when scaling up.
    let full = |request: Option<i64>| match target {
        Target::Utilization(_) => request.unwrap_or(0),
        Target::AverageValue(t) => t,
    };
    let mut all = measured.clone();
    for r in &missing {
        all.push((*r, if usage_ratio < 1.0 { full(*r) } else { 0 }));
    }
    if rebalance_unready {
        for r in &unready {
            all.push((*r, 0));
        }
    }
    let (new_ratio, _, _) = ratio(&all)?;
    if (1.0 - new_ratio).abs() <= TOLERANCE
        || (usage_ratio < 1.0 && new_ratio > 1.0)
        || (usage_ratio > 1.0 && new_ratio < 1.0)
    {
        return Ok(estimate(current));
    }
    let replicas = ceil_i32(new_ratio * all.len() as f64);
    if (new_ratio < 1.0 && replicas > current) || (new_ratio > 1.0 && replicas < current) {
        return Ok(estimate(current));
    }
    Ok(estimate(replicas))
}

/// One remembered recommendation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recommendation {
    /// When, in seconds.
    pub at: i64,
    /// The replica count recommended.
    pub replicas: i32,
}

/// One change of the target's scale by the autoscaler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScaleEvent {
    /// When, in seconds.
    pub at: i64,
    /// How many replicas were added (up) or removed (down).
    pub change: i32,
}

/// The stabilized recommendation for `desired` at `now`, remembering `desired` in
/// `recs` (replacing one older than both windows), and the reason and message of the
/// `AbleToScale` condition when it differs from `desired`.
pub fn stabilize(
    current: i32,
    desired: i32,
    up: &HPAScalingRules,
    down: &HPAScalingRules,
    recs: &mut Vec<Recommendation>,
    now: i64,
) -> (i32, &'static str, &'static str) {
    let up_window = i64::from(up.stabilization_window_seconds.unwrap_or(0));
    let down_window = i64::from(down.stabilization_window_seconds.unwrap_or(300));
    let (window, better, reason, message): (i64, fn(i32, i32) -> i32, _, _) = if desired >= current
    {
        (
            up_window,
            std::cmp::min,
            "ScaleUpStabilized",
            "recent recommendations were lower than current one, applying the lowest recent recommendation",
        )
    } else {
        (
            down_window,
            std::cmp::max,
            "ScaleDownStabilized",
            "recent recommendations were higher than current one, applying the highest recent recommendation",
        )
    };
    let obsolete = now - up_window.max(down_window);
    let cutoff = now - window;
    let mut recommendation = desired;
    let mut old = None;
    for (i, r) in recs.iter().enumerate() {
        if r.at > cutoff {
            recommendation = better(r.replicas, recommendation);
        }
        if r.at < obsolete {
            old = Some(i);
        }
    }
    let entry = Recommendation {
        at: now,
        replicas: desired,
    };
    match old {
        Some(i) => recs[i] = entry,
        None => recs.push(entry),
    }
    (recommendation, reason, message)
}

fn changed_within(events: &[ScaleEvent], period: i64, now: i64) -> i32 {
    events
        .iter()
        .filter(|e| e.at > now - period)
        .map(|e| e.change)
        .sum()
}

/// The most replicas the scale-up rules allow now.
fn scale_up_limit(
    current: i32,
    ups: &[ScaleEvent],
    downs: &[ScaleEvent],
    rules: &HPAScalingRules,
    now: i64,
) -> i32 {
    let select = rules.select_policy.as_deref().unwrap_or("Max");
    if select == "Disabled" || rules.policies.is_empty() {
        return current;
    }
    let mut result: Option<i32> = None;
    for p in &rules.policies {
        let period = i64::from(p.period_seconds);
        let start = current - changed_within(ups, period, now) + changed_within(downs, period, now);
        let proposed = if p.type_ == "Pods" {
            start + p.value
        } else {
            ceil_i32(f64::from(start) * (1.0 + f64::from(p.value) / 100.0))
        };
        result = Some(match (result, select) {
            (None, _) => proposed,
            (Some(r), "Min") => r.min(proposed),
            (Some(r), _) => r.max(proposed),
        });
    }
    result.unwrap_or(current)
}

/// The fewest replicas the scale-down rules allow now.
fn scale_down_limit(
    current: i32,
    ups: &[ScaleEvent],
    downs: &[ScaleEvent],
    rules: &HPAScalingRules,
    now: i64,
) -> i32 {
    let select = rules.select_policy.as_deref().unwrap_or("Max");
    if select == "Disabled" || rules.policies.is_empty() {
        return current;
    }
    let mut result: Option<i32> = None;
    for p in &rules.policies {
        let period = i64::from(p.period_seconds);
        let start = current - changed_within(ups, period, now) + changed_within(downs, period, now);
        let proposed = if p.type_ == "Pods" {
            start - p.value
        } else {
            // Truncated, as Kubernetes' int32 conversion does.
            (f64::from(start) * (1.0 - f64::from(p.value) / 100.0)) as i32
        };
        result = Some(match (result, select) {
            (None, _) => proposed,
            (Some(r), "Min") => r.max(proposed),
            (Some(r), _) => r.min(proposed),
        });
    }
    result.unwrap_or(current)
}

/// What the rate policies and the bounds make of a stabilized recommendation, with the
/// reason and message of the `ScalingLimited` condition.
#[allow(clippy::too_many_arguments)]
pub fn limit_rate(
    current: i32,
    desired: i32,
    min: i32,
    max: i32,
    up: &HPAScalingRules,
    down: &HPAScalingRules,
    ups: &[ScaleEvent],
    downs: &[ScaleEvent],
    now: i64,
) -> (i32, &'static str, &'static str) {
    if desired > current {
        let limit = scale_up_limit(current, ups, downs, up, now).max(current);
        let (allowed, reason, message) = if max > limit {
            (
                limit,
                "ScaleUpLimit",
                "the desired replica count is increasing faster than the maximum scale rate",
            )
        } else {
            (
                max,
                "TooManyReplicas",
                "the desired replica count is more than the maximum replica count",
            )
        };
        if desired > allowed {
            return (allowed, reason, message);
        }
    } else if desired < current {
        let limit = scale_down_limit(current, ups, downs, down, now).min(current);
        let (allowed, reason, message) = if min < limit {
            (
                limit,
                "ScaleDownLimit",
                "the desired replica count is decreasing faster than the maximum scale rate",
            )
        } else {
            (
                min,
                "TooFewReplicas",
                "the desired replica count is less than the minimum replica count",
            )
        };
        if desired < allowed {
            return (allowed, reason, message);
        }
    }
    (
        desired,
        "DesiredWithinRange",
        "the desired count is within the acceptable range",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rudder_protocol::resources::HPAScalingPolicy;

    fn pod(name: &str, request: i64, usage: Option<i64>) -> PodSample {
        PodSample {
            name: name.into(),
            ready: true,
            request: Some(request),
            usage,
            ..Default::default()
        }
    }

    #[test]
    fn replica_table() {
        let unready = |mut p: PodSample| {
            p.ready = false;
            p
        };
        let pending = |mut p: PodSample| {
            p.pending = true;
            p.usage = None;
            p
        };
        let ignored = |mut p: PodSample| {
            p.ignored = true;
            p
        };
        // (case, current, pods, target, replicas or error)
        type Case = (&'static str, i32, Vec<PodSample>, Target, Result<i32, ()>);
        let u = Target::Utilization;
        let cases: Vec<Case> = vec![
            (
                "at target",
                2,
                vec![pod("a", 100, Some(50)), pod("b", 100, Some(50))],
                u(50),
                Ok(2),
            ),
            (
                "within tolerance",
                2,
                vec![pod("a", 100, Some(54)), pod("b", 100, Some(54))],
                u(50),
                Ok(2),
            ),
            (
                "double the target",
                2,
                vec![pod("a", 100, Some(100)), pod("b", 100, Some(100))],
                u(50),
                Ok(4),
            ),
            (
                "one core on 100m at 50%",
                1,
                vec![pod("a", 100, Some(1000))],
                u(50),
                Ok(20),
            ),
            (
                "idle scales down",
                4,
                vec![
                    pod("a", 100, Some(0)),
                    pod("b", 100, Some(0)),
                    pod("c", 100, Some(0)),
                    pod("d", 100, Some(0)),
                ],
                u(50),
                Ok(0),
            ),
            (
                "quarter load",
                4,
                vec![
                    pod("a", 100, Some(25)),
                    pod("b", 100, Some(25)),
                    pod("c", 100, Some(25)),
                    pod("d", 100, Some(25)),
                ],
                u(50),
                Ok(2),
            ),
            (
                "missing pod counts as 100% when scaling down",
                3,
                vec![
                    pod("a", 100, Some(10)),
                    pod("b", 100, Some(10)),
                    pod("c", 100, None),
                ],
                u(50),
                Ok(3),
            ),
            (
                "missing pod counts as 0 when scaling up",
                2,
                vec![pod("a", 100, Some(200)), pod("b", 100, None)],
                u(50),
                Ok(4),
            ),
            (
                "unready pods count as 0 when scaling up",
                2,
                vec![pod("a", 100, Some(150)), unready(pod("b", 100, Some(900)))],
                u(50),
                Ok(3),
            ),
            (
                "pending pod: unready",
                2,
                vec![pod("a", 100, Some(100)), pending(pod("b", 100, None))],
                u(50),
                Ok(2),
            ),
            (
                "ignored pods are left out",
                2,
                vec![pod("a", 100, Some(100)), ignored(pod("b", 100, Some(0)))],
                u(50),
                Ok(2),
            ),
            (
                "no measurement",
                2,
                vec![pod("a", 100, None)],
                u(50),
                Err(()),
            ),
            (
                "no request",
                1,
                vec![PodSample {
                    name: "a".into(),
                    ready: true,
                    usage: Some(5),
                    ..Default::default()
                }],
                u(50),
                Err(()),
            ),
            (
                "average value",
                2,
                vec![pod("a", 0, Some(300)), pod("b", 0, Some(300))],
                Target::AverageValue(100),
                Ok(6),
            ),
        ];
        for (name, current, pods, target, want) in cases {
            let got = replicas_for(current, &pods, target, true, "cpu").map(|e| e.replicas);
            assert_eq!(got.map_err(|_| ()), want, "{name}");
        }
        let e = replicas_for(1, &[pod("a", 100, Some(30))], u(50), true, "cpu").expect("computes");
        assert_eq!((e.utilization, e.average), (Some(30), 30));
    }

    fn rules(window: i32, policies: &[(&str, i32, i32)], select: &str) -> HPAScalingRules {
        HPAScalingRules {
            stabilization_window_seconds: Some(window),
            select_policy: Some(select.into()),
            policies: policies
                .iter()
                .map(|(t, v, p)| HPAScalingPolicy {
                    type_: (*t).into(),
                    value: *v,
                    period_seconds: *p,
                })
                .collect(),
        }
    }

    #[test]
    fn stabilization_table() {
        let up = rules(0, &[("Percent", 100, 15)], "Max");
        let down = rules(60, &[("Percent", 100, 15)], "Max");
        let mut recs = Vec::new();
        // (case, now, current, desired, stabilized)
        let steps = [
            ("first recommendation", 0, 1, 5, 5),
            ("down within the window keeps the highest", 10, 5, 2, 5),
            ("still within", 59, 5, 1, 5),
            (
                "the 5 has left the window; 2 is the highest left",
                65,
                5,
                1,
                2,
            ),
            ("all gone: the lowest now", 200, 5, 1, 1),
            ("up is not stabilized", 201, 1, 4, 4),
        ];
        for (name, now, current, desired, want) in steps {
            let (got, _, _) = stabilize(current, desired, &up, &down, &mut recs, now);
            assert_eq!(got, want, "{name}");
        }
        assert!(recs.len() <= 4, "old samples are replaced: {recs:?}");
    }

    #[test]
    fn rate_table() {
        let up = HPAScalingRules::default_scale_up();
        let down = rules(300, &[("Pods", 1, 60)], "Max");
        let ev = |at, change| ScaleEvent { at, change };
        // (case, current, desired, min, max, ups, downs, want, reason)
        type Case = (
            &'static str,
            i32,
            i32,
            i32,
            i32,
            Vec<ScaleEvent>,
            Vec<ScaleEvent>,
            i32,
            &'static str,
        );
        let cases: Vec<Case> = vec![
            (
                "within range",
                2,
                3,
                1,
                10,
                vec![],
                vec![],
                3,
                "DesiredWithinRange",
            ),
            (
                "4 pods or 100%: from 1 at most 5",
                1,
                20,
                1,
                10,
                vec![],
                vec![],
                5,
                "ScaleUpLimit",
            ),
            (
                "from 10 at most 20, capped by max",
                10,
                40,
                1,
                12,
                vec![],
                vec![],
                12,
                "TooManyReplicas",
            ),
            (
                "this period already added 4",
                5,
                20,
                1,
                50,
                vec![ev(95, 4)],
                vec![],
                5,
                "ScaleUpLimit",
            ),
            (
                "one pod per minute down",
                5,
                1,
                1,
                10,
                vec![],
                vec![],
                4,
                "ScaleDownLimit",
            ),
            (
                "one already removed this minute",
                4,
                1,
                1,
                10,
                vec![],
                vec![ev(90, 1)],
                4,
                "ScaleDownLimit",
            ),
            (
                "below min",
                3,
                2,
                3,
                10,
                vec![],
                vec![],
                3,
                "TooFewReplicas",
            ),
        ];
        for (name, current, desired, min, max, ups, downs, want, reason) in cases {
            let (got, why, _) =
                limit_rate(current, desired, min, max, &up, &down, &ups, &downs, 100);
            assert_eq!((got, why), (want, reason), "{name}");
        }
        let disabled = rules(0, &[("Pods", 4, 15)], "Disabled");
        assert_eq!(
            limit_rate(2, 9, 1, 10, &disabled, &down, &[], &[], 0).0,
            2,
            "disabled"
        );
        let min_policy = rules(0, &[("Pods", 4, 15), ("Percent", 100, 15)], "Min");
        assert_eq!(
            limit_rate(10, 40, 1, 50, &min_policy, &down, &[], &[], 0).0,
            14,
            "Min picks the smaller change"
        );
    }
}
