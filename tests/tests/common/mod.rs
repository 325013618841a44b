//! Helpers shared by the test files that drive kube-rs (a dev-dependency, so not in the
//! tests crate's library). Each test file that needs them says `mod common;`.

use std::path::Path;

/// A kube-rs client on a node's REST API, from its kubeconfig (HTTPS, bearer token).
pub async fn kube_client(kubeconfig: &Path) -> anyhow::Result<kube::Client> {
    let kubeconfig = kube::config::Kubeconfig::read_from(kubeconfig)?;
    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await?;
    Ok(kube::Client::try_from(config)?)
}
