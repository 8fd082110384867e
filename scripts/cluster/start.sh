#!/usr/bin/env bash
# Run a real one-node Kubernetes cluster for one test process, inside a network namespace of its
# own; once that process is gone, tear it all down (scripts/cluster/stop.sh) and leave the host
# as it was.
#
# The namespace's only interfaces are loopback, the pod bridge (made by the CNI bridge plugin)
# and one veth whose other end is in the host namespace, for the tests. It has NO default route:
# whatever a component tries, a packet to any address outside the namespace fails with "Network
# is unreachable" before it is sent. etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, containerd (+ runc) and the kubelet all run inside it, so their ports and
# iptables chains are the namespace's, not the host's.
#
# Lifetime: as tests/support/control-plane.sh, the test process holds the write end of our stdin
# and never writes; EOF (however that process ends, SIGKILL included) or PARENT_PID gone means
# stop. WORK_DIR/exited-NAME records a component that exited on its own (the tests then fail at
# once with its log). The kubelet and containerd can be stopped and started again on request
# (the cluster-restart scenario): create WORK_DIR/stop-node, remove it to start them again;
# WORK_DIR/stopped-node appears once both are gone and every container is killed.
#
# Writes WORK_DIR/kubeconfig (admin, for the tests, through the veth), WORK_DIR/env (the API
# server's address, as pods must be told it: there is no kube-proxy), WORK_DIR/versions.
#
# usage: start.sh CACHE_DIR ASSETS_DIR WORK_DIR PARENT_PID
#   CACHE_DIR   from scripts/cluster/build.sh (kubelet, controller-manager, scheduler, images)
#   ASSETS_DIR  from scripts/envtest-assets.sh (kube-apiserver, etcd, kubectl); ignored when
#               CACHE_DIR/VERSION has its own (a current release built from the module)
# DEPWAIT_E2E_VERSION picks the version (default v1.20.2).
set -u
here=$(cd "$(dirname "$0")" && pwd)
cache=$1 assets=$2 dir=$3 parent=$4
version=${DEPWAIT_E2E_VERSION:-v1.20.2}
bin=$cache/$version
[[ -x $bin/kube-apiserver && -x $bin/etcd ]] && assets=$bin

log() { echo "cluster: $*" >&2; }

# One cluster per machine: the veth addresses and the namespace name are fixed.
exec 9>/run/lock/depwait-e2e.lock
if ! flock -n 9; then
  log "another e2e cluster holds /run/lock/depwait-e2e.lock: waiting for it to stop (up to 40 min)"
  if ! flock -w 2400 9; then
    log "another e2e cluster held /run/lock/depwait-e2e.lock for over 40 minutes"
    touch "$dir/exited-start"
    exit 1
  fi
fi
touch "$dir/locked"
# A cluster whose supervisor was killed outright (SIGKILL) left its state behind: undo it first.
for old in /tmp/depwait-e2e.*; do
  [[ -f $old/state/netns && $old != "$dir" ]] || continue
  log "cleaning up after an earlier run in $old"
  bash "$here/stop.sh" "$old"
done

netns=depwait-e2e
host_if=dwe2e-host node_if=dwe2e-node
host_ip=198.18.250.1 node_ip=198.18.250.2 # RFC 2544 benchmark range: never routed anywhere
pod_cidr=10.244.0.0/24 pod_gw=10.244.0.1
api=https://$node_ip:6443
state=$dir/state
mkdir -p "$state" "$dir/logs"

# Into the network namespace only. Not `ip netns exec`: that also gives each command a mount
# namespace of its own (and a fresh /sys, without the cgroup mounts), so the kubelet's volume
# mounts would be invisible to containerd. An array, not a function: `"${in_ns[@]}" CMD &` is a
# simple command, so $! is the component's own PID (nsenter execs it), not a subshell's.
# Children must not hold the lock (fd 9).
in_ns=(nsenter --net="/run/netns/$netns")

# --- what stop.sh must put back --------------------------------------------------------------
# Sysctls the kubelet sets (pkg/kubelet/cm setupKernelTunables); they are not per network
# namespace. Saved before the kubelet starts, restored on stop (not earlier: the kubelet sets
# them some seconds after it starts and would undo an early restore).
for k in vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops \
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes; do
  echo "$k=$(sysctl -n "$k")"
