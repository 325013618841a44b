//! Role-based access control (`rbac.authorization.k8s.io/v1`): a [`Role`] (in a
//! namespace) or [`ClusterRole`] (cluster-wide) is a set of [`PolicyRule`]s; a
//! [`RoleBinding`] or [`ClusterRoleBinding`] grants a role to [`Subject`]s (users, groups,
//! service accounts). Permissions only add up: there are no deny rules.
//!
//! A ClusterRole with an [`AggregationRule`] has its rules kept by the control plane: the
//! union of the rules of every ClusterRole its selectors match.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::schema::Schema;

use super::{null_as_default, LabelSelector};

/// The API group of the RBAC kinds (a `roleRef.apiGroup` must name it).
pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// The annotation that says the control plane may overwrite a bootstrap role or binding
/// at start (`"true"`), or must leave the user's changes alone (`"false"`).
pub const AUTOUPDATE_ANNOTATION: &str = "rbac.authorization.kubernetes.io/autoupdate";

/// The label prefixes by which ClusterRoles join the aggregated `admin`, `edit` and
/// `view` roles (`rbac.authorization.k8s.io/aggregate-to-view: "true"`).
pub const AGGREGATE_TO_PREFIX: &str = "rbac.authorization.k8s.io/aggregate-to-";

/// `kind` of a user subject.
pub const USER_KIND: &str = "User";
/// `kind` of a group subject.
pub const GROUP_KIND: &str = "Group";
/// `kind` of a service account subject.
pub const SERVICE_ACCOUNT_KIND: &str = "ServiceAccount";

/// Verbs, API groups, resources and names (or non-resource URLs) a rule allows. `*`
/// matches everything in its field.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.rbac.v1.PolicyRule")]
pub struct PolicyRule {
    /// The verbs allowed (`get`, `list`, `create`, ...; `*` for all).
    #[serde(deserialize_with = "null_as_default")]
    #[schema(required, atomic)]
    pub verbs: Vec<String>,
    /// The API groups of the resources (`""` is the core group; `*` for all).
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub api_groups: Vec<String>,
    /// The resources (`pods`, `pods/log`, `*/scale`; `*` for all).
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub resources: Vec<String>,
    /// Object names the rule is limited to (none: every name).
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub resource_names: Vec<String>,
    /// Non-resource URL paths (`/healthz`, `/api/*`); only in ClusterRoles.
    #[serde(
        rename = "nonResourceURLs",
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub non_resource_urls: Vec<String>,
}

/// Whom a binding grants its role to.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.rbac.v1.Subject")]
pub struct Subject {
    /// `User`, `Group` or `ServiceAccount`.
    #[schema(required)]
    pub kind: String,
    /// `rbac.authorization.k8s.io` for users and groups, empty for service accounts.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub api_group: String,
    /// The user, group or service account name.
    #[schema(required)]
    pub name: String,
    /// The service account's namespace.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
}

/// The role a binding grants.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.rbac.v1.RoleRef")]
pub struct RoleRef {
    /// `rbac.authorization.k8s.io`.
    #[schema(required)]
    pub api_group: String,
    /// `Role` or `ClusterRole`.
    #[schema(required)]
    pub kind: String,
    /// The role's name.
    #[schema(required)]
    pub name: String,
}

/// How an aggregated ClusterRole chooses the ClusterRoles whose rules it takes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, Encode, Decode, Schema)]
#[serde(rename_all = "camelCase", default)]
#[schema(name = "io.k8s.api.rbac.v1.AggregationRule")]
pub struct AggregationRule {
    /// Label selectors over ClusterRoles; a role matching any of them contributes.
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(atomic)]
    pub cluster_role_selectors: Vec<LabelSelector>,
}

kind! {
    /// A set of permissions within one namespace.
    #[schema(name = "io.k8s.api.rbac.v1.Role")]
    pub struct Role: "rbac.authorization.k8s.io/v1", "Role", "roles", namespaced = true {
        /// The permissions.
        #[serde(deserialize_with = "null_as_default")]
        #[schema(atomic)]
        pub rules: Vec<PolicyRule>,
    }
}

kind! {
    /// A set of permissions cluster-wide (or, bound by a RoleBinding, in one namespace).
    #[schema(name = "io.k8s.api.rbac.v1.ClusterRole")]
    pub struct ClusterRole: "rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles",
        namespaced = false {
        /// The permissions (kept by the control plane when `aggregationRule` is set).
        #[serde(deserialize_with = "null_as_default")]
        #[schema(atomic)]
        pub rules: Vec<PolicyRule>,
        /// Which ClusterRoles this one aggregates.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub aggregation_rule: Option<AggregationRule>,
    }
}

kind! {
    /// Grants a Role or ClusterRole to subjects within the binding's namespace.
    #[schema(name = "io.k8s.api.rbac.v1.RoleBinding")]
    pub struct RoleBinding: "rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings",
        namespaced = true {
        /// Who gets the role.
        #[serde(
            deserialize_with = "null_as_default",
            skip_serializing_if = "Vec::is_empty"
        )]
        #[schema(atomic)]
        pub subjects: Vec<Subject>,
        /// The role; it cannot change once set.
        #[schema(required)]
        pub role_ref: RoleRef,
    }
}

kind! {
    /// Grants a ClusterRole to subjects in every namespace.
    #[schema(name = "io.k8s.api.rbac.v1.ClusterRoleBinding")]
    pub struct ClusterRoleBinding: "rbac.authorization.k8s.io/v1", "ClusterRoleBinding",
        "clusterrolebindings", namespaced = false {
        /// Who gets the role.
        #[serde(
            deserialize_with = "null_as_default",
            skip_serializing_if = "Vec::is_empty"
        )]
        #[schema(atomic)]
        pub subjects: Vec<Subject>,
        /// The ClusterRole; it cannot change once set.
        #[schema(required)]
        pub role_ref: RoleRef,
    }
}
