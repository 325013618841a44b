//! String format checks shared by the validation rules, with apimachinery's wording:
//! DNS-1123 labels and subdomains, DNS-1035 labels, qualified names (label keys), label
//! values, port names and numbers, environment variable names, IPs and CIDRs.
//!
//! Each check returns the list of problems (empty when the value is valid), so the caller
//! can attach them to whichever field it is checking. The regular expressions quoted in
//! the messages are Kubernetes' own; the matching is done by hand, without a regex crate.

use std::net::IpAddr;

/// The longest DNS-1123 or DNS-1035 label.
pub(crate) const DNS_LABEL_MAX: usize = 63;
/// The longest DNS-1123 subdomain.
pub(crate) const DNS_SUBDOMAIN_MAX: usize = 253;
/// The longest name part of a qualified name, and the longest label value.
pub(crate) const QUALIFIED_NAME_MAX: usize = 63;

const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const DNS1035_LABEL_FMT: &str = "[a-z]([-a-z0-9]*[a-z0-9])?";
const DNS1035_LABEL_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character";
const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_NAME_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const HTTP_HEADER_FMT: &str = "[-A-Za-z0-9]+";
const HTTP_HEADER_MSG: &str = "a valid HTTP header must consist of alphanumeric characters or '-'";

/// `must be no more than N characters`.
pub(crate) fn max_len_error(n: usize) -> String {
    format!("must be no more than {n} characters")
}

/// `must be between LO and HI, inclusive`.
pub(crate) fn inclusive_range_error(lo: i64, hi: i64) -> String {
    format!("must be between {lo} and {hi}, inclusive")
}

/// apimachinery's `RegexError`: the message, examples and the expression used.
fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    if examples.is_empty() {
        return format!("{msg} (regex used for validation is '{fmt}')");
    }
    let mut out = format!("{msg} (e.g. ");
    for (i, example) in examples.iter().enumerate() {
        if i > 0 {
            out.push_str(" or ");
        }
        out.push('\'');
        out.push_str(example);
        out.push_str("', ");
    }
    out.push_str("regex used for validation is '");
    out.push_str(fmt);
    out.push_str("')");
    out
}

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`
fn matches_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(&first), Some(&last)) => {
            is_lower_alnum(first)
                && is_lower_alnum(last)
                && b.iter().all(|&c| is_lower_alnum(c) || c == b'-')
        }
        _ => false,
    }
}

/// Labels joined by dots.
fn matches_dns1123_subdomain(s: &str) -> bool {
    s.split('.').all(matches_dns1123_label)
}

/// `[a-z]([-a-z0-9]*[a-z0-9])?`
fn matches_dns1035_label(s: &str) -> bool {
    matches_dns1123_label(s) && s.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`
fn matches_qualified_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && b.iter()
                    .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// Problems with `value` as a DNS-1123 label (`my-name`, at most 63 characters): the
/// names of namespaces, containers, ports of services, volumes.
pub fn is_dns1123_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS_LABEL_MAX {
        errs.push(max_len_error(DNS_LABEL_MAX));
    }
    if !matches_dns1123_label(value) {
        if matches_dns1123_subdomain(value) {
            errs.push("must not contain dots".to_owned());
        } else {
            errs.push(regex_error(
                DNS1123_LABEL_MSG,
                DNS1123_LABEL_FMT,
                &["my-name", "123-abc"],
            ));
        }
    }
    errs
}

/// Problems with `value` as a DNS-1123 subdomain (`example.com`, at most 253
/// characters): the names of most kinds.
pub fn is_dns1123_subdomain(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS_SUBDOMAIN_MAX {
        errs.push(max_len_error(DNS_SUBDOMAIN_MAX));
    }
    if !matches_dns1123_subdomain(value) {
        errs.push(regex_error(
            DNS1123_SUBDOMAIN_MSG,
            DNS1123_SUBDOMAIN_FMT,
            &["example.com"],
        ));
    }
    errs
}

