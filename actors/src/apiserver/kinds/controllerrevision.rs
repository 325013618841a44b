//! ControllerRevisions (`apps/v1`): Kubernetes' validation (a DNS-subdomain name, data
//! present, a revision that is not negative; the data never changes once written) and
//! its printer (NAME, CONTROLLER as `<kind>.<group>/<name>`, REVISION, AGE).

use rudder_protocol::resources::{ControllerRevision, Time};
use serde_json::{json, Value};

use super::super::defaults::Defaults;
use super::super::table::{col, since, Column, Row, AGE, NAME};
use super::super::validation::{
    validate_object_meta, validate_object_meta_update, FieldCause, FieldPath, NameRule, Validate,
    IMMUTABLE,
};
use super::Strategy;

impl Strategy for ControllerRevision {
    const COLUMNS: &'static [Column] = &[
        NAME,
        col("Controller", "string", "Controller of the object"),
        col(
            "Revision",
            "string",
            "Revision indicates the revision of the state represented by Data.",
        ),
        AGE,
    ];

    fn example(_namespace: &str) -> Value {
        json!({"data": {"spec": {"template": {"$patch": "replace"}}}, "revision": 1})
    }

    fn cells(&self, now: Time) -> Row {
        Row::new(vec![
            json!(self.metadata.name),
            json!(controller_name(self)),
            json!(self.revision),
            json!(since(self.metadata.creation_timestamp, now)),
        ])
    }
}

/// The CONTROLLER cell: `daemonset.apps/web` (Kubernetes' `formatResourceName` with the
/// kind), or `<none>`.
fn controller_name(rev: &ControllerRevision) -> String {
    let Some(r) = rev.metadata.controller_ref() else {
        return "<none>".into();
    };
    let kind = match r.api_version.rsplit_once('/') {
        Some((group, _)) if !group.is_empty() => format!("{}.{group}", r.kind),
        _ => r.kind.clone(),
    };
    format!("{}/{}", kind.to_lowercase(), r.name)
}

impl Defaults for ControllerRevision {
    /// Nothing to default.
    fn apply_defaults(&mut self) {}
}

impl Validate for ControllerRevision {
    fn validate(&self) -> Vec<FieldCause> {
        let mut errs = validate_object_meta(&self.metadata, NameRule::Dns1123Subdomain);
        if self.data.is_empty() {
            errs.push(FieldCause::required(
                &FieldPath::new("data"),
                "data is mandatory",
            ));
        }
        if self.revision < 0 {
            errs.push(FieldCause::invalid(
                &FieldPath::new("revision"),
                self.revision,
                "must be greater than or equal to 0",
            ));
        }
        errs
    }

    fn validate_update(&self, old: &Self) -> Vec<FieldCause> {
        let mut errs = self.validate();
        errs.extend(validate_object_meta_update(&self.metadata, &old.metadata));
        if self.data != old.data {
            errs.push(FieldCause::invalid(
                &FieldPath::new("data"),
                self.data.to_text(),
                IMMUTABLE,
            ));
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rudder_protocol::resources::{OwnerReference, RawJson};

    use super::*;

    fn revision(data: Value, number: i64) -> ControllerRevision {
        let mut r = ControllerRevision::new("web-abc");
        r.metadata.namespace = "default".into();
        r.data = RawJson::from(data);
        r.revision = number;
        r
    }

    #[test]
    fn validation_table() {
        let table = [
            ("valid", revision(json!({"spec": {}}), 1), vec![]),
            ("no data", revision(json!({}), 1), vec!["data"]),
            (
                "negative revision",
                revision(json!({"a": 1}), -1),
                vec!["revision"],
            ),
        ];
        for (name, rev, want) in table {
            let got: Vec<String> = rev.validate().iter().map(|c| c.field.clone()).collect();
            assert_eq!(got, want, "{name}");
        }
        let old = revision(json!({"a": 1}), 1);
        let renumbered = revision(json!({"a": 1}), 3);
        assert!(
            renumbered.validate_update(&old).is_empty(),
            "the number may change"
        );
        let changed = revision(json!({"a": 2}), 1);
        let errs = changed.validate_update(&old);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "data");
    }

    #[test]
    fn controller_column() {
        let mut r = revision(json!({"a": 1}), 2);
        assert_eq!(controller_name(&r), "<none>");
        r.metadata.owner_references = vec![OwnerReference {
            api_version: "apps/v1".into(),
            kind: "DaemonSet".into(),
            name: "fluentd".into(),
            uid: "u".into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }];
        assert_eq!(controller_name(&r), "daemonset.apps/fluentd");
        let row = r.cells(Time(100));
        assert_eq!(row.cells[2], json!(2));
    }
}
