//! PodSecurity's cluster configuration (`[apiserver] pod_security_config_file`), as
//! Kubernetes reads it from its admission configuration file: the policy of a namespace
//! that sets no labels (`defaults`), and the requests PodSecurity leaves alone
//! (`exemptions`: by requesting user, by the pod's runtime class, by namespace).
//!
//! The file is YAML or JSON, either Kubernetes' `AdmissionConfiguration`
//! (`apiserver.config.k8s.io/v1`) whose `PodSecurity` plugin carries the configuration
//! inline (`configuration`) or in another file (`path`, relative to this one), or that
//! `PodSecurityConfiguration` (`pod-security.admission.config.k8s.io/v1`) alone:
//!
//! ```yaml
//! apiVersion: pod-security.admission.config.k8s.io/v1
//! kind: PodSecurityConfiguration
//! defaults:
//!   enforce: baseline
//!   enforce-version: latest
//!   warn: restricted
//! exemptions:
//!   usernames: [system:serviceaccount:kube-system:installer]
//!   runtimeClasses: [kata]
//!   namespaces: [monitoring]
//! ```

use std::collections::BTreeSet;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::policy::{Level, LevelVersion, Policy, Version};

/// The API versions of `PodSecurityConfiguration` Kubernetes still reads.
const CONFIG_VERSIONS: &[&str] = &[
    "pod-security.admission.config.k8s.io/v1",
    "pod-security.admission.config.k8s.io/v1beta1",
];

/// PodSecurity's cluster configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// The policy of every mode a namespace does not label.
    pub defaults: Policy,
    /// Requests by these users are not checked.
    pub exempt_users: BTreeSet<String>,
    /// Pods of these runtime classes are not checked.
    pub exempt_runtime_classes: BTreeSet<String>,
    /// Pods in these namespaces are not checked.
    pub exempt_namespaces: BTreeSet<String>,
}

/// Why a request is not checked, as the `pod-security.kubernetes.io/exempt` audit
/// annotation says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exemption {
    /// The requesting user.
    User,
    /// The pod's runtime class.
    RuntimeClass,
    /// The namespace.
    Namespace,
}

