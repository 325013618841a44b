//! The node's admission, runAsNonRoot, and the mapping of security contexts and
//! resources to the runtime's spec.

use std::path::Path;

use rudder_protocol::resources::{
    AppArmorProfile, AppArmorProfileType, Capabilities, Container, ObjectMeta, OsName, Pod, PodOs,
    PodSecurityContext, ProcMountType, Quantity, ResourceRequirements, SeccompProfile,
    SeccompProfileType, SecurityContext, Sysctl,
};

use super::*;

fn pod() -> Pod {
    let mut p = Pod {
        metadata: ObjectMeta {
            name: "web".into(),
            namespace: "default".into(),
            uid: "uid-1".into(),
            ..Default::default()
        },
        ..Default::default()
    };
    p.spec.containers = vec![Container {
        name: "app".into(),
        image: "rudder/demo:1".into(),
        ..Default::default()
    }];
    p
}

fn with_sysctl(name: &str) -> Pod {
    let mut p = pod();
    p.spec.security_context = Some(PodSecurityContext {
        sysctls: vec![Sysctl {
            name: name.into(),
            value: "1".into(),
        }],
        ..Default::default()
    });
    p
}

#[test]
fn admission() {
    let host = HostFeatures::default();
    let unsafe_ok = HostFeatures {
        allowed_unsafe_sysctls: vec!["kernel.msg*".into(), "net.core.somaxconn".into()],
        ..Default::default()
    };
    let cases: Vec<(&str, Pod, &HostFeatures, Option<&str>)> = vec![
        ("plain pod", pod(), &host, None),
        (
            "windows",
            {
                let mut p = pod();
                p.spec.os = Some(PodOs {
                    name: OsName::Windows,
                });
                p
            },
            &host,
            Some("PodOSNotSupported"),
        ),
        (
            "own user namespace",
            {
                let mut p = pod();
                p.spec.host_users = Some(false);
                p
            },
            &host,
            Some("UserNamespacesNotSupported"),
        ),
        (
            "safe sysctl",
            with_sysctl("net.ipv4.tcp_syncookies"),
            &host,
            None,
        ),
        (
            "unsafe sysctl not allowed",
            with_sysctl("kernel.msgmax"),
            &host,
            Some("SysctlForbidden"),
        ),
        (
            "unsafe sysctl allowed by pattern",
            with_sysctl("kernel.msgmax"),
            &unsafe_ok,
            None,
        ),
        (
            "unsafe sysctl allowed by name",
            with_sysctl("net.core.somaxconn"),
            &unsafe_ok,
            None,
        ),
        (
            "node-wide sysctl",
            with_sysctl("vm.swappiness"),
            &unsafe_ok,
            Some("SysctlForbidden"),
        ),
        (
            "net sysctl with host network",
            {
                let mut p = with_sysctl("net.ipv4.tcp_syncookies");
                p.spec.host_network = true;
                p
            },
            &host,
            Some("SysctlForbidden"),
        ),
        (
            "ipc sysctl with host ipc",
            {
                let mut p = with_sysctl("kernel.shm_rmid_forced");
                p.spec.host_ipc = true;
                p
            },
            &host,
            Some("SysctlForbidden"),
        ),
        (
            "apparmor without apparmor",
            {
                let mut p = pod();
                p.spec.containers[0].security_context = Some(SecurityContext {
                    app_armor_profile: Some(AppArmorProfile {
                        type_: AppArmorProfileType::RuntimeDefault,
                        localhost_profile: None,
                    }),
                    ..Default::default()
                });
                p
            },
            &host,
            Some("AppArmor"),
        ),
        (
            "apparmor unconfined without apparmor",
            {
                let mut p = pod();
                p.spec.containers[0].security_context = Some(SecurityContext {
                    app_armor_profile: Some(AppArmorProfile {
                        type_: AppArmorProfileType::Unconfined,
                        localhost_profile: None,
                    }),
                    ..Default::default()
                });
                p
            },
            &host,
            None,
        ),
    ];
    for (name, p, host, want) in cases {
        let got = admit(&p, host).err().map(|r| r.reason);
        assert_eq!(got.as_deref(), want, "{name}");
    }
    let r = admit(&with_sysctl("net.ipv4.tcp_syncookies"), &host);
    assert!(r.is_ok());
    let mut p = with_sysctl("net.ipv4.tcp_syncookies");
    p.spec.host_network = true;
    assert_eq!(
        admit(&p, &host).expect_err("an error").message,
        "forbidden sysctl: \"net.ipv4.tcp_syncookies\" not allowed with host net enabled"
    );
}

