#!/usr/bin/env python3
"""`just bench`, real-pod section: depwait and its peers as real init containers in a real pod.

Started by bench/run.sh (BENCH_REAL_POD). For each server version it starts the one-node cluster
of the e2e tier (scripts/cluster/start.sh: etcd, kube-apiserver, controllers, scheduler,
containerd, kubelet in a network namespace with no route out), as tests/e2e/cluster.rs does, and
then:

- release runs: one dependency pod (busybox httpd whose readiness probe passes once
  /www/ready.html exists) and, side by side, one gated pod per waiter — depwait from its image,
  `kubectl wait` (the kubectl binary in a scratch image), the seed's poller (bench/seed_poller.py
  on Debian's python3-kubernetes) at RETRY_INTERVAL 15 s and 1 s — each an init container in
  front of a busybox app container. Once every waiter's own log shows it waiting, the driver
  creates the file (kubectl exec) and times, from the moment its watch sees the dependency
  Ready: the waiter's release line (the CRI log's timestamp), its process exit (containerd's
  TaskExit), the kubelet's PLEG event for it, the app container's CRI StartContainer returning
  (containerd's log), and the API showing the app container running (the watch again);
- cluster restart: the e2e tier's scenario (five apps in a chain, gated by depwait and ungated
  next to each other), then a power cut of the node (kubelet and containerd killed with every
  container) and a restart: the time until all five of each kind are Ready again, and the app
  restarts it cost.

Every timestamp is from one host clock: the driver's (watch receive times), containerd's and the
kubelet's logs. Writes its section of bench/RESULTS.md (between REAL_POD_BEGIN and
REAL_POD_END, before the notes), or a line saying why it was skipped. Stdlib only.
"""

import argparse
import http.client
import json
import os
import random
import re
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
NOTES_MARK = "<!-- notes: everything below this line is kept when just bench rewrites the file -->"
REAL_POD_BEGIN = "<!-- real-pod: written by bench/real_pod.py -->"
REAL_POD_END = "<!-- real-pod: end -->"
LOCK = "/run/lock/depwait-e2e.lock"
NS = "bench"  # the release runs' namespace
RESTART_NS = "bench-restart"
SA = "bench-waiter"
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
# Hang guard for anything the cluster does; never a timing assertion.
LIMIT = 180

# Waiters compared, in table order: key -> column title, and the seed poller's interval.
WAITERS = {
    "depwait": "depwait",
    "kwait": "kubectl wait",
    "seed15": "seed poller, 15 s",
    "seed1": "seed poller, 1 s",
}
INTERVAL = {"depwait": 0, "kwait": 0, "seed15": 15, "seed1": 1}
# A line of the waiter's own log that proves it is waiting (it has judged the dependency unready
# from the API at least once), and the line it writes when it lets the app go.
WAITING = {
    "depwait": "still waiting",
    # kubectl -v=6 logs each request once its response headers arrive: the watch is open.
    "kwait": "watch=true",
    "seed15": "retrying",
    "seed1": "retrying",
}
RELEASED = {
    "depwait": "all dependencies ready",
    "kwait": "condition met",
    "seed15": "every label set has a ready pod",
    "seed1": "every label set has a ready pod",
}
MILESTONES = [
    ("logged", "the waiter logs its release (CRI log timestamp)"),
    ("exited", "the waiter's process exits (containerd TaskExit)"),
    ("pleg", "the kubelet's PLEG sees the init container exit"),
    ("started", "app container started (CRI StartContainer returned)"),
    ("running", "API shows the app container running (watch)"),
]
SHARES = [
    ("exited", None, "the waiter: dependency Ready seen → its process gone"),
    ("pleg", "exited", "the kubelet noticing: process gone → PLEG event (its relist)"),
    ("started", "pleg", "the app starting: PLEG event → StartContainer returned"),
    ("running", "started", "the status report: StartContainer → API shows it running"),
]


def log(msg):
    print(f"bench real-pod: {msg}", file=sys.stderr, flush=True)


# --- the API, stdlib only ----------------------------------------------------------------------


class Api:
    """The cluster's API server through start.sh's admin kubeconfig (token + CA file)."""

    def __init__(self, kubeconfig):
        text = Path(kubeconfig).read_text()
        # start.sh writes flow mappings: {server: "https://...", certificate-authority: "..."}.
        server = re.search(r'server: "([^"]+)"', text).group(1)
        ca = re.search(r'certificate-authority: "([^"]+)"', text).group(1)
        self.token = re.search(r'token: "([^"]+)"', text).group(1)
        url = urllib.parse.urlsplit(server)
        self.host, self.port = url.hostname, url.port or 443
        self.ctx = ssl.create_default_context(cafile=ca)

    def connect(self, timeout=30):
        return http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=timeout)

    def request(self, method, path, body=None, content_type="application/json"):
        conn = self.connect()
        try:
            headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
            if body is not None:
                headers["Content-Type"] = content_type
                body = json.dumps(body).encode() if not isinstance(body, bytes) else body
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def get(self, path):
        status, data = self.request("GET", path)
        return json.loads(data) if status == 200 else None

    def create(self, path, obj):
        status, data = self.request("POST", path, obj)
        if status not in (200, 201, 409):
            raise RuntimeError(f"POST {path}: {status} {data[:500]!r}")

    def delete(self, path):
        self.request("DELETE", path, {"kind": "DeleteOptions", "apiVersion": "v1",
                                      "gracePeriodSeconds": 0})

    def text(self, path):
        status, data = self.request("GET", path)
        return data.decode(errors="replace") if status == 200 else ""


