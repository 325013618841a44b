//! ConfigMaps (`core/v1`): configuration data for pods. Validation: key names, the
//! 1 MiB size limit, no key in both `data` and `binaryData`, and `immutable` ones keep
//! their data. Printer: DATA (the number of keys) and AGE.

use rudder_protocol::resources::{ConfigMap, Time};
use serde_json::{json, Value};

use super::super::defaults::Defaults;
use super::super::table::{col, since, Column, Row, AGE, NAME};
use super::super::validation::{
    validate_data_keys, validate_immutable, validate_object_meta, validate_object_meta_update,
    FieldCause, FieldPath, NameRule, Validate, MAX_DATA_SIZE,
};
use super::Strategy;

impl Strategy for ConfigMap {
    fn quota_usage(&self, usage: &mut rudder_protocol::resources::ResourceList) {
        usage.insert(
            rudder_protocol::resources::quota::CONFIG_MAPS.into(),
            super::one(),
        );
    }

    fn quota_matches(name: &str) -> bool {
        name == rudder_protocol::resources::quota::CONFIG_MAPS
    }

    const COLUMNS: &'static [Column] = &[
        NAME,
        col("Data", "string", "The number of keys in the config map."),
        AGE,
    ];

    fn example(_namespace: &str) -> Value {
        json!({"data": {"greeting": "hello"}})
    }

    fn cells(&self, now: Time) -> Row {
        Row::new(vec![
            json!(self.metadata.name),
            json!(self.data.len() + self.binary_data.len()),
            json!(since(self.metadata.creation_timestamp, now)),
        ])
    }
}

impl Defaults for ConfigMap {
    /// Nothing to default.
    fn apply_defaults(&mut self) {}
}

impl Validate for ConfigMap {
    fn validate(&self) -> Vec<FieldCause> {
        let mut errs = validate_object_meta(&self.metadata, NameRule::Dns1123Subdomain);
        let (mut seen, mut size) = (Vec::new(), 0);
        let text = self.data.iter().map(|(k, v)| (k.as_str(), v.len()));
        errs.extend(validate_data_keys(
            &FieldPath::new("data"),
            text,
            &mut seen,
            &mut size,
        ));
        let binary = self.binary_data.iter().map(|(k, v)| (k.as_str(), v.len()));
        errs.extend(validate_data_keys(
            &FieldPath::new("binaryData"),
            binary,
            &mut seen,
            &mut size,
        ));
        if size > MAX_DATA_SIZE {
            // Kubernetes reports the whole object as `field.NewPath("")`, which Go
            // prints as an empty index: `[]: Too long: ...`.
            errs.push(FieldCause::too_long(
                &FieldPath::new("").key(""),
                MAX_DATA_SIZE,
            ));
        }
        errs
    }

    fn validate_update(&self, old: &Self) -> Vec<FieldCause> {
        let mut errs = self.validate();
        errs.extend(validate_object_meta_update(&self.metadata, &old.metadata));
        errs.extend(validate_immutable(
            old.immutable,
            self.immutable,
            &[
                ("data", self.data != old.data),
                ("binaryData", self.binary_data != old.binary_data),
            ],
        ));
        errs
    }
}
