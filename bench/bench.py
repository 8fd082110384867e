#!/usr/bin/env python3
"""`just bench`: depwait against the polling tools, side by side in one run.

Started by bench/run.sh (which builds depwait and finds the other binaries). Starts its own etcd
+ kube-apiserver through tests/support/control-plane.sh, with an audit log of every request made
by a waiter (each waiter in each scenario authenticates as a user of its own, so requests are
counted on the server side). Then, for each waiter:

- release latency: the waiter waits for 2 dependencies in 2 namespaces (the seed's shape); the
  driver reads CLOCK_MONOTONIC just before it sends the status update that makes the last
  dependency Ready; bench/timed.py reads it again when wait4() reaps the waiter;
- cold start: exec -> exit with every dependency already Ready;
- peak RSS: wait4()'s ru_maxrss of each release-latency run;
- API requests: all waiters at once, each waiting for 2 unready dependencies, counted from the
  audit log after 10 s and after the whole window;
- scale (depwait only): many pods, many dependencies, many processes, a 10,000-pod store.

Prints a markdown report and writes it to bench/RESULTS.md (the notes section at its end, after
NOTES_MARK, is kept across runs). Stdlib only.
"""

import argparse
import http.client
import json
import os
import platform
import random
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
NOTES_MARK = "<!-- notes: everything below this line is kept when just bench rewrites the file -->"

# Waiters compared, in table order: key -> column title.
WAITERS = {
    "depwait": "depwait",
    "seed15": "seed poller, 15 s",
    "seed1": "seed poller, 1 s",
    "kwait": "kubectl wait",
    "kget": "kubectl get loop, 2 s",
    "floor": "bare watch (reference)",
}
# Poll interval of each waiter (0: it watches). The release is triggered at a random point of one
# interval, so a poller's latency samples its whole cycle, not one lucky phase.
INTERVAL = {"depwait": 0, "seed15": 15, "seed1": 1, "kwait": 0, "kget": 2, "floor": 0}

# Runs per mode: release-latency runs per waiter, cold-start runs, request window (s), scales.
MODES = {
    "quick": {"release": {"depwait": 5, "seed15": 0, "seed1": 3, "kwait": 3, "kget": 3, "floor": 5},
              "cold": {"depwait": 10, "seed": 3, "kwait": 3, "kget": 3},
              "window": 10, "scales": ["S"]},
    "default": {"release": {"depwait": 15, "seed15": 4, "seed1": 5, "kwait": 10, "kget": 5,
                            "floor": 15},
                "cold": {"depwait": 30, "seed": 8, "kwait": 10, "kget": 10},
                "window": 30, "scales": ["S", "M", "L"]},
    "full": {"release": {"depwait": 15, "seed15": 6, "seed1": 8, "kwait": 10, "kget": 8,
                         "floor": 15},
             "cold": {"depwait": 30, "seed": 8, "kwait": 10, "kget": 10},
             "window": 60, "scales": ["S", "M", "L"]},
}
# Scale sizes: namespaces x pods per namespace (one dependency per namespace, all in one depwait),
# concurrent depwait processes (10 dependencies each), pods in one namespace's store.
SCALES = {
    "S": {"ns": 10, "ppn": 100, "procs": 20, "big": 1000},
    "M": {"ns": 30, "ppn": 100, "procs": 60, "big": 3000},
    "L": {"ns": 100, "ppn": 100, "procs": 200, "big": 10000},
}

GOALS = {"release_ms": 5, "cold_ms": 10, "rss_mib": 8, "req_per_dep": 2}


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# The control plane


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def user_names():
    names = ["admin"]
    for scenario in ("rel", "cold", "req"):
        names += [f"{scenario}-{w}" for w in WAITERS]
    for size in SCALES:
        names += [f"scale-deps-{size}", f"scale-procs-{size}", f"scale-big-{size}"]
    return names


