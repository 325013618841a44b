//! Environment resolution and volume payloads, as tables.
#![allow(clippy::unwrap_used)]

use rudder_protocol::resources::{
    ByteString, ConfigMapEnvSource, ConfigMapKeySelector, ConfigMapProjection,
    ConfigMapVolumeSource, DownwardApiProjection, EnvFromSource, EnvVar, EnvVarSource, ObjectMeta,
    ProjectedVolumeSource, SecretEnvSource, SecretKeySelector, SecretProjection,
    SecretVolumeSource, VolumeProjection,
};

use super::*;

fn pod() -> Pod {
    let mut p = Pod {
        metadata: ObjectMeta {
            name: "web-1".into(),
            namespace: "prod".into(),
            uid: "uid-9".into(),
            labels: BTreeMap::from([
                ("app".to_owned(), "web".to_owned()),
                ("tier".to_owned(), "front".to_owned()),
            ]),
            ..Default::default()
        },
        ..Default::default()
    };
    p.spec.node_name = "n1".into();
    p.spec.containers = vec![Container {
        name: "app".into(),
        ..Default::default()
    }];
    p.spec.containers[0]
        .resources
        .limits
        .insert("cpu".into(), Quantity::parse("250m").unwrap());
    p.spec.containers[0]
        .resources
        .limits
        .insert("memory".into(), Quantity::parse("64Mi").unwrap());
    p
}

fn objects() -> Objects {
    let mut cm = ConfigMap::new("cfg");
    cm.data = BTreeMap::from([
        ("mode".to_owned(), "fast".to_owned()),
        ("level".to_owned(), "3".to_owned()),
        ("bad-name".to_owned(), "x".to_owned()),
        ("1st".to_owned(), "y".to_owned()),
        // No valid ConfigMap has it (keys are checked), but the kubelet must not pass it.
        ("a=b".to_owned(), "z".to_owned()),
    ]);
    cm.binary_data = BTreeMap::from([("blob".to_owned(), ByteString(vec![0, 1, 2]))]);
    let mut s = Secret::new("creds");
    s.data = BTreeMap::from([("password".to_owned(), ByteString::from("hunter2"))]);
    Objects {
        config_maps: BTreeMap::from([("cfg".to_owned(), Some(cm)), ("gone".to_owned(), None)]),
        secrets: BTreeMap::from([("creds".to_owned(), Some(s)), ("nope".to_owned(), None)]),
        ..Objects::default()
    }
}

fn service(
    ns: &str,
    name: &str,
    ip: &str,
    ports: serde_json::Value,
) -> rudder_protocol::resources::Service {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "namespace": ns},
        "spec": {"clusterIP": ip, "ports": ports},
    }))
    .unwrap()
}

