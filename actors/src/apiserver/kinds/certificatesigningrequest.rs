//! CertificateSigningRequests (`certificates.k8s.io/v1`, cluster-scoped), as Kubernetes'
//! `pkg/registry/certificates/certificates/strategy.go` keeps them:
//! - on create the API server records the requester in `spec.username`, `groups` (and
//!   `uid`, `extra`), whatever the body said ([`Strategy::requested_by`]), and clears the
//!   status;
//! - the spec never changes after create, and an update of the object itself keeps the
//!   status: conditions come through `approval`, the certificate through `status`;
//! - validation: the request parses as a PEM PKCS#10 request whose signature holds,
//!   usages are given, known and not repeated, the signer name is `domain/path`,
//!   `expirationSeconds` is at least 600, conditions are well-formed (Approved and Denied
//!   exclusive, `True` only), and an update never removes an Approved, Denied or Failed
//!   condition nor replaces an issued certificate;
//! - Kubernetes' printer: NAME, AGE, SIGNERNAME, REQUESTOR, REQUESTEDDURATION, CONDITION.

use std::collections::BTreeSet;

use rudder_protocol::resources::{
    CertificateSigningRequest, Time, CSR_APPROVED, CSR_DENIED, CSR_FAILED, KEY_USAGES,
};
use serde_json::{json, Value};

use super::super::defaults::Defaults;
use super::super::request::UserInfo;
use super::super::table::{col, human_duration, since, Column, Row, AGE, NAME};
use super::super::validation::{
    is_dns1123_label, is_dns1123_subdomain, validate_object_meta, validate_object_meta_update,
    BadValue, FieldCause, FieldPath, NameRule, Validate,
};
use super::super::x509;
use super::Strategy;

impl Strategy for CertificateSigningRequest {
    const COLUMNS: &'static [Column] = &[
        NAME,
        AGE,
        col("SignerName", "string", "The signer the request asks."),
        col("Requestor", "string", "Who made the request."),
        col(
            "RequestedDuration",
            "string",
            "The validity the request asks for.",
        ),
        col("Condition", "string", "Approval and issuance."),
    ];

    fn example(_namespace: &str) -> Value {
        // A fixed request would do, but one made here cannot go stale.
        let request = x509::new_client_request("example", &[])
            .map(|(_, csr)| csr)
            .unwrap_or_default();
        json!({"spec": {
            "request": base64_of(&request),
            "signerName": rudder_protocol::resources::KUBE_APISERVER_CLIENT_SIGNER,
            "usages": ["digital signature", "client auth"],
        }})
    }

    fn cells(&self, now: Time) -> Row {
        Row::new(vec![
            json!(self.metadata.name),
            json!(since(self.metadata.creation_timestamp, now)),
            json!(self.spec.signer_name),
            json!(self.spec.username),
            json!(self
                .spec
                .expiration_seconds
                .map_or("<none>".to_owned(), |s| human_duration(i64::from(s)))),
            json!(condition_summary(self)),
        ])
    }

    fn prepare_create(obj: &mut Self, _admission: &super::Admission) {
        obj.status = Default::default();
    }

    fn prepare_update(new: &mut Value, old: &Value) {
        match old.get("spec") {
            Some(spec) => new["spec"] = spec.clone(),
            None => {
                if let Some(o) = new.as_object_mut() {
                    o.remove("spec");
                }
            }
        }
    }

    fn requested_by(obj: &mut Value, user: &UserInfo) {
        if !obj["spec"].is_object() {
            return;
        }
        let spec = &mut obj["spec"];
        spec["username"] = json!(user.name);
        spec["groups"] = json!(user.groups);
        if let Some(s) = spec.as_object_mut() {
            if user.uid.is_empty() {
                s.remove("uid");
            } else {
                s.insert("uid".into(), json!(user.uid));
            }
            if user.extra.is_empty() {
                s.remove("extra");
            } else {
                s.insert("extra".into(), json!(user.extra));
            }
        }
    }
}

