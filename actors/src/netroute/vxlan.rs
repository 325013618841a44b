//! The VXLAN side of the pod network, for nodes host-gw cannot reach: a node whose
//! InternalIP is not on one of this node's links (the kernel would refuse it as a
//! gateway) is reached through the tunnel device [`DEVICE`] instead, as flannel's
//! `vxlan` backend with `DirectRouting` does (host-gw where it can, VXLAN where it must).
//!
//! Each node's tunnel endpoint has a MAC address derived from its InternalIP
//! ([`mac_of`]), so no node has to publish anything: for each tunneled node, a
//! forwarding entry sends its MAC to its address (`bridge fdb`), a permanent neighbour
//! entry gives its pod CIDR's network address (the tunnel gateway, as flannel uses it)
//! that MAC, and the route (made by [`super::routes::sync`]) sends the pod CIDR via that
//! gateway, `onlink`, over the device. The device exists only while some node is
//! tunneled; removing it removes all of that with it.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnetwork::Ipv4Network;

use super::routes::ip;

/// The tunnel device.
pub const DEVICE: &str = "rudder-vxlan";
/// Its VXLAN network identifier.
pub const VNI: &str = "4277";
/// The UDP port of the tunnel (Linux's VXLAN port, as flannel's).
pub const PORT: &str = "8472";
/// What VXLAN adds to a packet (outer IPv4, UDP, VXLAN and Ethernet headers).
const OVERHEAD: u32 = 50;

/// The tunnel MAC of the node at `address`: locally administered, the address's bytes.
pub fn mac_of(address: Ipv4Addr) -> String {
    let [a, b, c, d] = address.octets();
    format!("02:52:{a:02x}:{b:02x}:{c:02x}:{d:02x}")
}

/// How this node reaches `address`, read from its main table (`table`, as parsed by
/// [`super::routes::parse`]) by longest prefix, as the kernel would: `Some(true)` on one
/// of its links, `Some(false)` through a gateway, `None` not at all (no route, a
/// blackhole or unreachable route, or only through our own tunnel, which needs the
/// address first).
pub fn on_link(table: &[super::routes::Route], address: Ipv4Addr) -> Option<bool> {
    let best = table
        .iter()
        .filter(|r| r.dest.is_none_or(|d| d.contains(address)))
        .max_by_key(|r| r.dest.map_or(0, |d| d.prefix()))?;
    if best.kind.is_some() || best.dev.as_deref() == Some(DEVICE) {
        return None;
    }
    Some(best.via.is_none())
}

/// The MTU of the interface holding `own` (the tunnel's is that minus the overhead).
fn mtu_of(netns: Option<&str>, own: Ipv4Addr) -> std::io::Result<Option<u32>> {
    let (ok, out, _) = ip(netns, &["-o", "-4", "addr", "show"])?;
    if !ok {
        return Ok(None);
    }
    let needle = format!("inet {own}/");
    let Some(dev) = out
        .lines()
        .find(|l| l.contains(&needle))
        .and_then(|l| l.split_whitespace().nth(1))
    else {
        return Ok(None);
    };
    let (ok, out, _) = ip(netns, &["-o", "link", "show", "dev", dev])?;
    if !ok {
        return Ok(None);
    }
    let words: Vec<&str> = out.split_whitespace().collect();
    Ok(words
        .windows(2)
        .find(|w| w[0] == "mtu")
        .and_then(|w| w[1].parse().ok()))
}

fn run(netns: Option<&str>, args: &[&str]) -> std::io::Result<()> {
    let (ok, _, err) = ip(netns, args)?;
    if ok {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "ip {}: {err}",
            args.join(" ")
        )))
    }
}

/// `bridge` (iproute2) in `netns`.
fn bridge(netns: Option<&str>, args: &[&str]) -> std::io::Result<(bool, String, String)> {
    super::routes::iproute2("bridge", netns, args)
}

/// Makes the device exist with `own` as its local address and our MAC; recreated if it
/// was made for another address.
fn ensure_device(netns: Option<&str>, own: Ipv4Addr) -> std::io::Result<()> {
    let (exists, details, _) = ip(netns, &["-d", "link", "show", "dev", DEVICE])?;
    let own_s = own.to_string();
    if exists && details.contains(&format!("local {own_s} ")) {
        return Ok(());
    }
    if exists {
        run(netns, &["link", "del", DEVICE])?;
    }
    run(
        netns,
        &[
            "link",
            "add",
            DEVICE,
            "type",
            "vxlan",
            "id",
            VNI,
            "local",
            &own_s,
            "dstport",
            PORT,
            "nolearning",
        ],
    )?;
    let mac = mac_of(own);
    let mut set = vec!["link", "set", DEVICE, "address", mac.as_str()];
    let mtu = mtu_of(netns, own)?.map(|m| m.saturating_sub(OVERHEAD).to_string());
    if let Some(m) = &mtu {
        set.extend(["mtu", m.as_str()]);
    }
    set.push("up");
    run(netns, &set)
}

/// `(MAC, destination)` of the device's forwarding entries (`bridge fdb show` lines
/// `02:52:c0:a8:14:02 dst 192.168.20.2 self permanent`).
pub fn parse_fdb(text: &str) -> BTreeMap<String, Ipv4Addr> {
    text.lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let dst = w.windows(2).find(|p| p[0] == "dst")?[1].parse().ok()?;
            Some((w.first()?.to_string(), dst))
        })
        .collect()
}

