//! PriorityClasses (`scheduling.k8s.io/v1`, cluster-scoped): names reserved for the two
//! system classes (created at bootstrap), the user limit on values, a value and a
//! preemption policy that never change, and Kubernetes' printer (VALUE, GLOBAL-DEFAULT,
//! AGE, PREEMPTIONPOLICY).

use rudder_protocol::resources::{
    PreemptionPolicy, PriorityClass, Time, HIGHEST_USER_DEFINABLE_PRIORITY,
    SYSTEM_PRIORITY_CLASSES, SYSTEM_PRIORITY_CLASS_PREFIX,
};
use serde_json::{json, Value};

use super::super::defaults::Defaults;
use super::super::table::{col, since, Column, Row, AGE, NAME};
use super::super::validation::{
    validate_object_meta, validate_object_meta_update, FieldCause, FieldPath, NameRule, Validate,
    IMMUTABLE,
};
use super::Strategy;

impl Strategy for PriorityClass {
    const COLUMNS: &'static [Column] = &[
        NAME,
        col(
            "Value",
            "integer",
            "The priority of the pods of this class.",
        ),
        col(
            "Global-Default",
            "boolean",
            "Whether pods that name no class get this one.",
        ),
        AGE,
        col(
            "PreemptionPolicy",
            "string",
            "Whether pods of this class may preempt lower-priority pods.",
        ),
    ];

    fn example(_namespace: &str) -> Value {
        json!({"value": 1000, "description": "An example class."})
    }

    fn cells(&self, now: Time) -> Row {
        Row::new(vec![
            json!(self.metadata.name),
            json!(self.value),
            json!(self.global_default),
            json!(since(self.metadata.creation_timestamp, now)),
            json!(self
                .preemption_policy
                .map(|p| p.as_str())
                .unwrap_or_default()),
        ])
    }
}

impl Defaults for PriorityClass {
    fn apply_defaults(&mut self) {
        self.preemption_policy
            .get_or_insert(PreemptionPolicy::PreemptLowerPriority);
    }
}

/// Why `pc` may not use a `system-` name, or `None` when it is a known system class
/// with its value (Kubernetes' `IsKnownSystemPriorityClass`).
fn system_class_error(pc: &PriorityClass) -> Option<String> {
    let name = &pc.metadata.name;
    match SYSTEM_PRIORITY_CLASSES.iter().find(|(n, ..)| n == name) {
        None => Some(format!("{name} is not a known system priority class")),
        Some((_, value, _)) if *value != pc.value => {
            Some(format!("value of {name} PriorityClass must be {value}"))
        }
        Some(_) if pc.global_default => Some(format!(
            "globalDefault of {name} PriorityClass must be false"
        )),
        Some(_) => None,
    }
}

impl Validate for PriorityClass {
    fn validate(&self) -> Vec<FieldCause> {
        let mut errs = validate_object_meta(&self.metadata, NameRule::Dns1123Subdomain);
        if self.metadata.name.starts_with(SYSTEM_PRIORITY_CLASS_PREFIX) {
            if let Some(why) = system_class_error(self) {
                errs.push(FieldCause::forbidden(
                    &FieldPath::new("metadata").child("name"),
                    &format!(
                        "priority class names with '{SYSTEM_PRIORITY_CLASS_PREFIX}' prefix are reserved for system use only. error: {why}"
                    ),
                ));
            }
        } else if self.value > HIGHEST_USER_DEFINABLE_PRIORITY {
            errs.push(FieldCause::forbidden(
                &FieldPath::new("value"),
                &format!(
                    "maximum allowed value of a user defined priority is {HIGHEST_USER_DEFINABLE_PRIORITY}"
                ),
            ));
        }
        errs
    }

    fn validate_update(&self, old: &Self) -> Vec<FieldCause> {
        let mut errs = self.validate();
        errs.extend(validate_object_meta_update(&self.metadata, &old.metadata));
        if self.value != old.value {
            errs.push(FieldCause::forbidden(
                &FieldPath::new("value"),
                "may not be changed in an update.",
            ));
        }
        if self.preemption_policy != old.preemption_policy {
            errs.push(FieldCause::invalid(
                &FieldPath::new("preemptionPolicy"),
                self.preemption_policy.map(|p| p.as_str().to_owned()),
                IMMUTABLE,
            ));
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::super::for_kind;
    use super::*;

    fn class(name: &str, value: i32) -> Value {
        let mut v = for_kind("PriorityClass").expect("served").example(name, "");
        v["value"] = json!(value);
        v
    }

    #[test]
    fn names_values_and_updates_as_kubernetes_checks_them() {
        let kind = for_kind("PriorityClass").expect("served");
        let table: &[(&str, Value, Option<&str>)] = &[
            ("user class", class("high", 1_000_000), None),
            ("user maximum", class("max", HIGHEST_USER_DEFINABLE_PRIORITY), None),
            (
                "above the user maximum",
                class("huge", HIGHEST_USER_DEFINABLE_PRIORITY + 1),
                Some("value: Forbidden: maximum allowed value of a user defined priority is 1000000000"),
            ),
            ("system class", class("system-cluster-critical", 2_000_000_000), None),
            (
                "system class with another value",
                class("system-node-critical", 5),
                Some("must be 2000001000"),
            ),
            (
                "unknown system name",
                class("system-mine", 5),
                Some("system-mine is not a known system priority class"),
            ),
        ];
        for (name, obj, want) in table {
            let got = kind.typed(obj.clone(), None);
            match want {
                None => {
                    let out = got.unwrap_or_else(|e| panic!("{name}: {}", e.message));
                    assert_eq!(out["preemptionPolicy"], "PreemptLowerPriority", "{name}");
                }
                Some(want) => {
                    let e = got.expect_err(name);
                    assert_eq!(e.code, 422, "{name}");
                    assert!(e.message.contains(want), "{name}: {}", e.message);
                }
            }
        }
        let old = kind.typed(class("high", 10), None).expect("valid");
        let e = kind
            .typed(class("high", 11), Some(&old))
            .expect_err("value changed");
        assert!(
            e.message
                .contains("value: Forbidden: may not be changed in an update."),
            "{}",
            e.message
        );
    }
}