done >"$state/sysctls"
# Host paths the kubelet, containerd and CNI insist on (hard-coded in 1.20); stop.sh removes the
# ones that did not exist before.
for p in /var/log/pods /var/lib/kubelet /var/lib/cni /run/containerd /run/netns; do
  [[ -e $p ]] && echo "$p"
done >"$state/existed"
ls /run/netns 2>/dev/null >"$state/netns-before"
ls /var/log/pods 2>/dev/null >"$state/pods-logs-before"
echo "$netns $host_if" >"$state/netns"

# --- network ---------------------------------------------------------------------------------
ip netns add "$netns" || { touch "$dir/exited-netns"; exit 1; }
"${in_ns[@]}" ip link set lo up
ip link add "$host_if" type veth peer name "$node_if"
ip link set "$node_if" netns "$netns"
ip addr add "$host_ip/30" dev "$host_if"
ip link set "$host_if" up
"${in_ns[@]}" ip addr add "$node_ip/30" dev "$node_if"
"${in_ns[@]}" ip link set "$node_if" up

# --- configuration ---------------------------------------------------------------------------
token=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
echo "$token,admin,admin,system:masters" >"$dir/tokens.csv"
openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
mkdir -p "$dir/certs"

kubeconfig() { # file server
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster: {server: "$2", certificate-authority: "$dir/certs/apiserver.crt"}
users:
- name: admin
  user: {token: "$token"}
contexts:
- name: e2e
  context: {cluster: e2e, user: admin}
current-context: e2e
EOF
}
# The components reach the API server at the same address (its self-signed certificate names
# the advertise address, not loopback).
kubeconfig "$dir/components.kubeconfig" "$api"

mkdir -p "$dir/cni/net.d" "$dir/cni/ipam" "$dir/containerd"
# No ipMasq, no portmap: nothing is NATed and the host's (and the namespace's) iptables stay
# untouched. The route to 0.0.0.0/0 is the pods' own (to the bridge); the namespace has none.
cat >"$dir/cni/net.d/10-e2e.conflist" <<EOF
{"cniVersion": "0.4.0", "name": "e2e", "plugins": [{
  "type": "bridge", "bridge": "e2e0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
  "ipam": {"type": "host-local", "dataDir": "$dir/cni/ipam",
           "ranges": [[{"subnet": "$pod_cidr", "gateway": "$pod_gw"}]],
           "routes": [{"dst": "0.0.0.0/0"}]}}]}
EOF
# Pods get a resolver inside the namespace where nothing answers (there is no CoreDNS).
echo "nameserver $pod_gw" >"$dir/resolv.conf"

cat >"$dir/containerd/config.toml" <<EOF
version = 2
root = "$dir/containerd/root"
state = "$dir/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$dir/containerd/containerd.sock"
[ttrpc]
  address = "$dir/containerd/containerd.sock.ttrpc"
# Debug: containerd 1.6 logs a container's TaskExit (when its process ended: the bench's
# "waiter exits" step) only at this level.
[debug]
  level = "debug"
[plugins."io.containerd.internal.v1.opt"]
  path = "$dir/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/pause:e2e"
  # No CAP_SYS_RESOURCE here: without this every sandbox fails ("can't get final child's PID").
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$dir/cni/net.d"
EOF

cat >"$dir/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
failSwapOn: false
makeIPTablesUtilChains: false
resolvConf: "$dir/resolv.conf"
# The API server reaches it for logs and exec; nothing else can reach the namespace.
authentication: {anonymous: {enabled: true}, webhook: {enabled: false}}
authorization: {mode: AlwaysAllow}
# A shared build machine's disk is not this node's business: never evict, never GC images.
evictionHard: {memory.available: "0%", nodefs.available: "0%", imagefs.available: "0%"}
imageGCHighThresholdPercent: 100
serializeImagePulls: false
EOF
kubelet_minor=$("$bin/kubelet" --version 2>/dev/null | sed -n 's/^Kubernetes v1\.\([0-9]*\)\..*/\1/p')
# From 1.35 the kubelet refuses cgroup v1 (this machine's) unless told otherwise.
((kubelet_minor >= 31)) && echo "failCgroupV1: false" >>"$dir/kubelet.yaml"