class ControlPlane:
    """etcd + kube-apiserver via control-plane.sh, which stops them when this process ends."""

    def __init__(self, assets, work):
        self.work = work
        self.dir = work / "cp"
        self.dir.mkdir()
        self.users = user_names()
        lines = []
        for u in self.users:
            groups = ',"system:masters"'  # waiters may do anything: RBAC is not measured here
            lines.append(f"{u}-token,{u},{u}{groups}\n")
        (self.dir / "tokens.csv").write_text("".join(lines))
        audited = json.dumps([u for u in self.users if u != "admin"])
        (work / "audit-policy.yaml").write_text(
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n"
            f"- level: Metadata\n  users: {audited}\n- level: None\n"
        )
        self.audit_log = work / "audit.log"
        subprocess.run(["openssl", "genrsa", "-out", str(self.dir / "sa.key"), "2048"],
                       check=True, stderr=subprocess.DEVNULL)
        etcd, peer, api = free_ports(3)
        self.server = f"https://127.0.0.1:{api}"
        self.port = api
        env = dict(os.environ)
        env["DEPWAIT_APISERVER_EXTRA_ARGS"] = (
            f"--audit-policy-file {work / 'audit-policy.yaml'} --audit-log-path {self.audit_log}"
            " --audit-log-maxsize 0 --audit-log-mode blocking"
        )
        self.proc = subprocess.Popen(
            ["bash", str(REPO / "tests/support/control-plane.sh"), str(assets), str(self.dir),
             str(os.getpid()), str(etcd), str(peer), str(api)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env)
        self.ca = self.dir / "certs/apiserver.crt"
        deadline = time.monotonic() + 90
        while not (self.ca.exists() and self.ca.read_text().count("-----END CERTIFICATE-----") == 2):
            self.check_alive(deadline)
            time.sleep(0.1)
        self.ca_pem = self.ca.read_text()
        shutil.copy(self.ca, work / "ca.crt")
        self.ca = work / "ca.crt"  # control-plane.sh deletes its dir when it ends
        self.api = Api(self.server, self.ca, "admin-token")
        while True:
            try:
                if self.api.request("GET", "/readyz")[0] == 200 and \
                        self.api.request("GET", "/api/v1/namespaces/default")[0] == 200:
                    break
            except OSError:
                pass
            self.check_alive(deadline)
            time.sleep(0.2)
        for u in self.users:
            self.write_kubeconfig(u)
        self.apiserver_pid = self.find_child("kube-apiserver")

    def check_alive(self, deadline):
        for name in ("etcd", "apiserver"):
            if (self.dir / f"exited-{name}").exists() or time.monotonic() > deadline:
                logs = (self.dir / "apiserver.log").read_text()[-3000:] if (
                    self.dir / "apiserver.log").exists() else ""
                sys.exit(f"the control plane did not start ({name}):\n{logs}")

    def find_child(self, comm):
        for p in Path("/proc").iterdir():
            if not p.name.isdigit():
                continue
            try:
                stat = (p / "stat").read_text()
            except OSError:
                continue
            name = stat[stat.index("(") + 1:stat.rindex(")")]
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            if ppid == self.proc.pid and name == comm[:15]:
                return int(p.name)
        return None

    def apiserver_cpu_s(self):
        """kube-apiserver's user + system CPU time so far, in seconds."""
        stat = Path(f"/proc/{self.apiserver_pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def kubeconfig(self, user):
        return self.work / f"kubeconfig-{user}.json"

    def sa_dir(self, user):
        """A service-account mount look-alike (token, ca.crt) for the seed poller."""
        return self.work / f"sa-{user}"

    def write_kubeconfig(self, user):
        import base64
        config = {
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "bench", "cluster": {
                "server": self.server,
                "certificate-authority-data": base64.b64encode(self.ca_pem.encode()).decode()}}],
            "users": [{"name": user, "user": {"token": f"{user}-token"}}],
            "contexts": [{"name": "bench", "context": {"cluster": "bench", "user": user}}],
            "current-context": "bench",
        }
        self.kubeconfig(user).write_text(json.dumps(config))
        sa = self.sa_dir(user)
        sa.mkdir(exist_ok=True)
        (sa / "token").write_text(f"{user}-token")
        (sa / "ca.crt").write_text(self.ca_pem)

    def audit_requests(self):
        """user -> {auditID: (received unix time, verb)}, from the audit log so far."""
        out = {}
        if not self.audit_log.exists():  # nothing audited yet
            return out
        with open(self.audit_log) as f:
            for line in f:
                try:
                    e = json.loads(line)
                except ValueError:
                    continue
                user = e.get("user", {}).get("username", "")
                ts = datetime.fromisoformat(e["requestReceivedTimestamp"].replace("Z", "+00:00"))
                out.setdefault(user, {})[e["auditID"]] = (ts.timestamp(), e.get("verb", "?"))
        return out


class Api:
    """A tiny JSON client: one keep-alive HTTPS connection per thread."""

    def __init__(self, server, ca, token):
        self.host, self.port = server.removeprefix("https://").split(":")
        self.ctx = ssl.create_default_context(cafile=str(ca))
        self.token = token
        self.local = threading.local()

    def conn(self):
        c = getattr(self.local, "conn", None)
        if c is None:
            c = http.client.HTTPSConnection(self.host, int(self.port), context=self.ctx, timeout=60)
            self.local.conn = c
        return c

    def request(self, method, path, body=None, content_type="application/json"):
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        for attempt in range(3):
            c = self.conn()
            try:
                c.request(method, path, body=data, headers=headers)
                r = c.getresponse()
                payload = r.read()
                return r.status, (json.loads(payload) if payload[:1] == b"{" else payload)
            except (http.client.HTTPException, OSError):
                c.close()
                self.local.conn = None
                if attempt == 2:
                    raise

    def must(self, method, path, body=None, content_type="application/json", ok=(200, 201)):
        status, payload = self.request(method, path, body, content_type)
        if status not in ok:
            raise RuntimeError(f"{method} {path}: {status} {payload}")
        return payload


# ---------------------------------------------------------------------------------------------
# Pods, written as the tests write them (no scheduler or kubelet runs)


def pod_status(ready):
    s = "True" if ready else "False"
    reason = None if ready else "ContainersNotReady"
    return {"status": {
        "phase": "Running",
        "conditions": [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Initialized", "status": "True"},
            {"type": "ContainersReady", "status": s, "reason": reason},
            {"type": "Ready", "status": s, "reason": reason},
        ],
        "containerStatuses": [{
            "name": "app", "ready": ready, "restartCount": 0,
            "image": "example.invalid/app:1", "imageID": "", "started": True,
            "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
        }],
    }}


class Cluster:
    def __init__(self, api):
        self.api = api
        self.pool = ThreadPoolExecutor(max_workers=12)

    def namespace(self, name):
        self.api.must("POST", "/api/v1/namespaces", {"metadata": {"name": name}})

    def create_pod(self, ns, name, labels, ready):
        self.api.must("POST", f"/api/v1/namespaces/{ns}/pods", {
            "metadata": {"name": name, "labels": labels},
            "spec": {"containers": [{"name": "app", "image": "example.invalid/app:1"}]},
        })
        if ready is not None:
            self.set_ready(ns, name, ready)

    def set_ready(self, ns, name, ready):
        self.api.must("PATCH", f"/api/v1/namespaces/{ns}/pods/{name}/status", pod_status(ready),
                      content_type="application/merge-patch+json")

    def pods(self, specs):
        """Create many pods at once: specs of (ns, name, labels, ready)."""
        list(self.pool.map(lambda s: self.create_pod(*s), specs))


