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
        &json!({}),
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
        "isURL(self.endpoint) && url(self.endpoint).getScheme() == 'https'",
        "quantity(self.size).isGreaterThan(quantity('1Gi'))",
        "self.type == 'IPAddress' ? isIP(self.value) : true",
        "cidr(self.range).containsIP(self.address)",
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
            json!([{"rule": "self.name.find('[0-9]+') != ''"}]),
            "[0].rule",
            "undeclared reference to 'find'",
        ),
        (
            json!([{"rule": "format.dns1123Label().validate(self.name).hasValue()"}]),
            "[0].rule",
            "undeclared reference to 'dns1123Label'",
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

/// Whether `rule` holds for `{"v": value}` (an evaluation error counts as not holding).
fn holds(rule: &str, value: &str) -> bool {
    let schema = json!({
        "type": "object",
        "properties": {"v": {"type": "string"}},
        "x-kubernetes-validations": [{"rule": rule}],
    });
    assert!(
        check_rules(schema["x-kubernetes-validations"].clone()).is_empty(),
        "{rule}"
    );
    causes_of(&schema, &json!({"v": value}), None).is_empty()
}

#[test]
fn kubernetes_ip_cidr_url_and_quantity_libraries() {
    let cases = [
        // IP addresses, as Go's netip with Kubernetes' restrictions.
        ("isIP(self.v)", "10.0.0.1", true),
        ("isIP(self.v)", "fe80::1", true),
        ("isIP(self.v)", "10.0.0.01", false),
        ("isIP(self.v)", "::ffff:10.0.0.1", false),
        ("isIP(self.v)", "fe80::1%eth0", false),
        ("isIP(self.v)", "example.com", false),
        ("ip(self.v).family() == 6", "2001:db8::1", true),
        (
            "string(ip(self.v)) == '2001:db8::1'",
            "2001:DB8:0:0::1",
            true,
        ),
        ("ip(self.v).isLoopback()", "127.0.0.2", true),
        ("ip(self.v).isUnspecified()", "::", true),
        ("ip(self.v).isLinkLocalUnicast()", "169.254.3.4", true),
        ("ip(self.v).isLinkLocalMulticast()", "ff02::2", true),
        ("ip(self.v).isGlobalUnicast()", "192.168.1.1", true),
        ("ip(self.v).isGlobalUnicast()", "255.255.255.255", false),
        ("ip(self.v).family() == 4", "nonsense", false),
        // CIDRs.
        ("isCIDR(self.v)", "10.0.0.0/8", true),
        ("isCIDR(self.v)", "10.0.0.0/33", false),
        ("isCIDR(self.v)", "10.0.0.0", false),
        ("cidr(self.v).containsIP('10.1.2.3')", "10.0.0.0/8", true),
        (
            "cidr(self.v).containsIP(ip('11.0.0.1'))",
            "10.0.0.0/8",
            false,
        ),
        (
            "cidr(self.v).containsCIDR('10.1.0.0/16')",
            "10.0.0.0/8",
            true,
        ),
        (
            "cidr(self.v).containsCIDR('10.0.0.0/7')",
            "10.0.0.0/8",
            false,
        ),
        ("cidr(self.v).prefixLength() == 24", "192.168.7.9/24", true),
        (
            "string(cidr(self.v).masked()) == '192.168.7.0/24'",
            "192.168.7.9/24",
            true,
        ),
        (
            "string(cidr(self.v).ip()) == '192.168.7.9'",
            "192.168.7.9/24",
            true,
        ),
        // URLs, as Go's url.ParseRequestURI.
        (
            "isURL(self.v)",
            "https://example.com:8443/a%20b?x=1&x=2&y",
            true,
        ),
        ("isURL(self.v)", "/just/a/path", true),
        ("isURL(self.v)", "example.com/no/scheme", false),
        ("isURL(self.v)", "https://exa mple.com/", false),
        (
            "url(self.v).getScheme() == 'https'",
            "https://example.com",
            true,
        ),
        (
            "url(self.v).getHost() == '[::1]:80'",
            "http://[::1]:80/x",
            true,
        ),
        (
            "url(self.v).getHostname() == '::1'",
            "http://[::1]:80/x",
            true,
        ),
        (
            "url(self.v).getPort() == '443'",
            "https://user@example.com:443",
            true,
        ),
        ("url(self.v).getPort() == ''", "https://example.com/", true),
        (
            "url(self.v).getEscapedPath() == '/a%20b'",
            "https://h/a%20b?q",
            true,
        ),
        (
            "url(self.v).getQuery()['x'] == ['1', '2']",
            "https://h/?x=1&x=2",
            true,
        ),
        (
            "url(self.v).getQuery()['k'][0] == 'a b'",
            "https://h/?k=a+b",
            true,
        ),
        // Quantities.
        ("isQuantity(self.v)", "1.5Gi", true),
        ("isQuantity(self.v)", "1.5GB", false),
        (
            "quantity(self.v).isGreaterThan(quantity('1Gi'))",
            "1025Mi",
            true,
        ),
        ("quantity(self.v).isLessThan(quantity('1k'))", "999", true),
        (
            "quantity(self.v).compareTo(quantity('1000m')) == 0",
            "1",
            true,
        ),
        ("quantity(self.v).isInteger()", "1k", true),
        ("quantity(self.v).isInteger()", "1500m", false),
        ("quantity(self.v).asInteger() == 2048", "2Ki", true),
        (
            "quantity(self.v).asApproximateFloat() == 0.25",
            "250m",
            true,
        ),
        ("quantity(self.v).sign() == -1", "-3", true),
        (
            "quantity(self.v).add(quantity('500m')).compareTo(quantity('2')) == 0",
            "1500m",
            true,
        ),
        (
            "quantity(self.v).sub(1).isLessThan(quantity('1'))",
            "1500m",
            true,
        ),
        ("quantity(self.v).asInteger() > 0", "1500m", false),
    ];
    for (rule, value, want) in cases {
        assert_eq!(holds(rule, value), want, "{rule} with {value:?}");
    }
}

#[test]
fn optional_old_self_runs_on_creates_with_an_optional() {
    let schema = json!({
        "type": "object",
        "properties": {"v": {
            "type": "string",
            "x-kubernetes-validations": [
                {"rule": "oldSelf.hasValue() || self.startsWith('new-')",
                 "optionalOldSelf": true, "message": "new values start with new-"},
                {"rule": "oldSelf.orValue('') == '' || self.size() >= oldSelf.value().size()",
                 "optionalOldSelf": true, "message": "may only grow"},
                {"rule": "self == oldSelf", "message": "plain transition rule"},
            ],
        }},
    });
    let messages = |value: &str, old: Option<&str>| -> Vec<String> {
        let old = old.map(|o| json!({"v": o}));
        causes_of(&schema, &json!({"v": value}), old.as_ref())
            .into_iter()
            // Without the `Invalid value: "string": ` prefix.
            .map(|c| {
                c.message
                    .rsplit_once("\": ")
                    .map_or(c.message.clone(), |(_, m)| m.to_owned())
            })
            .collect()
    };
    assert_eq!(messages("new-a", None), Vec::<String>::new());
    assert_eq!(
        messages("a", None),
        ["new values start with new-"],
        "an optionalOldSelf rule runs on a create; a plain transition rule does not"
    );
    assert_eq!(messages("new-a", Some("new-a")), Vec::<String>::new());
    let shrunk = messages("new", Some("new-a"));
    assert!(
        shrunk.contains(&"may only grow".to_owned())
            && shrunk.contains(&"plain transition rule".to_owned()),
        "{shrunk:?}"
    );
    // value() of none is an evaluation error, not a pass.
    let schema = json!({"type": "object", "properties": {"v": {"type": "string",
        "x-kubernetes-validations": [{"rule": "oldSelf.value() == self", "optionalOldSelf": true}]}}});
    assert_eq!(causes_of(&schema, &json!({"v": "a"}), None).len(), 1);
}