#[test]
fn run_as_non_root() {
    let non_root = |user: Option<i64>| {
        let mut p = pod();
        p.spec.security_context = Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: user,
            ..Default::default()
        });
        p
    };
    let cases: [(&str, Pod, &str, Result<(), &str>); 7] = [
        ("not asked", pod(), "", Ok(())),
        (
            "image runs as root by default",
            non_root(None),
            "",
            Err("container has runAsNonRoot and image will run as root (pod: \"web_default(uid-1)\", container: app)"),
        ),
        (
            "image user 0",
            non_root(None),
            "0:0",
            Err("container has runAsNonRoot and image will run as root (pod: \"web_default(uid-1)\", container: app)"),
        ),
        ("image user 1000", non_root(None), "1000", Ok(())),
        (
            "image user by name",
            non_root(None),
            "nobody",
            Err("container has runAsNonRoot and image has non-numeric user (nobody), cannot verify user is non-root (pod: \"web_default(uid-1)\", container: app)"),
        ),
        ("runAsUser wins", non_root(Some(1000)), "", Ok(())),
        (
            "runAsUser 0",
            non_root(Some(0)),
            "1000",
            Err("container's runAsUser breaks non-root policy (pod: \"web_default(uid-1)\", container: app)"),
        ),
    ];
    for (name, p, image_user, want) in cases {
        let got = verify_run_as_non_root(&p, &p.spec.containers[0], image_user);
        assert_eq!(got, want.map_err(str::to_owned), "{name}");
    }
}

#[test]
fn security_context_maps_to_the_runtime() {
    let mut p = pod();
    p.spec.share_process_namespace = Some(true);
    p.spec.security_context = Some(PodSecurityContext {
        run_as_user: Some(1000),
        run_as_group: Some(3000),
        supplemental_groups: vec![4000, 2000],
        fs_group: Some(2000),
        ..Default::default()
    });
    p.spec.containers[0].security_context = Some(SecurityContext {
        run_as_user: Some(1001),
        read_only_root_filesystem: Some(true),
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            add: vec!["CAP_NET_ADMIN".into()],
            drop: vec!["ALL".into()],
        }),
        seccomp_profile: Some(SeccompProfile {
            type_: SeccompProfileType::Unconfined,
            localhost_profile: None,
        }),
        proc_mount: Some(ProcMountType::Unmasked),
        ..Default::default()
    });
    p.spec.containers[0].lifecycle = Some(rudder_protocol::resources::Lifecycle {
        stop_signal: Some("SIGUSR1".into()),
        ..Default::default()
    });
    let mut spec = ContainerSpec {
        sandbox_id: "sb".into(),
        ..Default::default()
    };
    apply_security(
        &p,
        &p.spec.containers[0],
        &mut spec,
        "",
        &HostFeatures::default(),
        Path::new("/nonexistent"),
    )
    .expect("test value");
    assert_eq!(
        spec.user.as_deref(),
        Some("1001:3000"),
        "container over pod"
    );
    assert_eq!(spec.group_add, vec!["4000", "2000"], "fsGroup once");
    assert!(spec.read_only_rootfs);
    assert!(!spec.privileged);
    assert_eq!(spec.cap_add, vec!["NET_ADMIN"]);
    assert_eq!(spec.cap_drop, vec!["ALL"]);
    assert_eq!(
        spec.security_opt,
        vec![
            "no-new-privileges",
            "seccomp=unconfined",
            "systempaths=unconfined"
        ]
    );
    assert_eq!(spec.pid_mode.as_deref(), Some("container:sb"));
    assert_eq!(spec.ipc_mode.as_deref(), Some("container:sb"));
    assert_eq!(spec.stop_signal.as_deref(), Some("SIGUSR1"));

    // Host namespaces; a group without a user takes the image's user.
    let mut p = pod();
    p.spec.host_pid = true;
    p.spec.host_ipc = true;
    p.spec.security_context = Some(PodSecurityContext {
        run_as_group: Some(5),
        ..Default::default()
    });
    let mut spec = ContainerSpec::default();
    apply_security(
        &p,
        &p.spec.containers[0],
        &mut spec,
        "app:staff",
        &HostFeatures::default(),
        Path::new("/nonexistent"),
    )
    .expect("test value");
    assert_eq!(spec.user.as_deref(), Some("app:5"));
    assert_eq!(spec.pid_mode.as_deref(), Some("host"));
    assert_eq!(spec.ipc_mode.as_deref(), Some("host"));
    assert_eq!(
        spec.security_opt,
        vec!["seccomp=unconfined"],
        "no profile named: unconfined"
    );
}

