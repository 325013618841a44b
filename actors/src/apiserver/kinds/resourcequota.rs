//! ResourceQuotas (`core/v1`): the validation of `pkg/apis/core` (standard or
//! domain-qualified resource names, non-negative caps, whole numbers for object
//! counts, known and compatible scopes), the status reset on create (the quota
//! controller, [`crate::controllers::resourcequota`], fills it), and Kubernetes'
//! printer (NAME, AGE, REQUEST, LIMIT: `used/hard` per resource). What a quota does to
//! creates is the ResourceQuota admission plugin's ([`super::super::quota`]).

use rudder_protocol::resources::{quota, Quantity, ResourceList, ResourceQuota, Time};
use serde_json::{json, Value};

use super::super::defaults::Defaults;
use super::super::table::{col, since, Column, Row, AGE, NAME};
use super::super::validation::{
    is_qualified_name, validate_object_meta, validate_object_meta_update, BadValue, FieldCause,
    FieldPath, NameRule, Validate,
};
use super::{Admission, Strategy};

impl Strategy for ResourceQuota {
    const COLUMNS: &'static [Column] = &[
        NAME,
        AGE,
        col(
            "Request",
            "string",
            "Request represents a minimum amount of cpu/memory that a container may consume.",
        ),
        col(
            "Limit",
            "string",
            "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.",
        ),
    ];

    fn example(_namespace: &str) -> Value {
        json!({"spec": {"hard": {"pods": "10"}}})
    }

    /// Kubernetes' printer: `resource: used/hard` for every enforced resource, the
    /// `limits.*` ones in LIMIT, the others in REQUEST.
    fn cells(&self, now: Time) -> Row {
        let mut request = Vec::new();
        let mut limit = Vec::new();
        for (name, hard) in &self.status.hard {
            let used = self.status.used.get(name).cloned().unwrap_or_default();
            let cell = format!("{name}: {used}/{hard}");
            if name.split('.').next() == Some("limits") && name.contains('.') {
                limit.push(cell);
            } else {
                request.push(cell);
            }
        }
        Row::new(vec![
            json!(self.metadata.name),
            json!(since(self.metadata.creation_timestamp, now)),
            json!(request.join(", ")),
            json!(limit.join(", ")),
        ])
    }

    /// The status is the controller's (and admission's): a new quota starts without.
    fn prepare_create(q: &mut ResourceQuota, _admission: &Admission) {
        q.status = Default::default();
    }

    fn quota_usage(&self, usage: &mut ResourceList) {
        usage.insert(
            quota::RESOURCE_QUOTAS.into(),
            Quantity::new(1, Default::default()),
        );
    }

    fn quota_matches(name: &str) -> bool {
        name == quota::RESOURCE_QUOTAS
    }
}

impl Defaults for ResourceQuota {
    /// Nothing to default.
    fn apply_defaults(&mut self) {}
}

/// The quota resources with a name of their own (Kubernetes' `standardQuotaResources`).
const STANDARD_QUOTA_RESOURCES: &[&str] = &[
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.storage",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    quota::PODS,
    quota::SERVICES,
    quota::REPLICATION_CONTROLLERS,
    quota::RESOURCE_QUOTAS,
    quota::SECRETS,
    quota::PERSISTENT_VOLUME_CLAIMS,
    quota::CONFIG_MAPS,
    quota::SERVICES_NODE_PORTS,
    quota::SERVICES_LOAD_BALANCERS,
];

/// Resources counted in whole objects.
const INTEGER_QUOTA_RESOURCES: &[&str] = &[
    quota::PODS,
    quota::SERVICES,
    quota::REPLICATION_CONTROLLERS,
    quota::RESOURCE_QUOTAS,
    quota::SECRETS,
    quota::PERSISTENT_VOLUME_CLAIMS,
    quota::CONFIG_MAPS,
    quota::SERVICES_NODE_PORTS,
    quota::SERVICES_LOAD_BALANCERS,
];

/// The resources the pod scopes (`Terminating`, `NotTerminating`) may cap.
const SCOPED_COMPUTE: &[&str] = &[
    quota::PODS,
    "cpu",
    "memory",
    "requests.cpu",
    "requests.memory",
    "limits.cpu",
    "limits.memory",
];

fn is_standard(name: &str) -> bool {
    STANDARD_QUOTA_RESOURCES.contains(&name)
        || name.starts_with("hugepages-")
        || name.starts_with("requests.hugepages-")
}

fn is_integer(name: &str) -> bool {
    INTEGER_QUOTA_RESOURCES.contains(&name) || name.starts_with(quota::COUNT_PREFIX)
}

/// Whether a quota with `scope` may cap `resource` (Kubernetes'
/// `IsResourceQuotaScopeValidForResource`).
fn scope_allows(scope: &str, resource: &str) -> bool {
    match scope {
        quota::SCOPE_BEST_EFFORT => resource == quota::PODS || resource == "count/pods",
        _ => SCOPED_COMPUTE.contains(&resource) || resource == "count/pods",
    }
}

