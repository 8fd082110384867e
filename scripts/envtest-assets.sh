#!/usr/bin/env bash
# Provide kube-apiserver + etcd (and kubectl, when built here) for the integration tests,
# envtest-style.
#
# Prints the directory holding the binaries on stdout (everything else goes to stderr).
#
# Order of preference:
#   1. $KUBEBUILDER_ASSETS, when it already holds kube-apiserver and etcd (controller-runtime's
#      envtest layout), so people with setup-envtest binaries reuse them;
#   2. the cache ($DEPWAIT_ASSETS_DIR, default ~/.cache/depwait/envtest), filled by an earlier run;
#   3. a build from Debian bookworm's `kubernetes` source package (v1.20.2, all Go deps vendored,
#      so it builds without network beyond Debian's mirror) and Debian's `etcd-server` (3.4).
#      First run: ~5 min on 2 cores. Needs root for apt-get.
set -euo pipefail

# Several of our scripts may install at once (tests, image, cluster build): wait for dpkg's lock
# instead of failing on it.
apt-get() { command apt-get -o DPkg::Lock::Timeout=600 "$@"; }

log() { echo "envtest-assets: $*" >&2; }

has_assets() { [[ -x "$1/kube-apiserver" && -x "$1/etcd" ]]; }

if [[ -n "${KUBEBUILDER_ASSETS:-}" ]] && has_assets "$KUBEBUILDER_ASSETS"; then
  echo "$KUBEBUILDER_ASSETS"
  exit 0
fi

cache=${DEPWAIT_ASSETS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/depwait/envtest}
# kubectl (same source, same build) is cached too: the kustomize test and the benchmark's
# `kubectl wait` peer use it. envtest's own layout ships it as well.
if has_assets "$cache" && [[ -x "$cache/kubectl" ]]; then
  echo "$cache"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  log "need root to apt-get the build inputs; or set KUBEBUILDER_ASSETS to a directory holding kube-apiserver and etcd"
  exit 1
fi

log "building kube-apiserver and kubectl (several minutes)"
bash "$(dirname "$0")/debian-kubernetes.sh" "$cache" cmd/kube-apiserver cmd/kubectl
# Debian's etcd-server (3.4) is the test server's etcd.
if ! dpkg-query -W -f='${Status}' etcd-server 2>/dev/null | grep -q 'install ok installed'; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends etcd-server >&2 ||
    { apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends etcd-server >&2; }
fi
etcd_bin=$(command -v etcd || echo /usr/bin/etcd)
cp "$etcd_bin" "$cache/etcd.tmp" && mv "$cache/etcd.tmp" "$cache/etcd"
log "cached in $cache"
echo "$cache"
