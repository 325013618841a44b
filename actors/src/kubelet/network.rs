//! The node's pod network: one Docker bridge network per node, `rudder-<node>`, whose
//! subnet is the node's pod CIDR. Sandboxes attach to it; a pod's IP is its sandbox's
//! address there.
//!
//! The subnet is `node.spec.podCIDR` once the IPAM controller set it. Before that (or on
//! a node without IPAM) it falls back to a /24 inside `10.244.0.0/16` chosen by a stable
//! hash of the node name; when Docker reports that the subnet overlaps another network on
//! the machine, the next /24 is tried. Nothing outside `10.244.0.0/16` is ever used.

use super::runtime::{ContainerRuntime, RuntimeError};

/// How many fallback /24s are tried before giving up.
const FALLBACK_TRIES: u32 = 32;

/// The Docker network name of `node`'s pods.
pub fn network_name(node: &str) -> String {
    format!("rudder-{node}")
}

/// FNV-1a: stable across Rust versions and processes, unlike `DefaultHasher`.
fn fnv1a(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// The subnets to try for `node`, best first.
pub fn candidate_subnets(node: &str, pod_cidr: Option<&str>) -> Vec<String> {
    let mut out: Vec<String> = pod_cidr
        .filter(|c| !c.is_empty())
        .map(|c| vec![c.to_owned()])
        .unwrap_or_default();
    let start = fnv1a(node) % 256;
    out.extend((0..FALLBACK_TRIES).map(|i| format!("10.244.{}.0/24", (start + i * 7) % 256)));
    out
}

/// Makes sure `node`'s network exists; returns its name and subnet.
pub async fn ensure(
    runtime: &dyn ContainerRuntime,
    node: &str,
    pod_cidr: Option<&str>,
) -> Result<(String, String), RuntimeError> {
    let name = network_name(node);
    let mut last = None;
    for subnet in candidate_subnets(node, pod_cidr) {
        match runtime.ensure_network(&name, &subnet).await {
            Ok(actual) => {
                if actual != subnet && pod_cidr == Some(subnet.as_str()) {
                    tracing::warn!(network = %name, want = %subnet, have = %actual,
                        "node network exists with another subnet than the pod CIDR");
                }
                return Ok((name, actual));
            }
            Err(RuntimeError::Failed { message, .. }) if message.contains("overlap") => {
                // The subnet may be taken by our own network, created a moment ago by a
                // racing kubelet of the same node name: use it rather than a twin.
                if let Ok(actual) = runtime.ensure_network(&name, &subnet).await {
                    return Ok((name, actual));
                }
                tracing::debug!(network = %name, subnet = %subnet, "subnet taken, trying the next");
                last = Some(message);
            }
            Err(e) => return Err(e),
        }
    }
    Err(RuntimeError::Failed {
        operation: format!("create network {name}"),
        message: last.unwrap_or_else(|| "no free subnet".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets() {
        let cases = [
            (
                "pod CIDR first",
                "n1",
                Some("10.244.7.0/24"),
                "10.244.7.0/24",
            ),
            ("empty pod CIDR ignored", "n1", Some(""), "10.244."),
            (
                "fallback inside the cluster CIDR",
                "worker-3",
                None,
                "10.244.",
            ),
        ];
        for (name, node, cidr, want_prefix) in cases {
            let got = candidate_subnets(node, cidr);
            assert!(got[0].starts_with(want_prefix), "{name}: {got:?}");
            assert!(got.iter().all(|s| s.starts_with("10.244.")), "{name}");
        }
        assert_eq!(
            candidate_subnets("a", None),
            candidate_subnets("a", None),
            "stable"
        );
        assert_ne!(
            candidate_subnets("a", None)[0],
            candidate_subnets("b", None)[0]
        );
    }
}
