//! PodDisruptionBudgets (`policy/v1`): the validation of
//! `pkg/apis/policy/validation` (`minAvailable` and `maxUnavailable` exclusive, each a
//! non-negative number or a percentage up to 100%, a valid selector, a known
//! `unhealthyPodEvictionPolicy`, non-negative status counts), the status reset on
//! create, and Kubernetes' printer (MIN AVAILABLE, MAX UNAVAILABLE, ALLOWED
//! DISRUPTIONS). The spec may change after create, as since Kubernetes 1.15; its
//! generation moves, and evictions wait until the controller has observed it.

use rudder_protocol::resources::{IntOrString, PodDisruptionBudget, Time};
use serde_json::{json, Value};

use super::super::defaults::Defaults;
use super::super::table::{col, since, Column, Row, AGE, NAME};
use super::super::validation::{
    is_valid_percent, validate_label_selector, validate_object_meta, validate_object_meta_update,
    FieldCause, FieldPath, NameRule, Validate,
};
use super::{Admission, Strategy};

impl Strategy for PodDisruptionBudget {
    const COLUMNS: &'static [Column] = &[
        NAME,
        col(
            "Min Available",
            "string",
            "The minimum number of pods that must be available.",
        ),
        col(
            "Max Unavailable",
            "string",
            "The maximum number of pods that may be unavailable.",
        ),
        col(
            "Allowed Disruptions",
            "integer",
            "Calculated number of pods that may be disrupted at this time.",
        ),
        AGE,
    ];

    fn example(_namespace: &str) -> Value {
        json!({"spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "example"}}}})
    }

    fn cells(&self, now: Time) -> Row {
        let or_na =
            |v: &Option<IntOrString>| v.as_ref().map_or("N/A".to_owned(), |v| v.to_string());
        Row::new(vec![
            json!(self.metadata.name),
            json!(or_na(&self.spec.min_available)),
            json!(or_na(&self.spec.max_unavailable)),
            json!(self.status.disruptions_allowed),
            json!(since(self.metadata.creation_timestamp, now)),
        ])
    }

    /// The status is the controller's: a created budget starts without one.
    fn prepare_create(pdb: &mut PodDisruptionBudget, _admission: &Admission) {
        pdb.status = Default::default();
    }
}

impl Defaults for PodDisruptionBudget {
    /// `policy/v1` defaults nothing.
    fn apply_defaults(&mut self) {}
}

const NON_NEGATIVE: &str = "must be greater than or equal to 0";
const PERCENT: &str = "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')";

/// Kubernetes' `ValidatePositiveIntOrPercent` and `IsNotMoreThan100Percent`.
fn validate_int_or_percent(v: &IntOrString, path: &FieldPath, errs: &mut Vec<FieldCause>) {
    match v {
        IntOrString::Int(n) if *n < 0 => errs.push(FieldCause::invalid(path, *n, NON_NEGATIVE)),
        IntOrString::Int(_) => {}
        IntOrString::String(s) if !is_valid_percent(s) => {
            errs.push(FieldCause::invalid(path, s.as_str(), PERCENT))
        }
        IntOrString::String(s) => {
            let value = s.trim_end_matches('%').parse::<u64>().unwrap_or(u64::MAX);
            if value > 100 {
                errs.push(FieldCause::invalid(
                    path,
                    s.as_str(),
                    "must not be greater than 100%",
                ));
            }
        }
    }
}

fn non_negative(v: i32, path: &FieldPath, errs: &mut Vec<FieldCause>) {
    if v < 0 {
        errs.push(FieldCause::invalid(path, v, NON_NEGATIVE));
    }
}

impl Validate for PodDisruptionBudget {
    fn validate(&self) -> Vec<FieldCause> {
        let mut errs = validate_object_meta(&self.metadata, NameRule::Dns1123Subdomain);
        let spec = &self.spec;
        let path = FieldPath::new("spec");
        if spec.min_available.is_some() && spec.max_unavailable.is_some() {
            errs.push(FieldCause::invalid(
                &path,
                serde_json::to_string(spec).unwrap_or_default(),
                "minAvailable and maxUnavailable cannot be both set",
            ));
        }
        if let Some(v) = &spec.min_available {
            validate_int_or_percent(v, &path.child("minAvailable"), &mut errs);
        }
        if let Some(v) = &spec.max_unavailable {
            validate_int_or_percent(v, &path.child("maxUnavailable"), &mut errs);
        }
        if let Some(selector) = &spec.selector {
            errs.extend(validate_label_selector(selector, &path.child("selector")));
        }
        // `unhealthyPodEvictionPolicy` is a closed enum: an unknown value does not even
        // decode.
        let status = &self.status;
        let spath = FieldPath::new("status");
        non_negative(
            status.disruptions_allowed,
            &spath.child("disruptionsAllowed"),
            &mut errs,
        );
        non_negative(
            status.current_healthy,
            &spath.child("currentHealthy"),
            &mut errs,
        );
        non_negative(
            status.desired_healthy,
            &spath.child("desiredHealthy"),
            &mut errs,
        );
        non_negative(
            status.expected_pods,
            &spath.child("expectedPods"),
            &mut errs,
        );
        errs
    }

    fn validate_update(&self, old: &Self) -> Vec<FieldCause> {
        let mut errs = self.validate();
        errs.extend(validate_object_meta_update(&self.metadata, &old.metadata));
        errs
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::apiserver::validation::testutil::assert_causes;
    use crate::apiserver::validation::CauseReason;

    fn pdb(spec: Value) -> PodDisruptionBudget {
        serde_json::from_value(json!({"metadata": {"name": "web", "namespace": "d"}, "spec": spec}))
            .unwrap()
    }

    #[test]
    fn validation_table() {
        let sel = json!({"matchLabels": {"app": "web"}});
        type Case = (&'static str, Value, Vec<(&'static str, CauseReason)>);
        let cases: Vec<Case> = vec![
            (
                "minAvailable number",
                json!({"minAvailable": 2, "selector": sel}),
                vec![],
            ),
            (
                "minAvailable percent",
                json!({"minAvailable": "50%", "selector": sel}),
                vec![],
            ),
            (
                "maxUnavailable",
                json!({"maxUnavailable": 1, "selector": sel}),
                vec![],
            ),
            (
                "empty selector",
                json!({"maxUnavailable": "100%", "selector": {}}),
                vec![],
            ),
            ("neither: allowed", json!({"selector": sel}), vec![]),
            (
                "both",
                json!({"minAvailable": 1, "maxUnavailable": 1, "selector": sel}),
                vec![("spec", CauseReason::Invalid)],
            ),
            (
                "negative",
                json!({"minAvailable": -1}),
                vec![("spec.minAvailable", CauseReason::Invalid)],
            ),
            (
                "not a percent",
                json!({"maxUnavailable": "half"}),
                vec![("spec.maxUnavailable", CauseReason::Invalid)],
            ),
            (
                "above 100%",
                json!({"minAvailable": "101%"}),
                vec![("spec.minAvailable", CauseReason::Invalid)],
            ),
            (
                "bad selector",
                json!({"minAvailable": 1, "selector": {"matchLabels": {"-bad": "x"}}}),
                vec![("spec.selector.matchLabels", CauseReason::Invalid)],
            ),
        ];
        for (name, spec, want) in cases {
            assert_causes(name, &pdb(spec).validate(), &want);
        }
        let mut negative = pdb(json!({"minAvailable": 1}));
        negative.status.disruptions_allowed = -1;
        assert_causes(
            "negative status",
            &negative.validate(),
            &[("status.disruptionsAllowed", CauseReason::Invalid)],
        );
        assert!(serde_json::from_value::<PodDisruptionBudget>(
            json!({"spec": {"unhealthyPodEvictionPolicy": "Sometimes"}})
        )
        .is_err());
    }

    #[test]
    fn printer_cells() {
        let mut p = pdb(json!({"minAvailable": "50%"}));
        p.status.disruptions_allowed = 2;
        let row = p.cells(Time(0));
        assert_eq!(row.cells[1], json!("50%"));
        assert_eq!(row.cells[2], json!("N/A"));
        assert_eq!(row.cells[3], json!(2));
        let q = pdb(json!({"maxUnavailable": 1}));
        let row = q.cells(Time(0));
        assert_eq!((&row.cells[1], &row.cells[2]), (&json!("N/A"), &json!("1")));
        assert_eq!(row.cells[3], json!(0));
    }
}