#[test]
fn an_unnamed_seccomp_profile_is_unconfined_unless_the_kubelet_defaults_it() {
    let with = |profile: Option<SeccompProfileType>, seccomp_default: bool| {
        let mut p = pod();
        p.spec.security_context = profile.map(|type_| PodSecurityContext {
            seccomp_profile: Some(SeccompProfile {
                type_,
                localhost_profile: None,
            }),
            ..Default::default()
        });
        let host = HostFeatures {
            seccomp_default,
            ..Default::default()
        };
        let mut spec = ContainerSpec::default();
        apply_security(
            &p,
            &p.spec.containers[0],
            &mut spec,
            "",
            &host,
            Path::new("/nonexistent"),
        )
        .expect("test value");
        spec.security_opt
    };
    use SeccompProfileType::*;
    let unconfined = vec!["seccomp=unconfined".to_owned()];
    let engine_default: Vec<String> = vec![];
    let cases = [
        ("unset, default off: Unconfined", None, false, &unconfined),
        (
            "unset, default on: the engine's profile",
            None,
            true,
            &engine_default,
        ),
        (
            "RuntimeDefault: the engine's profile",
            Some(RuntimeDefault),
            false,
            &engine_default,
        ),
        (
            "Unconfined even with the default on",
            Some(Unconfined),
            true,
            &unconfined,
        ),
    ];
    for (name, profile, seccomp_default, want) in cases {
        assert_eq!(&with(profile, seccomp_default), want, "{name}");
    }
}