fn validate_hard(hard: &ResourceList, path: &FieldPath, errs: &mut Vec<FieldCause>) {
    for (name, value) in hard {
        let at = path.key(name);
        let msgs = is_qualified_name(name);
        let well_formed = msgs.is_empty();
        for msg in msgs {
            errs.push(FieldCause::invalid(&at, name, &msg));
        }
        if well_formed && !name.contains('/') && !is_standard(name) {
            errs.push(FieldCause::invalid(
                &at,
                name,
                "must be a standard resource for quota",
            ));
        }
        if value.is_negative() {
            errs.push(FieldCause::invalid(
                &at,
                value.as_str(),
                "must be greater than or equal to 0",
            ));
        } else if is_integer(name) && value.milli_value() % 1000 != 0 {
            errs.push(FieldCause::invalid(
                &at,
                value.as_str(),
                "must be an integer",
            ));
        }
    }
}

fn validate_scopes(q: &ResourceQuota, errs: &mut Vec<FieldCause>) {
    let spec = &q.spec;
    let path = FieldPath::new("spec").child("scopes");
    let listed = BadValue::Raw(format!("[{}]", spec.scopes.join(" ")));
    for scope in &spec.scopes {
        if !quota::SCOPES.contains(&scope.as_str()) {
            errs.push(FieldCause::invalid(
                &path,
                listed.clone(),
                "unsupported scope",
            ));
            continue;
        }
        if spec
            .hard
            .keys()
            .any(|k| is_standard(k) && !scope_allows(scope, k))
        {
            errs.push(FieldCause::invalid(
                &path,
                listed.clone(),
                "unsupported scope applied to resource",
            ));
        }
    }
    let has = |s: &str| spec.scopes.iter().any(|x| x == s);
    if (has(quota::SCOPE_BEST_EFFORT) && has(quota::SCOPE_NOT_BEST_EFFORT))
        || (has(quota::SCOPE_TERMINATING) && has(quota::SCOPE_NOT_TERMINATING))
    {
        errs.push(FieldCause::invalid(&path, listed, "conflicting scopes"));
    }
    let Some(selector) = &spec.scope_selector else {
        return;
    };
    let path = FieldPath::new("spec")
        .child("scopeSelector")
        .child("matchExpressions");
    for (i, req) in selector.match_expressions.iter().enumerate() {
        let at = path.index(i);
        if !quota::SCOPES.contains(&req.scope_name.as_str()) {
            errs.push(FieldCause::not_supported(
                &at.child("scopeName"),
                req.scope_name.as_str(),
                &quota::SCOPES,
            ));
        }
        match req.operator.as_str() {
            "Exists" | "DoesNotExist" => {
                if !req.values.is_empty() {
                    errs.push(FieldCause::invalid(
                        &at.child("values"),
                        BadValue::Raw(format!("[{}]", req.values.join(" "))),
                        "must be no value when `operator` is 'Exist' or 'DoesNotExist'",
                    ));
                }
            }
            other => errs.push(FieldCause::not_supported(
                &at.child("operator"),
                other,
                &["Exists", "DoesNotExist"],
            )),
        }
    }
}

impl Validate for ResourceQuota {
    fn validate(&self) -> Vec<FieldCause> {
        let mut errs = validate_object_meta(&self.metadata, NameRule::Dns1123Subdomain);
        validate_hard(
            &self.spec.hard,
            &FieldPath::new("spec").child("hard"),
            &mut errs,
        );
        validate_scopes(self, &mut errs);
        let status = FieldPath::new("status");
        validate_hard(&self.status.hard, &status.child("hard"), &mut errs);
        validate_hard(&self.status.used, &status.child("used"), &mut errs);
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

    /// A named case: the input and the causes (field, reason) it must give.
    type Case = (&'static str, Value, &'static [(&'static str, CauseReason)]);

    fn quota_of(spec: Value) -> ResourceQuota {
        serde_json::from_value(json!({"metadata": {"name": "q", "namespace": "a"}, "spec": spec}))
            .unwrap()
    }

    #[test]
    fn validation_table() {
        let table: &[Case] = &[
            (
                "valid",
                json!({"hard": {"pods": "10", "requests.cpu": "2", "count/deployments.apps": "3"}}),
                &[],
            ),
            (
                "unknown resource",
                json!({"hard": {"gpus": "1"}}),
                &[("spec.hard[gpus]", CauseReason::Invalid)],
            ),
            (
                "negative and fractional counts",
                json!({"hard": {"pods": "-1", "services": "1500m"}}),
                &[
                    ("spec.hard[pods]", CauseReason::Invalid),
                    ("spec.hard[services]", CauseReason::Invalid),
                ],
            ),
            (
                "scopes",
                json!({"hard": {"pods": "1", "services": "1"},
                    "scopes": ["BestEffort", "NotBestEffort", "Unknown"]}),
                &[
                    ("spec.scopes", CauseReason::Invalid),
                    ("spec.scopes", CauseReason::Invalid),
                    ("spec.scopes", CauseReason::Invalid),
                    ("spec.scopes", CauseReason::Invalid),
                ],
            ),
        ];
        for (name, spec, want) in table {
            assert_causes(name, &quota_of(spec.clone()).validate(), want);
        }
    }

    #[test]
    fn the_printer_splits_requests_and_limits() {
        let mut q = quota_of(json!({}));
        q.status.hard = [
            ("pods", "10"),
            ("limits.cpu", "2"),
            ("requests.memory", "1Gi"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), Quantity::parse(v).unwrap()))
        .collect();
        q.status
            .used
            .insert("pods".into(), Quantity::parse("3").unwrap());
        let row = q.cells(Time(0));
        assert_eq!(row.cells[2], json!("pods: 3/10, requests.memory: 0/1Gi"));
        assert_eq!(row.cells[3], json!("limits.cpu: 0/2"));
    }
}