/// Problems with `value` as a DNS-1035 label (starts with a letter): service names.
pub fn is_dns1035_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS_LABEL_MAX {
        errs.push(max_len_error(DNS_LABEL_MAX));
    }
    if !matches_dns1035_label(value) {
        errs.push(regex_error(
            DNS1035_LABEL_MSG,
            DNS1035_LABEL_FMT,
            &["my-name", "abc-123"],
        ));
    }
    errs
}

/// Problems with `value` as a qualified name (`[prefix/]name`, e.g.
/// `app.kubernetes.io/name`): label and annotation keys, finalizers.
pub fn is_qualified_name(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_owned());
            } else {
                errs.extend(
                    is_dns1123_subdomain(prefix)
                        .into_iter()
                        .map(|m| format!("prefix part {m}")),
                );
            }
            *name
        }
        _ => {
            return vec![format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, &["MyName", "my.name", "123-abc"])
            )];
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_owned());
    } else if name.len() > QUALIFIED_NAME_MAX {
        errs.push(format!("name part {}", max_len_error(QUALIFIED_NAME_MAX)));
    }
    if !matches_qualified_name_part(name) {
        errs.push(format!(
            "name part {}",
            regex_error(
                QUALIFIED_NAME_MSG,
                QUALIFIED_NAME_FMT,
                &["MyName", "my.name", "123-abc"]
            )
        ));
    }
    errs
}

/// The longest key of a ConfigMap or Secret.
const CONFIG_KEY_MAX: usize = 253;
const CONFIG_KEY_FMT: &str = "[-._a-zA-Z0-9]+";
const CONFIG_KEY_MSG: &str =
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.'";

/// Problems with `value` as a key of a ConfigMap's or Secret's data (apimachinery's
/// `IsConfigMapKey`): alphanumerics, `-`, `_` and `.`, not `.` or `..` or a name
/// starting with `..`, at most 253 characters.
pub fn is_config_map_key(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > CONFIG_KEY_MAX {
        errs.push(max_len_error(CONFIG_KEY_MAX));
    }
    if value.is_empty()
        || !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        errs.push(regex_error(
            CONFIG_KEY_MSG,
            CONFIG_KEY_FMT,
            &["key.name", "KEY_NAME", "key-name"],
        ));
    }
    if value == "." {
        errs.push("must not be '.'".to_owned());
    } else if value == ".." {
        errs.push("must not be '..'".to_owned());
    } else if value.starts_with("..") {
        errs.push("must not start with '..'".to_owned());
    }
    errs
}