# ---------------------------------------------------------------------------------------------
# Waiters


class Bench:
    def __init__(self, args):
        self.args = args
        self.mode = MODES[args.mode]
        self.work = Path(tempfile.mkdtemp(prefix="depwait-bench-"))
        self.depwait = args.depwait
        self.kubectl = str(Path(args.assets) / "kubectl")
        self.python = args.python
        self.skipped = {}  # waiter -> why
        if not Path(self.kubectl).exists():
            self.skipped["kwait"] = self.skipped["kget"] = f"no kubectl in {args.assets}"
        if not self.python:
            why = args.python_why or "the kubernetes Python package could not be installed"
            self.skipped["seed15"] = self.skipped["seed1"] = why
        if self.mode["release"]["seed15"] == 0:
            self.skipped.setdefault("seed15", "not run in quick mode (each run takes up to 15 s)")
        self.results = {}
        self.seq = 0
        self.reap = self.work / "reap"
        subprocess.run(["cc", "-O2", "-o", str(self.reap), str(BENCH / "reap.c")], check=True)

    def runnable(self, waiter):
        """Whether this waiter can run at all (seed15 is skipped in quick mode only for the
        release runs, which would take 15 s each)."""
        if waiter.startswith("seed"):
            return bool(self.python)
        return waiter not in self.skipped

    def tmp(self, name):
        self.seq += 1
        return self.work / f"{self.seq:04d}-{name}"

    # One waiter as commands for timed.py. deps: [(ns, {label: value})].
    def commands(self, waiter, user, deps, timeout=300, extra_env=None):
        kc = str(self.cp.kubeconfig(user))
        tag = self.tmp(waiter)
        if waiter == "depwait":
            argv = [self.depwait, "--timeout", f"{timeout}s", "--heartbeat", "0"]
            for ns, labels in deps:
                argv += ["--pods", f"{ns}:{selector(labels)}"]
            env = {"KUBECONFIG": kc, "DEPWAIT_TERMINATION_LOG": str(tag) + ".termination"}
            env.update(extra_env or {})
            return [{"argv": argv, "env": env,
                     "stderr": str(tag) + ".err", "stdout": str(tag) + ".out"}]
        if waiter == "floor":
            ns, labels = deps[-1]
            argv = [sys.executable, str(BENCH / "watch_floor.py"), self.cp.server, str(self.cp.ca),
                    f"{user}-token", ns, selector(labels)]
            return [{"argv": argv, "stderr": str(tag) + ".err", "stdout": str(tag) + ".out"}]
        if waiter in ("seed15", "seed1"):
            nld = {}
            for ns, labels in deps:
                nld.setdefault(ns, []).append(labels)
            env = {"NAMESPACE_LABEL_DICT": json.dumps(nld), "TIMEOUT": str(timeout),
                   "RETRY_INTERVAL": str(INTERVAL[waiter]), "PYTHONUNBUFFERED": "1",
                   "BENCH_SA_DIR": str(self.cp.sa_dir(user)),
                   "KUBERNETES_SERVICE_HOST": "127.0.0.1",
                   "KUBERNETES_SERVICE_PORT": str(self.cp.port)}
            return [{"argv": [self.python, "-u", str(BENCH / "seed_poller.py")], "env": env,
                     "stderr": str(tag) + ".err", "stdout": str(tag) + ".out"}]
        out = []
        for i, (ns, labels) in enumerate(deps):
            # A fresh HOME per process: an init container starts with no kubectl cache.
            home = self.tmp(f"{waiter}-home")
            home.mkdir()
            env = {"KUBECONFIG": kc, "HOME": str(home), "KUBECTL": self.kubectl}
            if waiter == "kwait":
                argv = [self.kubectl, "wait", "--for=condition=Ready", "pod", "-l",
                        selector(labels), "-n", ns, f"--timeout={timeout}s"]
            else:
                argv = ["sh", str(BENCH / "kubectl_get_loop.sh"), ns, selector(labels)]
            out.append({"argv": argv, "env": env,
                        "stderr": f"{tag}.{i}.err", "stdout": f"{tag}.{i}.out"})
        return out

    def launch(self, commands, deadline_s):
        """Start timed.py on these commands; returns (process, result path)."""
        tag = self.tmp("timed")
        spec = Path(str(tag) + ".spec.json")
        spec.write_text(json.dumps({"reap": str(self.reap), "commands": commands,
                                    "deadline_s": deadline_s}))
        result = Path(str(tag) + ".result.json")
        proc = subprocess.Popen([sys.executable, str(BENCH / "timed.py"), str(spec), str(result)])
        return proc, result

    def finish(self, proc, result):
        proc.wait()
        return json.loads(result.read_text())

    # -----------------------------------------------------------------------------------------

    def setup_two_deps(self, prefix, ready_last):
        """The seed's shape: 2 namespaces, one label set each: 2 Ready pods in the first, 1 pod
        in the second, Ready only if ready_last. (One pod, because the seed counts a label set
        as present when *any* of its pods is Ready: the last update must release every waiter.)
        """
        labels = {"app": "web", "environment": "dev"}
        deps = [(f"{prefix}-a", labels), (f"{prefix}-b", labels)]
        for ns, _ in deps:
            self.cluster.namespace(ns)
        self.cluster.pods([(deps[0][0], "web-0", labels, True), (deps[0][0], "web-1", labels, True),
                           (deps[1][0], "web-0", labels, ready_last)])
        return deps

    def release(self):
        log("release latency")
        deps = self.setup_two_deps("rel", ready_last=False)
        last_ns, last_pod = deps[1][0], "web-0"
        out = {}
        for waiter in WAITERS:
            runs = self.mode["release"][waiter]
            if waiter in self.skipped or runs == 0:
                continue
            samples = []
            for run in range(runs):
                cmds = self.commands(waiter, f"rel-{waiter}", deps)
                pre = (1.5 if INTERVAL[waiter] == 0 else 1.0) + random.uniform(
                    0, INTERVAL[waiter] or 1.0)
                proc, result = self.launch(cmds, deadline_s=pre + INTERVAL[waiter] + 60)
                time.sleep(pre - 0.2)
                mem = self.tree_memory(proc.pid)
                time.sleep(0.2)
                t0 = time.monotonic_ns()
                self.cluster.set_ready(last_ns, last_pod, True)
                t_resp = time.monotonic_ns()
                res = self.finish(proc, result)
                self.cluster.set_ready(last_ns, last_pod, False)
                children = res["children"]
                ok = all(c["status"] == 0 for c in children)
                exit_ns = max(c["exit_ns"] for c in children)
                samples.append({
                    "ok": ok, "latency_ms": (exit_ns - t0) / 1e6,
                    "update_rtt_ms": (t_resp - t0) / 1e6,
                    "rss_kib": sum(c["maxrss_kib"] for c in children),
                    "anon_kib": mem[0], "file_kib": mem[1],
                    "early": exit_ns < t0,  # released before the update: a wrong release
                    "statuses": [c["status"] for c in children],
                })
                log(f"  {waiter} run {run + 1}/{runs}: {samples[-1]['latency_ms']:.1f} ms"
                    f" rss {samples[-1]['rss_kib'] / 1024:.1f} MiB exit {samples[-1]['statuses']}")
                time.sleep(0.3)
            out[waiter] = samples
        self.results["release"] = out

    def cold(self):
        log("cold start")
        deps = self.setup_two_deps("cold", ready_last=True)
        out = {}
        for waiter in ("depwait", "seed15", "kwait", "kget"):
            runs = self.mode["cold"]["seed" if waiter == "seed15" else waiter]
            if not self.runnable(waiter):
                continue
            samples = []
            for _ in range(runs):
                cmds = self.commands(waiter, f"cold-{waiter}", deps)
                proc, result = self.launch(cmds, deadline_s=60)
                res = self.finish(proc, result)
                children = res["children"]
                samples.append({
                    "ok": all(c["status"] == 0 for c in children),
                    "ms": (max(c["exit_ns"] for c in children) - res["started_ns"]) / 1e6,
                    "rss_kib": sum(c["maxrss_kib"] for c in children),
                })
            log(f"  {waiter}: median {statistics.median(s['ms'] for s in samples):.1f} ms")
            out[waiter] = samples
        # The seed poller's first attempt is the same at any RETRY_INTERVAL.
        if "seed15" in out:
            out["seed1"] = out["seed15"]
        self.results["cold"] = out

    def requests(self):
        window = self.mode["window"]
        log(f"API requests: every waiter at once, 2 unready dependencies, {window} s")
        deps = []
        specs = []
        for i in (0, 1):
            ns = f"req-{'ab'[i]}"
            self.cluster.namespace(ns)
            labels = {"app": "web", "environment": "dev"}
            deps.append((ns, labels))
            specs += [(ns, f"web-{j}", labels, False) for j in (0, 1)]
        self.cluster.pods(specs)
        cmds = []
        owners = []
        for waiter in WAITERS:
            if not self.runnable(waiter) or waiter == "floor":
                continue
            c = self.commands(waiter, f"req-{waiter}", deps, timeout=window + 60)
            cmds += c
            owners += [waiter] * len(c)
        start = time.time()
        proc, result = self.launch(cmds, deadline_s=window)
        self.finish(proc, result)
        time.sleep(1.0)  # let the audit log catch up with the last responses
        audit = self.cp.audit_requests()
        out = {}
        for waiter in sorted(set(owners), key=list(WAITERS).index):
            reqs = audit.get(f"req-{waiter}", {}).values()
            verbs = {}
            for _, verb in reqs:
                verbs[verb] = verbs.get(verb, 0) + 1
            out[waiter] = {
                "first10": sum(1 for t, _ in reqs if t <= start + 10),
                "total": len(reqs), "verbs": verbs, "window": window,
            }
            log(f"  {waiter}: {out[waiter]}")
        self.results["requests"] = out

    # --- scale (depwait only) ------------------------------------------------------------------

    def wait_live(self, files, want, deadline_s=120):
        """Wait until each depwait (JSON log in files[i]) has judged want[i] dependencies from a
        list that found pods (a change event with counted_objects > 0)."""
        deadline = time.monotonic() + deadline_s
        pending = set(range(len(files)))
        while pending and time.monotonic() < deadline:
            for i in list(pending):
                seen = set()
                try:
                    text = Path(files[i]).read_text()
                except OSError:
                    continue
                for line in text.splitlines():
                    try:
                        e = json.loads(line)
                    except ValueError:
                        continue
                    f = e.get("fields", e)
                    if f.get("event") == "change" and int(f.get("counted_objects", 0)) > 0:
                        seen.add(f.get("dependency"))
                if len(seen) >= want[i]:
                    pending.discard(i)
            time.sleep(0.05)
        if pending:
            raise RuntimeError(f"{len(pending)} depwait processes never went live")

    def scale(self, size):
        s = SCALES[size]
        log(f"scale {size}: {s['ns'] * s['ppn']} pods in {s['ns']} namespaces, "
            f"{s['procs']} processes, {s['big']}-pod store")
        t = time.monotonic()
        labels = {"app": "bench"}
        nss = [f"s{size.lower()}-{i}" for i in range(s["ns"])]
        gate_ns, gate_pod = nss[-1], f"p-{s['ppn'] - 1}"
        for ns in nss:
            self.cluster.namespace(ns)
        specs = [(ns, f"p-{j}", labels, not (ns == gate_ns and j == s["ppn"] - 1))
                 for ns in nss for j in range(s["ppn"])]
        self.cluster.pods(specs)
        big_ns = f"big{size.lower()}"
        self.cluster.namespace(big_ns)
        big_labels = {"app": "big"}
        self.cluster.pods([(big_ns, f"b-{j}", big_labels, j != s["big"] - 1)
                           for j in range(s["big"])])
        setup_s = time.monotonic() - t
        log(f"  created {len(specs) + s['big']} pods in {setup_s:.0f} s")
        out = {"size": s, "setup_s": setup_s}
        json_env = {"DEPWAIT_LOG_FORMAT": "json"}

        def one_release(name, user, dep_lists, live_want, gate):
            cmds = []
            for deps in dep_lists:
                cmds += self.commands("depwait", user, deps, extra_env=json_env)
            cpu0 = self.cp.apiserver_cpu_s()
            t_start = time.monotonic_ns()
            proc, result = self.launch(cmds, deadline_s=300)
            self.wait_live([c["stderr"] for c in cmds], live_want)
            t_live = time.monotonic_ns()
            rss_live = None
            if len(cmds) == 1:
                rss_live = self.vm_status_of_child(proc.pid)
            time.sleep(0.5)
            t0 = time.monotonic_ns()
            self.cluster.set_ready(gate[0], gate[1], True)
            res = self.finish(proc, result)
            cpu1 = self.cp.apiserver_cpu_s()
            self.cluster.set_ready(gate[0], gate[1], False)
            lat = sorted((c["exit_ns"] - t0) / 1e6 for c in res["children"])
            time.sleep(1.0)
            reqs = self.cp.audit_requests().get(user, {})
            verbs = {}
            for _, verb in reqs.values():
                verbs[verb] = verbs.get(verb, 0) + 1
            r = {
                "procs": len(cmds), "deps_per_proc": len(dep_lists[0]),
                "ok": all(c["status"] == 0 for c in res["children"]),
                "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99), "max_ms": lat[-1],
                "live_s": (t_live - t_start) / 1e9,
                "requests": len(reqs), "verbs": verbs,
                "apiserver_cpu_s": cpu1 - cpu0,
                "rss_kib_median": statistics.median(c["maxrss_kib"] for c in res["children"]),
                "rss_kib_max": max(c["maxrss_kib"] for c in res["children"]),
                "rss_live": rss_live,
            }
            log(f"  {name}: {r}")
            out[name] = r

        one_release("deps", f"scale-deps-{size}", [[(ns, labels) for ns in nss]],
                    [len(nss)], (gate_ns, gate_pod))
        rng = random.Random(size)
        others = nss[:-1]
        dep_lists = [[(gate_ns, labels)] + [(ns, labels) for ns in rng.sample(others, 9)]
                     for _ in range(s["procs"])]
        one_release("procs", f"scale-procs-{size}", dep_lists, [10] * s["procs"],
                    (gate_ns, gate_pod))
        one_release("big", f"scale-big-{size}", [[(big_ns, big_labels)]], [1],
                    (big_ns, f"b-{s['big'] - 1}"))
        self.results.setdefault("scale", {})[size] = out

    def tree_memory(self, timed_pid):
        """(RssAnon, RssFile) in KiB, summed over every process under timed.py except the reap
        helpers: what the waiter holds at this moment."""
        anon = file = 0
        todo = proc_children(timed_pid)  # reap processes
        seen = set()
        while todo:
            pid = todo.pop()
            if pid in seen:
                continue
            seen.add(pid)
            st = proc_status(pid)
            if st.get("Name", "").strip() != "reap":
                anon += int(st.get("RssAnon", "0 kB").split()[0])
                file += int(st.get("RssFile", "0 kB").split()[0])
            todo += proc_children(pid)
        return anon, file

    def vm_status_of_child(self, timed_pid):
        """VmRSS and VmHWM (KiB) of the one waiter under timed.py and reap, read while it
        waits."""
        for reap in proc_children(timed_pid):
            for waiter in proc_children(reap):
                status = proc_status(waiter)
                return {k: int(status[k].split()[0]) for k in ("VmRSS", "VmHWM")}
        return None

    def variants(self):
        """Other builds of depwait (release-profile variants): size, cold start, release, RSS,
        interleaved run by run with the main build so that load changes hit all alike."""
        if not self.args.variant:
            return
        log("release-profile variants")
        builds = [("release (as built)", self.depwait)] + [
            tuple(v.split("=", 1)) for v in self.args.variant]
        deps = self.setup_two_deps("var", ready_last=True)
        out = {name: {"size": Path(path).stat().st_size, "cold": [], "release": [], "rss": []}
               for name, path in builds}
        runs = self.mode["cold"]["depwait"]
        for run in range(runs):
            for name, path in builds:
                cmds = self.commands("depwait", "cold-depwait", deps)
                cmds[0]["argv"][0] = path
                proc, result = self.launch(cmds, deadline_s=60)
                res = self.finish(proc, result)
                c = res["children"][0]
                out[name]["cold"].append((c["exit_ns"] - res["started_ns"]) / 1e6)
        self.cluster.set_ready("var-b", "web-0", False)
        for run in range(self.mode["release"]["depwait"]):
            for name, path in builds:
                cmds = self.commands("depwait", "rel-depwait", deps)
                cmds[0]["argv"][0] = path
                proc, result = self.launch(cmds, deadline_s=60)
                time.sleep(1.0 + random.random())
                t0 = time.monotonic_ns()
                self.cluster.set_ready("var-b", "web-0", True)
                res = self.finish(proc, result)
                self.cluster.set_ready("var-b", "web-0", False)
                c = res["children"][0]
                out[name]["release"].append((c["exit_ns"] - t0) / 1e6)
                out[name]["rss"].append(c["maxrss_kib"] / 1024)
        for name, o in out.items():
            log(f"  {name}: {o['size']} B, cold {med(o['cold']):.1f} ms, "
                f"release {med(o['release']):.1f} ms, rss {med(o['rss']):.1f} MiB")
        self.results["variants"] = out

    def variants_report(self):
        v = self.results.get("variants")
        if not v:
            return []
        lines = ["## Release-profile variants", "",
                 "The same benchmark's depwait rows for other builds, run interleaved with the "
                 "release build (`BENCH_PROFILES=1 just bench`; each is the committed "
                 "`[profile.release]` plus the change named).", "",
                 "| build | binary | cold start | release latency | peak RSS |",
                 "|---|---|---|---|---|"]
        for name, o in v.items():
            lines.append(f"| {name} | {o['size'] / 1e6:.2f} MB | {fmt_ms(o['cold'])} | "
                         f"{fmt_ms(o['release'])} | {fmt(o['rss'], 'MiB', 2)} |")
        lines.append("")
        return lines

    def sizes(self):
        out = {"depwait binary": Path(self.depwait).stat().st_size}
        for name in ("kubectl", "kube-apiserver"):
            p = Path(self.args.assets) / name
            if p.exists():
                out[name] = p.stat().st_size
        if self.python:
            venv = Path(self.python).parent.parent
            out["seed poller's venv (kubernetes client and its dependencies)"] = du(venv)
        self.results["sizes"] = out
        self.results["image"] = self.args.image_size

    def run(self):
        self.started = datetime.now(timezone.utc)
        t = time.monotonic()
        log(f"mode {self.args.mode}; work dir {self.work}")
        self.cp = ControlPlane(self.args.assets, self.work)
        self.cluster = Cluster(self.cp.api)
        log(f"control plane up at {self.cp.server} in {time.monotonic() - t:.1f} s")
        self.sizes()
        self.cold()
        self.release()
        self.requests()
        for size in self.mode["scales"]:
            self.scale(size)
        self.variants()
        self.results["duration_s"] = time.monotonic() - t
        (self.work / "results.json").write_text(json.dumps(self.results, indent=1))
        report = self.report()
        print(report)
        write_results(self.args.out, report)
        self.tidy()
        log(f"wrote {self.args.out} ({self.results['duration_s']:.0f} s); raw data in "
            f"{self.work}/results.json")

    def tidy(self):
        """Drop the logs, kubectl caches and the audit log (~100 MB after scale L) unless
        BENCH_KEEP is set; keep results.json. The control plane's own directory is left to
        control-plane.sh, which deletes it when this process ends."""
        if os.environ.get("BENCH_KEEP"):
            return
        for p in self.work.iterdir():
            if p.name in ("results.json", "cp"):
                continue
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)

    # --- the report ----------------------------------------------------------------------------

    def report(self):
        r = self.results
        cols = list(WAITERS)
        lines = ["# depwait benchmark", ""]
        lines += [f"`just bench` (mode `{self.args.mode}`), {self.started:%Y-%m-%d %H:%M} UTC, "
                  f"{r['duration_s']:.0f} s.", ""]
        lines += [f"- machine: {machine()}", f"- versions: {versions(self)}", ""]
        lines += ["Medians (min–max) of the runs of one invocation; the ratio in brackets is the "
                  "waiter's median over depwait's. All waiters run against the same local "
                  "kube-apiserver on loopback, one after another (requests: all at once).", ""]
        head = "| | goal (depwait) | " + " | ".join(WAITERS[c] for c in cols) + " |"
        lines += [head, "|" + "---|" * (len(cols) + 2)]

        def row(name, goal, cells):
            lines.append(f"| {name} | {goal} | " + " | ".join(cells) + " |")

        rel = r.get("release", {})
        base = med([s["latency_ms"] for s in rel.get("depwait", [])])
        cells = []
        for c in cols:
            if c not in rel:
                cells.append(skip(self.skipped, c))
                continue
            xs = [s["latency_ms"] for s in rel.get(c, [])]
            bad = sum(1 for s in rel.get(c, []) if not s["ok"] or s["early"])
            cells.append(fmt_ms(xs) + ratio(med(xs), base, c) + (f", {bad} failed" if bad else "")
                         + f", n={len(xs)}")
        row("release latency: last Ready update sent → waiter exited", met(
            base, GOALS["release_ms"], f"≤ {GOALS['release_ms']} ms"), cells)
        cold = r.get("cold", {})
        base = med([s["ms"] for s in cold.get("depwait", [])])
        cells = []
        for c in cols:
            if c not in cold:
                cells.append(skip(self.skipped, c))
                continue
            xs = [s["ms"] for s in cold[c]]
            bad = sum(1 for s in cold[c] if not s["ok"])
            cells.append(fmt_ms(xs) + ratio(med(xs), base, c) + (f", {bad} failed" if bad else "")
                         + f", n={len(xs)}")
        row("cold start: exec → exit, everything already Ready", met(
            base, GOALS["cold_ms"], f"≤ {GOALS['cold_ms']} ms"), cells)
        base = med([s["rss_kib"] / 1024 for s in rel.get("depwait", [])])
        cells = []
        for c in cols:
            if c not in rel or c == "floor":
                cells.append(skip(self.skipped, c))
                continue
            xs = [s["rss_kib"] / 1024 for s in rel[c]]
            cells.append(fmt(xs, "MiB", 1) + ratio(med(xs), base, c))
        row("peak RSS while waiting (release runs)", met(
            base, GOALS["rss_mib"], f"≤ {GOALS['rss_mib']} MiB"), cells)
        cells = []
        for c in cols:
            if c not in rel or c == "floor":
                cells.append(skip(self.skipped, c))
                continue
            anon = med(s["anon_kib"] / 1024 for s in rel[c])
            file = med(s["file_kib"] / 1024 for s in rel[c])
            cells.append(f"{anon:.1f} + {file:.1f} MiB")
        row("of which, just before the release: anonymous + file-backed (RssAnon + RssFile, "
            "medians)", "", cells)
        req = r.get("requests", {})
        cells = []
        window = self.mode["window"]
        for c in cols:
            if c not in req:
                cells.append(skip(self.skipped, c))
                continue
            q = req[c]
            verbs = ", ".join(f"{v} {n}" for v, n in sorted(q["verbs"].items()))
            cells.append(f"{q['first10']} / {q['total']} ({verbs})")
        d = req.get("depwait")
        goal_txt = f"≤ {GOALS['req_per_dep']} per (ns, selector) = 4, flat"
        goal = met(None, None, goal_txt) if d is None else (
            f"{goal_txt}: **{'met' if d['total'] <= 4 and d['total'] == d['first10'] else 'missed'}**")
        row(f"API requests in 10 s / in {window} s, 2 unready dependencies (audit log)", goal, cells)
        lines += [""]
        lines += [
            "How each waiter runs: **depwait** — the release binary, `--pods NS:SELECTOR` per "
            "dependency, `--heartbeat 0`. **seed poller** — `bench/seed_poller.py`, a re-creation "
            "of pod-existence-check (same env interface; every RETRY_INTERVAL it loads the "
            "in-cluster config, makes a new `CoreV1Api` and lists the pods of each label set, "
            "stopping at the first one without a Running pod whose containers are all ready) on "
            f"the `kubernetes` Python client {py_k8s_version(self.python)}. **kubectl wait** — "
            "`kubectl wait --for=condition=Ready pod -l … -n …`, one process per namespace, all "
            "started at once; a fresh HOME each (an init container has no discovery cache). "
            "**kubectl get loop** — `bench/kubectl_get_loop.sh`, k8s-wait-for's loop "
            "(`kubectl get pods -n NS -l SEL` every 2 s until every pod is Ready), one per "
            "dependency, started at once, a fresh HOME per loop. **bare watch** — "
            "`bench/watch_floor.py`, not a waiter but a reference for release latency: one raw "
            "watch in Python with no client library, exiting at the first Ready event. What "
            "every watcher's release latency shares — the API server writing the update to "
            "etcd and fanning it out to the watch — is in it too; it is no lower bound (Python "
            "decodes and wakes slower than depwait), but a watcher far above it is doing "
            "something wrong.",
            "",
            "Release latency is measured from just *before* the driver sends the status PATCH "
            "that makes the last pod Ready (CLOCK_MONOTONIC) to wait4() returning for the "
            "waiter (the last one, where there are several), in `bench/timed.py`, a process "
            "that does nothing else. The PATCH's own round trip is inside it: median "
            f"{med([s['update_rtt_ms'] for s in rel.get('depwait', [])]) or 0:.1f} ms in depwait's "
            "runs. Each release comes at a random point of the waiter's poll interval "
            "(1 s + U(0, interval); 1.5 s + U(0, 1 s) for watchers), so a poller's numbers "
            "sample its whole cycle. Peak RSS is wait4()'s ru_maxrss: for a shell loop the "
            "largest process of its tree; for processes run side by side (kubectl, one per "
            "namespace), the sum. Cold start is timed the same way, from just before "
            "posix_spawn.",
            "",
        ]
        lines += self.scale_report()
        lines += self.variants_report()
        lines += ["## Sizes", "", "| artifact | size |", "|---|---|"]
        for k, v in r.get("sizes", {}).items():
            lines.append(f"| {k} | {v / 1e6:.1f} MB |")
        if r.get("image"):
            lines.append(f"| container image | {r['image']} |")
        else:
            lines.append("| container image | not built in this run (`BENCH_IMAGE=0`; "
                         "`just image` builds it) |")
        lines.append("")
        return "\n".join(lines)

    def scale_report(self):
        sc = self.results.get("scale", {})
        if not sc:
            return []
        lines = ["## Scale (depwait only)", "",
                 "Each scenario: depwait starts, the driver waits until every dependency has been "
                 "judged from a complete list, then one status update (the *gate*: the last "
                 "unready pod) releases it. Latency from that update, as above; requests from "
                 "the audit log (all of a scenario's processes share one user); API-server CPU "
                 "from depwait's start to the last exit.", "",
                 "| scenario | size | release p50 | p99 | max | start → live | API requests "
                 "| kube-apiserver CPU | depwait peak RSS (median / max) |",
                 "|---|---|---|---|---|---|---|---|---|"]
        names = {
            "deps": lambda s: f"{s['ns']} dependencies in one depwait ({s['ns'] * s['ppn']:,} "
                              f"pods, {s['ns']} namespaces)",
            "procs": lambda s: f"{s['procs']} depwait processes × 10 dependencies",
            "big": lambda s: f"one dependency, {s['big']:,} matching pods in its store",
        }
        for kind in ("deps", "procs", "big"):
            for size, out in sc.items():
                x = out.get(kind)
                if not x:
                    continue
                s = out["size"]
                rss = f"{x['rss_kib_median'] / 1024:.1f} / {x['rss_kib_max'] / 1024:.1f} MiB"
                if x.get("rss_live"):
                    rss += f" (VmRSS {x['rss_live']['VmRSS'] / 1024:.1f} MiB once live)"
                verbs = ", ".join(f"{v} {n}" for v, n in sorted(x["verbs"].items()))
                lines.append(
                    f"| {names[kind](s)} | {size} | {x['p50_ms']:.1f} ms | {x['p99_ms']:.1f} ms"
                    f" | {x['max_ms']:.1f} ms | {x['live_s']:.2f} s | {x['requests']} ({verbs})"
                    f" | {x['apiserver_cpu_s']:.2f} s | {rss}"
                    + ("" if x["ok"] else " — **a process did not exit 0**") + " |")
        lines.append("")
        lines.append("Pod creation (setup, not measured): " + ", ".join(
            f"{size} {out['setup_s']:.0f} s" for size, out in sc.items()) + ".")
        lines.append("")
        return lines