#[test]
fn service_links_name_every_service_of_the_namespace_and_the_api() {
    let api = service(
        "default",
        "kubernetes",
        "10.96.0.1",
        serde_json::json!([{"name": "https", "port": 443}]),
    );
    let web = service(
        "team",
        "web-front",
        "10.96.3.4",
        serde_json::json!([
        {"name": "http", "port": 80}, {"name": "dns-udp", "port": 53, "protocol": "UDP"}]),
    );
    let headless = service("team", "db", "None", serde_json::json!([{"port": 5432}]));
    let elsewhere = service(
        "other",
        "cache",
        "10.96.9.9",
        serde_json::json!([{"port": 6379}]),
    );
    let mut p = Pod::new("x");
    p.metadata.namespace = "team".into();
    let all = [&api, &web, &headless, &elsewhere];
    let env: BTreeMap<String, String> = service_env(&p, all).into_iter().collect();
    let want = [
        ("KUBERNETES_SERVICE_HOST", "10.96.0.1"),
        ("KUBERNETES_SERVICE_PORT", "443"),
        ("KUBERNETES_SERVICE_PORT_HTTPS", "443"),
        ("KUBERNETES_PORT", "tcp://10.96.0.1:443"),
        ("KUBERNETES_PORT_443_TCP", "tcp://10.96.0.1:443"),
        ("KUBERNETES_PORT_443_TCP_PROTO", "tcp"),
        ("KUBERNETES_PORT_443_TCP_PORT", "443"),
        ("KUBERNETES_PORT_443_TCP_ADDR", "10.96.0.1"),
        ("WEB_FRONT_SERVICE_HOST", "10.96.3.4"),
        ("WEB_FRONT_SERVICE_PORT", "80"),
        ("WEB_FRONT_SERVICE_PORT_HTTP", "80"),
        ("WEB_FRONT_SERVICE_PORT_DNS_UDP", "53"),
        ("WEB_FRONT_PORT", "tcp://10.96.3.4:80"),
        ("WEB_FRONT_PORT_80_TCP", "tcp://10.96.3.4:80"),
        ("WEB_FRONT_PORT_80_TCP_PROTO", "tcp"),
        ("WEB_FRONT_PORT_80_TCP_PORT", "80"),
        ("WEB_FRONT_PORT_80_TCP_ADDR", "10.96.3.4"),
        ("WEB_FRONT_PORT_53_UDP", "udp://10.96.3.4:53"),
        ("WEB_FRONT_PORT_53_UDP_PROTO", "udp"),
        ("WEB_FRONT_PORT_53_UDP_PORT", "53"),
        ("WEB_FRONT_PORT_53_UDP_ADDR", "10.96.3.4"),
    ];
    let want: BTreeMap<String, String> = want
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    assert_eq!(env, want);
    // Links off: the API's variables only.
    p.spec.enable_service_links = Some(false);
    let env = service_env(&p, all);
    assert!(
        env.iter().all(|(k, _)| k.starts_with("KUBERNETES_")),
        "{env:?}"
    );
    assert_eq!(env.len(), 8);
    // They come first: a container's own definition wins, and may refer to them.
    p.spec.containers = vec![Container {
        name: "c".into(),
        env: vec![
            value("KUBERNETES_SERVICE_PORT", "8443"),
            value("URL", "https://$(KUBERNETES_SERVICE_HOST)"),
        ],
        ..Default::default()
    }];
    let objects = Objects {
        service_env: service_env(&p, all),
        ..Objects::default()
    };
    let e = resolve_env(&p, &p.spec.containers[0], &objects, &ctx()).unwrap();
    let vars: BTreeMap<&str, &str> = e.vars.iter().filter_map(|v| v.split_once('=')).collect();
    assert_eq!(vars["KUBERNETES_SERVICE_PORT"], "8443");
    assert_eq!(vars["URL"], "https://10.96.0.1");
}

#[test]
fn a_token_projection_writes_the_workers_token() {
    let mut p = pod();
    let source = rudder_protocol::resources::ServiceAccountTokenProjection {
        audience: String::new(),
        expiration_seconds: Some(3607),
        path: "token".into(),
    };
    p.spec.volumes = vec![Volume {
        name: "kube-api-access-x".into(),
        projected: Some(ProjectedVolumeSource {
            sources: vec![VolumeProjection {
                service_account_token: Some(source),
                ..Default::default()
            }],
            default_mode: Some(0o644),
        }),
        ..Default::default()
    }];
    let specs = token_specs(&p);
    assert_eq!(
        specs.iter().cloned().collect::<Vec<_>>(),
        [TokenSpec {
            audience: String::new(),
            expiration_seconds: 3607
        }]
    );
    let v = &p.spec.volumes[0];
    let missing = volume_payload(&p, v, &objects(), &ctx()).unwrap();
    assert!(missing.unwrap_err().contains("failed to fetch token"));
    let mut objects = objects();
    objects.tokens = specs
        .into_iter()
        .map(|s| (s, "eyJ.a.b".to_owned()))
        .collect();
    let files = volume_payload(&p, v, &objects, &ctx()).unwrap().unwrap();
    assert_eq!(files["token"].data, b"eyJ.a.b");
    assert_eq!(files["token"].mode, 0o644);
}

