//! Kubernetes' CEL libraries for IP addresses, CIDRs, URLs and quantities
//! (`k8s.io/apiserver/pkg/cel/library`: `ip.go`, `cidr.go`, `urls.go`, `quantity.go`),
//! which CRDs such as Gateway API's use in their rules (`isIP(self.value)`,
//! `cidr(self.range).containsIP(...)`, `quantity(self.size).isLessThan(quantity('1Gi'))`).
//!
//! The interpreter has no opaque types, so an IP, a CIDR, a URL or a quantity is its
//! canonical string: `ip(s)` checks and canonicalises `s`, and the methods (`family()`,
//! `containsIP()`, `getHost()`, `isGreaterThan()`, ...) parse their target again. What a
//! rule can observe is the same as in Kubernetes: the constructors fail on bad input
//! with Kubernetes' kind of message, and the methods answer as Go's `netip`, `net/url`
//! and `resource.Quantity` do.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use cel_interpreter::extractors::This;
use cel_interpreter::objects::{Key, Map};
use cel_interpreter::{Context, FunctionContext, Value as Cel};
use rudder_protocol::resources::Quantity;

type CelResult<T> = Result<T, cel_interpreter::ExecutionError>;

/// A string result (the interpreter takes `Arc<String>` results, not `String` ones).
fn ok_string(s: String) -> CelResult<Arc<String>> {
    Ok(Arc::new(s))
}

/// The functions this module adds, for [`super::FUNCTIONS`].
pub const FUNCTIONS: &[&str] = &[
    "isIP",
    "ip",
    "family",
    "isUnspecified",
    "isLoopback",
    "isLinkLocalMulticast",
    "isLinkLocalUnicast",
    "isGlobalUnicast",
    "isCIDR",
    "cidr",
    "containsIP",
    "containsCIDR",
    "masked",
    "prefixLength",
    "isURL",
    "url",
    "getScheme",
    "getHost",
    "getHostname",
    "getPort",
    "getEscapedPath",
    "getQuery",
    "isQuantity",
    "quantity",
    "isInteger",
    "asInteger",
    "asApproximateFloat",
    "sign",
    "add",
    "sub",
    "isGreaterThan",
    "isLessThan",
    "compareTo",
];