# ---------------------------------------------------------------------------------------------
# Small helpers


def proc_status(pid):
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def proc_children(pid):
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit() and proc_status(p.name).get("PPid", "").strip() == str(pid):
            out.append(int(p.name))
    return out


def skip(skipped, waiter):
    if waiter == "floor":
        return "–"
    return f"skipped: {skipped.get(waiter, 'not run')}"


def selector(labels):
    return ",".join(f"{k}={v}" for k, v in labels.items())


def pct(sorted_xs, p):
    if not sorted_xs:
        return float("nan")
    k = (len(sorted_xs) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(sorted_xs) - 1)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (k - lo)


def med(xs):
    xs = list(xs)
    return statistics.median(xs) if xs else None


def fmt_ms(xs):
    if not xs:
        return "–"
    m = med(xs)
    if m >= 1000:
        return f"{m / 1000:.2f} s ({min(xs) / 1000:.2f}–{max(xs) / 1000:.2f})"
    return f"{m:.1f} ms ({min(xs):.1f}–{max(xs):.1f})"


def fmt(xs, unit, digits):
    if not xs:
        return "–"
    return f"{med(xs):.{digits}f} {unit} ({min(xs):.{digits}f}–{max(xs):.{digits}f})"


def ratio(x, base, col):
    if col == "depwait" or x is None or not base:
        return ""
    return f" [{x / base:,.0f}×]" if x / base >= 10 else f" [{x / base:.1f}×]"