fn ctx() -> FieldContext {
    FieldContext {
        pod_ip: "10.244.0.7".into(),
        host_ip: "127.0.0.1".into(),
        capacity: BTreeMap::from([("memory".to_owned(), Quantity::parse("8Gi").unwrap())]),
    }
}

fn value(name: &str, v: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: v.into(),
        value_from: None,
    }
}

fn from(name: &str, source: EnvVarSource) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: String::new(),
        value_from: Some(source),
    }
}

fn cm_key(name: &str, key: &str, optional: Option<bool>) -> EnvVarSource {
    EnvVarSource {
        config_map_key_ref: Some(ConfigMapKeySelector {
            name: name.into(),
            key: key.into(),
            optional,
        }),
        ..Default::default()
    }
}

fn secret_key(name: &str, key: &str, optional: Option<bool>) -> EnvVarSource {
    EnvVarSource {
        secret_key_ref: Some(SecretKeySelector {
            name: name.into(),
            key: key.into(),
            optional,
        }),
        ..Default::default()
    }
}

fn field(path: &str) -> EnvVarSource {
    EnvVarSource {
        field_ref: Some(ObjectFieldSelector {
            api_version: "v1".into(),
            field_path: path.into(),
        }),
        ..Default::default()
    }
}

fn resource(resource: &str, divisor: Option<&str>) -> EnvVarSource {
    EnvVarSource {
        resource_field_ref: Some(ResourceFieldSelector {
            container_name: String::new(),
            resource: resource.into(),
            divisor: divisor.map(|d| Quantity::parse(d).unwrap()),
        }),
        ..Default::default()
    }
}

