//! A pod's names: its hostname and domain, the kubelet-managed `/etc/hosts`, and the
//! `resolv.conf` of its DNS policy. Pure: the worker writes what these render into the
//! pod's directory and binds the two files into every container.
//!
//! Kubernetes' rules:
//! - Hostname: `spec.hostname` or the pod's name (at most 63 bytes). With a
//!   `subdomain`, the domain is `<subdomain>.<namespace>.svc.<cluster domain>`, and
//!   `setHostnameAsFQDN` makes the hostname the whole name (at most 64 bytes, or the
//!   pod cannot start).
//! - `/etc/hosts`: localhost entries, the pod's IP with its names, then the
//!   `hostAliases` entries. A pod on the host's network gets the host's file with the
//!   aliases after it.
//! - `resolv.conf` by `dnsPolicy`: `ClusterFirst` (and `ClusterFirstWithHostNet` on the
//!   host's network) is the cluster DNS with the search path
//!   `<ns>.svc.<domain> svc.<domain> <domain>` followed by the host's, and
//!   `options ndots:5`; a node without a cluster DNS address falls back to `Default`
//!   (with a `MissingClusterDNS` event), as does `ClusterFirst` on the host's network;
//!   `Default` is the host's file; `None` only the pod's `dnsConfig`, which every
//!   other policy merges in: nameservers and searches appended without duplicates
//!   (at most 3 nameservers and 32 searches), options replaced by name.

use rudder_protocol::resources::{DnsPolicy, Pod, PodDnsConfigOption};

/// Most nameservers a resolver reads (glibc's `MAXNS`).
pub const MAX_NAMESERVERS: usize = 3;
/// Most search domains Kubernetes writes.
pub const MAX_SEARCHES: usize = 32;
/// Longest fully qualified hostname `setHostnameAsFQDN` may give.
pub const MAX_FQDN: usize = 64;

/// The pod's hostname and domain name (see the module docs); the error is why the pod
/// cannot start.
pub fn hostname_and_domain(pod: &Pod, cluster_domain: &str) -> Result<(String, String), String> {
    let base = if pod.spec.hostname.is_empty() {
        &pod.metadata.name
    } else {
        &pod.spec.hostname
    };
    let host: String = base.chars().take(63).collect();
    if pod.spec.subdomain.is_empty() {
        return Ok((host, String::new()));
    }
    let domain = format!(
        "{}.{}.svc.{cluster_domain}",
        pod.spec.subdomain, pod.metadata.namespace
    );
    if pod.spec.set_hostname_as_fqdn == Some(true) {
        let fqdn = format!("{host}.{domain}");
        if fqdn.len() > MAX_FQDN {
            return Err(format!(
                "failed to construct FQDN from pod hostname and cluster domain, FQDN {fqdn} is \
                 too long ({MAX_FQDN} characters is the max, {} characters requested)",
                fqdn.len()
            ));
        }
        return Ok((fqdn, domain));
    }
    Ok((host, domain))
}

/// The kubelet-managed `/etc/hosts` of a pod with IP `pod_ip`; `host_hosts` is the
/// host's file, used for a pod on the host's network.
pub fn render_hosts(pod: &Pod, pod_ip: &str, cluster_domain: &str, host_hosts: &str) -> String {
    let mut out = String::new();
    if pod.spec.host_network {
        out.push_str("# Kubernetes-managed hosts file (host network).\n");
        out.push_str(host_hosts);
        if !out.ends_with('\n') {
            out.push('\n');
        }
    } else {
        out.push_str("# Kubernetes-managed hosts file.\n");
        out.push_str("127.0.0.1\tlocalhost\n");
        out.push_str("::1\tlocalhost ip6-localhost ip6-loopback\n");
        out.push_str("fe00::0\tip6-localnet\n");
        out.push_str("fe00::0\tip6-mcastprefix\n");
        out.push_str("fe00::1\tip6-allnodes\n");
        out.push_str("fe00::2\tip6-allrouters\n");
        if !pod_ip.is_empty() {
            let host = if pod.spec.hostname.is_empty() {
                &pod.metadata.name
            } else {
                &pod.spec.hostname
            };
            let host: String = host.chars().take(63).collect();
            if pod.spec.subdomain.is_empty() {
                out.push_str(&format!("{pod_ip}\t{host}\n"));
            } else {
                out.push_str(&format!(
                    "{pod_ip}\t{host}.{}.{}.svc.{cluster_domain}\t{host}\n",
                    pod.spec.subdomain, pod.metadata.namespace
                ));
            }
        }
    }
    if !pod.spec.host_aliases.is_empty() {
        out.push_str("\n# Entries added by HostAliases.\n");
        for a in &pod.spec.host_aliases {
            out.push_str(&format!("{}\t{}\n", a.ip, a.hostnames.join("\t")));
        }
    }
    out
}