def met(value, goal, text):
    if value is None:
        return text
    return f"{text}: **{'met' if value <= goal else 'missed'}**"


def du(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


def machine():
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return (f"{os.cpu_count()} CPUs ({model}){mem}, {platform.system()} {platform.release()}; "
            f"load average at the end {os.getloadavg()[0]:.1f} (the CPUs are shared with other "
            f"builds: expect noise)")


def versions(bench):
    def cmd(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=20).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return "?"
    # The code under test: the last commit of the sources, and whether they have changed since.
    code = ["src", "Cargo.toml", "Cargo.lock", "build.rs"]
    rev = cmd(["git", "-C", str(REPO), "log", "-1", "--format=%h", "--", *code])
    if cmd(["git", "-C", str(REPO), "status", "--porcelain", "--", *code]):
        rev += " with uncommitted changes"
    apiserver = cmd([str(Path(bench.args.assets) / "kube-apiserver"), "--version"])
    kubectl = cmd([bench.kubectl, "version", "--client", "--short"]).replace("Client Version: ", "")
    rustc = cmd(["rustc", "--version"])
    return (f"depwait {rev} (release build, {rustc}); {apiserver}; kubectl {kubectl}; "
            f"Python {platform.python_version()} with kubernetes {py_k8s_version(bench.python)}")


def py_k8s_version(python):
    if not python:
        return "(not installed)"
    try:
        return subprocess.run([python, "-c", "import kubernetes; print(kubernetes.__version__)"],
                              capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def write_results(path, report):
    path = Path(path)
    notes = ""
    if path.exists():
        old = path.read_text()
        if NOTES_MARK in old:
            notes = old[old.index(NOTES_MARK) + len(NOTES_MARK):]
    path.write_text(report + "\n" + NOTES_MARK + (notes or "\n"))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--depwait", required=True)
    p.add_argument("--assets", required=True)
    p.add_argument("--python", default="", help="a Python with the kubernetes package")
    p.add_argument("--python-why", default="")
    p.add_argument("--mode", choices=list(MODES), default="default")
    p.add_argument("--out", default=str(BENCH / "RESULTS.md"))
    p.add_argument("--image-size", default="")
    p.add_argument("--variant", action="append", default=[],
                   help="NAME=PATH: another depwait build (a release-profile variant) to time")
    p.add_argument("--only", default="", help="comma-separated: cold,release,requests,scale")
    args = p.parse_args()
    b = Bench(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.only:
        parts = args.only.split(",")
        b.started = datetime.now(timezone.utc)
        t = time.monotonic()
        b.cp = ControlPlane(args.assets, b.work)
        b.cluster = Cluster(b.cp.api)
        b.sizes()
        for part in parts:
            if part == "scale":
                for size in b.mode["scales"]:
                    b.scale(size)
            else:
                getattr(b, part)()
        b.results["duration_s"] = time.monotonic() - t
        (b.work / "results.json").write_text(json.dumps(b.results, indent=1))
        print(b.report())
        return
    b.run()


if __name__ == "__main__":
    main()
