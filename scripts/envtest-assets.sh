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

export DEBIAN_FRONTEND=noninteractive
# Source packages: the image only lists binary ones.
if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
  log "adding deb-src entries for Debian bookworm"
  cat >/etc/apt/sources.list.d/depwait-deb-src.sources <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
# Kubernetes 1.20's vendored code builds with Debian's Go 1.19, not with whatever newer Go may
# come first on PATH (a current Go rejects parts of it): ask for that Go by its package and path.
go119=/usr/lib/go-1.19/bin
log "apt-get update / install (golang-1.19-go rsync etcd-server golang-github-modern-go-reflect2-dev dpkg-dev)"
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends \
  golang-1.19-go rsync etcd-server golang-github-modern-go-reflect2-dev dpkg-dev make >&2
[[ -x $go119/go ]] || { log "missing $go119/go after installing golang-1.19-go"; exit 1; }

work=$(mktemp -d /tmp/depwait-k8s-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
log "downloading the kubernetes source package into $work"
apt-get source --download-only kubernetes >&2
orig=$(ls kubernetes_*.orig.tar.* | head -n 1)
mkdir src
tar -xf "$orig" -C src --strip-components=1

# The vendored reflect2 1.0.1 reads Go runtime internals that changed in Go 1.18: the API server
# then panics whenever it encodes a map (custom resources, for one). Debian ships 1.0.2.
reflect2=/usr/share/gocode/src/github.com/modern-go/reflect2
[[ -d $reflect2 ]] || { log "missing $reflect2"; exit 1; }
rm -rf src/vendor/github.com/modern-go/reflect2
cp -r "$reflect2" src/vendor/github.com/modern-go/reflect2

log "building kube-apiserver and kubectl (several minutes)"
(
  cd src
  export PATH="$go119:$PATH" GOROOT=/usr/lib/go-1.19
  export GOFLAGS=-mod=vendor GOCACHE="$work/gocache" GOPATH="$work/gopath" GOTOOLCHAIN=local
  log "building with $(go version)"
  make WHAT="cmd/kube-apiserver cmd/kubectl" >&2
)
bin=$(find src/_output -type f -name kube-apiserver -perm -u+x | head -n 1)
[[ -n $bin ]] || { log "build produced no kube-apiserver"; exit 1; }

kubectl_bin=$(find src/_output -type f -name kubectl -perm -u+x | head -n 1)
[[ -n $kubectl_bin ]] || { log "build produced no kubectl"; exit 1; }

mkdir -p "$cache"
cp "$bin" "$cache/kube-apiserver.tmp" && mv "$cache/kube-apiserver.tmp" "$cache/kube-apiserver"
cp "$kubectl_bin" "$cache/kubectl.tmp" && mv "$cache/kubectl.tmp" "$cache/kubectl"
etcd_bin=$(command -v etcd || echo /usr/bin/etcd)
cp "$etcd_bin" "$cache/etcd.tmp" && mv "$cache/etcd.tmp" "$cache/etcd"
log "cached in $cache"
echo "$cache"
