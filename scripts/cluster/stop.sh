#!/usr/bin/env bash
# Tear down what scripts/cluster/start.sh made in WORK_DIR and put the host back as it was:
# every process of the cluster and its pods killed, their mounts unmounted, the network
# namespaces (the cluster's and the pods'), the veth, the cgroups (kubepods, k8s.io) and the host
# paths the kubelet, containerd and CNI created removed, the kernel sysctls the kubelet changed
# restored, WORK_DIR deleted. Idempotent: safe to run again after a partial stop, and start.sh
# runs it on a work directory whose supervisor was killed before it could.
#
# usage: stop.sh WORK_DIR                    everything
#        stop.sh --kill-containers WORK_DIR  only the pods' processes and containerd's shims, as a
#                                            power cut would (the cluster-restart scenario)
set -u
only_containers=
if [[ ${1:-} == --kill-containers ]]; then
  only_containers=1
  shift
fi
dir=${1:?usage: stop.sh [--kill-containers] WORK_DIR}
state=$dir/state
[[ -f $state/netns ]] || exit 0
read -r netns host_if <"$state/netns"

log() { echo "cluster-stop: $*" >&2; }
existed() { grep -qxF "$1" "$state/existed" 2>/dev/null; }
netns_before() { grep -qxF "$1" "$state/netns-before" 2>/dev/null; }

# Pod network namespaces containerd made during this run (/run/netns/cni-UUID).
pod_netns() {
  local n
  for n in $(ls /run/netns 2>/dev/null); do
    [[ $n == cni-* ]] && ! netns_before "$n" && echo "$n"
  done
}

# The cgroups of pods and containers, in every v1 hierarchy (and v2, if mounted), deepest first.
pod_cgroups() {
  local root
  for root in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/*/k8s.io /sys/fs/cgroup/kubepods /sys/fs/cgroup/k8s.io; do
    [[ -d $root ]] && find "$root" -depth -type d
  done
}

container_pids() {
  local n c
  for n in $(pod_netns); do ip netns pids "$n" 2>/dev/null; done
  for c in $(pod_cgroups); do cat "$c/cgroup.procs" 2>/dev/null; done
  # containerd's shims run in the cluster's namespace; the components there are killed by
  # start.sh (or below, on a full stop).
  for p in $(ip netns pids "$netns" 2>/dev/null); do
    [[ $(cat "/proc/$p/comm" 2>/dev/null) == containerd-shim* ]] && echo "$p"
  done
}

all_pids() {
  container_pids
  ip netns pids "$netns" 2>/dev/null
}

kill_all() { # pid lister
  local i pids
  for ((i = 0; i < 100; i++)); do
    pids=$("$1" | sort -u)
    [[ -z $pids ]] && return 0
    # shellcheck disable=SC2086 # one word per pid
    kill -KILL $pids 2>/dev/null
    sleep 0.1
  done
  log "processes still alive after 10 s: $("$1" | sort -u | tr '\n' ' ')"
}

if [[ -n $only_containers ]]; then
  kill_all container_pids
  exit 0
fi

kill_all all_pids

# Mounts: containerd's snapshots and rootfs, the kubelet's volumes (token tmpfs), the pods'
# network namespace files. Deepest first; lazily if still busy.
{
  findmnt -rn -o TARGET | grep -E "^($dir/|/run/netns/cni-|/run/containerd/|/var/lib/kubelet/)" |
    sort -r | while read -r m; do
      m=$(printf "%b" "$m") # findmnt -r writes a space as \x20
      umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
    done
} || true

for n in $(pod_netns) "$netns"; do
  [[ -e /run/netns/$n ]] && ip netns delete "$n" 2>/dev/null
done
ip link show "$host_if" >/dev/null 2>&1 && ip link delete "$host_if"

for c in $(pod_cgroups); do rmdir "$c" 2>/dev/null; done
left=$(pod_cgroups)
[[ -n $left ]] && log "cgroups left behind: $left"

# Kernel tunables the kubelet set: back to what they were before it started.
while IFS== read -r k v; do
  [[ -n $k && $(sysctl -n "$k" 2>/dev/null) != "$v" ]] && sysctl -q -w "$k=$v"
done <"$state/sysctls"

# /var/log/pods: this run's pod log directories, or all of it if the kubelet created it.
if existed /var/log/pods; then
  for d in /var/log/pods/*; do
    [[ -e $d ]] || continue
    grep -qxF "${d##*/}" "$state/pods-logs-before" || rm -rf "$d"
  done
fi
for p in /var/log/pods /var/lib/kubelet /var/lib/cni /run/containerd; do
  existed "$p" || rm -rf "$p"
done
# `ip netns add` made /run/netns a mount point (shared propagation) when it made the directory.
if ! existed /run/netns && [[ -d /run/netns && -z $(ls -A /run/netns) ]]; then
  while mountpoint -q /run/netns; do umount /run/netns || break; done
  rmdir /run/netns
fi

rm -rf "$dir"
