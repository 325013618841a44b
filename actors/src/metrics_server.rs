//! The metrics-server role: scrapes the kubelets' latest measurements
//! (`KubeletRequest::Metrics`) over the bus, in parallel and with a deadline each.
//!
//! The API server serves `metrics.k8s.io` from it (`apiserver::metrics`) and the
//! HorizontalPodAutoscaler controller reads pod usage through it, so both see the same
//! figures, measured by the kubelets and never derived from requests or limits. Nothing
//! is stored: each call asks the kubelets again (they answer from memory). A node whose
//! kubelet does not answer is left out, as metrics-server leaves out nodes it cannot
//! scrape.

use std::collections::BTreeMap;
use std::time::Duration;

use rudder_protocol::messages::kubelet::{KubeletReply, KubeletRequest, MetricsSnapshot};
use rudder_protocol::ActorRef;

use crate::bus::Bus;

/// How long one kubelet may take to answer.
pub const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);
/// Kubelets asked at once.
const CONCURRENCY: usize = 32;

/// The latest measurements of each of `nodes` whose kubelet answered.
pub async fn scrape(
    bus: &Bus,
    nodes: impl IntoIterator<Item = String>,
) -> BTreeMap<String, MetricsSnapshot> {
    use futures::stream::{self, StreamExt};
    stream::iter(nodes)
        .map(|node| async move {
            let to = ActorRef::new(node.as_str(), crate::kubelet::NAME);
            match bus.call(to, KubeletRequest::Metrics, SCRAPE_TIMEOUT).await {
                Ok(KubeletReply::Metrics(m)) => Some((node, m)),
                Ok(other) => {
                    tracing::debug!(node = %node, reply = ?other, "metrics: unexpected kubelet reply");
                    None
                }
                Err(e) => {
                    tracing::debug!(node = %node, error = %e, "metrics: kubelet not scraped");
                    None
                }
            }
        })
        .buffer_unordered(CONCURRENCY)
        .filter_map(|x| async move { x })
        .collect()
        .await
}