/// Registers the libraries' functions.
pub fn add(ctx: &mut Context) {
    ctx.add_function("isIP", |This(s): This<Arc<String>>| parse_ip(&s).is_ok());
    ctx.add_function("ip", ip);
    ctx.add_function(
        "family",
        |ftx: &FunctionContext, This(s): This<Arc<String>>| {
            Ok::<i64, _>(if ip_of(ftx, &s)?.is_ipv4() { 4 } else { 6 })
        },
    );
    ctx.add_function(
        "isUnspecified",
        |ftx: &FunctionContext, This(s): This<Arc<String>>| {
            Ok::<bool, _>(ip_of(ftx, &s)?.is_unspecified())
        },
    );
    ctx.add_function(
        "isLoopback",
        |ftx: &FunctionContext, This(s): This<Arc<String>>| {
            Ok::<bool, _>(ip_of(ftx, &s)?.is_loopback())
        },
    );
    ctx.add_function(
        "isLinkLocalMulticast",
        |ftx: &FunctionContext, This(s): This<Arc<String>>| {
            Ok::<bool, _>(match ip_of(ftx, &s)? {
                IpAddr::V4(a) => a.octets()[..3] == [224, 0, 0],
                IpAddr::V6(a) => a.octets()[0] == 0xff && a.octets()[1] & 0x0f == 0x02,
            })
        },
    );
    ctx.add_function(
        "isLinkLocalUnicast",
        |ftx: &FunctionContext, This(s): This<Arc<String>>| {
            Ok::<bool, _>(link_local_unicast(ip_of(ftx, &s)?))
        },
    );
    ctx.add_function(
        "isGlobalUnicast",
        |ftx: &FunctionContext, This(s): This<Arc<String>>| {
            Ok::<bool, _>(global_unicast(ip_of(ftx, &s)?))
        },
    );

    ctx.add_function("isCIDR", |This(s): This<Arc<String>>| {
        parse_cidr(&s).is_ok()
    });
    ctx.add_function(
        "cidr",
        |ftx: &FunctionContext, This(s): This<Arc<String>>| {
            let (addr, bits) = cidr_of(ftx, &s)?;
            ok_string(format!("{addr}/{bits}"))
        },
    );
    ctx.add_function("containsIP", contains_ip);
    ctx.add_function("containsCIDR", contains_cidr);
    ctx.add_function(
        "masked",
        |ftx: &FunctionContext, This(s): This<Arc<String>>| {
            let (addr, bits) = cidr_of(ftx, &s)?;
            ok_string(format!("{}/{bits}", mask(addr, bits)))
        },
    );
    ctx.add_function(
        "prefixLength",
        |ftx: &FunctionContext, This(s): This<Arc<String>>| {
            Ok::<i64, _>(i64::from(cidr_of(ftx, &s)?.1))
        },
    );

    ctx.add_function("isURL", |This(s): This<Arc<String>>| parse_url(&s).is_ok());
    ctx.add_function(
        "url",
        |ftx: &FunctionContext, This(s): This<Arc<String>>| {
            url_of(ftx, &s)?;
            Ok::<Arc<String>, _>(s)
        },
    );
    ctx.add_function(
        "getScheme",
        |ftx: &FunctionContext, This(s): This<Arc<String>>| {
            ok_string(url_of(ftx, &s)?.scheme.to_owned())
        },
    );
    ctx.add_function(
        "getHost",
        |ftx: &FunctionContext, This(s): This<Arc<String>>| {
            ok_string(url_of(ftx, &s)?.host.to_owned())
        },
    );
    ctx.add_function(
        "getHostname",
        |ftx: &FunctionContext, This(s): This<Arc<String>>| {
            ok_string(split_host(url_of(ftx, &s)?.host).0.to_owned())
        },
    );
    ctx.add_function(
        "getPort",
        |ftx: &FunctionContext, This(s): This<Arc<String>>| {
            ok_string(split_host(url_of(ftx, &s)?.host).1.to_owned())
        },
    );
    ctx.add_function(
        "getEscapedPath",
        |ftx: &FunctionContext, This(s): This<Arc<String>>| {
            ok_string(url_of(ftx, &s)?.path.to_owned())
        },
    );
    ctx.add_function("getQuery", get_query);

    ctx.add_function("isQuantity", |This(s): This<Arc<String>>| {
        Quantity::parse(&s).is_ok()
    });
    ctx.add_function(
        "quantity",
        |ftx: &FunctionContext, This(s): This<Arc<String>>| {
            ok_string(quantity_of(ftx, &s)?.as_str().to_owned())
        },
    );
    ctx.add_function(
        "isInteger",
        |ftx: &FunctionContext, This(s): This<Arc<String>>| {
            Ok::<bool, _>(as_integer(&quantity_of(ftx, &s)?).is_some())
        },
    );
    ctx.add_function(
        "asInteger",
        |ftx: &FunctionContext, This(s): This<Arc<String>>| {
            let q = quantity_of(ftx, &s)?;
            as_integer(&q).ok_or_else(|| {
                ftx.error(format!(
                "cannot convert value to integer: {} is not an integer or does not fit in int64",
                q.as_str()
            ))
            })
        },
    );
    ctx.add_function(
        "asApproximateFloat",
        |ftx: &FunctionContext, This(s): This<Arc<String>>| {
            let q = quantity_of(ftx, &s)?;
            // Nanounits keep every digit a quantity can have below 9.2e9; larger ones
            // lose only what a float would.
            let nanos = q.scaled_value(-9);
            Ok::<f64, _>(if nanos == i64::MAX || nanos == i64::MIN {
                q.value() as f64
            } else {
                nanos as f64 / 1e9
            })
        },
    );
    ctx.add_function(
        "sign",
        |ftx: &FunctionContext, This(s): This<Arc<String>>| {
            let q = quantity_of(ftx, &s)?;
            Ok::<i64, _>(if q.is_zero() {
                0
            } else if q.is_negative() {
                -1
            } else {
                1
            })
        },
    );
    ctx.add_function(
        "add",
        |ftx: &FunctionContext, This(s): This<Arc<String>>, other: Cel| {
            let q = quantity_of(ftx, &s)?;
            let other = operand(ftx, &q, other)?;
            ok_string(q.add(&other).as_str().to_owned())
        },
    );
    ctx.add_function(
        "sub",
        |ftx: &FunctionContext, This(s): This<Arc<String>>, other: Cel| {
            let q = quantity_of(ftx, &s)?;
            let other = operand(ftx, &q, other)?;
            ok_string(q.sub(&other).as_str().to_owned())
        },
    );
    ctx.add_function(
        "isGreaterThan",
        |ftx: &FunctionContext, This(s): This<Arc<String>>, other: Arc<String>| {
            Ok::<bool, _>(compare(ftx, &s, &other)? == std::cmp::Ordering::Greater)
        },
    );
    ctx.add_function(
        "isLessThan",
        |ftx: &FunctionContext, This(s): This<Arc<String>>, other: Arc<String>| {
            Ok::<bool, _>(compare(ftx, &s, &other)? == std::cmp::Ordering::Less)
        },
    );
    ctx.add_function(
        "compareTo",
        |ftx: &FunctionContext, This(s): This<Arc<String>>, other: Arc<String>| {
            Ok::<i64, _>(compare(ftx, &s, &other)? as i64)
        },
    );
}

