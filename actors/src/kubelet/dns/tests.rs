//! Hostnames, hosts files and resolv.conf rendering.

use rudder_protocol::resources::{
    DnsPolicy, HostAlias, ObjectMeta, Pod, PodDnsConfig, PodDnsConfigOption,
};

use super::*;

fn pod() -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: "web".into(),
            namespace: "shop".into(),
            uid: "uid-1".into(),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn host() -> ResolvConf {
    ResolvConf::parse("# host\nnameserver 192.0.2.53\nsearch corp.example\noptions edns0\n")
}

#[test]
fn hostnames() {
    let mut p = pod();
    assert_eq!(
        hostname_and_domain(&p, "cluster.local").expect("test value"),
        ("web".into(), String::new())
    );
    p.spec.hostname = "db-0".into();
    p.spec.subdomain = "db".into();
    assert_eq!(
        hostname_and_domain(&p, "cluster.local").expect("test value"),
        ("db-0".into(), "db.shop.svc.cluster.local".into())
    );
    p.spec.set_hostname_as_fqdn = Some(true);
    assert_eq!(
        hostname_and_domain(&p, "cluster.local")
            .expect("test value")
            .0,
        "db-0.db.shop.svc.cluster.local"
    );
    p.spec.hostname = "h".repeat(50);
    assert!(hostname_and_domain(&p, "cluster.local")
        .expect_err("an error")
        .contains("too long (64 characters is the max"));
}

#[test]
fn hosts_files() {
    let mut p = pod();
    p.spec.hostname = "db-0".into();
    p.spec.subdomain = "db".into();
    p.spec.host_aliases = vec![HostAlias {
        ip: "10.1.2.3".into(),
        hostnames: vec!["foo.local".into(), "bar.local".into()],
    }];
    let text = render_hosts(&p, "10.244.1.5", "cluster.local", "");
    assert!(text.starts_with("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"));
    assert!(
        text.contains("10.244.1.5\tdb-0.db.shop.svc.cluster.local\tdb-0\n"),
        "{text}"
    );
    assert!(
        text.ends_with("\n# Entries added by HostAliases.\n10.1.2.3\tfoo.local\tbar.local\n"),
        "{text}"
    );
    p.spec.host_network = true;
    let text = render_hosts(
        &p,
        "127.0.0.1",
        "cluster.local",
        "127.0.0.1 localhost myhost",
    );
    assert!(text.starts_with(
        "# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost myhost\n"
    ));
    assert!(text.contains("10.1.2.3\tfoo.local\tbar.local\n"));
}

#[test]
fn resolv_confs() {
    let dns = vec!["10.96.0.10".to_owned()];
    let with = |policy: DnsPolicy, host_network: bool| {
        let mut p = pod();
        p.spec.dns_policy = Some(policy);
        p.spec.host_network = host_network;
        p
    };
    let cases: Vec<(&str, Pod, &[String], &str, bool)> = vec![
        (
            "cluster first",
            with(DnsPolicy::ClusterFirst, false),
            &dns,
            "nameserver 10.96.0.10\nsearch shop.svc.cluster.local svc.cluster.local cluster.local corp.example\noptions ndots:5\n",
            false,
        ),
        (
            "cluster first without a cluster DNS falls back",
            with(DnsPolicy::ClusterFirst, false),
            &[],
            "nameserver 192.0.2.53\nsearch corp.example\noptions edns0\n",
            true,
        ),
        (
            "cluster first on the host network is the host's",
            with(DnsPolicy::ClusterFirst, true),
            &dns,
            "nameserver 192.0.2.53\nsearch corp.example\noptions edns0\n",
            false,
        ),
        (
            "cluster first with host net",
            with(DnsPolicy::ClusterFirstWithHostNet, true),
            &dns,
            "nameserver 10.96.0.10\nsearch shop.svc.cluster.local svc.cluster.local cluster.local corp.example\noptions ndots:5\n",
            false,
        ),
        (
            "default",
            with(DnsPolicy::Default, false),
            &dns,
            "nameserver 192.0.2.53\nsearch corp.example\noptions edns0\n",
            false,
        ),
        ("none without config", with(DnsPolicy::None, false), &dns, "", false),
    ];
    for (name, p, cluster, want, missing) in cases {
        let d = resolv_conf(&p, &host(), cluster, "cluster.local");
        assert_eq!(d.conf.render(), want, "{name}");
        assert_eq!(d.missing_cluster_dns.is_some(), missing, "{name}");
    }
    let missing = resolv_conf(
        &with(DnsPolicy::ClusterFirst, false),
        &host(),
        &[],
        "cluster.local",
    )
    .missing_cluster_dns
    .expect("test value");
    assert_eq!(
        missing,
        "pod: \"web_shop(uid-1)\". kubelet does not have ClusterDNS IP configured and cannot \
         create Pod using \"ClusterFirst\" policy. Falling back to \"Default\" policy."
    );
}

#[test]
fn dns_config_merges() {
    let mut p = pod();
    p.spec.dns_policy = Some(DnsPolicy::ClusterFirst);
    p.spec.dns_config = Some(PodDnsConfig {
        nameservers: vec!["10.96.0.10".into(), "1.1.1.1".into(), "8.8.8.8".into()],
        searches: vec!["extra.example".into(), "cluster.local".into()],
        options: vec![
            PodDnsConfigOption {
                name: Some("ndots".into()),
                value: Some("2".into()),
            },
            PodDnsConfigOption {
                name: Some("single-request".into()),
                value: None,
            },
        ],
    });
    let d = resolv_conf(&p, &host(), &["10.96.0.10".to_owned()], "cluster.local");
    assert_eq!(
        d.conf.render(),
        "nameserver 10.96.0.10\nnameserver 1.1.1.1\nnameserver 8.8.8.8\n\
         search shop.svc.cluster.local svc.cluster.local cluster.local corp.example extra.example\n\
         options ndots:2 single-request\n"
    );
    p.spec.dns_policy = Some(DnsPolicy::None);
    let d = resolv_conf(&p, &host(), &[], "cluster.local");
    assert_eq!(
        d.conf.render(),
        "nameserver 10.96.0.10\nnameserver 1.1.1.1\nnameserver 8.8.8.8\n\
         search extra.example cluster.local\noptions ndots:2 single-request\n"
    );
    assert!(d.missing_cluster_dns.is_none());
}