def ready(pod):
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c["type"] == "Ready":
            return c["status"] == "True"
    return False


def ready_since(pod):
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c["type"] == "Ready" and c["status"] == "True":
            return c.get("lastTransitionTime", "")
    return None


def container(pod, name, init=False):
    key = "initContainerStatuses" if init else "containerStatuses"
    for c in (pod.get("status") or {}).get(key) or []:
        if c["name"] == name:
            return c
    return None


class PodWatch:
    """Every pod of the cluster as one watch sees it, with the time each event was received.

    One thread reads the watch; others wait on `cond` for a predicate over what it has seen.
    """

    def __init__(self, api):
        self.api = api
        self.cond = threading.Condition()
        self.pods = {}  # (namespace, name) -> the last object seen
        self.seen = defaultdict(list)  # (namespace, name) -> [(received, pod)]
        self.closed = False
        threading.Thread(target=self.run, daemon=True).start()

    def close(self):
        """Before the cluster goes: the next version's cluster has the same address."""
        self.closed = True

    def run(self):
        rv = ""
        while not self.closed:
            try:
                rv = self.watch(rv)
            except (OSError, http.client.HTTPException, ValueError):
                rv = ""  # the cluster going away, or a broken stream: start again from now
                time.sleep(0.5)

    def watch(self, rv):
        conn = self.api.connect(timeout=None)
        query = "watch=1&allowWatchBookmarks=true" + (f"&resourceVersion={rv}" if rv else "")
        conn.request("GET", f"/api/v1/pods?{query}",
                     headers={"Authorization": f"Bearer {self.api.token}"})
        resp = conn.getresponse()
        if resp.status != 200:
            conn.close()
            time.sleep(0.5)
            return ""  # e.g. 410 Gone: start again from now
        while not self.closed:
            line = resp.readline()
            received = time.time()
            if not line:
                break
            event = json.loads(line)
            obj = event["object"]
            if event["type"] == "ERROR":
                conn.close()
                return ""
            rv = obj["metadata"].get("resourceVersion", rv)
            if event["type"] == "BOOKMARK":
                continue
            key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
            with self.cond:
                if event["type"] == "DELETED":
                    self.pods.pop(key, None)
                else:
                    self.pods[key] = obj
                    self.seen[key].append((received, obj))
                self.cond.notify_all()
        conn.close()
        return rv

    def wait(self, what, predicate, timeout=LIMIT):
        """The predicate's first truthy value over the pods seen so far; a hang guard only."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                value = predicate(self.pods)
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {what} within {timeout} s")
                self.cond.wait(left)

    def first(self, key, test, after=0.0):
        """When the watch first received an object of `key` for which `test` holds."""
        with self.cond:
            for received, obj in self.seen[key]:
                if received >= after and test(obj):
                    return received
        return None


# --- the cluster -------------------------------------------------------------------------------


class Cluster:
    """scripts/cluster/start.sh for this process, as tests/e2e/cluster.rs starts it: the
    supervisor holds a pipe on its stdin and tears the cluster down when it closes."""

    def __init__(self, cache, assets, version, lock_wait):
        self.version = version
        deadline = time.monotonic() + lock_wait
        while True:
            # One cluster per machine, and others (the coordinator, CI) hold it for 10-20
            # minutes: wait for the lock here, then let start.sh take it (it waits 120 s more).
            while subprocess.run(["flock", "-w", "600", LOCK, "true"]).returncode != 0:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{LOCK} stayed held for {lock_wait} s")
                log(f"{LOCK} is held (another cluster is running): still waiting")
            self.dir = Path(tempfile.mkdtemp(prefix="depwait-e2e.", dir="/tmp"))
            self.launched = time.time()
            self.proc = subprocess.Popen(
                ["bash", str(REPO / "scripts/cluster/start.sh"), str(cache), str(assets),
                 str(self.dir), str(os.getpid())],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                env={**os.environ, "DEPWAIT_E2E_VERSION": version})
            why = self.wait_file("started", timeout=LIMIT)
            if why == "start" and time.monotonic() < deadline:
                # Someone took the lock between our check and start.sh's: try again.
                self.proc.wait()
                subprocess.run(["rm", "-rf", str(self.dir)])
                continue
            if why:
                self.stop()
                raise RuntimeError(f"the cluster did not start: {why} exited")
            break
        env = dict(p.split("=", 1) for p in (self.dir / "env").read_text().split())
        self.api_host, self.api_port = env["KUBERNETES_SERVICE_HOST"], env["KUBERNETES_SERVICE_PORT"]
        self.versions = (self.dir / "versions").read_text()
        self.api = Api(self.dir / "kubeconfig")
        self.wait_node_ready(self.launched)

    def exited(self):
        for f in self.dir.glob("exited-*"):
            return f.name[len("exited-"):]
        return None

    def wait_file(self, name, timeout):
        """"" once WORK_DIR/name exists, else the component that exited; a hang guard only."""
        deadline = time.monotonic() + timeout
        while not (self.dir / name).exists():
            if why := self.exited():
                return why
            if self.proc.poll() is not None:
                return "start.sh"
            if time.monotonic() > deadline:
                return f"(nothing after {timeout} s: {name})"
            time.sleep(0.1)
        return ""

    def poll(self, what, probe, timeout=LIMIT):
        deadline = time.monotonic() + timeout
        while True:
            if value := probe():
                return value
            if why := self.exited():
                raise RuntimeError(f"waiting for {what}: {why} exited")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {what} within {timeout} s")
            time.sleep(0.25)

    def wait_node_ready(self, since):
        """Ready with a heartbeat of this kubelet's: a Node keeps its status across restarts."""
        since = datetime.fromtimestamp(since - 1, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

        def probe():
            node = self.api.get("/api/v1/nodes/e2e-node")
            for c in (node or {}).get("status", {}).get("conditions", []):
                if c["type"] == "Ready":
                    return c["status"] == "True" and c["lastHeartbeatTime"] >= since
            return False

        self.poll("node e2e-node Ready with a fresh heartbeat", probe)

    def import_image(self, archive):
        subprocess.run(["ctr", "--address", str(self.dir / "containerd/containerd.sock"),
                        "--namespace", "k8s.io", "images", "import", "--no-unpack", str(archive)],
                       check=True, stdout=subprocess.DEVNULL)

    def api_proxy(self, kubectl):
        """The API in plain HTTP for pods, as tests/e2e/cluster.rs's api_proxy: `kubectl proxy`
        in the cluster's namespace, for pods at the bridge's gateway (busybox's own TLS client gets
        "handshake failure" from a 1.37 API server). stop.sh kills it with the namespace."""
        if getattr(self, "proxy_url", None):
            return self.proxy_url
        gateway = (self.dir / "resolv.conf").read_text().split()[1]
        self.proxy_proc = subprocess.Popen(
            ["ip", "netns", "exec", "depwait-e2e", str(kubectl), "--kubeconfig",
             str(self.dir / "kubeconfig"), "proxy", "--address", "0.0.0.0", "--port", "8001",
             "--accept-hosts", ".*"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        url = f"http://{gateway}:8001"
        self.poll("kubectl proxy to answer", lambda: subprocess.run(
            ["ip", "netns", "exec", "depwait-e2e", "busybox", "wget", "-q", "-O", "/dev/null",
             "http://127.0.0.1:8001/version"], capture_output=True).returncode == 0)
        self.proxy_url = url
        return url

    def kubectl(self, kubectl, *args):
        return subprocess.run([str(kubectl), "--kubeconfig", str(self.dir / "kubeconfig"), *args],
                              capture_output=True, text=True)

    def restart_node(self):
        """A power cut: start.sh kills the kubelet and containerd and every container on
        WORK_DIR/stop-node, and starts them again once it is gone. When they were started."""
        (self.dir / "stop-node").touch()
        if why := self.wait_file("stopped-node", LIMIT):
            raise RuntimeError(f"the node did not stop: {why}")
        restarted = time.time()
        (self.dir / "stop-node").unlink()
        return restarted

    def log(self, name):
        return (self.dir / "logs" / f"{name}.log").read_text(errors="replace")

    def stop(self):
        """Close the pipe: start.sh tears everything down and puts the host back."""
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait()


# --- component logs: one host clock ------------------------------------------------------------


def rfc3339(ts):
    """2026-12-02T10:30:00.123456789Z (nanoseconds, as containerd and CRI logs write it)."""
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", ts)
    base = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")
    tz = timezone.utc if m.group(3) == "Z" else datetime.strptime(m.group(3), "%z").tzinfo
    return base.replace(tzinfo=tz).timestamp() + float("0." + (m.group(2) or "0"))


def containerd_times(text):
    """Container id -> {"exited": TaskExit's ExitedAt, "started": StartContainer returned}."""
    times = defaultdict(dict)
    for line in text.splitlines():
        if "StartContainer for" in line and "returns successfully" in line:
            m = re.search(r'time="([^"]+)".*StartContainer for \\"([0-9a-f]{64})\\"', line)
            if m:
                times[m.group(2)]["started"] = rfc3339(m.group(1))
        elif "TaskExit" in line:
            # &TaskExit{ContainerID:ID,...,ExitedAt:2026-12-02 10:30:00.123456789 +0000 UTC,...}
            m = re.search(r"ContainerID:([0-9a-f]{64}).*?ExitedAt:(\S+) (\d\d:\d\d:\d\d)"
                          r"(?:\.(\d+))? ([+-]\d{4})", line)
            if m:
                at = datetime.strptime(f"{m.group(2)} {m.group(3)} {m.group(5)}",
                                       "%Y-%m-%d %H:%M:%S %z")
                exited = at.timestamp() + float("0." + (m.group(4) or "0"))
                times[m.group(1)].setdefault("exited", exited)
    return times


def kubelet_pleg_died(text, year):
    """Container id -> when the kubelet's PLEG reported it ContainerDied (klog, local time)."""
    died = {}
    for line in text.splitlines():
        if "SyncLoop (PLEG)" not in line or "ContainerDied" not in line:
            continue
        m = re.match(r"[IWE](\d{4} \d\d:\d\d:\d\d\.\d+)", line)
        ids = re.findall(r"[0-9a-f]{64}", line)
        if m and ids:
            # klog has no year and writes local time; fromtimestamp/timestamp() are local too.
            at = datetime.strptime(f"{year}{m.group(1)}", "%Y%m%d %H:%M:%S.%f").timestamp()
            for cid in ids:
                died.setdefault(cid, at)
    return died


# --- pods --------------------------------------------------------------------------------------


def pod_obj(ns, name, labels, spec):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": labels}, "spec": spec}


def dependency_spec():
    """busybox httpd whose readiness probe passes once /www/ready.html exists (as tests/e2e.rs)."""
    return {
        "terminationGracePeriodSeconds": 1,
        "containers": [{
            "name": "httpd", "image": "localhost/busybox:e2e", "imagePullPolicy": "Never",
            "command": ["httpd", "-f", "-p", "8080", "-h", "/www"],
            "readinessProbe": {"httpGet": {"path": "/ready.html", "port": 8080},
                               "periodSeconds": 1},
        }],
    }


class Setup:
    """What every gated pod needs: the API server's address (no kube-proxy), the images."""

    def __init__(self, cluster, kubectl_image, kubectl):
        self.cluster = cluster
        self.kubectl_image = kubectl_image
        self.kubectl = kubectl
        self.seed_script = (BENCH / "seed_poller.py").read_text()

    def env(self, extra=()):
        c = self.cluster
        return ([{"name": "KUBERNETES_SERVICE_HOST", "value": c.api_host},
                 {"name": "KUBERNETES_SERVICE_PORT", "value": c.api_port}]
                + [{"name": k, "value": v} for k, v in extra])

    def waiter(self, key, ns, selector, labels):
        """The init container of `key`, waiting for the pods of `ns` matching `selector`. No
        resource limits for any of them: a CPU limit would throttle one waiter, not measure it."""
        if key == "depwait":
            return {"name": "wait", "image": "localhost/depwait:e2e", "imagePullPolicy": "Never",
                    "args": ["--pods", f"{ns}:{selector}", "--heartbeat", "1s"],
                    "env": self.env()}
        if key == "kwait":
            return {"name": "wait", "image": self.kubectl_image, "imagePullPolicy": "Never",
                    "args": ["wait", "--for=condition=Ready", "pod", "-l", selector, "-n", ns,
                             "--timeout=600s", "-v=6"],
                    "env": self.env()}
        # The seed's poller, with the pod's own ServiceAccount token (BENCH_SA_DIR).
        dict_ = json.dumps({ns: [labels]})
        return {"name": "wait", "image": "localhost/python-kubernetes:bench",
                "imagePullPolicy": "Never",
                "command": ["python3", "-u", "-c", self.seed_script],
                "env": self.env([("NAMESPACE_LABEL_DICT", dict_), ("TIMEOUT", "600"),
                                 ("RETRY_INTERVAL", str(INTERVAL[key])),
                                 ("BENCH_SA_DIR", SA_DIR)])}

    def gated_spec(self, init, app):
        spec = {"serviceAccountName": SA, "terminationGracePeriodSeconds": 1,
                "containers": [app]}
        if init:
            spec["initContainers"] = [init]
        return spec

    def sleeper(self):
        return {"name": "app", "image": "localhost/busybox:e2e", "imagePullPolicy": "Never",
                "command": ["sh", "-c", "echo started; exec sleep 3600"]}

    def serving_app(self, ns, deps):
        """As tests/e2e.rs: checks that each of `deps` really serves (its pod IP from the API
        through the cluster's kubectl proxy, then an HTTP request to it) and exits 1 if one
        does not; then serves (Ready by its probe)."""
        api = self.cluster.api_proxy(self.kubectl) if deps else ""
        script = f"""for d in {" ".join(deps)}; do
  wget -q -U e2e -O /tmp/pods "{api}/api/v1/namespaces/{ns}/pods?labelSelector=app%3D$d" || exit 1
  ip=$(grep -o '"podIP": *"[0-9.]*"' /tmp/pods | head -n 1 | cut -d '"' -f 4)
  [ -n "$ip" ] || {{ echo "$d has no pod IP yet"; exit 1; }}
  timeout 5 wget -q -O /dev/null "http://$ip:8080/" || {{ echo "$d does not answer at $ip"; exit 1; }}
done
echo started
exec httpd -f -p 8080 -h /www"""
        return {"name": "app", "image": "localhost/busybox:e2e", "imagePullPolicy": "Never",
                "command": ["sh", "-c", script],
                "readinessProbe": {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1}}


def namespace_with_reader(api, ns):
    """Namespace `ns`, ServiceAccount SA in it allowed to get/list/watch pods everywhere, and
    the kube-root-ca.crt ConfigMap the projected token volume needs (the controller-manager
    publishes it shortly after the namespace appears)."""
    api.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                      "metadata": {"name": ns}})
    api.create(f"/api/v1/namespaces/{ns}/serviceaccounts",
               {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": SA}})
    role = f"{ns}-{SA}"
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    api.create(f"{rbac}/clusterroles", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": role},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]})
    api.create(f"{rbac}/clusterrolebindings", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": role},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": SA, "namespace": ns}]})
    deadline = time.monotonic() + LIMIT
    while api.get(f"/api/v1/namespaces/{ns}/configmaps/kube-root-ca.crt") is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no kube-root-ca.crt in {ns}")
        time.sleep(0.25)


# --- the release runs --------------------------------------------------------------------------


def release_runs(cluster, setup, watch, kubectl, runs, waiters):
    """`runs` runs, every waiter side by side in each; per run and waiter, the raw timestamps.
    A run that hangs is reported (its reason) and the next one goes on."""
    samples, failed = [], []
    for run in range(1, runs + 1):
        names = [f"dep-{run}"] + [f"g-{run}-{k}" for k in waiters]
        try:
            samples += one_run(cluster, setup, watch, kubectl, run, waiters)
            log(f"run {run}/{runs}: " + ", ".join(
                f"{s['waiter']} {1000 * (s['running'] - s['ready_seen']):.0f} ms"
                for s in samples[-len(waiters):]))
        except (TimeoutError, RuntimeError) as e:
            log(f"run {run}/{runs} failed: {e}")
            failed.append(f"run {run}: {e}")
        for name in names:
            cluster.api.delete(f"/api/v1/namespaces/{NS}/pods/{name}")
    # The component logs, once: containerd's and the kubelet's view of every container.
    ctd = containerd_times(cluster.log("containerd"))
    pleg = kubelet_pleg_died(cluster.log("kubelet"), datetime.now().year)
    for s in samples:
        s["exited"] = ctd.get(s["init_id"], {}).get("exited")
        s["started"] = ctd.get(s["app_id"], {}).get("started")
        s["pleg"] = pleg.get(s["init_id"])
    return samples, failed


def one_run(cluster, setup, watch, kubectl, run, waiters):
    api = cluster.api
    labels = {"app": "dep", "run": str(run)}
    selector = f"app=dep,run={run}"
    dep = f"dep-{run}"
    api.create(f"/api/v1/namespaces/{NS}/pods", pod_obj(NS, dep, labels, dependency_spec()))
    watch.wait(f"{dep} running", lambda pods: (pods.get((NS, dep), {}).get("status") or {})
               .get("phase") == "Running")
    gated = {k: f"g-{run}-{k}" for k in waiters}
    for key, name in gated.items():
        spec = setup.gated_spec(setup.waiter(key, NS, selector, labels), setup.sleeper())
        api.create(f"/api/v1/namespaces/{NS}/pods", pod_obj(NS, name, {"gated": key}, spec))
    # Evidence, not a sleep: each waiter's own log says it has judged the dependency unready.
    for key, name in gated.items():
        path = f"/api/v1/namespaces/{NS}/pods/{name}/log?container=wait"
        cluster.poll(f"{name}'s log showing it waiting",
                     lambda: WAITING[key] in api.text(path) and not ready(
                         watch.pods.get((NS, dep), {})))
    # The release comes at a random point of the slowest poller's interval, so a poller's
    # numbers sample its whole cycle, not one lucky phase.
    time.sleep(1 + random.uniform(0, max(INTERVAL[k] for k in waiters)))
    out = cluster.kubectl(kubectl, "-n", NS, "exec", dep, "--", "touch", "/www/ready.html")
    if out.returncode != 0:
        raise RuntimeError(f"kubectl exec {dep}: {out.stderr}")
    watch.wait(f"{dep} Ready", lambda pods: ready(pods.get((NS, dep), {})))
    ready_seen = watch.first((NS, dep), ready)
    watch.wait("every gated app container running", lambda pods: all(
        "running" in ((container(pods.get((NS, n), {}), "app") or {}).get("state") or {})
        for n in gated.values()), timeout=120)
    samples = []
    for key, name in gated.items():
        pod = watch.pods[(NS, name)]
        init, app = container(pod, "wait", init=True), container(pod, "app")
        logs = api.text(f"/api/v1/namespaces/{NS}/pods/{name}/log?container=wait"
                        "&timestamps=true")
        line = next((ln for ln in reversed(logs.splitlines()) if RELEASED[key] in ln), "")
        samples.append({
            "run": run, "waiter": key, "ready_seen": ready_seen,
            "logged": rfc3339(line.split(" ", 1)[0]) if line else None,
            "running": watch.first((NS, name), lambda p: "running" in (
                (container(p, "app") or {}).get("state") or {})),
            "init_id": init["containerID"].split("://", 1)[-1],
            "app_id": app["containerID"].split("://", 1)[-1],
            "exit_code": init["state"].get("terminated", {}).get("exitCode"),
        })
    return samples


# --- the cluster-restart scenario --------------------------------------------------------------


def restart_scenario(cluster, setup, watch, restarts):
    """Five apps that must start in order (app i needs apps 1..i-1), once gated by depwait
    (g1..g5) and once not (u1..u5, each exiting 1 at start when a dependency is not Ready); then
    `restarts` power cuts of the node. Per restart: when each kind had all five Ready again
    (from the kubelet and containerd starting again), and the app restarts it cost."""
    api = cluster.api
    n = 5
    for i in range(1, n + 1):
        deps = [f"{RESTART_NS}:app=g{d}" for d in range(1, i)]
        init = None
        if deps:
            init = setup.waiter("depwait", RESTART_NS, "", {})
            init["args"] = [a for d in deps for a in ("--pods", d)]
        for name, spec in [
            (f"g{i}", setup.gated_spec(init, setup.serving_app(RESTART_NS, []))),
            (f"u{i}", setup.gated_spec(None, setup.serving_app(
                RESTART_NS, [f"u{d}" for d in range(1, i)]))),
        ]:
            api.create(f"/apis/apps/v1/namespaces/{RESTART_NS}/deployments", {
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": name, "namespace": RESTART_NS},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                         "template": {"metadata": {"labels": {"app": name}}, "spec": spec}}})

    def apps(pods):
        """app label -> its pod (the one not being deleted)."""
        return {p["metadata"]["labels"]["app"]: p for (ns, _), p in pods.items()
                if ns == RESTART_NS and not p["metadata"].get("deletionTimestamp")}

    def all_ready(pods):
        a = apps(pods)
        return len(a) == 2 * n and all(ready(p) for p in a.values()) and a

    def restart_counts(a):
        return {k: (container(p, "app") or {}).get("restartCount", 0) for k, p in a.items()}

    results = []
    before = restart_counts(watch.wait("all ten apps Ready", all_ready, timeout=300))
    for r in range(1, restarts + 1):
        restarted = cluster.restart_node()
        # A Ready condition from before the power cut does not count: lastTransitionTime is in
        # whole seconds, so anything from the second of the restart on.
        floor = datetime.fromtimestamp(int(restarted), timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
        pods = watch.wait("all ten apps Ready after the restart", lambda pods: all_ready(pods) and all(
            (ready_since(p) or "") >= floor for p in apps(pods).values()) and apps(pods),
            timeout=600)
        after = restart_counts(pods)
        ready_at = {}
        for app, p in pods.items():
            key = (RESTART_NS, p["metadata"]["name"])
            ready_at[app] = watch.first(key, lambda o: ready(o) and (ready_since(o) or "") >= floor,
                                        after=restarted)
        failed = sorted(app for app, p in pods.items()
                        if (container(p, "app") or {}).get("lastState", {}).get(
                            "terminated", {}).get("exitCode") == 1)
        result = {"restart": r, "restarted": restarted}
        for kind in "gu":
            names = [f"{kind}{i}" for i in range(1, n + 1)]
            result[kind] = {
                "all_ready_s": max(ready_at[a] for a in names) - restarted,
                "restarts": sum(after[a] - before[a] for a in names),
                "failed": [a for a in failed if a in names],
            }
        log(f"restart {r}/{restarts}: all five Ready after {result['g']['all_ready_s']:.1f} s "
            f"gated ({result['g']['restarts']} restarts), {result['u']['all_ready_s']:.1f} s "
            f"ungated ({result['u']['restarts']} restarts; last run failed: {result['u']['failed']})")
        results.append(result)
        before = after
    return results


# --- the report --------------------------------------------------------------------------------


def spread(values, unit="ms"):
    """median (min–max), n. unit "ms" (shown in s once the median is past 10 s), "s", or ""
    (a count)."""
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    med = statistics.median(values)
    if unit == "ms" and abs(med) >= 10_000:
        values, med, unit = [v / 1000 for v in values], med / 1000, "s"
    digits = {"ms": 0, "s": 1, "": 0}[unit]
    f = lambda v: f"{v:.{digits}f}"  # noqa: E731
    suffix = f" {unit}" if unit else ""
    return f"{f(med)}{suffix} ({f(min(values))}–{f(max(values))}), n={len(values)}"


def version_section(v):
    lines = [f"### Kubernetes {v['version']}", ""]
    if v.get("skipped"):
        return lines + [f"Skipped: {v['skipped']}", ""]
    lines += [f"{v['started']} UTC, {v['cluster_s']:.0f} s with the cluster up, load average "
              f"at the end {v['load']:.1f}. {v['components']}. {v['runs']} runs, "
              f"{len(v['waiters'])} waiters side by side in each (one gated pod per waiter, all "
              "on one dependency pod).", ""]
    samples = v["samples"]
    cols = [k for k in WAITERS if k in v["waiters"]]

    def rel(s, key, since=None):
        a = s.get(key)
        b = s["ready_seen"] if since is None else s.get(since)
        return None if a is None or b is None else 1000 * (a - b)

    head = "| ms after the dependency's Ready was seen by a watch | " + " | ".join(
        WAITERS[k] for k in cols) + " |"
    lines += [head, "|---" * (len(cols) + 1) + "|"]
    for key, title in MILESTONES:
        lines.append(f"| {title} | " + " | ".join(
            spread([rel(s, key) for s in samples if s["waiter"] == k]) for k in cols) + " |")
    lines += ["", "| where the time goes (per run, then median (min–max)) | " + " | ".join(
        WAITERS[k] for k in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for key, since, title in SHARES:
        lines.append(f"| {title} | " + " | ".join(
            spread([rel(s, key, since) for s in samples if s["waiter"] == k]) for k in cols) + " |")
    bad = [s for s in samples if s["exit_code"] != 0]
    missing = sum(1 for s in samples for k in ("logged", "exited", "pleg", "started")
                  if s.get(k) is None)
    if bad or missing:
        lines += ["", f"Not counted: {len(bad)} waiter exits other than 0, {missing} milestones "
                  "missing from the logs."]
    if v.get("failed_runs"):
        lines += ["", f"Runs that did not finish ({len(v['failed_runs'])}): "
                  + "; ".join(v["failed_runs"]) + "."]
    lines.append("")
    if v.get("restarts"):
        rs = v["restarts"]
        lines += [f"Cluster restart ({len(rs)} power cuts of the node: kubelet and containerd "
                  "killed with every container, then started again; five apps in a chain, "
                  "app i needing apps 1..i−1):", "",
                  "| after the kubelet and containerd start again | gated by depwait | ungated |",
                  "|---|---|---|",
                  "| all five apps Ready | " + " | ".join(
                      spread([r[k]["all_ready_s"] for r in rs], unit="s") for k in "gu") + " |",
                  "| app container restarts it cost (five apps, per power cut) | " + " | ".join(
                      spread([r[k]["restarts"] for r in rs], unit="") for k in "gu") + " |",
                  "| power cuts after which an app's last run had failed (exit 1) | " + " | ".join(
                      f"{sum(1 for r in rs if r[k]['failed'])} of {len(rs)}" for k in "gu") + " |",
                  ""]
    elif v.get("restart_skipped"):
        lines += [f"Cluster restart: skipped ({v['restart_skipped']}).", ""]
    return lines


VERSION_HEAD = "### Kubernetes "


def old_versions(path):
    """The version blocks of the section RESULTS.md has now: version -> its lines."""
    path = Path(path)
    text = path.read_text() if path.exists() else ""
    if REAL_POD_BEGIN not in text or REAL_POD_END not in text:
        return {}
    body = text[text.index(REAL_POD_BEGIN):text.index(REAL_POD_END)].splitlines()
    blocks, current = {}, None
    for line in body:
        if line.startswith(VERSION_HEAD):
            current = line[len(VERSION_HEAD):].strip()
            blocks[current] = []
        if current:
            blocks[current].append(line)
    return blocks


def section(results, keep=None):
    """The section's text; `keep`: blocks of versions not run this time, kept as they were."""
    lines = [REAL_POD_BEGIN, "## In a real pod (one-node cluster)", ""]
    if results.get("skipped") and not keep:
        return "\n".join(lines + [f"Skipped: {results['skipped']}", "", REAL_POD_END])
    if results.get("skipped"):
        lines += [f"This time skipped: {results['skipped']}. From earlier runs:", ""]
    lines += [
        "`just bench` real-pod section (`bench/real_pod.py`). The e2e tier's cluster (`scripts/cluster/start.sh`: etcd, kube-apiserver, "
        "controller-manager, scheduler, containerd + runc, kubelet at `--v 2`, in a network "
        "namespace with no route out). Each waiter runs as the init container of a pod of its "
        "own in front of a busybox app container, all images built here: depwait's "
        "(`just image`), kubectl in a scratch image, and the seed's poller "
        "(`bench/seed_poller.py`) on a debootstrap'd Debian bookworm with `python3-kubernetes` "
        "(`bench/peer-images.sh`), each with the pod's real ServiceAccount token. The driver "
        "waits until every waiter's own log shows it waiting, then at a random point of the "
        "15 s interval makes the dependency Ready for real (the file its httpGet readiness "
        "probe asks for, through `kubectl exec`). Time 0 is when the driver's watch receives the "
        "dependency's Ready; the waiter's release line is timed by its CRI log timestamp, its "
        "exit by containerd's TaskExit, the kubelet's PLEG event from its log, StartContainer "
        "from containerd's log, and the app container running by the watch again — one host "
        "clock. The watch receives the Ready a little after the API server sends it, so a "
        "watcher's first milestones can be slightly negative.", ""]
    ran = {v["version"] for v in results.get("versions", [])}
    blocks = {v["version"]: version_section(v) for v in results.get("versions", [])}
    for version, block in (keep or {}).items():
        if version not in ran:
            blocks[version] = block
    for version in sorted(blocks, key=lambda v: [int(x) for x in re.findall(r"\d+", v)]):
        lines += blocks[version]
    return "\n".join(lines + [REAL_POD_END])


def write_section(path, text):
    """Put the section in place of the previous one, or before the notes."""
    path = Path(path)
    old = path.read_text() if path.exists() else ""
    if REAL_POD_BEGIN in old and REAL_POD_END in old:
        a, b = old.index(REAL_POD_BEGIN), old.index(REAL_POD_END) + len(REAL_POD_END)
        new = old[:a] + text + old[b:]
    elif NOTES_MARK in old:
        a = old.index(NOTES_MARK)
        new = old[:a] + text + "\n\n" + old[a:]
    else:
        new = old + "\n" + text + "\n"
    path.write_text(new)


# --- one version -------------------------------------------------------------------------------


def script_dir(cmd, env):
    """A script whose last stdout line is a directory (its progress goes to our stderr)."""
    out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, env=env)
    if out.returncode != 0 or not out.stdout.strip():
        raise RuntimeError(f"{' '.join(cmd)} failed (exit {out.returncode})")
    return Path(out.stdout.strip().splitlines()[-1])


def bench_version(version, args):
    env = {**os.environ, "DEPWAIT_E2E_VERSION": version}
    try:
        cache = script_dir(["bash", str(REPO / "scripts/cluster/build.sh")], env)
        assets = script_dir(["bash", str(REPO / "scripts/envtest-assets.sh")], env)
    except RuntimeError as e:
        return {"version": version, "skipped": f"the cluster could not be built: {e}"}
    kubectl = cache / version / "kubectl"
    if not kubectl.exists():
        kubectl = assets / "kubectl"
    images = subprocess.run(["bash", str(BENCH / "peer-images.sh"), str(cache), str(kubectl),
                             version], stdout=subprocess.PIPE, text=True)
    if images.returncode != 0:
        return {"version": version, "skipped": "bench/peer-images.sh failed (see its output)"}
    archives = dict(line.split() for line in images.stdout.splitlines())
    kubectl_image = f"localhost/kubectl:{version}"

    log(f"{version}: starting the cluster (waits for {LOCK} while another one runs)")
    cluster = Cluster(cache, assets, version, args.lock_wait)
    t0 = time.monotonic()
    watch = None
    try:
        components = ", ".join(cluster.versions.splitlines())
        log(f"{version}: cluster up ({components})")
        for archive in archives.values():
            cluster.import_image(archive)
        setup = Setup(cluster, kubectl_image, kubectl)
        watch = PodWatch(cluster.api)
        namespace_with_reader(cluster.api, NS)
        result = {"version": version, "components": components, "runs": args.runs,
                  "waiters": args.waiters,
                  "started": f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M}"}
        result["samples"], result["failed_runs"] = release_runs(
            cluster, setup, watch, kubectl, args.runs, args.waiters)
        if args.restarts:
            namespace_with_reader(cluster.api, RESTART_NS)
            try:
                result["restarts"] = restart_scenario(cluster, setup, watch, args.restarts)
            except (TimeoutError, RuntimeError) as e:
                result["restart_skipped"] = f"failed: {e}"
        if args.keep:
            subprocess.run(["cp", "-r", str(cluster.dir / "logs"), args.keep + f"/{version}"])
        result["cluster_s"] = time.monotonic() - t0
        result["load"] = os.getloadavg()[0]
        return result
    finally:
        if watch:
            watch.close()
        cluster.stop()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--versions", default="v1.20.2")
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--restarts", type=int, default=3)
    p.add_argument("--waiters", default=",".join(WAITERS))
    p.add_argument("--lock-wait", type=int, default=3 * 3600,
                   help="seconds to wait for another cluster to finish")
    p.add_argument("--out", default=str(BENCH / "RESULTS.md"))
    p.add_argument("--json", default="", help="also write the raw samples here")
    p.add_argument("--keep", default="", help="copy each cluster's logs into this directory")
    p.add_argument("--skip", default="", help="write only this reason as the section")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 if a version could not be measured (BENCH_REAL_POD=1)")
    args = p.parse_args()
    args.waiters = args.waiters.split(",")
    keep = old_versions(args.out)
    if args.skip:
        write_section(args.out, section({"skipped": args.skip}, keep))
        return
    if os.geteuid() != 0:
        write_section(args.out, section({"skipped": "needs root (a real cluster)"}, keep))
        sys.exit(1 if args.strict else 0)
    results = {"versions": []}
    for version in args.versions.split():
        try:
            results["versions"].append(bench_version(version, args))
        except (RuntimeError, TimeoutError, OSError) as e:
            log(f"{version}: {e}")
            results["versions"].append({"version": version, "skipped": f"failed: {e}"})
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    # A version that was skipped this time keeps its last measured block, if there is one.
    for i, v in enumerate(results["versions"]):
        if v.get("skipped") and v["version"] in keep and not any(
                ln.startswith("Skipped") for ln in keep[v["version"]]):
            log(f"{v['version']}: {v['skipped']}; keeping its last measured figures")
            results["versions"][i] = None
    results["versions"] = [v for v in results["versions"] if v]
    text = section(results, keep)
    write_section(args.out, text)
    print(text)
    if args.strict and any(v.get("skipped") for v in results["versions"]):
        sys.exit(1)


if __name__ == "__main__":
    # SIGTERM as an exit: the pipe to start.sh closes, and the cluster goes with us.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    main()
