//! The classic Prometheus text format (version 0.0.4), for scrapers and tools that do not
//! ask for OpenMetrics.
//!
//! Kubernetes' components negotiate the format from the `Accept` header: OpenMetrics for a
//! scraper that asks for it (Prometheus does), the 0.0.4 text format otherwise (`curl`,
//! `kubectl get --raw`, `promtool check metrics`). The registry here only writes
//! OpenMetrics ([`super::encode`]), and the two formats differ in a few mechanical ways, so
//! the 0.0.4 exposition is a line-by-line rewrite of the OpenMetrics one:
//! - a counter family is named with its `_total` suffix in `# HELP` and `# TYPE` (in
//!   OpenMetrics the family is `x` and its sample `x_total`; a 0.0.4 parser would see
//!   `x_total` as a second family without help or type);
//! - `info` families become gauges named `x_info`, `stateset` gauges, `unknown` untyped;
//! - `# UNIT` and `# EOF` lines, exemplars and counters' `_created` samples are dropped
//!   (the 0.0.4 format has none of them);
//! - `\"` in help text is unescaped (0.0.4 escapes only `\\` and `\n` there).

use std::fmt::Write as _;

/// The media type of [`from_openmetrics`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Whether an `Accept` header prefers OpenMetrics to the 0.0.4 text format: it names
/// `application/openmetrics-text` with a quality above zero and at least that of any
/// `text/plain`. `*/*` and no header at all get the 0.0.4 format, as from Kubernetes.
pub fn wants_openmetrics(accept: Option<&str>) -> bool {
    let Some(accept) = accept else {
        return false;
    };
    let (mut openmetrics, mut text) = (0.0f32, 0.0f32);
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
            .and_then(|(_, v)| v.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        match media.as_str() {
            "application/openmetrics-text" => openmetrics = openmetrics.max(q),
            "text/plain" => text = text.max(q),
            _ => {}
        }
    }
    openmetrics > 0.0 && openmetrics >= text
}

/// The family's name and type as the 0.0.4 format writes them, for an OpenMetrics
/// `# TYPE name ty`.
fn classic_family<'a>(name: &'a str, ty: &'a str) -> (String, &'a str) {
    match ty {
        "counter" => (format!("{name}_total"), "counter"),
        "info" => (format!("{name}_info"), "gauge"),
        "stateset" => (name.to_owned(), "gauge"),
        "gauge" | "histogram" | "summary" => (name.to_owned(), ty),
        _ => (name.to_owned(), "untyped"),
    }
}

/// OpenMetrics help text to 0.0.4 help text: `\"` becomes `"`; `\\` and `\n` stay.
fn unescape_help(help: &str) -> String {
    let mut out = String::with_capacity(help.len());
    let mut chars = help.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('"') => out.push('"'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// The metric name of a sample line (up to its labels or its value).
fn sample_name(line: &str) -> &str {
    let end = line.find(['{', ' ']).unwrap_or(line.len());
    &line[..end]
}

/// Rewrites an OpenMetrics text exposition in the 0.0.4 text format (see the module).
pub fn from_openmetrics(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    // A `# HELP` waits for its family's `# TYPE`, which says what the family is called.
    let mut help: Option<(&str, &str)> = None;
    // The current family's OpenMetrics name, when it is a counter.
    let mut counter: Option<&str> = None;
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            help = Some(rest.split_once(' ').unwrap_or((rest, "")));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, ty) = rest.split_once(' ').unwrap_or((rest, "unknown"));
            let (classic, classic_ty) = classic_family(name, ty.trim());
            if let Some((_, text)) = help.take().filter(|(n, _)| *n == name) {
                let _ = writeln!(out, "# HELP {classic} {}", unescape_help(text));
            }
            let _ = writeln!(out, "# TYPE {classic} {classic_ty}");
            counter = (ty.trim() == "counter").then_some(name);
        } else if line.starts_with('#') {
            // `# UNIT`, `# EOF`, and any other comment: not in the 0.0.4 format.
        } else if !line.is_empty() {
            let sample = line.split_once(" # ").map_or(line, |(s, _exemplar)| s);
            if counter.is_some() && sample_name(sample).strip_suffix("_created") == counter {
                continue;
            }
            out.push_str(sample);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_named_with_total_and_openmetrics_only_lines_go() {
        let om = "# HELP apiserver_request Counter of \\\"requests\\\" \\\\ by verb.\n\
                  # TYPE apiserver_request counter\n\
                  apiserver_request_total{verb=\"GET\",code=\"200\"} 3 # {trace_id=\"ab\"} 1.0\n\
                  apiserver_request_created{verb=\"GET\",code=\"200\"} 1700000000.0\n\
                  # HELP rudder_request_duration_seconds Round trips.\n\
                  # TYPE rudder_request_duration_seconds histogram\n\
                  # UNIT rudder_request_duration_seconds seconds\n\
                  rudder_request_duration_seconds_bucket{le=\"+Inf\"} 2\n\
                  rudder_request_duration_seconds_sum 0.5\n\
                  rudder_request_duration_seconds_count 2\n\
                  # HELP rudder_build Build.\n\
                  # TYPE rudder_build info\n\
                  rudder_build_info{version=\"1\"} 1\n\
                  # TYPE odd unknown\n\
                  odd 1\n\
                  # EOF\n";
        let classic = from_openmetrics(om);
        assert_eq!(
            classic,
            "# HELP apiserver_request_total Counter of \"requests\" \\\\ by verb.\n\
             # TYPE apiserver_request_total counter\n\
             apiserver_request_total{verb=\"GET\",code=\"200\"} 3\n\
             # HELP rudder_request_duration_seconds Round trips.\n\
             # TYPE rudder_request_duration_seconds histogram\n\
             rudder_request_duration_seconds_bucket{le=\"+Inf\"} 2\n\
             rudder_request_duration_seconds_sum 0.5\n\
             rudder_request_duration_seconds_count 2\n\
             # HELP rudder_build_info Build.\n\
             # TYPE rudder_build_info gauge\n\
             rudder_build_info{version=\"1\"} 1\n\
             # TYPE odd untyped\n\
             odd 1\n"
        );
    }

    #[test]
    fn a_label_value_with_a_hash_is_kept_whole() {
        // `#` inside a label value is not an exemplar (" # " is what starts one).
        let om = "# TYPE g gauge\ng{path=\"/a#b\"} 1\n# EOF\n";
        assert_eq!(from_openmetrics(om), "# TYPE g gauge\ng{path=\"/a#b\"} 1\n");
    }

    #[test]
    fn the_accept_header_picks_the_format_as_kubernetes_does() {
        // Prometheus 2.x and 3.x scrape headers: OpenMetrics preferred.
        assert!(wants_openmetrics(Some(
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
             version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        )));
        assert!(wants_openmetrics(Some(
            "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,\
             text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,*/*;q=0.1"
        )));
        // A scraper set to the text format, curl, kubectl, no header: 0.0.4.
        assert!(!wants_openmetrics(Some(
            "text/plain;version=0.0.4;q=0.9,application/openmetrics-text;q=0.5"
        )));
        assert!(!wants_openmetrics(Some("*/*")));
        assert!(!wants_openmetrics(Some("application/json, */*")));
        assert!(!wants_openmetrics(None));
        assert!(!wants_openmetrics(Some("application/openmetrics-text;q=0")));
    }
}
