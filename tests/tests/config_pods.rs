//! ConfigMaps, Secrets and the downward API in real pods (Docker): environment from
//! `valueFrom` and `envFrom`, configMap, secret and projected volumes, a ConfigMap edit
//! reaching the mounted files of running pods, and pods that wait for a missing
//! ConfigMap and start by themselves once it exists.
//!
//! Without a reachable Docker engine every test prints a loud SKIP and returns.

use std::collections::BTreeMap;
use std::time::Duration;

use rudder_protocol::messages::api::ListParams;
use rudder_protocol::resources::{
    ConfigMap, ConfigMapEnvSource, ConfigMapKeySelector, ConfigMapProjection,
    ConfigMapVolumeSource, Container, Deployment, DownwardApiProjection, DownwardApiVolumeFile,
    EnvFromSource, EnvVar, EnvVarSource, Event, KeyToPath, ObjectFieldSelector, Pod, PodPhase,
    ProjectedVolumeSource, Secret, SecretEnvSource, SecretKeySelector, SecretProjection,
    SecretVolumeSource, Volume, VolumeMount, VolumeProjection,
};
use rudder_tests::eventually;
use rudder_tests::services::{self, docker, DockerNode};

fn docker_available() -> bool {
    services::docker_available("the ConfigMap/Secret pod tests")
}

fn labels(app: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("app".to_owned(), app.to_owned())])
}

fn env_from(name: &str, source: EnvVarSource) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: String::new(),
        value_from: Some(source),
    }
}

fn mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only: false,
        ..Default::default()
    }
}

fn item(key: &str, path: &str) -> KeyToPath {
    KeyToPath {
        key: key.into(),
        path: path.into(),
        mode: None,
    }
}

/// A Deployment whose pod takes env from `app-config` and `app-secret` (valueFrom and
/// envFrom), mounts both and a projected volume, prints what it got, then prints the
/// mounted greeting every second.
fn config_deployment() -> Deployment {
    let mut d = Deployment::new("cfg");
    d.spec.replicas = Some(1);
    d.spec.selector.match_labels = labels("cfg");
    d.spec.template.metadata.labels = labels("cfg");
    let spec = &mut d.spec.template.spec;
    spec.termination_grace_period_seconds = Some(1);
    spec.volumes = vec![
        Volume {
            name: "cfg".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: "app-config".into(),
                ..Default::default()
            }),
            ..Default::default()
        },
        Volume {
            name: "sec".into(),
            secret: Some(SecretVolumeSource {
                secret_name: "app-secret".into(),
                default_mode: Some(0o400),
                ..Default::default()
            }),
            ..Default::default()
        },
        Volume {
            name: "proj".into(),
            projected: Some(ProjectedVolumeSource {
                sources: vec![
                    VolumeProjection {
                        config_map: Some(ConfigMapProjection {
                            name: "app-config".into(),
                            items: vec![item("greeting", "greeting")],
                            optional: None,
                        }),
                        ..Default::default()
                    },
                    VolumeProjection {
                        secret: Some(SecretProjection {
                            name: "app-secret".into(),
                            items: vec![item("password", "creds/pw")],
                            optional: None,
                        }),
                        ..Default::default()
                    },
                    VolumeProjection {
                        downward_api: Some(DownwardApiProjection {
                            items: vec![DownwardApiVolumeFile {
                                path: "podname".into(),
                                field_ref: Some(ObjectFieldSelector {
                                    api_version: "v1".into(),
                                    field_path: "metadata.name".into(),
                                }),
                                ..Default::default()
                            }],
                        }),
                        ..Default::default()
                    },
                ],
                default_mode: None,
            }),
            ..Default::default()
        },
    ];
    spec.containers = vec![Container {
        name: "app".into(),
        image: "rudder/demo:1".into(),
        command: vec![
            "sh".into(),
            "-c".into(),
            concat!(
                "echo \"GREETING=$GREETING\"; echo \"PW=$PW\"; echo \"POD=$POD_NAME\"; ",
                "echo \"NS=$POD_NAMESPACE\"; echo \"APP=$APP_LABEL\"; ",
                "echo \"CFG_mode=$CFG_mode\"; echo \"FROM_SECRET=$password\"; ",
                "echo \"SECRET_FILE=$(cat /etc/sec/password)\"; ",
                "echo \"PROJ_PW=$(cat /etc/proj/creds/pw)\"; ",
                "echo \"PROJ_POD=$(cat /etc/proj/podname)\"; ",
                "while true; do echo \"FILE=$(cat /etc/cfg/greeting) PROJ=$(cat /etc/proj/greeting)\"; sleep 1; done"
            )
            .into(),
        ],
        env: vec![
            env_from(
                "GREETING",
                EnvVarSource {
                    config_map_key_ref: Some(ConfigMapKeySelector {
                        name: "app-config".into(),
                        key: "greeting".into(),
                        optional: None,
                    }),
                    ..Default::default()
                },
            ),
            env_from(
                "PW",
                EnvVarSource {
                    secret_key_ref: Some(SecretKeySelector {
                        name: "app-secret".into(),
                        key: "password".into(),
                        optional: None,
                    }),
                    ..Default::default()
                },
            ),
            env_from("POD_NAME", field("metadata.name")),
            env_from("POD_NAMESPACE", field("metadata.namespace")),
            env_from("APP_LABEL", field("metadata.labels['app']")),
        ],
        env_from: vec![
            EnvFromSource {
                prefix: "CFG_".into(),
                config_map_ref: Some(ConfigMapEnvSource {
                    name: "app-config".into(),
                    optional: None,
                }),
                secret_ref: None,
            },
            EnvFromSource {
                prefix: String::new(),
                config_map_ref: None,
                secret_ref: Some(SecretEnvSource {
                    name: "app-secret".into(),
                    optional: None,
                }),
            },
        ],
        volume_mounts: vec![
            mount("cfg", "/etc/cfg"),
            mount("sec", "/etc/sec"),
            mount("proj", "/etc/proj"),
        ],
        ..Default::default()
    }];
    d
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