/// Problems with `value` as a label value (empty, or a qualified name's name part).
pub fn is_label_value(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > QUALIFIED_NAME_MAX {
        errs.push(max_len_error(QUALIFIED_NAME_MAX));
    }
    if !value.is_empty() && !matches_qualified_name_part(value) {
        errs.push(regex_error(
            LABEL_VALUE_MSG,
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errs
}

/// Problems with `port` as a port number (1–65535).
pub fn is_valid_port_num(port: i64) -> Vec<String> {
    if (1..=65535).contains(&port) {
        Vec::new()
    } else {
        vec![inclusive_range_error(1, 65535)]
    }
}

/// Problems with `port` as an IANA service name (`http`, at most 15 characters, at least
/// one letter, no leading, trailing or double hyphen).
pub fn is_valid_port_name(port: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if port.len() > 15 {
        errs.push(max_len_error(15));
    }
    if port.is_empty()
        || !port
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
    {
        errs.push(
            "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".to_owned(),
        );
    }
    if !port.bytes().any(|c| c.is_ascii_lowercase()) {
        errs.push("must contain at least one letter (a-z)".to_owned());
    }
    if port.contains("--") {
        errs.push("must not contain consecutive hyphens".to_owned());
    }
    if port.starts_with('-') || port.ends_with('-') {
        errs.push("must not begin or end with a hyphen".to_owned());
    }
    errs
}

/// Problems with `value` as an environment variable name. Kubernetes' relaxed rule
/// (the default since 1.32): any printable ASCII except `=`.
pub fn is_env_var_name(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.is_empty() {
        errs.push("environment variable name must be non-empty".to_owned());
    }
    if value.chars().any(|c| !(' '..='~').contains(&c) || c == '=') {
        errs.push(
            "a valid environment variable name must consist only of printable ASCII characters other than '='"
                .to_owned(),
        );
    }
    errs
}

/// Problems with `value` as an HTTP header name.
pub fn is_http_header_name(value: &str) -> Vec<String> {
    if !value.is_empty()
        && value
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-')
    {
        Vec::new()
    } else {
        vec![regex_error(
            HTTP_HEADER_MSG,
            HTTP_HEADER_FMT,
            &["X-Header-Name"],
        )]
    }
}

/// Problems with `value` as an IPv4 or IPv6 address.
pub fn is_valid_ip(value: &str) -> Vec<String> {
    match value.parse::<IpAddr>() {
        Ok(_) => Vec::new(),
        Err(_) => vec!["must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)".to_owned()],
    }
}

/// Problems with `value` as a CIDR (`10.244.1.0/24`, `2001:db8::/64`).
pub fn is_valid_cidr(value: &str) -> Vec<String> {
    let valid = value.split_once('/').is_some_and(|(ip, bits)| {
        let max = match ip.parse::<IpAddr>() {
            Ok(IpAddr::V4(_)) => 32,
            Ok(IpAddr::V6(_)) => 128,
            Err(_) => return false,
        };
        !bits.is_empty()
            && bits.bytes().all(|b| b.is_ascii_digit())
            && bits.parse::<u32>().is_ok_and(|n| n <= max)
    });
    if valid {
        Vec::new()
    } else {
        vec!["must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)".to_owned()]
    }
}

/// Whether `value` is a percentage (`[0-9]+%`).
pub fn is_valid_percent(value: &str) -> bool {
    value
        .strip_suffix('%')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(errs: Vec<String>) -> bool {
        errs.is_empty()
    }

    #[test]
    fn dns1123_labels() {
        let long = "a".repeat(64);
        let table: &[(&str, &str, bool)] = &[
            ("simple", "web", true),
            ("digits first", "123-abc", true),
            ("one char", "a", true),
            ("63 chars", &long[..63], true),
            ("64 chars", &long, false),
            ("upper case", "Web", false),
            ("underscore", "foo_bar", false),
            ("leading dash", "-web", false),
            ("trailing dash", "web-", false),
            ("dot", "a.b", false),
            ("empty", "", false),
        ];
        for (name, value, want) in table {
            assert_eq!(ok(is_dns1123_label(value)), *want, "{name}");
        }
        assert_eq!(is_dns1123_label("a.b"), vec!["must not contain dots"]);
        assert_eq!(
            is_dns1123_label("Foo"),
            vec!["a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"]
        );
    }

    #[test]
    fn dns1123_subdomains() {
        let long = format!("{}.{}", "a".repeat(199), "b".repeat(53));
        let table: &[(&str, &str, bool)] = &[
            ("simple", "web", true),
            ("dotted", "example.com", true),
            ("253 chars", &long, true),
            ("254 chars", &format!("{long}c"), false),
            ("double dot", "a..b", false),
            ("leading dot", ".a", false),
            ("trailing dot", "a.", false),
            ("underscore", "Foo_Bar", false),
            ("empty", "", false),
        ];
        for (name, value, want) in table {
            assert_eq!(ok(is_dns1123_subdomain(value)), *want, "{name}");
        }
        assert_eq!(
            is_dns1123_subdomain("Foo_Bar"),
            vec!["a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"]
        );
    }

    #[test]
    fn dns1035_labels() {
        let table = [
            ("simple", "web", true),
            ("digit first", "1web", false),
            ("dash inside", "my-svc-2", true),
            ("dot", "a.b", false),
        ];
        for (name, value, want) in table {
            assert_eq!(ok(is_dns1035_label(value)), want, "{name}");
        }
    }

    #[test]
    fn qualified_names() {
        let table = [
            ("simple", "app", true),
            ("upper and dots", "My.App_1", true),
            ("prefixed", "app.kubernetes.io/name", true),
            ("empty", "", false),
            ("empty prefix", "/name", false),
            ("empty name", "example.com/", false),
            ("bad prefix", "Example.com/name", false),
            ("two slashes", "a/b/c", false),
            ("bad char", "a b", false),
            ("trailing dash", "app-", false),
            ("64 char name", &"a".repeat(64), false),
        ];
        for (name, value, want) in table {
            assert_eq!(ok(is_qualified_name(value)), want, "{name}");
        }
        assert_eq!(
            is_qualified_name("/x"),
            vec!["prefix part must be non-empty"]
        );
        assert!(is_qualified_name("a/b/c")[0].starts_with("a qualified name must consist"));
    }

    #[test]
    fn label_values() {
        let table = [
            ("empty", "", true),
            ("simple", "web", true),
            ("underscore", "my_value", true),
            ("slash", "a/b", false),
            ("leading dot", ".a", false),
            ("64 chars", &"a".repeat(64), false),
        ];
        for (name, value, want) in table {
            assert_eq!(ok(is_label_value(value)), want, "{name}");
        }
    }

    #[test]
    fn ports() {
        for (name, port, want) in [
            ("zero", 0, false),
            ("one", 1, true),
            ("max", 65535, true),
            ("too big", 65536, false),
            ("negative", -1, false),
        ] {
            assert_eq!(ok(is_valid_port_num(port)), want, "{name}");
        }
        for (name, port, want) in [
            ("http", "http", true),
            ("with digits", "h2c-8080", true),
            ("digits only", "8080", false),
            ("upper", "HTTP", false),
            ("double hyphen", "a--b", false),
            ("leading hyphen", "-http", false),
            ("too long", "abcdefghijklmnop", false),
            ("empty", "", false),
        ] {
            assert_eq!(ok(is_valid_port_name(port)), want, "{name}");
        }
    }

    #[test]
    fn env_and_headers() {
        for (name, value, want) in [
            ("upper", "MY_VAR", true),
            ("dotted", "my.env-name", true),
            ("digit first (relaxed)", "1ABC", true),
            ("equals", "A=B", false),
            ("newline", "A\nB", false),
            ("empty", "", false),
        ] {
            assert_eq!(ok(is_env_var_name(value)), want, "{name}");
        }
        for (name, value, want) in [
            ("header", "X-Header-Name", true),
            ("space", "X Header", false),
            ("empty", "", false),
        ] {
            assert_eq!(ok(is_http_header_name(value)), want, "{name}");
        }
    }

    #[test]
    fn ips_and_cidrs() {
        for (name, value, want) in [
            ("v4", "10.0.0.1", true),
            ("v6", "2001:db8::1", true),
            ("bad", "10.0.0", false),
            ("leading zero", "010.0.0.1", false),
            ("host name", "example.com", false),
        ] {
            assert_eq!(ok(is_valid_ip(value)), want, "{name}");
        }
        for (name, value, want) in [
            ("v4", "10.244.1.0/24", true),
            ("v6", "2001:db8::/64", true),
            ("no prefix", "10.0.0.0", false),
            ("prefix too long", "10.0.0.0/33", false),
            ("empty prefix", "10.0.0.0/", false),
            ("signed prefix", "10.0.0.0/+8", false),
        ] {
            assert_eq!(ok(is_valid_cidr(value)), want, "{name}");
        }
        for (name, value, want) in [
            ("percent", "25%", true),
            ("zero", "0%", true),
            ("no number", "%", false),
            ("no sign", "25", false),
            ("fraction", "2.5%", false),
        ] {
            assert_eq!(is_valid_percent(value), want, "{name}");
        }
    }
}
