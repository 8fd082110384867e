#!/usr/bin/env bash
# Images for the peers `just bench`'s real-pod section runs as init containers next to depwait,
# built here from package registries (nothing is pulled from an image registry) and cached as
# OCI archives next to scripts/cluster/build.sh's:
#
#   CACHE_DIR/images/kubectl-VERSION.tar   localhost/kubectl:VERSION — the static kubectl binary
#                                          alone, FROM scratch (and an empty /tmp for its HOME)
#   CACHE_DIR/images/python-kubernetes.tar localhost/python-kubernetes:bench — a debootstrap'd
#                                          minimal Debian bookworm with python3-kubernetes; the
#                                          seed poller's script goes in the pod spec, not the
#                                          image, so editing bench/seed_poller.py rebuilds nothing
#
# usage: peer-images.sh CACHE_DIR KUBECTL VERSION
#   CACHE_DIR  from scripts/cluster/build.sh
#   KUBECTL    a static kubectl (scripts/envtest-assets.sh's for 1.20, the module build's after)
#   VERSION    the server version it belongs to (v1.20.2): the image's tag
# Root only (debootstrap, buildah). Prints one `image archive` line per image on stdout.
set -euo pipefail
cache=${1:?usage: peer-images.sh CACHE_DIR KUBECTL VERSION} kubectl=${2:?} version=${3:?}
imgdir=$cache/images
mkdir -p "$imgdir"

log() { echo "peer-images: $*" >&2; }
apt-get() { command apt-get -o DPkg::Lock::Timeout=600 "$@"; }
buildah() { command buildah --storage-driver "${STORAGE_DRIVER:-vfs}" "$@"; }

# One build of these at a time (build.sh's own lock would wait for its whole cluster build;
# buildah locks its store itself).
exec 7>"$cache/peer-images.lock"
flock 7

# A working container's content (a directory) as an OCI archive; buildah's store is left as it
# was (the archive is the cache).
commit_dir() { # name archive dir buildah-config...
  local name=$1 tar=$2 src=$3 ctr
  shift 3
  ctr=$(buildah from scratch)
  buildah copy "$ctr" "$src" / >/dev/null
  buildah config "$@" "$ctr"
  buildah commit -q "$ctr" "$name" >/dev/null
  buildah rm "$ctr" >/dev/null
  rm -f "$tar.tmp"
  buildah push -q "$name" "oci-archive:$tar.tmp:$name"
  buildah rmi "$name" >/dev/null
  mv "$tar.tmp" "$tar"
}

ptar=$imgdir/python-kubernetes.tar
if [[ ! -f $ptar ]]; then
  command -v debootstrap >/dev/null || {
    log "apt-get install debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >&2
  }
  log "building localhost/python-kubernetes:bench (debootstrap bookworm minbase + python3-kubernetes; minutes)"
  tmp=$(mktemp -d)
  # python3-cffi-backend named too: python3-cryptography depends on the virtual
  # python3-cffi-backend-api-min/max it provides, and debootstrap does not resolve virtual
  # packages (dpkg would leave python3-kubernetes unconfigured).
  debootstrap --variant=minbase --include=python3-kubernetes,python3-cffi-backend bookworm "$tmp/root" \
    http://deb.debian.org/debian >"$tmp/debootstrap.log" 2>&1 || {
    tail -n 20 "$tmp/debootstrap.log" >&2
    rm -rf "$tmp"
    exit 1
  }
  # What a container never reads: package lists and caches, documentation, translations.
  rm -rf "$tmp/root/var/cache/apt"/* "$tmp/root/var/lib/apt/lists"/* "$tmp/root/usr/share/doc" \
    "$tmp/root/usr/share/man" "$tmp/root/usr/share/locale" "$tmp/root/usr/share/info"
  commit_dir localhost/python-kubernetes:bench "$ptar" "$tmp/root" \
    --entrypoint '["python3"]' --env PYTHONUNBUFFERED=1
  rm -rf "$tmp"
fi
echo "localhost/python-kubernetes:bench $ptar"

ktar=$imgdir/kubectl-$version.tar
if [[ ! -f $ktar ]]; then
  [[ -x $kubectl ]] || { log "no kubectl at $kubectl"; exit 1; }
  # A scratch image has no loader: only a static binary runs in it.
  if file -L "$kubectl" | grep -q 'dynamically linked'; then
    log "$kubectl is dynamically linked: it cannot run FROM scratch"
    exit 1
  fi
  log "building localhost/kubectl:$version from $kubectl"
  tmp=$(mktemp -d)
  mkdir -p "$tmp/bin" "$tmp/tmp"
  chmod 1777 "$tmp/tmp"
  cp "$kubectl" "$tmp/bin/kubectl"
  # HOME=/tmp: kubectl writes its discovery cache under $HOME/.kube.
  commit_dir "localhost/kubectl:$version" "$ktar" "$tmp" \
    --entrypoint '["/bin/kubectl"]' --env HOME=/tmp --env PATH=/bin
  rm -rf "$tmp"
fi
echo "localhost/kubectl:$version $ktar"