impl Exemption {
    /// The annotation value.
    pub fn as_str(self) -> &'static str {
        match self {
            Exemption::User => "user",
            Exemption::RuntimeClass => "runtimeClass",
            Exemption::Namespace => "namespace",
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Defaults {
    enforce: Option<String>,
    #[serde(rename = "enforce-version")]
    enforce_version: Option<String>,
    audit: Option<String>,
    #[serde(rename = "audit-version")]
    audit_version: Option<String>,
    warn: Option<String>,
    #[serde(rename = "warn-version")]
    warn_version: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Exemptions {
    #[serde(default)]
    usernames: Vec<String>,
    #[serde(default)]
    runtime_classes: Vec<String>,
    #[serde(default)]
    namespaces: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PodSecurityConfiguration {
    api_version: String,
    kind: String,
    defaults: Option<Defaults>,
    exemptions: Option<Exemptions>,
}

impl Config {
    /// Reads the file at `path` (see the module documentation).
    pub fn load(path: &Path) -> Result<Config, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let doc: Value = serde_norway::from_str(&text).map_err(|e| e.to_string())?;
        if doc["kind"] != "AdmissionConfiguration" {
            return Config::from_value(doc);
        }
        let plugin = doc["plugins"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"] == "PodSecurity");
        let Some(plugin) = plugin else {
            // Kubernetes' defaults when the plugin is not configured.
            return Ok(Config::default());
        };
        match (plugin.get("configuration"), plugin["path"].as_str()) {
            (Some(inline), _) => Config::from_value(inline.clone()),
            (None, Some(other)) => {
                let other = path.parent().unwrap_or(Path::new(".")).join(other);
                let text = std::fs::read_to_string(&other)
                    .map_err(|e| format!("{}: {e}", other.display()))?;
                Config::from_value(serde_norway::from_str(&text).map_err(|e| e.to_string())?)
            }
            (None, None) => Ok(Config::default()),
        }
    }

    /// A `PodSecurityConfiguration` document.
    fn from_value(doc: Value) -> Result<Config, String> {
        let c: PodSecurityConfiguration =
            serde_json::from_value(doc).map_err(|e| format!("PodSecurityConfiguration: {e}"))?;
        if c.kind != "PodSecurityConfiguration"
            || !CONFIG_VERSIONS.contains(&c.api_version.as_str())
        {
            return Err(format!(
                "expected kind PodSecurityConfiguration of {}, got {} of {}",
                CONFIG_VERSIONS[0], c.kind, c.api_version
            ));
        }
        let mut defaults = Policy::default();
        if let Some(d) = c.defaults {
            let modes = [
                (
                    "enforce",
                    &mut defaults.enforce,
                    d.enforce,
                    d.enforce_version,
                ),
                ("audit", &mut defaults.audit, d.audit, d.audit_version),
                ("warn", &mut defaults.warn, d.warn, d.warn_version),
            ];
            for (mode, lv, level, version) in modes {
                set_default(mode, lv, level, version)?;
            }
        }
        let e = c.exemptions.unwrap_or(Exemptions {
            usernames: Vec::new(),
            runtime_classes: Vec::new(),
            namespaces: Vec::new(),
        });
        for (what, list) in [
            ("usernames", &e.usernames),
            ("runtimeClasses", &e.runtime_classes),
            ("namespaces", &e.namespaces),
        ] {
            if list.iter().any(String::is_empty) {
                return Err(format!("exemptions.{what}: an entry is empty"));
            }
        }
        Ok(Config {
            defaults,
            exempt_users: e.usernames.into_iter().collect(),
            exempt_runtime_classes: e.runtime_classes.into_iter().collect(),
            exempt_namespaces: e.namespaces.into_iter().collect(),
        })
    }

    /// Why a request for a pod in `namespace` (of `runtime_class`, by `user`) is not
    /// checked, if it is not; namespaces first, then users, then runtime classes, as
    /// Kubernetes looks.
    pub fn exemption(
        &self,
        namespace: &str,
        user: Option<&str>,
        runtime_class: Option<&str>,
    ) -> Option<Exemption> {
        if self.exempt_namespaces.contains(namespace) {
            return Some(Exemption::Namespace);
        }
        if user.is_some_and(|u| self.exempt_users.contains(u)) {
            return Some(Exemption::User);
        }
        if runtime_class.is_some_and(|r| self.exempt_runtime_classes.contains(r)) {
            return Some(Exemption::RuntimeClass);
        }
        None
    }
}

fn set_default(
    mode: &str,
    lv: &mut LevelVersion,
    level: Option<String>,
    version: Option<String>,
) -> Result<(), String> {
    if let Some(l) = level {
        lv.level = Level::parse(&l).map_err(|m| format!("defaults.{mode}: {l:?}: {m}"))?;
    }
    if let Some(v) = version {
        lv.version =
            Version::parse(&v).map_err(|m| format!("defaults.{mode}-version: {v:?}: {m}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write");
        p
    }

    const ALONE: &str = "\
apiVersion: pod-security.admission.config.k8s.io/v1
kind: PodSecurityConfiguration
defaults:
  enforce: baseline
  warn: restricted
  warn-version: v1.30
exemptions:
  usernames: [installer]
  runtimeClasses: [kata]
  namespaces: [monitoring]
";

    #[test]
    fn every_form_of_the_file_reads() {
        let dir = tempfile::tempdir().expect("dir");
        let alone = Config::load(&write(dir.path(), "alone.yaml", ALONE)).expect("alone");
        assert_eq!(alone.defaults.enforce.level, Level::Baseline);
        assert_eq!(alone.defaults.audit.level, Level::Privileged);
        assert_eq!(alone.defaults.warn.to_string(), "restricted:v1.30");
        assert!(alone.exempt_users.contains("installer"));

        let inline = format!(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n\
             - name: PodSecurity\n  configuration:\n{}",
            ALONE
                .lines()
                .map(|l| format!("    {l}\n"))
                .collect::<String>()
        );
        let inline = Config::load(&write(dir.path(), "inline.yaml", &inline)).expect("inline");
        assert_eq!(inline, alone);

        let by_path = "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\n\
                       plugins:\n- name: PodSecurity\n  path: alone.yaml\n";
        let by_path = Config::load(&write(dir.path(), "path.yaml", by_path)).expect("path");
        assert_eq!(by_path, alone);

        let other_plugin = "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\n\
                            plugins:\n- name: EventRateLimit\n  path: x.yaml\n";
        let none = Config::load(&write(dir.path(), "none.yaml", other_plugin)).expect("none");
        assert_eq!(none, Config::default());
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let dir = tempfile::tempdir().expect("dir");
        let cases = [
            (
                "a level",
                ALONE.replace("enforce: baseline", "enforce: strict"),
                "defaults.enforce: \"strict\"",
            ),
            (
                "a version",
                ALONE.replace("v1.30", "next"),
                "defaults.warn-version: \"next\"",
            ),
            (
                "a number",
                ALONE.replace("v1.30", "1.30"),
                "expected a string",
            ),
            (
                "a kind",
                ALONE.replace("kind: PodSecurityConfiguration", "kind: Policy"),
                "expected kind PodSecurityConfiguration",
            ),
            (
                "a field",
                ALONE.replace("warn: restricted", "warning: restricted"),
                "unknown field `warning`",
            ),
            (
                "an empty name",
                ALONE.replace("[kata]", "[\"\"]"),
                "exemptions.runtimeClasses",
            ),
        ];
        for (what, text, want) in cases {
            let err = Config::load(&write(dir.path(), "bad.yaml", &text)).expect_err(what);
            assert!(err.contains(want), "{what}: {err}");
        }
        let missing = Config::load(&dir.path().join("missing.yaml")).expect_err("missing");
        assert!(missing.contains("missing.yaml"), "{missing}");
    }

    #[test]
    fn exemptions_by_namespace_then_user_then_runtime_class() {
        let dir = tempfile::tempdir().expect("dir");
        let c = Config::load(&write(dir.path(), "c.yaml", ALONE)).expect("config");
        assert_eq!(
            c.exemption("monitoring", Some("installer"), Some("kata")),
            Some(Exemption::Namespace)
        );
        assert_eq!(
            c.exemption("apps", Some("installer"), Some("kata")),
            Some(Exemption::User)
        );
        assert_eq!(
            c.exemption("apps", Some("alice"), Some("kata")),
            Some(Exemption::RuntimeClass)
        );
        assert_eq!(c.exemption("apps", Some("alice"), Some("runc")), None);
        assert_eq!(c.exemption("apps", None, None), None);
    }
}
