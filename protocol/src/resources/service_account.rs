//! Service accounts (`core/v1 ServiceAccount`): the identity pods run as. The service
//! account controller makes sure every namespace has a `default` one.

use super::{LocalObjectReference, ObjectReference};

kind! {
    /// An identity for processes running in pods.
    #[schema(name = "io.k8s.api.core.v1.ServiceAccount")]
    pub struct ServiceAccount: "v1", "ServiceAccount", "serviceaccounts", namespaced = true {
        /// Secrets pods running as this account may use.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        #[schema(merge_key = "name")]
        pub secrets: Vec<ObjectReference>,
        /// Secrets used to pull images for pods running as this account.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        #[schema(atomic)]
        pub image_pull_secrets: Vec<LocalObjectReference>,
        /// Whether pods get the account's token mounted by default.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub automount_service_account_token: Option<bool>,
    }
}
