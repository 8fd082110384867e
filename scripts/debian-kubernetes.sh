#!/usr/bin/env bash
# Build Kubernetes v1.20.2 commands from Debian bookworm's `kubernetes` source package, the one
# way this project builds 1.20 (the integration tests' API server and kubectl, the real-cluster
# tier's kubelet, controller-manager and scheduler).
#
# usage: debian-kubernetes.sh OUT_DIR cmd/NAME...
#   Copies each built NAME, and the pause container's source (pause.c), into OUT_DIR.
#
# The source is unpacked once into $DEPWAIT_CACHE (default ~/.cache/depwait)/debian-kubernetes,
# with one fix: the vendored reflect2 1.0.1 reads Go runtime internals that changed in Go 1.18
# (the API server then panics whenever it encodes a map, custom resources for one), so Debian's
# 1.0.2 replaces it. Every build uses the same source path, flags and Go build cache, so a second
# call (the cluster's binaries after the test server's) reuses every package the first compiled.
#
# Built with Debian's Go 1.19 called by its path: a newer Go first on PATH rejects parts of
# 1.20's vendored code. `providerless`: no in-tree cloud provider is compiled in. CGO off: static
# binaries, none of these needs cgo. Needs root (apt-get).
set -euo pipefail

apt-get() { command apt-get -o DPkg::Lock::Timeout=600 "$@"; }
log() { echo "debian-kubernetes: $*" >&2; }

out=$1
shift
cache=${DEPWAIT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/depwait}
src=$cache/debian-kubernetes/src
gocache=$cache/debian-kubernetes/go-build
go119=/usr/lib/go-1.19/bin
reflect2=/usr/share/gocode/src/github.com/modern-go/reflect2

[[ $(id -u) -eq 0 ]] || { log "needs root to apt-get the build inputs"; exit 1; }
export DEBIAN_FRONTEND=noninteractive

need=()
for p in golang-1.19-go golang-github-modern-go-reflect2-dev dpkg-dev make rsync; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if ((${#need[@]})) || [[ ! -f $src/.unpacked ]]; then
  # Source packages: the machine's image only lists binary ones.
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
  log "apt-get update / install ${need[*]}"
  apt-get update -qq >&2
  ((${#need[@]} == 0)) || apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi
[[ -x $go119/go ]] || { log "missing $go119/go after installing golang-1.19-go"; exit 1; }
[[ -d $reflect2 ]] || { log "missing $reflect2"; exit 1; }

# One build at a time: two would unpack into, and build in, the same directory.
mkdir -p "$cache/debian-kubernetes"
exec 8>"$cache/debian-kubernetes/lock"
flock 8

if [[ ! -f $src/.unpacked ]]; then
  work=$(mktemp -d /tmp/depwait-debian-kubernetes.XXXXXX)
  trap 'rm -rf "$work"' EXIT
  log "downloading Debian's kubernetes source package into $work"
  (cd "$work" && apt-get source --download-only kubernetes >&2)
  orig=$(ls "$work"/kubernetes_*.orig.tar.* | head -n 1)
  rm -rf "$src"
  mkdir -p "$src"
  tar -xf "$orig" -C "$src" --strip-components=1
  rm -rf "$src/vendor/github.com/modern-go/reflect2"
  cp -r "$reflect2" "$src/vendor/github.com/modern-go/reflect2"
  touch "$src/.unpacked"
  rm -rf "$work"
  trap - EXIT
fi

log "building $* (v1.20.2, providerless; first build ~10 min on 2 cores, each later one less)"
(
  cd "$src"
  export PATH="$go119:$PATH" GOROOT=/usr/lib/go-1.19
  export GOFLAGS="-mod=vendor -tags=providerless" GOCACHE="$gocache" GOPATH="$cache/debian-kubernetes/gopath"
  export GOTOOLCHAIN=local CGO_ENABLED=0
  log "building with $(go version)"
  nice -n 19 make WHAT="$*" >&2
)
mkdir -p "$out"
for what in "$@"; do
  name=${what##*/}
  f=$(find "$src/_output" -type f -name "$name" -perm -u+x | head -n 1)
  [[ -n $f ]] || { log "the build produced no $name"; exit 1; }
  cp "$f" "$out/$name.tmp" && mv "$out/$name.tmp" "$out/$name"
done
cp "$src/build/pause/linux/pause.c" "$out/pause.c"
