//! A pod's name resolution fields: `hostAliases` and `dnsConfig` (with `dnsPolicy`).

use rudder_protocol::resources::{DnsPolicy, PodSpec};

use super::names::{is_dns1123_subdomain, is_valid_ip};
use super::{FieldCause, FieldPath};

/// At most this many name servers in a resolv.conf.
const MAX_NAMESERVERS: usize = 3;
/// At most this many search domains.
const MAX_SEARCHES: usize = 32;
/// At most this many characters in the search line.
const MAX_SEARCH_CHARS: usize = 2048;

/// The rules of `hostAliases` and `dnsConfig` of `spec` at `path`.
pub(super) fn validate_pod_dns(spec: &PodSpec, path: &FieldPath, errs: &mut Vec<FieldCause>) {
    for (i, alias) in spec.host_aliases.iter().enumerate() {
        let apath = path.child("hostAliases").index(i);
        for msg in is_valid_ip(&alias.ip) {
            errs.push(FieldCause::invalid(
                &apath.child("ip"),
                alias.ip.as_str(),
                &msg,
            ));
        }
        for (j, name) in alias.hostnames.iter().enumerate() {
            for msg in is_dns1123_subdomain(name) {
                errs.push(FieldCause::invalid(
                    &apath.child("hostnames").index(j),
                    name.as_str(),
                    &msg,
                ));
            }
        }
    }
    let dpath = path.child("dnsConfig");
    let Some(config) = &spec.dns_config else {
        if spec.dns_policy == Some(DnsPolicy::None) {
            errs.push(FieldCause::required(
                &dpath,
                "must provide `dnsConfig` when `dnsPolicy` is None",
            ));
        }
        return;
    };
    if spec.dns_policy == Some(DnsPolicy::None) && config.nameservers.is_empty() {
        errs.push(FieldCause::required(
            &dpath.child("nameservers"),
            "must provide at least one DNS nameserver when `dnsPolicy` is None",
        ));
    }
    if config.nameservers.len() > MAX_NAMESERVERS {
        errs.push(FieldCause::invalid(
            &dpath.child("nameservers"),
            config.nameservers.join(" ").as_str(),
            &format!("must not have more than {MAX_NAMESERVERS} nameservers"),
        ));
    }
    for (i, ns) in config.nameservers.iter().enumerate() {
        if !is_valid_ip(ns).is_empty() {
            errs.push(FieldCause::invalid(
                &dpath.child("nameservers").index(i),
                ns.as_str(),
                "must be valid IP address",
            ));
        }
    }
    if config.searches.len() > MAX_SEARCHES {
        errs.push(FieldCause::invalid(
            &dpath.child("searches"),
            config.searches.join(" ").as_str(),
            &format!("must not have more than {MAX_SEARCHES} search paths"),
        ));
    }
    let chars = config.searches.iter().map(String::len).sum::<usize>()
        + config.searches.len().saturating_sub(1);
    if chars > MAX_SEARCH_CHARS {
        errs.push(FieldCause::invalid(
            &dpath.child("searches"),
            config.searches.join(" ").as_str(),
            &format!("must not have more than {MAX_SEARCH_CHARS} characters (including spaces) in the search list"),
        ));
    }
    for (i, search) in config.searches.iter().enumerate() {
        // A trailing dot (a fully qualified name) is allowed.
        let name = search.strip_suffix('.').unwrap_or(search);
        for msg in is_dns1123_subdomain(name) {
            errs.push(FieldCause::invalid(
                &dpath.child("searches").index(i),
                search.as_str(),
                &msg,
            ));
        }
    }
    for (i, option) in config.options.iter().enumerate() {
        if option.name.as_deref().unwrap_or_default().is_empty() {
            errs.push(FieldCause::required(
                &dpath.child("options").index(i),
                "Must not be empty",
            ));
        }
    }
}
