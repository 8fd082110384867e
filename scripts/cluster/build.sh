#!/usr/bin/env bash
# Build (or find) everything the real one-node cluster tier (`just e2e`) needs, cached outside
# the repository like the integration tests' API server:
#
#   $DEPWAIT_CLUSTER_DIR (default ~/.cache/depwait/cluster)/v1.20.2/
#       kubelet kube-controller-manager kube-scheduler   Debian's `kubernetes` source (1.20.2),
#                                                        built with Debian's Go 1.19, providerless
#       pause.c                                          build/pause/linux/pause.c from that source
#   $DEPWAIT_CLUSTER_DIR/images/
#       pause.tar busybox.tar                            OCI archives built here (FROM scratch)
#       depwait-<key>.tar                                `just image` of this checkout (key: its inputs' hash)
#
# The API server, etcd and kubectl come from scripts/envtest-assets.sh (its cache).
# Runtime packages (containerd, runc, CNI plugins, busybox-static, buildah) come from apt.
# Nothing is pulled from an image registry. Prints the cache directory on stdout.
set -euo pipefail

# Several of our scripts may install at once (tests, image, cluster build): wait for dpkg's lock
# instead of failing on it.
apt-get() { command apt-get -o DPkg::Lock::Timeout=600 "$@"; }

log() { echo "cluster-build: $*" >&2; }

repo=$(cd "$(dirname "$0")/../.." && pwd)
cache=${DEPWAIT_CLUSTER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/depwait/cluster}
# v1.20.2: Debian's source package. Any other v1.X.Y: the k8s.io/kubernetes module at that tag
# through the Go module proxy (see build_module below), API server, etcd and kubectl included.
version=${DEPWAIT_E2E_VERSION:-v1.20.2}
bindir=$cache/$version
imgdir=$cache/images
mkdir -p "$bindir" "$imgdir"

[[ $(id -u) -eq 0 ]] || { log "needs root (apt-get, containerd, network namespaces)"; exit 1; }

# One build at a time per cache (CI and a developer's `just e2e` may overlap): the module build
# and the image archives are written in place.
exec 7>"$cache/build.lock"
flock 7

