"""Server-side apply with the Python `kubernetes` client against a running rudderd
(KUBECONFIG): the typed API's patch with the apply content type (the client sends the
body as JSON). Prints one JSON line of what it saw; tests/tests/api_apply.rs checks it.
"""

import json
import os

from kubernetes import client, config

config.load_kube_config(os.environ["KUBECONFIG"])
core = client.CoreV1Api()
APPLY = "application/apply-patch+yaml"
seen = {}


def apply(data):
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "py-applied"},
        "data": data,
    }
    return core.patch_namespaced_config_map(
        "py-applied",
        "default",
        body,
        field_manager="py-apply",
        _content_type=APPLY,
    )


# The first apply creates the ConfigMap, the second changes and adds a key.
seen["created"] = apply({"a": "1"}).data
seen["updated"] = apply({"a": "2", "b": "3"}).data
cm = core.read_namespaced_config_map("py-applied", "default")
seen["managers"] = sorted({e.manager for e in cm.metadata.managed_fields or []})
print(json.dumps(seen))
