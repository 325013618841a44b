//! Security settings of a pod and of its containers: the user and groups processes run
//! as, capabilities, seccomp, AppArmor, SELinux, sysctls.
//!
//! A container's [`SecurityContext`] overrides the pod's [`PodSecurityContext`] field by
//! field; [`effective`](SecurityContext::run_as_user_in) helpers resolve the two.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::resources::null_as_default;
use crate::schema::Schema;

string_enum! {
    /// Which seccomp profile applies.
    #[derive(Default)]
    pub enum SeccompProfileType {
        /// The container runtime's default profile.
        #[default]
        RuntimeDefault = "RuntimeDefault",
        /// No profile.
        Unconfined = "Unconfined",
        /// A profile file on the node (`localhostProfile`).
        Localhost = "Localhost",
    }
}

string_enum! {
    /// Which AppArmor profile applies.
    #[derive(Default)]
    pub enum AppArmorProfileType {
        /// The container runtime's default profile.
        #[default]
        RuntimeDefault = "RuntimeDefault",
        /// No profile.
        Unconfined = "Unconfined",
        /// A profile loaded on the node (`localhostProfile`).
        Localhost = "Localhost",
    }
}

string_enum! {
    /// How much of /proc is masked.
    pub enum ProcMountType {
        /// The runtime's default masked and read-only paths.
        Default = "Default",
        /// Nothing masked (needs a user namespace).
        Unmasked = "Unmasked",
    }
}

string_enum! {
    /// When the kubelet changes volume ownership to the pod's fsGroup.
    pub enum FsGroupChangePolicy {
        /// Only when the volume root's owner or mode differs.
        OnRootMismatch = "OnRootMismatch",
        /// On every mount.
        Always = "Always",
    }
}

string_enum! {
    /// How the supplementary groups of the first process are computed.
    pub enum SupplementalGroupsPolicy {
        /// The image's groups for the user, plus fsGroup and supplementalGroups.
        Merge = "Merge",
        /// Only fsGroup, supplementalGroups and runAsGroup.
        Strict = "Strict",
    }
}

string_enum! {
    /// How SELinux labels are applied to the pod's volumes.
    pub enum PodSeLinuxChangePolicy {
        /// Relabel every file.
        Recursive = "Recursive",
        /// Mount with the `-o context` option.
        MountOption = "MountOption",
    }
}

/// A seccomp profile.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.SeccompProfile")]
pub struct SeccompProfile {
    /// RuntimeDefault, Unconfined or Localhost.
    #[serde(rename = "type")]
    #[schema(required)]
    pub type_: SeccompProfileType,
    /// The profile file, relative to the kubelet's seccomp directory (Localhost only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub localhost_profile: Option<String>,
}

/// An AppArmor profile.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.AppArmorProfile")]
pub struct AppArmorProfile {
    /// RuntimeDefault, Unconfined or Localhost.
    #[serde(rename = "type")]
    #[schema(required)]
    pub type_: AppArmorProfileType,
    /// The profile's name as loaded on the node (Localhost only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub localhost_profile: Option<String>,
}

/// An SELinux label.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.SELinuxOptions")]
pub struct SeLinuxOptions {
    /// The SELinux user label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The SELinux role label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The SELinux type label.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// The SELinux level label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
}

/// Windows-specific settings (refused on Linux nodes).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.WindowsSecurityContextOptions")]
pub struct WindowsSecurityContextOptions {
    /// The GMSA credential spec, inlined.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gmsa_credential_spec_name: Option<String>,
    /// The name of the GMSA credential spec.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gmsa_credential_spec: Option<String>,
    /// The user the entrypoint runs as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_as_user_name: Option<String>,
    /// Run as a host process container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_process: Option<bool>,
}

/// A namespaced kernel parameter set for the pod.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.Sysctl")]
pub struct Sysctl {
    /// The parameter, e.g. `net.ipv4.ip_unprivileged_port_start`.
    #[schema(required)]
    pub name: String,
    /// Its value.
    #[schema(required)]
    pub value: String,
}

/// Linux capabilities added to or dropped from the runtime's default set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.Capabilities")]
pub struct Capabilities {
    /// Capabilities to add, e.g. `NET_ADMIN`.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub add: Vec<String>,
    /// Capabilities to drop; `ALL` drops every one.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub drop: Vec<String>,
}

