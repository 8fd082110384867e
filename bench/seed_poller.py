"""The seed's polling init container (pod-existence-check), re-created for the benchmark.

Same interface and same algorithm as the seed's script, written from its description and
behaviour:
- environment: NAMESPACE_LABEL_DICT ('{"ns": [{"label": "value"}, ...]}'), TIMEOUT (s, default
  300), RETRY_INTERVAL (s, default 15); an empty dict exits 0 at once;
- every attempt, for each namespace and each label set in order: load the in-cluster
  configuration, make a new CoreV1Api, and list the namespace's pods with the label set joined
  as `k=v,k=v`; the label set counts as present when *any* listed pod is phase Running with every
  container ready; the first label set that is not present ends the attempt;
- all present: exit 0; else sleep RETRY_INTERVAL and try again until TIMEOUT has passed: exit 1.

The one change: the in-cluster configuration is read from BENCH_SA_DIR (token and ca.crt, as a
pod's service-account mount has them) and KUBERNETES_SERVICE_HOST/PORT, because this machine has
no /var/run/secrets. Needs the `kubernetes` Python package (the seed pinned 29.0.0).
"""

import json
import os
import sys
import time

from kubernetes import client, config
from kubernetes.client.rest import ApiException


def load_incluster_config():
    """config.load_incluster_config(), with the service-account files taken from BENCH_SA_DIR."""
    sa_dir = os.environ["BENCH_SA_DIR"]
    config.incluster_config.InClusterConfigLoader(
        token_filename=os.path.join(sa_dir, "token"),
        cert_filename=os.path.join(sa_dir, "ca.crt"),
    ).load_and_set()


def label_set_present(namespace, labels):
    try:
        load_incluster_config()
        core = client.CoreV1Api()
        selector = ",".join(f"{key}={value}" for key, value in labels.items())
        pods = core.list_namespaced_pod(namespace, label_selector=selector)
        for pod in pods.items:
            if pod.status.phase == "Running" and all(
                c.ready for c in pod.status.container_statuses
            ):
                print(f"found a ready pod in namespace '{namespace}' with labels {labels}")
                return True
        return False
    except ApiException as e:
        print(f"listing pods in {namespace} failed: {e}", file=sys.stderr)
        return False


def wait_for_pods(namespace_label_dict, timeout, interval):
    started = time.time()
    attempt = 0
    while time.time() - started < timeout:
        attempt += 1
        print(f"attempt {attempt}")
        everything = True
        for namespace, label_sets in namespace_label_dict.items():
            for labels in label_sets:
                if not label_set_present(namespace, labels):
                    everything = False
                    print(f"no ready pod in namespace '{namespace}' with labels {labels}; retrying")
                    break
            if not everything:
                break
        if everything:
            print("every label set has a ready pod")
            sys.exit(0)
        time.sleep(interval)
    print("timed out")
    sys.exit(1)


def main():
    namespace_label_dict = json.loads(os.getenv("NAMESPACE_LABEL_DICT", "{}"))
    if namespace_label_dict == {}:
        print("empty NAMESPACE_LABEL_DICT")
        sys.exit(0)
    timeout = int(os.getenv("TIMEOUT", 300))
    interval = int(os.getenv("RETRY_INTERVAL", 15))
    wait_for_pods(namespace_label_dict, timeout, interval)


if __name__ == "__main__":
    main()
