#![allow(clippy::unwrap_used)]
use serde_json::json;

use super::*;

fn causes_of(schema: &Value, value: &Value, old: Option<&Value>) -> Vec<FieldCause> {
    let rules = Rules::compile(schema);
    let mut out = Vec::new();
    rules.validate(schema, value, old, &mut out);
    out
}

fn check_rules(rules: Value) -> Vec<FieldCause> {
    let mut out = Vec::new();
    check(
        &rules,
        &FieldPath::new("schema.x-kubernetes-validations"),
        &mut out,
    );
    out
}

#[test]
fn rules_are_checked_when_the_crd_is_written() {
    let fine = [
        "self.minReplicas <= self.maxReplicas",
        "!has(self.tls) || self.port == 443",
        "self.all(x, x.matches('^[a-z]+$'))",
        "self.exists_one(r, r.primary)",
        "self.map(x, x.name).isSorted()",
        "self.name.lowerAscii() == self.name && self.path.split('/').size() <= 4",
        "size(self.items) <= 5 && self.weights.sum() == 100",
        "self == oldSelf",
        "duration(self.timeout) <= duration('1h')",
        "self.filter(x, x.startsWith('a')).size() > 0",
    ];
    for rule in fine {
        let causes = check_rules(json!([{"rule": rule}]));
        assert!(causes.is_empty(), "{rule}: {causes:?}");
    }
    let cases = [
        (
            json!([{"rule": "self.x >"}]),
            "[0].rule",
            "compilation failed",
        ),
        (
            json!([{"rule": "isURL(self.endpoint)"}]),
            "[0].rule",
            "undeclared reference to 'isURL'",
        ),
        (
            json!([{"rule": "quantity(self.size).isGreaterThan(quantity('1Gi'))"}]),
            "[0].rule",
            "undeclared reference to 'isGreaterThan'",
        ),
        (
            json!([{"message": "no rule"}]),
            "[0].rule",
            "Required value",
        ),
        (
            json!([{"rule": "true", "reason": "FieldValueBogus"}]),
            "[0].reason",
            "Unsupported value: \"FieldValueBogus\"",
        ),
        (
            json!([{"rule": "true", "messageExpression": "'a' +"}]),
            "[0].messageExpression",
            "compilation failed",
        ),
        (json!({"rule": "true"}), "", "must be a list of rules"),
    ];
    for (rules, field, message) in cases {
        let causes = check_rules(rules.clone());
        assert_eq!(causes.len(), 1, "{rules}: {causes:?}");
        assert_eq!(
            causes[0].field,
            format!("schema.x-kubernetes-validations{field}"),
            "{rules}"
        );
        assert!(
            causes[0].message.contains(message),
            "{rules}: {}",
            causes[0].message
        );
    }
}

fn scaler_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "x-kubernetes-validations": [
                    {"rule": "self.minReplicas <= self.maxReplicas",
                     "message": "minReplicas must not exceed maxReplicas"},
                    {"rule": "!has(self.ratio) || self.ratio < 1.5",
                     "messageExpression": "'ratio ' + string(self.ratio) + ' is too high'",
                     "fieldPath": ".ratio"},
                    {"rule": "self.mode == oldSelf.mode", "message": "mode is immutable",
                     "reason": "FieldValueForbidden"},
                ],
                "properties": {
                    "minReplicas": {"type": "integer"},
                    "maxReplicas": {"type": "integer"},
                    "ratio": {"type": "number"},
                    "mode": {"type": "string"},
                    "names": {
                        "type": "array",
                        "items": {
                            "type": "string",
                            "x-kubernetes-validations": [{"rule": "self.matches('^[a-z]+$')"}],
                        },
                    },
                    "ports": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["name"],
                        "items": {
                            "type": "object",
                            "properties": {"name": {"type": "string"}, "port": {"type": "integer"}},
                            "x-kubernetes-validations": [
                                {"rule": "self.port >= oldSelf.port", "message": "a port may only grow"},
                            ],
                        },
                    },
                },
            },
        },
    })
}

