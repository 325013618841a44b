//! A namespace's PodSecurity policy, read from its `pod-security.kubernetes.io/` labels
//! as Kubernetes' `api.PolicyToEvaluate` reads them: a level and a version for each of
//! the modes `enforce`, `audit` and `warn`, each the cluster's default when unlabelled
//! (`privileged:latest` unless [`super::config`] says otherwise).
//!
//! Bad values are errors (`metadata.labels[...]: Invalid value: ...`) and still give a
//! policy: an unreadable enforce level enforces `restricted` (fail closed), an unreadable
//! audit or warn level is `privileged` (fail open). A `warn` left unset follows an
//! `enforce` that is stricter (Kubernetes 1.26+), so labelling `enforce` alone also warns
//! on workload resources, whose pods enforce only refuses later.

use std::collections::BTreeMap;
use std::fmt;

/// The label prefix, and the prefix of PodSecurity's audit annotations.
pub const PREFIX: &str = "pod-security.kubernetes.io/";
/// The enforce level label.
pub const ENFORCE: &str = "pod-security.kubernetes.io/enforce";
/// The enforce version label.
pub const ENFORCE_VERSION: &str = "pod-security.kubernetes.io/enforce-version";
/// The audit level label.
pub const AUDIT: &str = "pod-security.kubernetes.io/audit";
/// The audit version label.
pub const AUDIT_VERSION: &str = "pod-security.kubernetes.io/audit-version";
/// The warn level label.
pub const WARN: &str = "pod-security.kubernetes.io/warn";
/// The warn version label.
pub const WARN_VERSION: &str = "pod-security.kubernetes.io/warn-version";

/// A Pod Security Standards level, from the least strict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// No restriction.
    Privileged,
    /// Prevents known privilege escalations.
    Baseline,
    /// Current pod hardening practice.
    Restricted,
}

impl Level {
    /// The level a label value names; Kubernetes' message otherwise.
    pub fn parse(value: &str) -> Result<Level, &'static str> {
        match value {
            "privileged" => Ok(Level::Privileged),
            "baseline" => Ok(Level::Baseline),
            "restricted" => Ok(Level::Restricted),
            _ => Err("must be one of privileged, baseline, restricted"),
        }
    }

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Privileged => "privileged",
            Level::Baseline => "baseline",
            Level::Restricted => "restricted",
        }
    }
}

/// A policy version: `latest` or `v1.<minor>`. Rudder evaluates every version against
/// the latest policy; the version is kept for the messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Version(Option<u32>);

impl Version {
    /// `latest`.
    pub const LATEST: Version = Version(None);

    /// The version a label value names; Kubernetes' message otherwise.
    pub fn parse(value: &str) -> Result<Version, &'static str> {
        const BAD: &str = "must be \"latest\" or \"v1.x\"";
        if value == "latest" {
            return Ok(Version::LATEST);
        }
        let minor = value.strip_prefix("v1.").ok_or(BAD)?;
        let canonical = !minor.is_empty()
            && minor.bytes().all(|b| b.is_ascii_digit())
            && (minor == "0" || !minor.starts_with('0'));
        if !canonical {
            return Err(BAD);
        }
        minor.parse().map(|m| Version(Some(m))).map_err(|_| BAD)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("latest"),
            Some(minor) => write!(f, "v1.{minor}"),
        }
    }
}

/// A level at a version (`restricted:latest`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LevelVersion {
    /// The level.
    pub level: Level,
    /// The version.
    pub version: Version,
}

impl LevelVersion {
    const PRIVILEGED: LevelVersion = LevelVersion {
        level: Level::Privileged,
        version: Version::LATEST,
    };
}

impl fmt::Display for LevelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.level.as_str(), self.version)
    }
}

/// The policy of a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Violating pods are refused.
    pub enforce: LevelVersion,
    /// Violations are recorded in the audit event.
    pub audit: LevelVersion,
    /// Violations are returned to the client as warnings.
    pub warn: LevelVersion,
}

impl Default for Policy {
    /// Kubernetes' default configuration: privileged, latest, in every mode.
    fn default() -> Policy {
        Policy {
            enforce: LevelVersion::PRIVILEGED,
            audit: LevelVersion::PRIVILEGED,
            warn: LevelVersion::PRIVILEGED,
        }
    }
}

/// A label whose value is not one PodSecurity accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelError {
    /// The label.
    pub label: &'static str,
    /// Its value.
    pub value: String,
    /// What it must be.
    pub message: &'static str,
}

impl fmt::Display for LabelError {
    /// As Kubernetes' `field.Invalid` prints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "metadata.labels[{}]: Invalid value: {}: {}",
            self.label,
            crate::apiserver::validation::go_quote(&self.value),
            self.message
        )
    }
}

/// The errors as one message, as Kubernetes' error aggregate prints them: one error as
/// it is, several in brackets.
pub fn errors_text(errors: &[LabelError]) -> String {
    crate::apiserver::validation::aggregate(errors)
}