#[test]
fn localhost_seccomp_profiles_come_from_the_kubelet_directory() {
    let dir = tempfile::tempdir().expect("test value");
    std::fs::write(
        dir.path().join("audit.json"),
        r#"{"defaultAction":"SCMP_ACT_LOG"}"#,
    )
    .expect("test value");
    let profile = |name: &str| {
        let mut p = pod();
        p.spec.security_context = Some(PodSecurityContext {
            seccomp_profile: Some(SeccompProfile {
                type_: SeccompProfileType::Localhost,
                localhost_profile: Some(name.into()),
            }),
            ..Default::default()
        });
        let mut spec = ContainerSpec::default();
        apply_security(
            &p,
            &p.spec.containers[0],
            &mut spec,
            "",
            &HostFeatures::default(),
            dir.path(),
        )
        .map(|()| spec.security_opt)
    };
    assert_eq!(
        profile("audit.json").expect("test value"),
        vec![r#"seccomp={"defaultAction":"SCMP_ACT_LOG"}"#]
    );
    assert!(profile("missing.json")
        .expect_err("an error")
        .contains("failed to load seccomp profile"));
    assert!(profile("../etc/passwd")
        .expect_err("an error")
        .contains("invalid seccomp"));
}

#[test]
fn resources_map_to_cgroup_limits() {
    let res = |req: &[(&str, &str)], lim: &[(&str, &str)]| ResourceRequirements {
        requests: req
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Quantity::parse(v).expect("test value")))
            .collect(),
        limits: lim
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Quantity::parse(v).expect("test value")))
            .collect(),
        ..Default::default()
    };
    // (name, resources, pids, memory, quota, shares)
    let cases = [
        ("best effort", res(&[], &[]), None, None, None, Some(2)),
        (
            "limits",
            res(&[("cpu", "250m")], &[("cpu", "500m"), ("memory", "32Mi")]),
            Some(64),
            Some(32 << 20),
            Some(50_000),
            Some(256),
        ),
        (
            "limit only: shares from the limit",
            res(&[], &[("cpu", "2")]),
            None,
            None,
            Some(200_000),
            Some(2048),
        ),
        (
            "a tiny limit gets the kernel's least quota",
            res(&[], &[("cpu", "1m")]),
            None,
            None,
            Some(1_000),
            Some(2),
        ),
    ];
    for (name, r, pids, memory, quota, shares) in cases {
        let c = Container {
            resources: r,
            ..Default::default()
        };
        let mut spec = ContainerSpec::default();
        apply_resources(&c, &mut spec, pids);
        assert_eq!(spec.memory_bytes, memory, "{name}: memory");
        assert_eq!(spec.memory_swap_bytes, memory, "{name}: no swap");
        assert_eq!(spec.cpu_quota, quota, "{name}: quota");
        assert_eq!(
            spec.cpu_period,
            quota.map(|_| CPU_PERIOD_US),
            "{name}: period"
        );
        assert_eq!(spec.cpu_shares, shares, "{name}: shares");
        assert_eq!(spec.pids_limit, pids, "{name}: pids");
    }
}

#[test]
fn volume_ownership_follows_fs_group() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = tempfile::tempdir().expect("test value");
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).expect("test value");
    std::fs::write(sub.join("f"), b"x").expect("test value");
    std::fs::set_permissions(sub.join("f"), std::fs::Permissions::from_mode(0o600))
        .expect("test value");
    // Our own group: changing to it needs no privilege.
    let gid = std::fs::metadata(dir.path()).expect("test value").gid();
    set_volume_ownership(dir.path(), gid, false).expect("test value");
    let mode = |p: &Path| std::fs::metadata(p).expect("test value").mode() & 0o7777;
    assert_eq!(mode(&sub.join("f")), 0o660);
    assert_eq!(mode(&sub) & 0o2070, 0o2070, "setgid, group rwx");
}

#[test]
fn on_root_mismatch_skips_a_volume_whose_root_matches() {
    let rw = 0o40770 | 0o2000;
    // (name, is a directory, root gid, mode, read-only, matches)
    let cases = [
        ("group, rwx and setgid", true, 7, rw, false, true),
        (
            "more permissions are fine",
            true,
            7,
            rw | 0o007,
            false,
            true,
        ),
        ("other group", true, 8, rw, false, false),
        ("no setgid bit", true, 7, 0o40770, false, false),
        ("group cannot write", true, 7, 0o42750, false, false),
        ("read-only needs no write", true, 7, 0o42550, true, true),
        ("not a directory", false, 7, rw, false, false),
    ];
    for (name, is_dir, root_gid, mode, read_only, want) in cases {
        assert_eq!(
            volume_root_matches(is_dir, root_gid, mode, 7, read_only),
            want,
            "{name}"
        );
    }
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().expect("test value");
    let gid = std::fs::metadata(dir.path()).expect("test value").gid();
    let needed =
        |policy| volume_ownership_needed(dir.path(), gid, false, policy).expect("test value");
    assert!(needed(None), "Always (the default) walks every time");
    assert!(
        needed(Some(FsGroupChangePolicy::OnRootMismatch)),
        "no setgid yet"
    );
    set_volume_ownership(dir.path(), gid, false).expect("test value");
    assert!(
        !needed(Some(FsGroupChangePolicy::OnRootMismatch)),
        "root matches now"
    );
    assert!(needed(Some(FsGroupChangePolicy::Always)));
}