#[test]
fn rules_are_evaluated_on_self_and_old_self() {
    let schema = scaler_schema();
    let good = json!({"spec": {"minReplicas": 1, "maxReplicas": 3, "ratio": 1, "mode": "a",
        "names": ["web", "db"], "ports": [{"name": "http", "port": 80}]}});
    assert_eq!(causes_of(&schema, &good, None), vec![]);
    // A whole number in a `number` field is a double: `1 < 1.5` compares.
    assert_eq!(causes_of(&schema, &good, Some(&good)), vec![]);

    let bad = json!({"spec": {"minReplicas": 5, "maxReplicas": 3, "ratio": 2.5, "mode": "b",
        "names": ["web", "DB"], "ports": [{"name": "http", "port": 70}, {"name": "new", "port": 1}]}});
    let causes = causes_of(&schema, &bad, Some(&good));
    let got: Vec<(&str, CauseReason, &str)> = causes
        .iter()
        .map(|c| (c.field.as_str(), c.reason, c.message.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "spec",
                CauseReason::Invalid,
                "Invalid value: \"object\": minReplicas must not exceed maxReplicas"
            ),
            (
                "spec.ratio",
                CauseReason::Invalid,
                "Invalid value: \"object\": ratio 2.5 is too high"
            ),
            (
                "spec",
                CauseReason::Forbidden,
                "Forbidden: mode is immutable"
            ),
            (
                "spec.names[1]",
                CauseReason::Invalid,
                "Invalid value: \"string\": failed rule: self.matches('^[a-z]+$')"
            ),
            // Only the item with an old counterpart (same key) is held to the old one.
            (
                "spec.ports[0]",
                CauseReason::Invalid,
                "Invalid value: \"object\": a port may only grow"
            ),
        ]
    );
    // On create, transition rules do not apply.
    let created = causes_of(&schema, &bad, None);
    assert!(
        !created
            .iter()
            .any(|c| c.message.contains("immutable") || c.message.contains("grow")),
        "{created:?}"
    );
}

#[test]
fn a_missing_field_is_an_evaluation_error_not_a_pass() {
    let schema = json!({
        "type": "object",
        "properties": {"spec": {
            "type": "object",
            "properties": {"a": {"type": "integer"}},
            "x-kubernetes-validations": [{"rule": "self.a > 0"}],
        }},
    });
    let causes = causes_of(&schema, &json!({"spec": {}}), None);
    assert_eq!(causes.len(), 1, "{causes:?}");
    assert!(
        causes[0]
            .message
            .contains("failed rule: self.a > 0: evaluation error"),
        "{}",
        causes[0].message
    );
    assert!(causes_of(&schema, &json!({"spec": {"a": 1}}), None).is_empty());
}

#[test]
fn extensions_behave_as_kubernetes_documents_them() {
    let schema = json!({"type": "object", "properties": {"v": {"type": "string"}}});
    let cases = [
        ("'Hello'.lowerAscii() == 'hello'", true),
        ("'Hello'.upperAscii() == 'HELLO'", true),
        ("'  x '.trim() == 'x'", true),
        ("'héllo'.indexOf('l') == 2", true),
        ("'hello'.lastIndexOf('l') == 3", true),
        ("'hello'.indexOf('z') == -1", true),
        ("'a/b/c'.split('/') == ['a', 'b', 'c']", true),
        ("['a', 'b'].join('-') == 'a-b'", true),
        ("['a', 'b'].join() == 'ab'", true),
        ("'aXbX'.replace('X', '.') == 'a.b.'", true),
        ("[1, 2, 2, 3].isSorted()", true),
        ("[3, 1].isSorted()", false),
        ("[1, 2, 3].sum() == 6", true),
        ("[1.5, 2.5].sum() == 4.0", true),
        ("'abc'.matches('^a.c$')", true),
        ("'abc'.matches('^b')", false),
    ];
    for (rule, want) in cases {
        let schema = json!({
            "type": "object",
            "properties": {"v": {"type": "string"}},
            "x-kubernetes-validations": [{"rule": rule}],
        });
        let causes = causes_of(&schema, &json!({"v": "x"}), None);
        assert_eq!(causes.is_empty(), want, "{rule}: {causes:?}");
    }
    let _ = schema;
}
