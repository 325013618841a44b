//! Runtime specs of pods.

use rudder_protocol::resources::RestartPolicy;

use super::*;
use crate::kubelet::worker::fixtures::pod;

#[test]
fn volume_plans() {
    use rudder_protocol::resources::{
        ConfigMapVolumeSource, EmptyDirVolumeSource, HostPathVolumeSource, Volume, VolumeMount,
    };
    let mut p = pod(RestartPolicy::Always);
    p.spec.volumes = vec![
        Volume {
            name: "scratch".into(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Default::default()
        },
        Volume {
            name: "ram".into(),
            empty_dir: Some(EmptyDirVolumeSource {
                medium: "Memory".into(),
                ..Default::default()
            }),
            ..Default::default()
        },
        Volume {
            name: "host".into(),
            host_path: Some(HostPathVolumeSource {
                path: "/srv/data".into(),
                type_: None,
            }),
            ..Default::default()
        },
        Volume {
            name: "conf".into(),
            config_map: Some(ConfigMapVolumeSource::default()),
            ..Default::default()
        },
    ];
    let mount = |name: &str, path: &str, read_only: bool| VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only,
        ..Default::default()
    };
    let mut c = p.spec.containers[0].clone();
    c.volume_mounts = vec![
        mount("scratch", "/tmp/s", false),
        mount("ram", "/tmp/r", false),
        mount("host", "/data", true),
    ];
    let (volumes, mounts) = volume_plan(&p, &c, "n1", Path::new("/var/lib/rudder/pods"), &[])
        .expect("supported volumes");
    assert_eq!(
        volumes
            .iter()
            .map(|v| (v.name.as_str(), v.memory))
            .collect::<Vec<_>>(),
        vec![("rudder-uid-1-scratch", false), ("rudder-uid-1-ram", true)]
    );
    assert!(volumes
        .iter()
        .all(|v| v.labels.get(labels::POD_UID).map(String::as_str) == Some("uid-1")));
    assert_eq!(
        mounts,
        vec![
            Mount {
                source: MountSource::Volume("rudder-uid-1-scratch".into()),
                target: "/tmp/s".into(),
                read_only: false,
                propagation: None
            },
            Mount {
                source: MountSource::Volume("rudder-uid-1-ram".into()),
                target: "/tmp/r".into(),
                read_only: false,
                propagation: None
            },
            Mount {
                source: MountSource::HostPath("/srv/data".into()),
                target: "/data".into(),
                read_only: true,
                propagation: None
            },
        ]
    );
    c.volume_mounts = vec![mount("conf", "/etc/conf", true)];
    let (volumes, mounts) =
        volume_plan(&p, &c, "n1", Path::new("/var/lib/rudder/pods"), &[]).expect("configMap");
    assert!(
        volumes.is_empty(),
        "no runtime volume for files the kubelet writes"
    );
    assert_eq!(
        mounts,
        vec![Mount {
            source: MountSource::HostPath("/var/lib/rudder/pods/uid-1/volumes/conf".into()),
            target: "/etc/conf".into(),
            read_only: true,
            propagation: None
        }]
    );
    c.volume_mounts = vec![mount("conf", "/etc/conf", false)];
    let (_, mounts) =
        volume_plan(&p, &c, "n1", Path::new("/var/lib/rudder/pods"), &[]).expect("configMap");
    assert!(
        mounts[0].read_only,
        "configMap volumes are always read-only"
    );
    c.volume_mounts = vec![mount("missing", "/x", false)];
    assert!(volume_plan(&p, &c, "n1", Path::new("/var/lib/rudder/pods"), &[]).is_err());
}