// ---------------------------------------------------------------------------------------
// IP addresses and CIDRs
// ---------------------------------------------------------------------------------------

/// An IP address as Kubernetes' library accepts one: no zone, no IPv4-mapped IPv6.
fn parse_ip(s: &str) -> Result<IpAddr, String> {
    if s.contains('%') {
        return Err("IP address with zone value is not allowed".into());
    }
    let addr: IpAddr = s.parse().map_err(|e| format!("{e}"))?;
    if let IpAddr::V6(v6) = addr {
        if v6.to_ipv4_mapped().is_some() {
            return Err("IPv4-mapped IPv6 address is not allowed".into());
        }
    }
    Ok(addr)
}

fn ip_of(ftx: &FunctionContext, s: &str) -> CelResult<IpAddr> {
    parse_ip(s).map_err(|e| {
        ftx.error(format!(
            "IP Address {s:?} parse error during conversion from string: {e}"
        ))
    })
}

/// `ip(string)`, and `cidr.ip()` (the CIDR's address, host bits kept).
fn ip(ftx: &FunctionContext, This(s): This<Arc<String>>) -> CelResult<Arc<String>> {
    if ftx.this.is_some() && s.contains('/') {
        return ok_string(cidr_of(ftx, &s)?.0.to_string());
    }
    ok_string(ip_of(ftx, &s)?.to_string())
}

/// A prefix as Go's `netip.ParsePrefix` reads it (host bits may be set), with the
/// address rules of [`parse_ip`].
fn parse_cidr(s: &str) -> Result<(IpAddr, u8), String> {
    let (addr, bits) = s
        .split_once('/')
        .ok_or_else(|| format!("netip.ParsePrefix({s:?}): no '/'"))?;
    let addr = parse_ip(addr)?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let valid_digits = !bits.is_empty()
        && bits.bytes().all(|b| b.is_ascii_digit())
        && !(bits.len() > 1 && bits.starts_with('0'));
    match bits.parse::<u8>() {
        Ok(b) if valid_digits && b <= max => Ok((addr, b)),
        _ => Err(format!("netip.ParsePrefix({s:?}): bad bits after slash")),
    }
}

fn cidr_of(ftx: &FunctionContext, s: &str) -> CelResult<(IpAddr, u8)> {
    parse_cidr(s).map_err(|e| {
        ftx.error(format!(
            "network address parse error during conversion from string: {e}"
        ))
    })
}

/// The address with its bits past `bits` cleared.
fn mask(addr: IpAddr, bits: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let m = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            IpAddr::V4((u32::from(a) & m).into())
        }
        IpAddr::V6(a) => {
            let m = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            IpAddr::V6((u128::from(a) & m).into())
        }
    }
}

fn contains(prefix: (IpAddr, u8), addr: IpAddr) -> bool {
    prefix.0.is_ipv4() == addr.is_ipv4() && mask(addr, prefix.1) == mask(prefix.0, prefix.1)
}

fn contains_ip(
    ftx: &FunctionContext,
    This(s): This<Arc<String>>,
    other: Arc<String>,
) -> CelResult<bool> {
    let prefix = cidr_of(ftx, &s)?;
    Ok(contains(prefix, ip_of(ftx, &other)?))
}

fn contains_cidr(
    ftx: &FunctionContext,
    This(s): This<Arc<String>>,
    other: Arc<String>,
) -> CelResult<bool> {
    let prefix = cidr_of(ftx, &s)?;
    let inner = cidr_of(ftx, &other)?;
    Ok(inner.1 >= prefix.1 && contains(prefix, inner.0))
}

fn link_local_unicast(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => a.octets()[..2] == [169, 254],
        IpAddr::V6(a) => a.segments()[0] & 0xffc0 == 0xfe80,
    }
}

/// Go's `IsGlobalUnicast`: anything but unspecified, loopback, multicast, link-local
/// unicast and the IPv4 broadcast address (private ranges are global unicast).
fn global_unicast(addr: IpAddr) -> bool {
    let broadcast = matches!(addr, IpAddr::V4(a) if a.is_broadcast());
    !(addr.is_unspecified()
        || addr.is_loopback()
        || addr.is_multicast()
        || link_local_unicast(addr)
        || broadcast)
}

// ---------------------------------------------------------------------------------------
// URLs
// ---------------------------------------------------------------------------------------

/// The parts of a URL the library exposes, as written.
struct Url<'a> {
    scheme: &'a str,
    /// `host[:port]`, IPv6 in brackets.
    host: &'a str,
    /// The path, escapes kept.
    path: &'a str,
    query: &'a str,
}