fn config_map(name: &str, data: &[(&str, &str)]) -> ConfigMap {
    let mut cm = ConfigMap::new(name);
    cm.data = data
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    cm
}

/// The log of the running container `app` of pod `pod`, once it contains `needle`.
async fn log_containing(
    node: &DockerNode,
    pod: &str,
    needle: &str,
    secs: u64,
) -> anyhow::Result<String> {
    let needle = needle.to_owned();
    let (log, _) = eventually(Duration::from_secs(secs), || {
        let id = node.container_of(pod, "app");
        let needle = needle.clone();
        async move {
            let Some(id) = id else { return Ok(None) };
            let out = std::process::Command::new("docker")
                .args(["logs", &id])
                .output()?;
            let log = String::from_utf8_lossy(&out.stdout).into_owned();
            Ok(log.contains(&needle).then_some(log))
        }
    })
    .await
    .map_err(|e| anyhow::anyhow!("pod {pod}: no {needle:?} in its log: {e}"))?;
    Ok(log)
}

async fn running_pod(node: &DockerNode, app: &str) -> anyhow::Result<Pod> {
    let pods = node.api::<Pod>();
    let selector = format!("app={app}");
    let (p, _) = eventually(Duration::from_secs(90), || {
        let pods = pods.clone();
        let params = ListParams {
            label_selector: Some(selector.clone()),
            ..Default::default()
        };
        async move {
            let list = pods.list(&params).await?;
            Ok(list
                .items
                .into_iter()
                .find(|p| p.status.phase == Some(PodPhase::Running)))
        }
    })
    .await?;
    Ok(p)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_take_env_and_files_from_config_maps_and_secrets() -> anyhow::Result<()> {
    if !docker_available() {
        return Ok(());
    }
    let node = DockerNode::start(&format!("cfgpods-{}", std::process::id()), "forwarding").await?;
    let cms = node.api::<ConfigMap>();
    cms.create(&config_map(
        "app-config",
        &[("greeting", "hello"), ("mode", "fast")],
    ))
    .await?;
    let mut secret = Secret::new("app-secret");
    // `1token` is a valid variable name by Kubernetes' relaxed rule (its default since
    // 1.32), which the API server keeps: envFrom passes it.
    secret.string_data = BTreeMap::from([
        ("password".to_owned(), "s3cret".to_owned()),
        ("1token".to_owned(), "passed".to_owned()),
    ]);
    node.api::<Secret>().create(&secret).await?;
    node.api::<Deployment>()
        .create(&config_deployment())
        .await?;

    let pod = running_pod(&node, "cfg").await?;
    let name = pod.metadata.name.clone();
    let log = log_containing(&node, &name, "FILE=hello PROJ=hello", 60).await?;
    for want in [
        "GREETING=hello".to_owned(),
        "PW=s3cret".to_owned(),
        format!("POD={name}"),
        "NS=default".to_owned(),
        "APP=cfg".to_owned(),
        "CFG_mode=fast".to_owned(),
        "FROM_SECRET=s3cret".to_owned(),
        "SECRET_FILE=s3cret".to_owned(),
        "PROJ_PW=s3cret".to_owned(),
        format!("PROJ_POD={name}"),
    ] {
        assert!(log.contains(&want), "{want:?} not in the log:\n{log}");
    }
    // The files are laid out as Kubernetes' atomic writer does, with its modes.
    let id = node.container_of(&name, "app").expect("running container");
    // (The demo image's busybox has `ls`, but neither `readlink` nor `stat`.)
    let listing = docker(&["exec", &id, "ls", "-la", "/etc/cfg/"]).unwrap_or_default();
    assert!(listing.contains("..data -> ..20"), "{listing}");
    assert!(listing.contains("greeting -> ..data/greeting"), "{listing}");
    let mode = docker(&["exec", &id, "ls", "-lL", "/etc/sec/password"]).unwrap_or_default();
    assert!(
        mode.starts_with("-r--------"),
        "secret defaultMode 0400: {mode}"
    );
    assert!(
        docker(&["exec", &id, "touch", "/etc/cfg/new"]).is_none(),
        "configMap volumes are read-only"
    );
    let env = docker(&["exec", &id, "env"]).unwrap_or_default();
    assert!(env.contains("1token=passed"), "{env}");
    // An edit reaches the mounted files within the sync period; env stays.
    let mut cm = cms.get("app-config").await?;
    cm.data.insert("greeting".into(), "bonjour".into());
    cms.update(&cm).await?;
    let started = std::time::Instant::now();
    log_containing(&node, &name, "FILE=bonjour PROJ=bonjour", 40).await?;
    eprintln!(
        "ConfigMap edit seen in the pod's files after {:?}",
        started.elapsed()
    );
    let env = docker(&["exec", &id, "sh", "-c", "echo $GREETING"]).unwrap_or_default();
    assert_eq!(
        env.trim(),
        "hello",
        "env does not change in a running container"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_wait_for_a_missing_config_map_and_start_once_it_exists() -> anyhow::Result<()> {
    if !docker_available() {
        return Ok(());
    }
    let node = DockerNode::start(&format!("cfgwait-{}", std::process::id()), "forwarding").await?;
    let node_name = node.name.clone();
    let pod = |name: &str| {
        let mut p = Pod::new(name);
        p.spec.node_name = node_name.clone();
        p.spec.termination_grace_period_seconds = Some(1);
        p.spec.containers = vec![Container {
            name: "app".into(),
            image: "rudder/demo:1".into(),
            command: vec![
                "sh".into(),
                "-c".into(),
                "echo \"ENV=$LATE\"; while true; do echo \"FILE=$(cat /etc/late/k 2>/dev/null)\"; sleep 1; done".into(),
            ],
            ..Default::default()
        }];
        p
    };
    let mut by_env = pod("by-env");
    by_env.spec.containers[0].env = vec![env_from(
        "LATE",
        EnvVarSource {
            config_map_key_ref: Some(ConfigMapKeySelector {
                name: "late".into(),
                key: "k".into(),
                optional: None,
            }),
            ..Default::default()
        },
    )];
    let mut by_volume = pod("by-volume");
    by_volume.spec.volumes = vec![Volume {
        name: "late".into(),
        config_map: Some(ConfigMapVolumeSource {
            name: "late".into(),
            ..Default::default()
        }),
        ..Default::default()
    }];
    by_volume.spec.containers[0].volume_mounts = vec![mount("late", "/etc/late")];
    let mut optional = pod("optional");
    optional.spec.volumes = vec![Volume {
        name: "late".into(),
        config_map: Some(ConfigMapVolumeSource {
            name: "never".into(),
            optional: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    }];
    optional.spec.containers[0].volume_mounts = vec![mount("late", "/etc/late")];
    let pods = node.api::<Pod>();
    for p in [&by_env, &by_volume, &optional] {
        pods.create(p).await?;
    }

    // Each waits with its reason and an event naming what is missing.
    let events = node.api::<Event>();
    for (pod, reason, event) in [
        ("by-env", "CreateContainerConfigError", "Failed"),
        ("by-volume", "ContainerCreating", "FailedMount"),
    ] {
        let (pods, events) = (pods.clone(), events.clone());
        eventually(Duration::from_secs(60), move || {
            let (pods, events) = (pods.clone(), events.clone());
            async move {
                let p = pods.get(pod).await?;
                let waiting = p
                    .status
                    .container_statuses
                    .first()
                    .and_then(|s| s.state.waiting.clone())
                    .map(|w| w.reason)
                    .unwrap_or_default();
                let list = events.list(&ListParams::default()).await?;
                let named = list.items.iter().any(|e| {
                    e.involved_object.name == pod
                        && e.reason == event
                        && e.message.contains("configmap \"late\" not found")
                });
                Ok(
                    (waiting == reason && named && p.status.phase == Some(PodPhase::Pending))
                        .then_some(()),
                )
            }
        })
        .await
        .map_err(|e| {
            anyhow::anyhow!("{pod} does not wait with {reason} and a {event} event: {e}")
        })?;
    }
    // A missing optional ConfigMap is an empty directory.
    log_containing(&node, "optional", "FILE=", 60).await?;

    node.api::<ConfigMap>()
        .create(&config_map("late", &[("k", "finally")]))
        .await?;
    log_containing(&node, "by-env", "ENV=finally", 90).await?;
    log_containing(&node, "by-volume", "FILE=finally", 90).await?;
    Ok(())
}