need_pkgs=()
for p in containerd runc containernetworking-plugins busybox-static buildah iproute2 iptables gcc libc6-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need_pkgs+=("$p")
done
if ((${#need_pkgs[@]})); then
  log "apt-get install ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >&2
fi

have_bins() { [[ -x $bindir/kubelet && -x $bindir/kube-controller-manager && -x $bindir/kube-scheduler && -f $bindir/pause.c ]]; }

# A current release: a go.mod of ours that requires k8s.io/kubernetes at $version and replaces
# every k8s.io/<staging> module (the module's own go.mod points them at ./staging, which a
# dependent cannot use) with its v0.X.Y; built with the Go on PATH (GO=...), providerless.
build_module() {
  local go=${GO:-$(command -v go)} mod=$cache/src-$version minor=${version#v1.}
  minor=${minor%%.*}
  local staging_version=v0.${version#v1.}
  mkdir -p "$mod"
  cd "$mod"
  export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0
  log "building $version from the k8s.io/kubernetes module with $("$go" version)"
  [[ -f go.mod ]] || "$go" mod init depwait.local/e2e-cluster >&2
  "$go" mod download -json "k8s.io/kubernetes@$version" >"$mod/kubernetes.json"
  local kmod
  kmod=$(sed -n 's/.*"GoMod": "\(.*\)".*/\1/p' "$mod/kubernetes.json")
  # The pause container's source ships in the module too (build/pause/linux/pause.c).
  local kdir
  kdir=$(sed -n 's/.*"Dir": "\(.*\)".*/\1/p' "$mod/kubernetes.json")
  cp "$kdir/build/pause/linux/pause.c" "$bindir/pause.c"
  local m
  for m in $(sed -n 's|^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/.*|\1|p' "$kmod"); do
    "$go" mod edit -replace "$m=$m@$staging_version"
  done
  "$go" mod edit -require "k8s.io/kubernetes@$version"
  local pkgs=(k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kubectl
    go.etcd.io/etcd/server/v3)
  nice -n 19 "$go" get "${pkgs[@]}" >&2
  local v=k8s.io/component-base/version cv=k8s.io/client-go/pkg/version ld="-s -w" x
  for x in "$v" "$cv"; do
    ld+=" -X $x.gitVersion=$version -X $x.gitMajor=1 -X $x.gitMinor=$minor -X $x.gitTreeState=clean"
  done
  mkdir -p "$mod/bin"
  nice -n 19 "$go" build -tags providerless -trimpath -ldflags "$ld" -o "$mod/bin/" "${pkgs[@]}" >&2
  # go.etcd.io/etcd/server/v3 builds as `server` (the element before a major-version suffix).
  mv "$mod/bin/server" "$mod/bin/etcd"
  local b
  for b in kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl etcd; do
    cp "$mod/bin/$b" "$bindir/$b.tmp" && mv "$bindir/$b.tmp" "$bindir/$b"
  done
}

if ! have_bins && [[ $version != v1.20.2 ]]; then
  (build_module)
elif ! have_bins; then
  # The same build as the integration tests' API server (scripts/envtest-assets.sh), so it
  # reuses every package that one compiled.
  bash "$repo/scripts/debian-kubernetes.sh" "$bindir" cmd/kubelet cmd/kube-controller-manager cmd/kube-scheduler
  for b in kubelet kube-controller-manager kube-scheduler; do
    # No cloud provider: no in-tree AWS code (its credential chain asks the EC2 metadata
    # address). 1.20's kubelet links its AWS credential provider (pkg/credentialprovider/aws)
    # whatever the tags, so it keeps ec2metadata strings; start.sh sets
    # AWS_EC2_METADATA_DISABLED=true, and the cluster's namespace has no route out anyway.
    if grep -qa ec2metadata "$bindir/$b"; then
      log "note: $b contains ec2metadata strings (providerless does not cover it at $version)"
    fi
  done
fi

# --- images (OCI archives, imported into containerd by start.sh) ---
# Same storage as scripts/image.sh (vfs works everywhere, also inside containers).
buildah() { command buildah --storage-driver "${STORAGE_DRIVER:-vfs}" "$@"; }
build_scratch_image() { # name tarball file-in-image...
  local name=$1 tar=$2 ctr
  shift 2
  ctr=$(buildah from scratch)
  for spec in "$@"; do # src:dst
    buildah copy "$ctr" "${spec%%:*}" "${spec#*:}" >/dev/null
  done
  buildah config "${BUILDAH_CONFIG[@]}" "$ctr"
  buildah commit -q "$ctr" "$name" >/dev/null
  buildah rm "$ctr" >/dev/null
  rm -f "$tar.tmp"
  buildah push -q "$name" "oci-archive:$tar.tmp:$name"
  buildah rmi "$name" >/dev/null # the archive is the cache; keep buildah's store as it was
  mv "$tar.tmp" "$tar"
}

if [[ ! -f $imgdir/pause.tar ]]; then
  log "building the pause image from $bindir/pause.c"
  tmp=$(mktemp -d)
  gcc -Os -static -o "$tmp/pause" "$bindir/pause.c" -DVERSION=depwait-e2e
  BUILDAH_CONFIG=(--entrypoint '["/pause"]')
  build_scratch_image localhost/pause:e2e "$imgdir/pause.tar" "$tmp/pause:/pause"
  rm -rf "$tmp"
fi

if [[ ! -f $imgdir/busybox.tar ]]; then
  log "building the busybox image from Debian's busybox-static"
  BUILDAH_CONFIG=(--entrypoint '["/bin/busybox"]' --cmd '["sh"]' --env PATH=/bin)
  tmp=$(mktemp -d)
  mkdir -p "$tmp/bin" "$tmp/www" "$tmp/tmp"
  cp /bin/busybox "$tmp/bin/busybox"
  for a in $(/bin/busybox --list); do [[ $a == busybox ]] || ln -s busybox "$tmp/bin/$a"; done
  echo ok >"$tmp/www/index.html"
  ctr=$(buildah from scratch)
  buildah copy "$ctr" "$tmp" / >/dev/null
  buildah config "${BUILDAH_CONFIG[@]}" "$ctr"
  buildah commit -q "$ctr" localhost/busybox:e2e >/dev/null
  buildah rm "$ctr" >/dev/null
  rm -rf "$tmp"
  rm -f "$imgdir/busybox.tar.tmp"
  buildah push -q localhost/busybox:e2e "oci-archive:$imgdir/busybox.tar.tmp:localhost/busybox:e2e"
  buildah rmi localhost/busybox:e2e >/dev/null
  mv "$imgdir/busybox.tar.tmp" "$imgdir/busybox.tar"
fi

# depwait's image: `just image` of this checkout, cached by the content of what goes into it
# (committed or not), so a rebuild happens only when the binary would change.
inputs=(src Cargo.toml Cargo.lock Containerfile scripts/image.sh)
key=$({
  git -C "$repo" rev-parse "${inputs[@]/#/HEAD:}"
  git -C "$repo" diff HEAD -- "${inputs[@]}"
  git -C "$repo" ls-files --others --exclude-standard -- "${inputs[@]}" | (cd "$repo" && xargs -r sha256sum)
} | sha256sum | cut -c1-16)
dtar=$imgdir/depwait-$key.tar
if [[ ! -f $dtar ]]; then
  log "building depwait's image (bash scripts/image.sh) for $key"
  name=$(cd "$repo" && CONTAINER_BUILDER=buildah nice -n 10 bash scripts/image.sh)
  [[ -n $name ]] || { log "scripts/image.sh printed no image name"; exit 1; }
  rm -f "$dtar.tmp"
  buildah push -q "$name" "oci-archive:$dtar.tmp:localhost/depwait:e2e"
  mv "$dtar.tmp" "$dtar"
fi
ln -sfn "depwait-$key.tar" "$imgdir/depwait.tar"

log "cached in $cache"
echo "$cache"