# --- processes -------------------------------------------------------------------------------
declare -A pid=()

start_etcd() {
  "${in_ns[@]}" "$assets/etcd" --data-dir "$dir/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster default=http://127.0.0.1:2380 \
    9>&- </dev/null >>"$dir/logs/etcd.log" 2>&1 &
  pid[etcd]=$!
}

apiserver_flags=()
minor=$("$assets/kube-apiserver" --version 2>/dev/null | sed -n 's/^Kubernetes v1\.\([0-9]*\)\..*/\1/p')
[[ -n $minor && $minor -lt 24 ]] && apiserver_flags+=(--insecure-port 0)
# Pods get the real projected ServiceAccount token (TokenRequest, kube-root-ca.crt), as every
# release from 1.21 does by default; on 1.20 it is a feature gate, off by default.
[[ $minor == 20 ]] && apiserver_flags+=(--feature-gates BoundServiceAccountTokenVolume=true)
start_apiserver() {
  "${in_ns[@]}" "$assets/kube-apiserver" \
    --etcd-servers http://127.0.0.1:2379 \
    --bind-address 0.0.0.0 --advertise-address "$node_ip" --secure-port 6443 \
    "${apiserver_flags[@]}" \
    --cert-dir "$dir/certs" \
    --token-auth-file "$dir/tokens.csv" \
    --authorization-mode Node,RBAC \
    --service-account-key-file "$dir/sa.key" \
    --service-account-signing-key-file "$dir/sa.key" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range 10.0.0.0/24 \
    --kubelet-preferred-address-types InternalIP \
    --allow-privileged=true \
    9>&- </dev/null >>"$dir/logs/apiserver.log" 2>&1 &
  pid[apiserver]=$!
}

kcm_flags=()
if [[ $minor == 20 ]]; then
  kcm_flags+=(--feature-gates BoundServiceAccountTokenVolume=true
    --controllers '*,-nodeipam,-cloud-node-lifecycle,-route,-service')
fi
start_controller_manager() {
  "${in_ns[@]}" "$bin/kube-controller-manager" "${kcm_flags[@]}" \
    --kubeconfig "$dir/components.kubeconfig" \
    --leader-elect=false \
    --service-account-private-key-file "$dir/sa.key" \
    --root-ca-file "$dir/certs/apiserver.crt" \
    --use-service-account-credentials=false \
    9>&- </dev/null >>"$dir/logs/controller-manager.log" 2>&1 &
  pid[controller-manager]=$!
}

start_scheduler() {
  "${in_ns[@]}" "$bin/kube-scheduler" --kubeconfig "$dir/components.kubeconfig" --leader-elect=false \
    9>&- </dev/null >>"$dir/logs/scheduler.log" 2>&1 &
  pid[scheduler]=$!
}

start_containerd() {
  "${in_ns[@]}" containerd --config "$dir/containerd/config.toml" \
    9>&- </dev/null >>"$dir/logs/containerd.log" 2>&1 &
  pid[containerd]=$!
}

# Flags that later releases removed: the runtime is always remote from 1.24 (CNI is then
# containerd's business, configured above), and --container-runtime went in 1.27.
kubelet_flags=(--container-runtime-endpoint "unix://$dir/containerd/containerd.sock")
if ((kubelet_minor < 24)); then
  kubelet_flags+=(--container-runtime remote
    --network-plugin cni --cni-bin-dir /usr/lib/cni --cni-conf-dir "$dir/cni/net.d")
fi
start_kubelet() {
  # The variable keeps the AWS credential chain (linked into 1.20's kubelet whatever the build
  # tags) from asking the EC2 metadata address, which the namespace could not reach anyway.
  AWS_EC2_METADATA_DISABLED=true "${in_ns[@]}" "$bin/kubelet" \
    --config "$dir/kubelet.yaml" \
    --kubeconfig "$dir/components.kubeconfig" \
    --root-dir "$dir/kubelet" --cert-dir "$dir/kubelet/pki" \
    --hostname-override e2e-node --node-ip "$node_ip" \
    "${kubelet_flags[@]}" \
    --v 2 \
    9>&- </dev/null >>"$dir/logs/kubelet.log" 2>&1 &
  pid[kubelet]=$!
}

