//! The node's own address on the network it serves pods from: its `InternalIP` in the
//! Node status, its pods' `status.hostIP`, the next hop other nodes route its pod CIDR
//! through.
//!
//! The choice, first that applies ([`choose`]):
//! 1. `[node] address` (or `--node-ip`), when set;
//! 2. the bus listen address, when it names one interface and is not loopback (the node
//!    already told its peers where it is);
//! 3. `127.0.0.1` when the bus listens on loopback only: a loopback-only node (the
//!    embedded default, the tests' local clusters) has no other address its peers use;
//! 4. otherwise (a wildcard listen address), the source address the kernel picks for the
//!    default route ([`default_route_source`]: the interface holding it), or `127.0.0.1`
//!    when there is no default route.
//!
//! Nothing here sends a packet: finding the default route's source address connects an
//! unbound UDP socket, which only asks the kernel for a route.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};

/// The address of a node given its configured address (`None`: not set), its bus listen
/// address, and the default route's source address (if any).
pub fn choose(
    configured: Option<IpAddr>,
    listen: Option<IpAddr>,
    default_route: Option<Ipv4Addr>,
) -> IpAddr {
    if let Some(ip) = configured {
        return ip;
    }
    match listen {
        Some(ip) if !ip.is_loopback() && !ip.is_unspecified() => ip,
        Some(ip) if ip.is_loopback() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        _ => default_route
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
    }
}

/// The node's address from its configuration: `[node] address` (empty: not set) and the
/// bus `listen` address, looking at the default route only when they leave it open.
pub fn node_address(configured: &str, listen: &str) -> IpAddr {
    let configured = configured.parse::<IpAddr>().ok();
    let listen = listen.parse::<SocketAddr>().ok().map(|a| a.ip());
    let open = configured.is_none() && listen.is_none_or(|ip| ip.is_unspecified());
    let default_route = if open { default_route_source() } else { None };
    choose(configured, listen, default_route)
}

/// The gateway of the IPv4 default route in `/proc/net/route`'s format (`None`: no
/// default route, or one without a gateway).
pub fn default_gateway(route_table: &str) -> Option<Ipv4Addr> {
    route_table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        // Iface Destination Gateway Flags RefCnt Use Metric Mask ...
        if f.len() < 8 || f[1] != "00000000" || f[7] != "00000000" {
            return None;
        }
        // The kernel prints the address in host byte order (little-endian here).
        let gw = u32::from_str_radix(f[2], 16).ok()?;
        let gw = Ipv4Addr::from(gw.swap_bytes());
        (!gw.is_unspecified()).then_some(gw)
    })
}

/// The source address the kernel uses for the default route, if there is one.
pub fn default_route_source() -> Option<Ipv4Addr> {
    let table = std::fs::read_to_string("/proc/net/route").ok()?;
    let gw = default_gateway(&table)?;
    // connect() on UDP sends nothing: it only picks the route and the source address.
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    socket.connect((gw, 9)).ok()?;
    match socket.local_addr().ok()?.ip() {
        IpAddr::V4(ip) if !ip.is_unspecified() => Some(ip),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choice_table() {
        let ip = |s: &str| s.parse::<IpAddr>().ok();
        let route = Some(Ipv4Addr::new(192, 168, 1, 20));
        let cases = [
            (
                "configured wins",
                ip("10.0.0.5"),
                ip("172.18.0.2"),
                route,
                "10.0.0.5",
            ),
            (
                "a specific listen address",
                None,
                ip("172.18.0.2"),
                route,
                "172.18.0.2",
            ),
            ("loopback only", None, ip("127.0.0.1"), route, "127.0.0.1"),
            (
                "wildcard: the default route's",
                None,
                ip("0.0.0.0"),
                route,
                "192.168.1.20",
            ),
            ("wildcard, no route", None, ip("0.0.0.0"), None, "127.0.0.1"),
            ("unreadable listen, no route", None, None, None, "127.0.0.1"),
        ];
        for (name, configured, listen, route, want) in cases {
            assert_eq!(
                choose(configured, listen, route).to_string(),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn default_gateway_from_proc_net_route() {
        let table =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
            eth0\t0012A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
            eth0\t00000000\t0112A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n";
        assert_eq!(default_gateway(table), Some(Ipv4Addr::new(192, 168, 18, 1)));
        let none = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\n\
            eth0\t0012A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\n";
        assert_eq!(default_gateway(none), None);
    }
}