/// A URL as Go's `url.ParseRequestURI` takes one: an absolute URL or an absolute path.
fn parse_url(s: &str) -> Result<Url<'_>, String> {
    if s.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("invalid control character in URL".into());
    }
    let (before_query, query) = s.split_once('?').unwrap_or((s, ""));
    let (scheme, host, path) = if before_query.starts_with('/') {
        ("", "", before_query)
    } else {
        let (scheme, rest) = before_query
            .split_once(':')
            .ok_or("invalid URI for request")?;
        let mut chars = scheme.chars();
        let scheme_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        if !scheme_ok {
            return Err("missing protocol scheme".into());
        }
        match rest.strip_prefix("//") {
            Some(rest) => {
                let end = rest.find('/').unwrap_or(rest.len());
                let authority = &rest[..end];
                let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
                check_host(host)?;
                (scheme, host, &rest[end..])
            }
            None if rest.starts_with('/') => (scheme, "", rest),
            None => return Err("invalid URI for request".into()),
        }
    };
    check_escapes(path)?;
    check_escapes(query)?;
    Ok(Url {
        scheme,
        host,
        path,
        query,
    })
}

fn check_host(host: &str) -> Result<(), String> {
    let (name, port) = split_host(host);
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("invalid port {port:?} after host"));
    }
    if host.starts_with('[') {
        return match name.parse::<std::net::Ipv6Addr>() {
            Ok(_) => Ok(()),
            Err(_) => Err(format!("invalid IPv6 host {name:?}")),
        };
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=%".contains(c);
    if name.chars().all(allowed) {
        Ok(())
    } else {
        Err(format!("invalid character in host name {name:?}"))
    }
}

/// `host[:port]` as (hostname, port): brackets off an IPv6 literal, `""` for no port.
fn split_host(host: &str) -> (&str, &str) {
    if let Some(rest) = host.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((name, tail)) => (name, tail.strip_prefix(':').unwrap_or("")),
            None => (rest, ""),
        };
    }
    host.rsplit_once(':').unwrap_or((host, ""))
}

/// Every `%` starts a valid escape.
fn check_escapes(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let ok =
                b.len() > i + 2 && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit();
            if !ok {
                return Err(format!(
                    "invalid URL escape {:?}",
                    &s[i..(i + 3).min(s.len())]
                ));
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    Ok(())
}

fn url_of<'a>(ftx: &FunctionContext, s: &'a str) -> CelResult<Url<'a>> {
    parse_url(s).map_err(|e| {
        ftx.error(format!(
            "URL parse error during conversion from string: {e}"
        ))
    })
}

/// Percent-decoding of a query component (`+` is a space, as Go's `ParseQuery`).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `url.getQuery()`: each key with its values in order.
fn get_query(ftx: &FunctionContext, This(s): This<Arc<String>>) -> CelResult<Cel> {
    let url = url_of(ftx, &s)?;
    let mut map: HashMap<String, Vec<Cel>> = HashMap::new();
    for pair in url.query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        map.entry(unescape(k))
            .or_default()
            .push(Cel::String(Arc::new(unescape(v))));
    }
    let map: HashMap<Key, Cel> = map
        .into_iter()
        .map(|(k, v)| (Key::String(Arc::new(k)), Cel::List(Arc::new(v))))
        .collect();
    Ok(Cel::Map(Map { map: Arc::new(map) }))
}

// ---------------------------------------------------------------------------------------
// Quantities
// ---------------------------------------------------------------------------------------

fn quantity_of(ftx: &FunctionContext, s: &str) -> CelResult<Quantity> {
    Quantity::parse(s).map_err(|e| ftx.error(format!("quantity {s:?}: {e}")))
}

/// The value as an `int64` when it is a whole number that fits.
fn as_integer(q: &Quantity) -> Option<i64> {
    let v = q.value();
    let whole = Quantity::new(v, q.format());
    (v != i64::MAX && v != i64::MIN && whole.cmp_value(q) == std::cmp::Ordering::Equal).then_some(v)
}

/// The other side of `add` or `sub`: a quantity or an integer.
fn operand(ftx: &FunctionContext, q: &Quantity, other: Cel) -> CelResult<Quantity> {
    match other {
        Cel::String(s) => quantity_of(ftx, &s),
        Cel::Int(i) => Ok(Quantity::new(i, q.format())),
        other => Err(ftx.error(format!(
            "no such overload: quantity and {:?}",
            other.type_of()
        ))),
    }
}

fn compare(ftx: &FunctionContext, a: &str, b: &str) -> CelResult<std::cmp::Ordering> {
    Ok(quantity_of(ftx, a)?.cmp_value(&quantity_of(ftx, b)?))
}