#[test]
fn env_resolution_table() {
    type Case = (
        &'static str,
        Vec<EnvFromSource>,
        Vec<EnvVar>,
        Result<Vec<&'static str>, &'static str>,
    );
    let cm_from = |prefix: &str, name: &str, optional: Option<bool>| EnvFromSource {
        prefix: prefix.into(),
        config_map_ref: Some(ConfigMapEnvSource {
            name: name.into(),
            optional,
        }),
        secret_ref: None,
    };
    let secret_from = |name: &str, optional: Option<bool>| EnvFromSource {
        prefix: String::new(),
        config_map_ref: None,
        secret_ref: Some(SecretEnvSource {
            name: name.into(),
            optional,
        }),
    };
    let cases: Vec<Case> = vec![
        ("literal", vec![], vec![value("A", "1")], Ok(vec!["A=1"])),
        (
            "expansion of earlier vars, $$ escapes, unknown kept",
            vec![],
            vec![value("A", "x"), value("B", "$(A)-$$(A)-$(Z)")],
            Ok(vec!["A=x", "B=x-$(A)-$(Z)"]),
        ),
        (
            "configMapKeyRef and secretKeyRef",
            vec![],
            vec![
                from("MODE", cm_key("cfg", "mode", None)),
                from("PW", secret_key("creds", "password", None)),
            ],
            Ok(vec!["MODE=fast", "PW=hunter2"]),
        ),
        (
            "missing configmap",
            vec![],
            vec![from("MODE", cm_key("gone", "mode", None))],
            Err("configmap \"gone\" not found"),
        ),
        (
            "missing key",
            vec![],
            vec![from("MODE", cm_key("cfg", "nokey", None))],
            Err("couldn't find key nokey in ConfigMap prod/cfg"),
        ),
        (
            "missing secret key",
            vec![],
            vec![from("PW", secret_key("creds", "user", None))],
            Err("couldn't find key user in Secret prod/creds"),
        ),
        (
            "optional missing object and key are left out",
            vec![],
            vec![
                from("A", cm_key("gone", "mode", Some(true))),
                from("B", cm_key("cfg", "nokey", Some(true))),
                from("C", secret_key("nope", "x", Some(true))),
                value("D", "d"),
            ],
            Ok(vec!["D=d"]),
        ),
        (
            "downward API fields",
            vec![],
            vec![
                from("NAME", field("metadata.name")),
                from("NS", field("metadata.namespace")),
                from("APP", field("metadata.labels['app']")),
                from("NODE", field("spec.nodeName")),
                from("IP", field("status.podIP")),
                from("HOST", field("status.hostIP")),
            ],
            Ok(vec![
                "NAME=web-1",
                "NS=prod",
                "APP=web",
                "NODE=n1",
                "IP=10.244.0.7",
                "HOST=127.0.0.1",
            ]),
        ),
        (
            "resource fields, rounded up; unset limit from the node",
            vec![],
            vec![
                from("CPU", resource("limits.cpu", None)),
                from("MCPU", resource("limits.cpu", Some("1m"))),
                from("MEM", resource("limits.memory", Some("1Mi"))),
                from("REQ", resource("requests.memory", None)),
            ],
            Ok(vec!["CPU=1", "MCPU=250", "MEM=64", "REQ=0"]),
        ),
        (
            "envFrom with a prefix, invalid names skipped, env wins",
            vec![cm_from("CFG_", "cfg", None), secret_from("creds", None)],
            vec![value("CFG_mode", "override")],
            Ok(vec![
                "CFG_1st=y",
                "CFG_bad-name=x",
                "CFG_level=3",
                "CFG_mode=override",
                "password=hunter2",
            ]),
        ),
        (
            "envFrom of a missing optional object",
            vec![cm_from("", "gone", Some(true))],
            vec![],
            Ok(vec![]),
        ),
        (
            "envFrom of a missing secret",
            vec![secret_from("nope", None)],
            vec![],
            Err("secret \"nope\" not found"),
        ),
    ];
    for (name, env_from, env, want) in cases {
        let mut p = pod();
        p.spec.containers[0].env = env;
        p.spec.containers[0].env_from = env_from;
        let got = resolve_env(&p, &p.spec.containers[0], &objects(), &ctx());
        match (got, want) {
            (Ok(e), Ok(want)) => assert_eq!(e.vars, want, "{name}"),
            (Err(e), Err(want)) => assert_eq!(e, want, "{name}"),
            (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn invalid_env_from_names_are_reported() {
    let mut p = pod();
    p.spec.containers[0].env_from = vec![EnvFromSource {
        config_map_ref: Some(ConfigMapEnvSource {
            name: "cfg".into(),
            optional: None,
        }),
        ..Default::default()
    }];
    let e = resolve_env(&p, &p.spec.containers[0], &objects(), &ctx()).unwrap();
    assert_eq!(e.vars, vec!["1st=y", "bad-name=x", "level=3", "mode=fast"]);
    assert_eq!(
        e.warnings,
        vec!["Keys [a=b] from the EnvFrom configMap prod/cfg were skipped since they are considered invalid environment variable names."]
    );
}

fn files(p: &Payload) -> Vec<(String, String, u32)> {
    p.iter()
        .map(|(k, f)| {
            (
                k.clone(),
                String::from_utf8_lossy(&f.data).into_owned(),
                f.mode,
            )
        })
        .collect()
}

#[test]
fn volume_payload_table() {
    let item = |key: &str, path: &str, mode: Option<i32>| KeyToPath {
        key: key.into(),
        path: path.into(),
        mode,
    };
    let down = |path: &str, field_path: &str| DownwardApiVolumeFile {
        path: path.into(),
        field_ref: Some(ObjectFieldSelector {
            api_version: "v1".into(),
            field_path: field_path.into(),
        }),
        ..Default::default()
    };
    type Case = (
        &'static str,
        Volume,
        Result<Vec<(&'static str, &'static str, u32)>, &'static str>,
    );
    let cases: Vec<Case> = vec![
        (
            "configMap, all keys, default mode",
            Volume {
                config_map: Some(ConfigMapVolumeSource {
                    name: "cfg".into(),
                    default_mode: Some(0o600),
                    ..Default::default()
                }),
                ..Default::default()
            },
            Ok(vec![
                ("1st", "y", 0o600),
                ("a=b", "z", 0o600),
                ("bad-name", "x", 0o600),
                ("blob", "\u{0}\u{1}\u{2}", 0o600),
                ("level", "3", 0o600),
                ("mode", "fast", 0o600),
            ]),
        ),
        (
            "configMap items with their own mode",
            Volume {
                config_map: Some(ConfigMapVolumeSource {
                    name: "cfg".into(),
                    items: vec![item("mode", "conf/mode.txt", Some(0o400))],
                    ..Default::default()
                }),
                ..Default::default()
            },
            Ok(vec![("conf/mode.txt", "fast", 0o400)]),
        ),
        (
            "configMap item of a missing key",
            Volume {
                config_map: Some(ConfigMapVolumeSource {
                    name: "cfg".into(),
                    items: vec![item("nokey", "x", None)],
                    ..Default::default()
                }),
                ..Default::default()
            },
            Err("configmap references non-existent config key: nokey"),
        ),
        (
            "missing configMap",
            Volume {
                config_map: Some(ConfigMapVolumeSource {
                    name: "gone".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            Err("configmap \"gone\" not found"),
        ),
        (
            "missing optional secret: empty",
            Volume {
                secret: Some(SecretVolumeSource {
                    secret_name: "nope".into(),
                    optional: Some(true),
                    ..Default::default()
                }),
                ..Default::default()
            },
            Ok(vec![]),
        ),
        (
            "secret",
            Volume {
                secret: Some(SecretVolumeSource {
                    secret_name: "creds".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            Ok(vec![("password", "hunter2", 0o644)]),
        ),
        (
            "projected: configMap, secret and downward API in one directory",
            Volume {
                projected: Some(ProjectedVolumeSource {
                    sources: vec![
                        VolumeProjection {
                            config_map: Some(ConfigMapProjection {
                                name: "cfg".into(),
                                items: vec![item("level", "level", None)],
                                optional: None,
                            }),
                            ..Default::default()
                        },
                        VolumeProjection {
                            secret: Some(SecretProjection {
                                name: "creds".into(),
                                items: vec![item("password", "pw", Some(0o400))],
                                optional: None,
                            }),
                            ..Default::default()
                        },
                        VolumeProjection {
                            downward_api: Some(DownwardApiProjection {
                                items: vec![
                                    down("labels", "metadata.labels"),
                                    down("name", "metadata.name"),
                                ],
                            }),
                            ..Default::default()
                        },
                    ],
                    default_mode: Some(0o640),
                }),
                ..Default::default()
            },
            Ok(vec![
                ("labels", "app=\"web\"\ntier=\"front\"", 0o640),
                ("level", "3", 0o640),
                ("name", "web-1", 0o640),
                ("pw", "hunter2", 0o400),
            ]),
        ),
    ];
    for (name, v, want) in cases {
        let got = volume_payload(&pod(), &v, &objects(), &ctx()).expect("a projected volume");
        match (got, want) {
            (Ok(p), Ok(want)) => {
                let want: Vec<(String, String, u32)> = want
                    .into_iter()
                    .map(|(p, d, m)| (p.to_owned(), d.to_owned(), m))
                    .collect();
                assert_eq!(files(&p), want, "{name}");
            }
            (Err(e), Err(want)) => assert_eq!(e, want, "{name}"),
            (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
        }
    }
    let empty_dir = Volume::default();
    assert!(volume_payload(&pod(), &empty_dir, &objects(), &ctx()).is_none());
}

#[test]
fn references_of_a_pod() {
    let mut p = pod();
    p.spec.containers[0].env = vec![
        from("A", cm_key("a", "k", None)),
        from("B", secret_key("b", "k", None)),
    ];
    p.spec.volumes = vec![Volume {
        name: "v".into(),
        config_map: Some(ConfigMapVolumeSource {
            name: "c".into(),
            ..Default::default()
        }),
        ..Default::default()
    }];
    let env = References::of(&p, true, false);
    assert_eq!(env.config_maps, BTreeSet::from(["a".to_owned()]));
    assert_eq!(env.secrets, BTreeSet::from(["b".to_owned()]));
    let vol = References::of(&p, false, true);
    assert_eq!(vol.config_maps, BTreeSet::from(["c".to_owned()]));
    assert!(vol.secrets.is_empty());
}
