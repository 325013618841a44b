//! APIServices (`apiregistration.k8s.io/v1`): the validation of kube-aggregator's
//! `ValidateAPIService` (a version, priorities in range, a
//! service with a namespace and name when set) and its printer (SERVICE is `Local` or
//! `<namespace>/<name>`, AVAILABLE the `Available` condition with its reason when not
//! True). The API server registers one Local, Available APIService per group-version it
//! serves at bootstrap (`v1beta1.metrics.k8s.io` among them): Rudder serves every group
//! itself, so nothing is proxied and no controller checks them.

use rudder_protocol::resources::{APIService, ConditionStatus, Time, APISERVICE_AVAILABLE};
use serde_json::{json, Value};

use super::super::defaults::Defaults;
use super::super::table::{col, since, Column, Row, AGE, NAME};
use super::super::validation::{
    validate_object_meta, validate_object_meta_update, FieldCause, FieldPath, NameRule, Validate,
};
use super::Strategy;

impl Strategy for APIService {
    const COLUMNS: &'static [Column] = &[
        NAME,
        col(
            "Service",
            "string",
            "The reference to the service that hosts this API endpoint.",
        ),
        col("Available", "string", "Whether this service is available."),
        AGE,
    ];

    fn example(_namespace: &str) -> Value {
        json!({
            "metadata": {"name": "v1alpha1.example.rudder.io"},
            "spec": {"group": "example.rudder.io", "version": "v1alpha1",
                     "groupPriorityMinimum": 100, "versionPriority": 10},
        })
    }

    fn cells(&self, now: Time) -> Row {
        let service = self.spec.service.as_ref().map_or("Local".to_owned(), |s| {
            format!("{}/{}", s.namespace, s.name)
        });
        let available = self
            .status
            .conditions
            .iter()
            .find(|c| c.type_ == APISERVICE_AVAILABLE)
            .map_or("Unknown".to_owned(), |c| {
                if c.status == ConditionStatus::True {
                    c.status.to_string()
                } else {
                    format!("{} ({})", c.status, c.reason)
                }
            });
        Row::new(vec![
            json!(self.metadata.name),
            json!(service),
            json!(available),
            json!(since(self.metadata.creation_timestamp, now)),
        ])
    }
}

impl Defaults for APIService {
    /// A service's port defaults to 443.
    fn apply_defaults(&mut self) {
        if let Some(s) = &mut self.spec.service {
            s.port.get_or_insert(443);
        }
    }
}

impl Validate for APIService {
    fn validate(&self) -> Vec<FieldCause> {
        // The core group's APIService is `v1.`: a version and an empty group, which
        // is no DNS subdomain (Kubernetes' `ValidateAPIServiceName` allows it).
        let legacy_core = self
            .metadata
            .name
            .strip_suffix('.')
            .is_some_and(|v| NameRule::Dns1123Label.check(v, false).is_empty());
        let mut errs = if legacy_core {
            let mut meta = self.metadata.clone();
            meta.name = meta.name.trim_end_matches('.').to_owned();
            validate_object_meta(&meta, NameRule::Dns1123Subdomain)
        } else {
            validate_object_meta(&self.metadata, NameRule::Dns1123Subdomain)
        };
        let spec = &self.spec;
        let path = FieldPath::new("spec");
        // Kubernetes also requires the name `<version>.<group>`; Rudder proxies
        // nothing by name, so any valid name is accepted.
        if spec.version.is_empty() {
            errs.push(FieldCause::required(&path.child("version"), ""));
        }
        if !(1..=20000).contains(&spec.group_priority_minimum) {
            errs.push(FieldCause::invalid(
                &path.child("groupPriorityMinimum"),
                spec.group_priority_minimum,
                "must be positive and less than 20000",
            ));
        }
        if !(1..=1000).contains(&spec.version_priority) {
            errs.push(FieldCause::invalid(
                &path.child("versionPriority"),
                spec.version_priority,
                "must be positive and less than 1000",
            ));
        }
        if let Some(s) = &spec.service {
            let sp = path.child("service");
            if s.namespace.is_empty() {
                errs.push(FieldCause::required(&sp.child("namespace"), ""));
            }
            if s.name.is_empty() {
                errs.push(FieldCause::required(&sp.child("name"), ""));
            }
            if let Some(port) = s.port.filter(|p| !(1..=65535).contains(p)) {
                errs.push(FieldCause::invalid(
                    &sp.child("port"),
                    port,
                    "must be a valid port number",
                ));
            }
        }
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

    #[test]
    fn validation_table() {
        type Case = (&'static str, Value, Vec<(&'static str, CauseReason)>);
        let cases: Vec<Case> = vec![
            (
                "local metrics",
                json!({"metadata": {"name": "v1beta1.metrics.k8s.io"}, "spec": {"group": "metrics.k8s.io", "version": "v1beta1", "groupPriorityMinimum": 100, "versionPriority": 100}}),
                vec![],
            ),
            (
                "priorities out of range, service without name",
                json!({"metadata": {"name": "v1.x.io"}, "spec": {"group": "x.io", "version": "v1", "groupPriorityMinimum": 0, "versionPriority": 1001, "service": {"namespace": "kube-system"}}}),
                vec![
                    ("spec.groupPriorityMinimum", CauseReason::Invalid),
                    ("spec.versionPriority", CauseReason::Invalid),
                    ("spec.service.name", CauseReason::Required),
                ],
            ),
        ];
        for (name, obj, want) in cases {
            let s: APIService = serde_json::from_value(obj).unwrap();
            assert_causes(name, &s.validate(), &want);
        }
    }

    #[test]
    fn the_core_group_name_is_valid() {
        let s = APIService::local("", "v1", Time(0));
        assert_eq!(s.metadata.name, "v1.");
        assert!(s.validate().is_empty(), "{:?}", s.validate());
        let mut bad = s.clone();
        bad.metadata.name = "V1.".into();
        assert!(!bad.validate().is_empty());
    }

    #[test]
    fn printer() {
        let s = APIService::local("metrics.k8s.io", "v1beta1", Time(0));
        let row = s.cells(Time(60));
        assert_eq!(row.cells[0], json!("v1beta1.metrics.k8s.io"));
        assert_eq!(row.cells[1], json!("Local"));
        assert_eq!(row.cells[2], json!("True"));
    }
}