fn base64_of(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// The CONDITION cell: the condition types joined by commas (`Approved,Issued` once a
/// certificate is there), `Pending` when there is none.
fn condition_summary(csr: &CertificateSigningRequest) -> String {
    let mut parts: Vec<&str> = csr
        .status
        .conditions
        .iter()
        .map(|c| c.type_.as_str())
        .collect();
    if !csr.status.certificate.is_empty() {
        parts.push("Issued");
    }
    if parts.is_empty() {
        "Pending".to_owned()
    } else {
        parts.join(",")
    }
}

impl Defaults for CertificateSigningRequest {
    fn apply_defaults(&mut self) {}
}

/// Go's `%#v` of a byte slice, as Kubernetes prints the value of a bad `spec.request`.
fn go_bytes(b: &[u8]) -> BadValue {
    let inner: Vec<String> = b.iter().map(|x| format!("0x{x:x}")).collect();
    BadValue::Raw(format!("[]byte{{{}}}", inner.join(", ")))
}

/// Kubernetes' `ValidateSignerName`.
fn validate_signer_name(path: &FieldPath, name: &str) -> Vec<FieldCause> {
    if name.is_empty() {
        return vec![FieldCause::required(path, "")];
    }
    let Some((domain, rest)) = name.split_once('/').filter(|(_, r)| !r.contains('/')) else {
        return vec![FieldCause::invalid(
            path,
            name,
            "must be a fully qualified domain and path of the form 'example.com/signer-name'",
        )];
    };
    let mut errs = Vec::new();
    let labels: Vec<&str> = domain.split('.').collect();
    if let Some((label, why)) = labels
        .iter()
        .find_map(|l| is_dns1123_label(l).into_iter().next().map(|e| (*l, e)))
    {
        errs.push(FieldCause::invalid(
            path,
            domain,
            &format!("validating label \"{label}\": {why}"),
        ));
    }
    if labels.len() < 2 {
        errs.push(FieldCause::invalid(
            path,
            domain,
            "should be a domain with at least two segments separated by dots",
        ));
    }
    if let Some((label, why)) = rest
        .split('.')
        .find_map(|l| is_dns1123_subdomain(l).into_iter().next().map(|e| (l, e)))
    {
        errs.push(FieldCause::invalid(
            path,
            rest,
            &format!("validating label \"{label}\": {why}"),
        ));
    }
    if name.len() > 253 + 253 + 63 + 2 {
        errs.push(FieldCause::too_long(path, 253 + 253 + 63 + 2));
    }
    errs
}

impl Validate for CertificateSigningRequest {
    fn validate(&self) -> Vec<FieldCause> {
        let mut errs = validate_object_meta(&self.metadata, NameRule::PathSegment);
        let spec = FieldPath::new("spec");
        if let Err(why) = x509::parse_csr_pem(self.spec.request.as_bytes()) {
            errs.push(FieldCause::invalid(
                &spec.child("request"),
                go_bytes(self.spec.request.as_bytes()),
                &why,
            ));
        }
        let usages = spec.child("usages");
        if self.spec.usages.is_empty() {
            errs.push(FieldCause::required(&usages, ""));
        }
        let mut seen = BTreeSet::new();
        for (i, u) in self.spec.usages.iter().enumerate() {
            if !KEY_USAGES.contains(&u.as_str()) {
                errs.push(FieldCause::not_supported(&usages.index(i), u, KEY_USAGES));
            }
            if !seen.insert(u) {
                errs.push(FieldCause::duplicate(&usages.index(i), u));
            }
        }
        if self.spec.signer_name == "kubernetes.io/legacy-unknown" {
            errs.push(FieldCause::invalid(
                &spec.child("signerName"),
                &self.spec.signer_name,
                "the legacy signerName is not allowed via this API version",
            ));
        } else {
            errs.extend(validate_signer_name(
                &spec.child("signerName"),
                &self.spec.signer_name,
            ));
        }
        if let Some(s) = self.spec.expiration_seconds.filter(|s| *s < 600) {
            errs.push(FieldCause::invalid(
                &spec.child("expirationSeconds"),
                s,
                "may not specify a duration less than 600 seconds (10 minutes)",
            ));
        }
        let conditions = FieldPath::new("status").child("conditions");
        let mut types = BTreeSet::new();
        let (mut approved, mut denied) = (false, false);
        for (i, c) in self.status.conditions.iter().enumerate() {
            let at = conditions.index(i);
            if c.type_.is_empty() {
                errs.push(FieldCause::required(&at.child("type"), ""));
            }
            let true_only = [CSR_APPROVED, CSR_DENIED, CSR_FAILED].contains(&c.type_.as_str());
            let allowed: &[&str] = if true_only {
                &["True"]
            } else {
                &["False", "True", "Unknown"]
            };
            if c.status.is_empty() {
                errs.push(FieldCause::required(&at.child("status"), ""));
            } else if !allowed.contains(&c.status.as_str()) {
                errs.push(FieldCause::not_supported(
                    &at.child("status"),
                    &c.status,
                    allowed,
                ));
            }
            approved |= c.type_ == CSR_APPROVED;
            denied |= c.type_ == CSR_DENIED;
            if approved && denied && (c.type_ == CSR_APPROVED || c.type_ == CSR_DENIED) {
                errs.push(FieldCause::invalid(
                    &at.child("type"),
                    &c.type_,
                    "Approved and Denied conditions are mutually exclusive",
                ));
            }
            if !types.insert(c.type_.as_str()) {
                errs.push(FieldCause::duplicate(&at.child("type"), &c.type_));
            }
        }
        errs
    }

    fn validate_update(&self, old: &Self) -> Vec<FieldCause> {
        let mut errs = self.validate();
        errs.extend(validate_object_meta_update(&self.metadata, &old.metadata));
        let conditions = FieldPath::new("status").child("conditions");
        for t in [CSR_APPROVED, CSR_DENIED, CSR_FAILED] {
            let count = |csr: &Self| {
                csr.status
                    .conditions
                    .iter()
                    .filter(|c| c.type_ == t)
                    .count()
            };
            if count(self) < count(old) {
                errs.push(FieldCause::forbidden(
                    &conditions,
                    &format!("updates may not remove a condition of type \"{t}\""),
                ));
            }
        }
        if !old.status.certificate.is_empty() && self.status.certificate != old.status.certificate {
            errs.push(FieldCause::forbidden(
                &FieldPath::new("status").child("certificate"),
                "updates may not modify existing certificate content",
            ));
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::super::validation::testutil::assert_causes;
    use super::super::super::validation::CauseReason;
    use super::*;

    fn csr(spec: Value) -> CertificateSigningRequest {
        let mut v = CertificateSigningRequest::example("");
        if let (Some(o), Some(extra)) = (v["spec"].as_object_mut(), spec.as_object()) {
            for (k, x) in extra {
                o.insert(k.clone(), x.clone());
            }
        }
        v["metadata"] = json!({"name": "r"});
        serde_json::from_value(v).unwrap()
    }

    /// A named case: the spec fields set, the causes expected.
    type Case = (&'static str, Value, &'static [(&'static str, CauseReason)]);

    #[test]
    fn validation_table() {
        let cases: &[Case] = &[
            ("valid", json!({}), &[]),
            (
                "not a request",
                json!({"request": base64_of("hello")}),
                &[("spec.request", CauseReason::Invalid)],
            ),
            (
                "no usages",
                json!({"usages": []}),
                &[("spec.usages", CauseReason::Required)],
            ),
            (
                "unknown and repeated usages",
                json!({"usages": ["client auth", "flying", "client auth"]}),
                &[
                    ("spec.usages[1]", CauseReason::NotSupported),
                    ("spec.usages[2]", CauseReason::Duplicate),
                ],
            ),
            (
                "signer without a path",
                json!({"signerName": "example.com"}),
                &[("spec.signerName", CauseReason::Invalid)],
            ),
            (
                "signer domain of one label",
                json!({"signerName": "example/signer"}),
                &[("spec.signerName", CauseReason::Invalid)],
            ),
            (
                "too short",
                json!({"expirationSeconds": 599}),
                &[("spec.expirationSeconds", CauseReason::Invalid)],
            ),
        ];
        for (name, spec, want) in cases {
            assert_causes(name, &csr(spec.clone()).validate(), want);
        }
    }

    #[test]
    fn conditions_are_exclusive_and_never_removed() {
        let mut old = csr(json!({}));
        old.status.conditions =
            vec![serde_json::from_value(json!({"type": "Approved", "status": "True"})).unwrap()];
        let mut both = old.clone();
        both.status
            .conditions
            .push(serde_json::from_value(json!({"type": "Denied", "status": "True"})).unwrap());
        assert_causes(
            "both",
            &both.validate(),
            &[("status.conditions[1].type", CauseReason::Invalid)],
        );
        let removed = csr(json!({}));
        assert_causes(
            "removed",
            &removed.validate_update(&old),
            &[("status.conditions", CauseReason::Forbidden)],
        );
        let mut bad_status = old.clone();
        bad_status.status.conditions[0].status = "False".into();
        assert_causes(
            "False",
            &bad_status.validate(),
            &[("status.conditions[0].status", CauseReason::NotSupported)],
        );
    }

    #[test]
    fn the_requester_is_recorded_and_the_summary_printed() {
        let mut v =
            json!({"spec": {"username": "mallory", "uid": "x", "groups": ["system:masters"]}});
        let user = UserInfo {
            name: "alice".into(),
            groups: vec!["dev".into(), "system:authenticated".into()],
            ..UserInfo::default()
        };
        CertificateSigningRequest::requested_by(&mut v, &user);
        assert_eq!(
            v["spec"],
            json!({"username": "alice", "groups": ["dev", "system:authenticated"]})
        );
        let mut c = csr(json!({}));
        assert_eq!(condition_summary(&c), "Pending");
        c.status.conditions =
            vec![serde_json::from_value(json!({"type": "Approved", "status": "True"})).unwrap()];
        c.status.certificate = "x".into();
        assert_eq!(condition_summary(&c), "Approved,Issued");
    }
}