/// `(address, MAC)` of the device's neighbour entries (`ip neigh show` lines
/// `10.244.2.0 lladdr 02:52:c0:a8:14:02 PERMANENT`).
pub fn parse_neigh(text: &str) -> BTreeMap<Ipv4Addr, String> {
    text.lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let mac = w.windows(2).find(|p| p[0] == "lladdr")?[1].to_owned();
            Some((w.first()?.parse().ok()?, mac))
        })
        .collect()
}

/// Makes the tunnel match `tunneled` (pod CIDR -> node address): the device, one
/// forwarding and one neighbour entry per node, nothing else; no device when empty.
pub fn sync(
    netns: Option<&str>,
    own: Ipv4Addr,
    tunneled: &BTreeMap<Ipv4Network, Ipv4Addr>,
) -> std::io::Result<()> {
    if tunneled.is_empty() {
        return remove(netns).map(|_| ());
    }
    ensure_device(netns, own)?;
    let want_fdb: BTreeMap<String, Ipv4Addr> =
        tunneled.values().map(|a| (mac_of(*a), *a)).collect();
    let (_, fdb, _) = bridge(netns, &["fdb", "show", "dev", DEVICE])?;
    let have_fdb = parse_fdb(&fdb);
    for (mac, dst) in &want_fdb {
        if have_fdb.get(mac) != Some(dst) {
            let dst = dst.to_string();
            let args = [
                "fdb",
                "replace",
                mac.as_str(),
                "dev",
                DEVICE,
                "dst",
                &dst,
                "self",
                "permanent",
            ];
            let (ok, _, err) = bridge(netns, &args)?;
            if !ok {
                return Err(std::io::Error::other(format!(
                    "bridge fdb replace {mac}: {err}"
                )));
            }
        }
    }
    for (mac, dst) in have_fdb.iter().filter(|(m, _)| !want_fdb.contains_key(*m)) {
        let dst = dst.to_string();
        bridge(
            netns,
            &["fdb", "del", mac, "dev", DEVICE, "dst", &dst, "self"],
        )?;
    }
    let want_neigh: BTreeMap<Ipv4Addr, String> = tunneled
        .iter()
        .map(|(cidr, a)| (cidr.network(), mac_of(*a)))
        .collect();
    let (_, neigh, _) = ip(netns, &["-4", "neigh", "show", "dev", DEVICE])?;
    let have_neigh = parse_neigh(&neigh);
    for (addr, mac) in &want_neigh {
        if have_neigh.get(addr) != Some(mac) {
            let a = addr.to_string();
            run(
                netns,
                &[
                    "neigh",
                    "replace",
                    &a,
                    "lladdr",
                    mac,
                    "dev",
                    DEVICE,
                    "nud",
                    "permanent",
                ],
            )?;
        }
    }
    for addr in have_neigh.keys().filter(|a| !want_neigh.contains_key(*a)) {
        let a = addr.to_string();
        ip(netns, &["neigh", "del", &a, "dev", DEVICE])?;
    }
    Ok(())
}

/// Removes the device (and every entry and route on it); whether there was one.
pub fn remove(netns: Option<&str>) -> std::io::Result<bool> {
    let (exists, _, _) = ip(netns, &["link", "show", "dev", DEVICE])?;
    if exists {
        run(netns, &["link", "del", DEVICE])?;
    }
    Ok(exists)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reachability_by_longest_prefix() {
        let table = super::super::routes::parse(
            "default via 192.168.10.1 dev eth0 \n\
             blackhole 10.244.0.0/16 \n\
             10.244.2.0/24 via 10.244.2.0 dev rudder-vxlan proto 77 onlink \n\
             192.168.10.0/24 dev eth0 proto kernel scope link src 192.168.10.2 \n",
        );
        let at = |a: &str| on_link(&table, a.parse().unwrap());
        assert_eq!(at("192.168.10.7"), Some(true));
        assert_eq!(at("192.168.20.2"), Some(false));
        assert_eq!(at("10.244.9.1"), None);
        assert_eq!(at("10.244.2.5"), None);
        assert_eq!(on_link(&[], "192.168.10.7".parse().unwrap()), None);
    }

    #[test]
    fn macs_and_tables() {
        assert_eq!(mac_of("192.168.20.2".parse().unwrap()), "02:52:c0:a8:14:02");
        let fdb = "02:52:c0:a8:14:02 dst 192.168.20.2 self permanent\n\
                   00:00:00:00:00:00 dst 10.0.0.9 self permanent\n\
                   33:33:00:00:00:01 self permanent\n";
        let got = parse_fdb(fdb);
        assert_eq!(got.len(), 2);
        assert_eq!(
            got["02:52:c0:a8:14:02"],
            "192.168.20.2".parse::<Ipv4Addr>().unwrap()
        );
        let neigh = "10.244.2.0 lladdr 02:52:c0:a8:14:02 PERMANENT\n10.244.9.0 FAILED\n";
        let got = parse_neigh(neigh);
        assert_eq!(got.len(), 1);
        assert_eq!(
            got[&"10.244.2.0".parse::<Ipv4Addr>().unwrap()],
            "02:52:c0:a8:14:02"
        );
    }
}
