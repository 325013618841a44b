//! Kubernetes' NodePorts filter: a pod's host ports must not clash with host ports
//! already bound on the node (same protocol and port, on the same address or with either
//! side on every address).

use crate::scheduler::framework::{FilterPlugin, PodInfo, Unfit};
use crate::scheduler::snapshot::NodeInfo;

/// Kubernetes' reason for a host port clash.
pub const REASON_PORTS: &str = "node(s) didn't have free ports for the requested pod ports";

/// Rejects nodes where one of the pod's host ports is taken.
#[derive(Debug, Clone, Copy, Default)]
pub struct NodePorts;

impl FilterPlugin for NodePorts {
    fn name(&self) -> &'static str {
        "NodePorts"
    }

    fn filter(&self, pod: &PodInfo<'_>, node: &NodeInfo) -> Result<(), Unfit> {
        let clash = pod
            .usage
            .host_ports
            .iter()
            .any(|want| node.host_ports.iter().any(|used| used.conflicts(want)));
        if clash {
            Err(Unfit::new(REASON_PORTS))
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rudder_protocol::resources::{ContainerPort, Pod, Protocol};

    use super::*;
    use crate::scheduler::snapshot::tests::{node, pod};
    use crate::scheduler::snapshot::PodUsage;

    fn with_port(ip: &str, protocol: Protocol, port: i32) -> Pod {
        let mut p = pod("p", &[("", "")]);
        p.spec.containers[0].ports.push(ContainerPort {
            container_port: 80,
            host_port: port,
            protocol: Some(protocol),
            host_ip: ip.into(),
            ..Default::default()
        });
        p
    }

    // Case tables are tuples on purpose: one line per case.
    #[allow(clippy::type_complexity)]
    #[test]
    fn port_conflicts() {
        use Protocol::*;
        let cases: Vec<(
            &str,
            Vec<(&str, Protocol, i32)>,
            (&str, Protocol, i32),
            bool,
        )> = vec![
            ("free node", vec![], ("", Tcp, 8080), true),
            (
                "same port and protocol",
                vec![("", Tcp, 8080)],
                ("", Tcp, 8080),
                false,
            ),
            (
                "other protocol",
                vec![("", Udp, 8080)],
                ("", Tcp, 8080),
                true,
            ),
            ("other port", vec![("", Tcp, 8081)], ("", Tcp, 8080), true),
            (
                "two specific addresses",
                vec![("10.0.0.1", Tcp, 80)],
                ("10.0.0.2", Tcp, 80),
                true,
            ),
            (
                "same specific address",
                vec![("10.0.0.1", Tcp, 80)],
                ("10.0.0.1", Tcp, 80),
                false,
            ),
            (
                "wildcard used, specific wanted",
                vec![("", Tcp, 80)],
                ("10.0.0.1", Tcp, 80),
                false,
            ),
            (
                "specific used, wildcard wanted",
                vec![("10.0.0.1", Tcp, 80)],
                ("0.0.0.0", Tcp, 80),
                false,
            ),
        ];
        for (name, used, want, fits) in cases {
            let mut info = NodeInfo::new(Arc::new(node("n", "1", "1Gi", 10)));
            for (ip, proto, port) in used {
                info.add(&PodUsage::of(&with_port(ip, proto, port)));
            }
            let p = with_port(want.0, want.1, want.2);
            let got = NodePorts.filter(&PodInfo::new(&p), &info);
            assert_eq!(got.is_ok(), fits, "{name}");
            if let Err(u) = got {
                assert_eq!(u.reasons().collect::<Vec<_>>(), [REASON_PORTS], "{name}");
            }
        }
        let no_ports = pod("p", &[("", "")]);
        let mut busy = NodeInfo::new(Arc::new(node("n", "1", "1Gi", 10)));
        busy.add(&PodUsage::of(&with_port("", Tcp, 80)));
        assert!(
            NodePorts.filter(&PodInfo::new(&no_ports), &busy).is_ok(),
            "pod without host ports"
        );
    }
}