/// A parsed `resolv.conf`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResolvConf {
    /// `nameserver` lines.
    pub nameservers: Vec<String>,
    /// The `search` (or `domain`) list.
    pub searches: Vec<String>,
    /// `options`, as written (`ndots:5`, `edns0`).
    pub options: Vec<String>,
}

impl ResolvConf {
    /// Reads the text of a `resolv.conf` (the last `search` or `domain` line wins, as
    /// for the resolver).
    pub fn parse(text: &str) -> ResolvConf {
        let mut r = ResolvConf::default();
        for line in text.lines() {
            let line = line.split(['#', ';']).next().unwrap_or("");
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => r.nameservers.extend(words.next().map(str::to_owned)),
                Some("search") | Some("domain") => {
                    r.searches = words.map(str::to_owned).collect();
                }
                Some("options") => r.options.extend(words.map(str::to_owned)),
                _ => {}
            }
        }
        r
    }

    /// The file's text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for n in &self.nameservers {
            out.push_str(&format!("nameserver {n}\n"));
        }
        if !self.searches.is_empty() {
            out.push_str(&format!("search {}\n", self.searches.join(" ")));
        }
        if !self.options.is_empty() {
            out.push_str(&format!("options {}\n", self.options.join(" ")));
        }
        out
    }
}

/// What [`resolv_conf`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsDecision {
    /// The pod's `resolv.conf`.
    pub conf: ResolvConf,
    /// Set when `ClusterFirst` fell back to `Default` for want of a cluster DNS
    /// address: the `MissingClusterDNS` event's message.
    pub missing_cluster_dns: Option<String>,
}

fn push_unique(list: &mut Vec<String>, items: impl IntoIterator<Item = String>) {
    for i in items {
        if !i.is_empty() && !list.contains(&i) {
            list.push(i);
        }
    }
}

fn option_name(o: &str) -> &str {
    o.split(':').next().unwrap_or(o)
}

/// The pod's `resolv.conf` (see the module docs): `host` is the node's own,
/// `cluster_dns` the cluster DNS addresses of the node's config.
pub fn resolv_conf(
    pod: &Pod,
    host: &ResolvConf,
    cluster_dns: &[String],
    cluster_domain: &str,
) -> DnsDecision {
    let policy = pod.spec.dns_policy.unwrap_or(DnsPolicy::ClusterFirst);
    let cluster_first = match policy {
        DnsPolicy::ClusterFirstWithHostNet => true,
        // On the host's network ClusterFirst means the host's resolver.
        DnsPolicy::ClusterFirst => !pod.spec.host_network,
        DnsPolicy::Default | DnsPolicy::None => false,
    };
    let mut missing_cluster_dns = None;
    let mut conf = match policy {
        DnsPolicy::None => ResolvConf::default(),
        _ if cluster_first && !cluster_dns.is_empty() => {
            let ns = &pod.metadata.namespace;
            let mut searches = vec![
                format!("{ns}.svc.{cluster_domain}"),
                format!("svc.{cluster_domain}"),
                cluster_domain.to_owned(),
            ];
            push_unique(&mut searches, host.searches.iter().cloned());
            ResolvConf {
                nameservers: cluster_dns.to_vec(),
                searches,
                options: vec!["ndots:5".into()],
            }
        }
        _ => {
            if cluster_first {
                missing_cluster_dns = Some(format!(
                    "pod: \"{}\". kubelet does not have ClusterDNS IP configured and cannot \
                     create Pod using \"{}\" policy. Falling back to \"Default\" policy.",
                    crate::kubelet::security::pod_desc(pod),
                    policy.as_str()
                ));
            }
            host.clone()
        }
    };
    if let Some(cfg) = &pod.spec.dns_config {
        push_unique(&mut conf.nameservers, cfg.nameservers.iter().cloned());
        push_unique(&mut conf.searches, cfg.searches.iter().cloned());
        for PodDnsConfigOption { name, value } in &cfg.options {
            let Some(name) = name.as_deref().filter(|n| !n.is_empty()) else {
                continue;
            };
            conf.options.retain(|o| option_name(o) != name);
            conf.options.push(match value {
                Some(v) => format!("{name}:{v}"),
                None => name.to_owned(),
            });
        }
    }
    conf.nameservers.truncate(MAX_NAMESERVERS);
    conf.searches.truncate(MAX_SEARCHES);
    DnsDecision {
        conf,
        missing_cluster_dns,
    }
}

#[cfg(test)]
mod tests;
