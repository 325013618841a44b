"""The Python `kubernetes` client against a running rudderd (KUBECONFIG): the typed calls
applications make. Prints one JSON line of what it saw; tests/tests/api_compat.rs checks it.
"""

import json
import os
import sys
import time

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

config.load_kube_config(os.environ["KUBECONFIG"])
core = client.CoreV1Api()
apps = client.AppsV1Api()
NS = "pycompat"
seen = {}


def deployment(name, replicas):
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name, labels={"suite": "python"}),
        spec=client.V1DeploymentSpec(
            replicas=replicas,
            selector=client.V1LabelSelector(match_labels={"app": name}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": name}),
                spec=client.V1PodSpec(
                    containers=[client.V1Container(name="demo", image="rudder/demo:1")]
                ),
            ),
        ),
    )


core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NS)))

# A watch from the empty list's revision sees the Deployment arrive.
start = apps.list_namespaced_deployment(NS).metadata.resource_version
created = apps.create_namespaced_deployment(NS, deployment("shop-api", 1))
seen["created"] = created.metadata.name
seen["watched"] = []
w = watch.Watch()
for event in w.stream(
    apps.list_namespaced_deployment, NS, resource_version=start, timeout_seconds=5
):
    seen["watched"].append(f"{event['type']} {event['object'].metadata.name}")
    if event["type"] == "ADDED":
        w.stop()

listed = apps.list_namespaced_deployment(NS, label_selector="suite=python")
seen["listed"] = [d.metadata.name for d in listed.items]

patched = apps.patch_namespaced_deployment(
    "shop-api", NS, {"metadata": {"labels": {"color": "blue"}}}
)
seen["patched_label"] = patched.metadata.labels.get("color")

scale = apps.patch_namespaced_deployment_scale("shop-api", NS, {"spec": {"replicas": 3}})
seen["scaled"] = apps.read_namespaced_deployment_scale("shop-api", NS).spec.replicas

# Read, modify, replace: a controller may write the object in between (the replace then
# carries a stale resourceVersion and gets 409), so retry as client-go's RetryOnConflict.
for attempt in range(10):
    current = apps.read_namespaced_deployment("shop-api", NS)
    current.metadata.annotations = dict(current.metadata.annotations or {}, note="replaced")
    try:
        replaced = apps.replace_namespaced_deployment("shop-api", NS, current)
        break
    except ApiException as e:
        if e.status != 409:
            raise
        time.sleep(0.1)
seen["replaced_annotation"] = replaced.metadata.annotations["note"]

deadline = time.time() + 90
ready = 0
while time.time() < deadline:
    status = apps.read_namespaced_deployment_status("shop-api", NS).status
    ready = status.ready_replicas or 0
    if ready >= 1:
        break
    time.sleep(0.5)
seen["ready_replicas"] = ready

svc = core.create_namespaced_service(
    NS,
    client.V1Service(
        metadata=client.V1ObjectMeta(name="shop-api"),
        spec=client.V1ServiceSpec(
            selector={"app": "shop-api"},
            ports=[client.V1ServicePort(port=80, target_port=8080)],
        ),
    ),
)
seen["service_type"] = svc.spec.type
seen["cluster_ip"] = svc.spec.cluster_ip

try:
    core.read_namespaced_pod("nope", NS)
    seen["not_found"] = 200
except ApiException as e:
    seen["not_found"] = e.status

apps.delete_namespaced_deployment(
    "shop-api", NS, body=client.V1DeleteOptions(propagation_policy="Foreground")
)
deadline = time.time() + 60
seen["deleted"] = False
while time.time() < deadline:
    try:
        apps.read_namespaced_deployment("shop-api", NS)
        time.sleep(0.5)
    except ApiException as e:
        if e.status == 404:
            seen["deleted"] = True
            break
        raise

print(json.dumps(seen))
sys.exit(0)