ctr_() { ctr --address "$dir/containerd/containerd.sock" --namespace k8s.io "$@"; }

start_node() {
  start_containerd
  local i
  for ((i = 0; i < 100; i++)); do
    ctr_ version >/dev/null 2>&1 && break
    sleep 0.1
  done
  start_kubelet
}

# The kubelet and containerd go away as a node's would in a power cut: every container killed.
stop_node() {
  local p
  for p in kubelet containerd; do
    [[ ${pid[$p]:-} =~ ^[0-9]+$ ]] && kill -KILL "${pid[$p]}" 2>/dev/null
    wait "${pid[$p]}" 2>/dev/null
    pid[$p]=
  done
  bash "$here/stop.sh" --kill-containers "$dir"
  touch "$dir/stopped-node"
}

cleanup() {
  local p
  # DEPWAIT_E2E_LOGS=DIR keeps the components' logs (the work directory goes).
  if [[ -n ${DEPWAIT_E2E_LOGS:-} ]]; then
    mkdir -p "$DEPWAIT_E2E_LOGS" && cp -r "$dir/logs/." "$DEPWAIT_E2E_LOGS/"
  fi
  for p in "${pid[@]}"; do
    [[ $p =~ ^[0-9]+$ ]] && kill -KILL "$p" 2>/dev/null
  done
  wait 2>/dev/null
  bash "$here/stop.sh" "$dir"
}
trap cleanup EXIT
trap exit INT TERM HUP

check() { # name: record an exit nobody asked for
  local name=$1 p=${pid[$1]:-}
  if [[ $p =~ ^[0-9]+$ ]] && ! kill -0 "$p" 2>/dev/null; then
    wait "$p"
    echo "$?" >"$dir/exited-$name"
    pid[$name]=exited
  fi
}

start_etcd
start_apiserver
# The controller-manager needs the API server's CA (written at its start) for the pods' ca.crt.
for ((i = 0; i < 600; i++)); do
  [[ $(grep -c 'END CERTIFICATE' "$dir/certs/apiserver.crt" 2>/dev/null) == 2 ]] && break
  sleep 0.1
done
kubeconfig "$dir/kubeconfig" "$api"
echo "KUBERNETES_SERVICE_HOST=$node_ip KUBERNETES_SERVICE_PORT=6443" >"$dir/env"
start_controller_manager
start_scheduler
start_node
for img in pause busybox depwait; do
  ctr_ images import --no-unpack "$cache/images/$img.tar" >>"$dir/logs/import.log" 2>&1 ||
    log "importing $img.tar failed: see $dir/logs/import.log"
done
{
  echo "kube-apiserver $("$assets/kube-apiserver" --version | awk '{print $2}')"
  echo "etcd $("$assets/etcd" --version | sed -n 's/^etcd Version: //p')"
  echo "kube-controller-manager $("$bin/kube-controller-manager" --version | awk '{print $2}')"
  echo "kube-scheduler $("$bin/kube-scheduler" --version | awk '{print $2}')"
  echo "kubelet $("$bin/kubelet" --version | awk '{print $2}')"
  echo "containerd $(containerd --version | awk '{print $3}')"
  echo "runc $(runc --version | sed -n 's/^runc version //p')"
} >"$dir/versions"
log "versions: $(paste -sd, "$dir/versions" | sed 's/,/, /g')"
touch "$dir/started"

while kill -0 "$parent" 2>/dev/null; do
  read -r -t 0.2 _
  (($? > 128)) || break
  for name in etcd apiserver controller-manager scheduler containerd kubelet; do check "$name"; done
  if [[ -e $dir/stop-node && ! -e $dir/stopped-node ]]; then
    stop_node
  elif [[ ! -e $dir/stop-node && -e $dir/stopped-node ]]; then
    rm -f "$dir/stopped-node" "$dir/exited-kubelet" "$dir/exited-containerd"
    start_node
  fi
done