/// Security settings for every container of the pod (a container's own
/// `securityContext` wins field by field).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.PodSecurityContext")]
pub struct PodSecurityContext {
    /// SELinux label of every container.
    #[serde(rename = "seLinuxOptions", skip_serializing_if = "Option::is_none")]
    pub se_linux_options: Option<SeLinuxOptions>,
    /// Windows settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub windows_options: Option<WindowsSecurityContextOptions>,
    /// The UID the entrypoints run as (default: the image's user).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_as_user: Option<i64>,
    /// The GID the entrypoints run as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_as_group: Option<i64>,
    /// Refuse to start a container that would run as UID 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_as_non_root: Option<bool>,
    /// Further groups of the first process of every container.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub supplemental_groups: Vec<i64>,
    /// How supplementary groups are computed (default Merge).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supplemental_groups_policy: Option<SupplementalGroupsPolicy>,
    /// A group that owns the pod's volumes and is added to every container's groups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fs_group: Option<i64>,
    /// Namespaced sysctls set for the pod.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub sysctls: Vec<Sysctl>,
    /// When volume ownership is changed to fsGroup (default Always).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fs_group_change_policy: Option<FsGroupChangePolicy>,
    /// The seccomp profile of every container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seccomp_profile: Option<SeccompProfile>,
    /// The AppArmor profile of every container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_armor_profile: Option<AppArmorProfile>,
    /// How SELinux labels reach the volumes.
    #[serde(
        rename = "seLinuxChangePolicy",
        skip_serializing_if = "Option::is_none"
    )]
    pub se_linux_change_policy: Option<PodSeLinuxChangePolicy>,
}

/// Security settings of one container; set fields override the pod's.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.core.v1.SecurityContext")]
pub struct SecurityContext {
    /// Capabilities added to or dropped from the default set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Capabilities>,
    /// Run privileged: every capability and every device of the host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    /// SELinux label.
    #[serde(rename = "seLinuxOptions", skip_serializing_if = "Option::is_none")]
    pub se_linux_options: Option<SeLinuxOptions>,
    /// Windows settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub windows_options: Option<WindowsSecurityContextOptions>,
    /// The UID the entrypoint runs as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_as_user: Option<i64>,
    /// The GID the entrypoint runs as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_as_group: Option<i64>,
    /// Refuse to start the container if it would run as UID 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_as_non_root: Option<bool>,
    /// Mount the root file system read-only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only_root_filesystem: Option<bool>,
    /// Whether a process may gain more privileges than its parent (no_new_privs when
    /// false).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_privilege_escalation: Option<bool>,
    /// Default or Unmasked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proc_mount: Option<ProcMountType>,
    /// The seccomp profile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seccomp_profile: Option<SeccompProfile>,
    /// The AppArmor profile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_armor_profile: Option<AppArmorProfile>,
}

impl SecurityContext {
    /// The UID the container runs as: its own setting, else the pod's.
    pub fn run_as_user_in(c: Option<&Self>, pod: Option<&PodSecurityContext>) -> Option<i64> {
        c.and_then(|c| c.run_as_user)
            .or_else(|| pod.and_then(|p| p.run_as_user))
    }

    /// The GID the container runs as: its own setting, else the pod's.
    pub fn run_as_group_in(c: Option<&Self>, pod: Option<&PodSecurityContext>) -> Option<i64> {
        c.and_then(|c| c.run_as_group)
            .or_else(|| pod.and_then(|p| p.run_as_group))
    }

    /// Whether the container must not run as root: its own setting, else the pod's.
    pub fn run_as_non_root_in(c: Option<&Self>, pod: Option<&PodSecurityContext>) -> bool {
        c.and_then(|c| c.run_as_non_root)
            .or_else(|| pod.and_then(|p| p.run_as_non_root))
            .unwrap_or(false)
    }

    /// The seccomp profile: the container's, else the pod's.
    pub fn seccomp_in<'a>(
        c: Option<&'a Self>,
        pod: Option<&'a PodSecurityContext>,
    ) -> Option<&'a SeccompProfile> {
        c.and_then(|c| c.seccomp_profile.as_ref())
            .or_else(|| pod.and_then(|p| p.seccomp_profile.as_ref()))
    }

    /// The AppArmor profile: the container's, else the pod's.
    pub fn app_armor_in<'a>(
        c: Option<&'a Self>,
        pod: Option<&'a PodSecurityContext>,
    ) -> Option<&'a AppArmorProfile> {
        c.and_then(|c| c.app_armor_profile.as_ref())
            .or_else(|| pod.and_then(|p| p.app_armor_profile.as_ref()))
    }
}
