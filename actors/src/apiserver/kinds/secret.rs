//! Secrets (`core/v1`): sensitive data for pods. `stringData` is merged into `data` on
//! every write (the defaulting step, where Kubernetes converts it) and never stored;
//! the type defaults to `Opaque` and decides which keys are required. Validation: key
//! names, the 1 MiB limit, the `immutable` rule, a type that never changes. The
//! `type` field selector and Kubernetes' printer (TYPE, DATA, AGE). At rest, a Secret
//! is encrypted when the node has a key (the store transformer in the API server).

use rudder_protocol::resources::{secret_types, Secret, Time};
use serde_json::{json, Value};

use super::super::defaults::Defaults;
use super::super::table::{col, since, Column, Row, AGE, NAME};
use super::super::validation::{
    validate_data_keys, validate_immutable, validate_object_meta, validate_object_meta_update,
    FieldCause, FieldPath, NameRule, Validate, IMMUTABLE, MAX_DATA_SIZE,
};
use super::{field, SelectableField, Strategy};

/// The annotation naming the service account of a token Secret.
const SERVICE_ACCOUNT_NAME: &str = "kubernetes.io/service-account.name";

impl Strategy for Secret {
    fn quota_usage(&self, usage: &mut rudder_protocol::resources::ResourceList) {
        usage.insert(
            rudder_protocol::resources::quota::SECRETS.into(),
            super::one(),
        );
    }

    fn quota_matches(name: &str) -> bool {
        name == rudder_protocol::resources::quota::SECRETS
    }

    const FIELDS: &'static [SelectableField] = &[field("type")];
    const COLUMNS: &'static [Column] = &[
        NAME,
        col("Type", "string", "The type of the secret."),
        col("Data", "string", "The number of keys in the secret."),
        AGE,
    ];

    fn example(_namespace: &str) -> Value {
        json!({"stringData": {"password": "s3cret"}})
    }

    fn cells(&self, now: Time) -> Row {
        Row::new(vec![
            json!(self.metadata.name),
            json!(self.type_),
            json!(self.data.len()),
            json!(since(self.metadata.creation_timestamp, now)),
        ])
    }
}

impl Defaults for Secret {
    /// `stringData` goes into `data` (its values win) and is cleared; the type is
    /// `Opaque` unless given.
    fn apply_defaults(&mut self) {
        for (key, value) in std::mem::take(&mut self.string_data) {
            self.data.insert(key, value.as_str().into());
        }
        if self.type_.is_empty() {
            self.type_ = secret_types::OPAQUE.to_owned();
        }
    }
}

/// The causes for the keys `secret`'s type requires (Kubernetes' `ValidateSecret`).
fn validate_type(secret: &Secret, data: &FieldPath) -> Vec<FieldCause> {
    let has = |key: &str| secret.data.contains_key(key);
    let required = |key: &str| FieldCause::required(&data.key(key), "");
    let json_key = |key: &str| match secret.data.get(key) {
        None => vec![required(key)],
        Some(v) => match serde_json::from_slice::<Value>(v.as_bytes()) {
            Ok(_) => Vec::new(),
            Err(e) => vec![FieldCause::invalid(
                &data.key(key),
                "<secret contents redacted>",
                &e.to_string(),
            )],
        },
    };
    match secret.type_.as_str() {
        secret_types::SERVICE_ACCOUNT_TOKEN => {
            let named = secret
                .metadata
                .annotations
                .get(SERVICE_ACCOUNT_NAME)
                .is_some_and(|n| !n.is_empty());
            if named {
                Vec::new()
            } else {
                vec![FieldCause::required(
                    &FieldPath::new("metadata")
                        .child("annotations")
                        .key(SERVICE_ACCOUNT_NAME),
                    "",
                )]
            }
        }
        secret_types::DOCKERCFG => json_key(".dockercfg"),
        secret_types::DOCKER_CONFIG_JSON => json_key(".dockerconfigjson"),
        secret_types::BASIC_AUTH if !has("username") && !has("password") => {
            vec![required("username"), required("password")]
        }
        secret_types::SSH_AUTH
            if secret
                .data
                .get("ssh-privatekey")
                .is_none_or(|v| v.is_empty()) =>
        {
            vec![required("ssh-privatekey")]
        }
        secret_types::TLS => ["tls.crt", "tls.key"]
            .into_iter()
            .filter(|k| !has(k))
            .map(required)
            .collect(),
        _ => Vec::new(),
    }
}

impl Validate for Secret {
    fn validate(&self) -> Vec<FieldCause> {
        let mut errs = validate_object_meta(&self.metadata, NameRule::Dns1123Subdomain);
        let data = FieldPath::new("data");
        let (mut seen, mut size) = (Vec::new(), 0);
        let entries = self.data.iter().map(|(k, v)| (k.as_str(), v.len()));
        errs.extend(validate_data_keys(&data, entries, &mut seen, &mut size));
        if size > MAX_DATA_SIZE {
            errs.push(FieldCause::too_long(&data, MAX_DATA_SIZE));
        }
        errs.extend(validate_type(self, &data));
        errs
    }

    fn validate_update(&self, old: &Self) -> Vec<FieldCause> {
        let mut errs = self.validate();
        errs.extend(validate_object_meta_update(&self.metadata, &old.metadata));
        if self.type_ != old.type_ {
            errs.push(FieldCause::invalid(
                &FieldPath::new("type"),
                &self.type_,
                IMMUTABLE,
            ));
        }
        errs.extend(validate_immutable(
            old.immutable,
            self.immutable,
            &[("data", self.data != old.data)],
        ));
        errs
    }
}