/// The policy `labels` select over `defaults`, and the errors of the labels that could
/// not be read.
pub fn policy_of(
    labels: &BTreeMap<String, String>,
    defaults: &Policy,
) -> (Policy, Vec<LabelError>) {
    let mut p = *defaults;
    let mut errors = Vec::new();
    let level = |label: &'static str, fallback: Level, errors: &mut Vec<LabelError>| {
        let value = labels.get(label)?;
        Some(Level::parse(value).unwrap_or_else(|message| {
            errors.push(LabelError {
                label,
                value: value.clone(),
                message,
            });
            fallback
        }))
    };
    let enforce_level = level(ENFORCE, Level::Restricted, &mut errors);
    let audit_level = level(AUDIT, Level::Privileged, &mut errors);
    let warn_level = level(WARN, Level::Privileged, &mut errors);
    let mut version = |label: &'static str| {
        let value = labels.get(label)?;
        Some(Version::parse(value).unwrap_or_else(|message| {
            errors.push(LabelError {
                label,
                value: value.clone(),
                message,
            });
            Version::LATEST
        }))
    };
    let enforce_version = version(ENFORCE_VERSION);
    let audit_version = version(AUDIT_VERSION);
    let warn_version = version(WARN_VERSION);
    // Kubernetes reports the errors in label order: enforce, its version, audit, ...
    let order = [
        ENFORCE,
        ENFORCE_VERSION,
        AUDIT,
        AUDIT_VERSION,
        WARN,
        WARN_VERSION,
    ];
    errors.sort_by_key(|e| order.iter().position(|l| *l == e.label));
    let set = |lv: &mut LevelVersion, l: Option<Level>, v: Option<Version>| {
        if let Some(l) = l {
            lv.level = l;
        }
        if let Some(v) = v {
            lv.version = v;
        }
    };
    set(&mut p.enforce, enforce_level, enforce_version);
    set(&mut p.audit, audit_level, audit_version);
    set(&mut p.warn, warn_level, warn_version);
    let enforce_read = enforce_level.is_some() && !errors.iter().any(|e| e.label == ENFORCE);
    if warn_level.is_none() && enforce_read && p.enforce.level > p.warn.level {
        p.warn.level = p.enforce.level;
        if warn_version.is_none() {
            p.warn.version = p.enforce.version;
        }
    }
    (p, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn lv(level: Level, version: Version) -> LevelVersion {
        LevelVersion { level, version }
    }

    #[test]
    fn versions_parse_as_kubernetes_reads_them() {
        for (value, want) in [
            ("latest", Some("latest")),
            ("v1.0", Some("v1.0")),
            ("v1.30", Some("v1.30")),
            ("v1.030", None),
            ("v1.", None),
            ("v2.1", None),
            ("1.30", None),
            ("v1.3x", None),
            ("", None),
        ] {
            let got = Version::parse(value).ok().map(|v| v.to_string());
            assert_eq!(got.as_deref(), want, "{value:?}");
        }
    }

    /// A name, the labels, the policy they give and how many label errors.
    type Case = (
        &'static str,
        Vec<(&'static str, &'static str)>,
        Policy,
        usize,
    );

    #[test]
    fn policies_from_labels() {
        let cases: Vec<Case> = vec![
            ("unlabelled", vec![], Policy::default(), 0),
            (
                "enforce alone also warns",
                vec![(ENFORCE, "restricted")],
                Policy {
                    enforce: lv(Level::Restricted, Version::LATEST),
                    audit: LevelVersion::PRIVILEGED,
                    warn: lv(Level::Restricted, Version::LATEST),
                },
                0,
            ),
            (
                "warn follows enforce's version when it has none",
                vec![(ENFORCE, "baseline"), (ENFORCE_VERSION, "v1.30")],
                Policy {
                    enforce: lv(Level::Baseline, Version(Some(30))),
                    audit: LevelVersion::PRIVILEGED,
                    warn: lv(Level::Baseline, Version(Some(30))),
                },
                0,
            ),
            (
                "an explicit warn stays",
                vec![(ENFORCE, "restricted"), (WARN, "privileged")],
                Policy {
                    enforce: lv(Level::Restricted, Version::LATEST),
                    ..Policy::default()
                },
                0,
            ),
            (
                "bad enforce fails closed, bad audit and warn open",
                vec![(ENFORCE, "strict"), (AUDIT, "x"), (WARN, "y")],
                Policy {
                    enforce: lv(Level::Restricted, Version::LATEST),
                    ..Policy::default()
                },
                3,
            ),
            (
                "bad version",
                vec![(WARN, "baseline"), (WARN_VERSION, "v2")],
                Policy {
                    warn: lv(Level::Baseline, Version::LATEST),
                    ..Policy::default()
                },
                1,
            ),
        ];
        for (name, pairs, want, errors) in cases {
            let (got, errs) = policy_of(&labels(&pairs), &Policy::default());
            assert_eq!(got, want, "{name}");
            assert_eq!(errs.len(), errors, "{name}");
        }
    }

    #[test]
    fn errors_print_as_kubernetes_aggregates_them() {
        let (_, errs) = policy_of(&labels(&[(ENFORCE, "strict")]), &Policy::default());
        assert_eq!(
            errors_text(&errs),
            "metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: \"strict\": must be one of privileged, baseline, restricted"
        );
        let (_, errs) = policy_of(
            &labels(&[(WARN_VERSION, "1"), (ENFORCE, "x")]),
            &Policy::default(),
        );
        assert_eq!(
            errors_text(&errs),
            "[metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: \"x\": must be one of privileged, baseline, restricted, metadata.labels[pod-security.kubernetes.io/warn-version]: Invalid value: \"1\": must be \"latest\" or \"v1.x\"]"
        );
    }
}
