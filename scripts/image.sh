#!/usr/bin/env bash
# Build depwait's static binary and its FROM-scratch image (Containerfile) with whichever of
# podman, buildah or docker works here; with --rootfs DIR, also unpack the image's root file
# system into DIR (tests/image.rs runs the binary from there under chroot), and with --inspect
# FILE write the builder's description of the image (its config: user, entrypoint, labels) to
# FILE as JSON.
#
# Prints the image name on stdout (everything else goes to stderr).
#
# The binary is linked statically against glibc (-C target-feature=+crt-static) for the host's
# own target: the only Rust target a stock toolchain ships, so this builds offline. `--target` is
# explicit so that build scripts and proc-macros stay dynamic.
#
# Builder: $CONTAINER_BUILDER (podman, buildah or docker) if set; else podman, else buildah, else
# docker if its daemon answers; else, as root, `apt-get install buildah` (Debian's builds without a
# daemon). buildah uses the vfs storage driver unless STORAGE_DRIVER says otherwise: it works
# everywhere (also inside containers, where overlay often does not) and costs nothing for one
# small layer.
#
# Environment: DEPWAIT_IMAGE (default localhost/depwait:VERSION), DEPWAIT_IMAGE_SOURCE (the
# org.opencontainers.image.source label; default: the git remote `origin`, if any),
# CARGO_TARGET_DIR.
#
# usage: image.sh [--rootfs DIR] [--inspect FILE]
set -euo pipefail

# Several of our scripts may install at once (tests, image, cluster build): wait for dpkg's lock
# instead of failing on it.
apt-get() { command apt-get -o DPkg::Lock::Timeout=600 "$@"; }

log() { echo "image: $*" >&2; }
die() { log "$*"; exit 1; }

rootfs= inspect=
while (($#)); do
  case $1 in
    --rootfs) rootfs=${2:?--rootfs needs a directory}; shift 2 ;;
    --inspect) inspect=${2:?--inspect needs a file}; shift 2 ;;
    *) die "usage: image.sh [--rootfs DIR] [--inspect FILE]" ;;
  esac
done

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

case $(uname -m) in
  x86_64) target=x86_64-unknown-linux-gnu arch=amd64 ;;
  aarch64) target=aarch64-unknown-linux-gnu arch=arm64 ;;
  *) die "no image recipe for $(uname -m); see README \"Image\" for cross builds" ;;
esac

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
image=${DEPWAIT_IMAGE:-localhost/depwait:$version}
revision=$(git rev-parse HEAD 2>/dev/null || true)
source=${DEPWAIT_IMAGE_SOURCE:-$(git remote get-url origin 2>/dev/null || true)}

# --- the static binary ---------------------------------------------------------------------
target_dir=${CARGO_TARGET_DIR:-$repo/target}
# Run from a test (tests/image.rs), we inherit what cargo sets for test processes; build
# scripts (ring's) rerun when those change, which would rebuild everything after every switch
# between `just image` and `cargo test`. Build in the same environment either way.
for var in $(compgen -e); do
  case $var in
    CARGO_PKG_* | CARGO_CRATE_* | CARGO_MANIFEST_* | CARGO_BIN_* | CARGO_PRIMARY_PACKAGE | \
      CARGO_TARGET_TMPDIR | CARGO_RUSTC_CURRENT_DIR | OUT_DIR) unset "$var" ;;
  esac
done
log "building the static binary ($target, +crt-static, release)"
# getrandom (0.3, 0.4) finds glibc's getrandom() through dlsym, which a static binary cannot do:
# it would fall back to reading /dev/urandom. Call getrandom() directly (glibc 2.25+, Linux
# 3.17+) so the binary needs no device files either. CARGO_ENCODED_RUSTFLAGS would win over
# RUSTFLAGS.
rustflags='-C target-feature=+crt-static --cfg getrandom_backend="linux_getrandom"'
env -u CARGO_ENCODED_RUSTFLAGS RUSTFLAGS="$rustflags" \
  CARGO_TARGET_DIR="$target_dir" "${CARGO:-cargo}" build --release --locked --target "$target" >&2
bin=$target_dir/$target/release/depwait
# A dynamic executable names its loader in a PT_INTERP header; a static one has none.
if readelf -lW "$bin" | grep -q 'INTERP'; then
  die "$bin is dynamically linked; the image would not run"
fi

# A context of its own, removed on exit: the cluster build (scripts/cluster/build.sh, in the
# background of .ci/run) and tests/image.rs can run this script at the same time on one target
# directory, and a shared context would be emptied under the other's builder.
mkdir -p "$target_dir"
context=$(mktemp -d "$target_dir/image-context.XXXXXX")
trap 'rm -rf "$context"' EXIT
mkdir -p "$context/$arch"
cp "$bin" "$context/$arch/depwait"

# --- the image -----------------------------------------------------------------------------
pick_builder() {
  if [[ -n ${CONTAINER_BUILDER:-} ]]; then
    echo "$CONTAINER_BUILDER"
  elif command -v podman >/dev/null; then
    echo podman
  elif command -v buildah >/dev/null; then
    echo buildah
  elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    echo docker
  elif [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    log "no podman, buildah or docker daemon; installing buildah with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends buildah >&2
    echo buildah
  else
    die "need podman, buildah or a running docker daemon (or root, to apt-get install buildah)"
  fi
}
builder=$(pick_builder)
tool=("$builder")
build=("$builder" build)
if [[ $builder == buildah ]]; then
  tool=(buildah --storage-driver "${STORAGE_DRIVER:-vfs}")
  # chroot isolation needs no daemon, user namespaces or cgroups (and the Containerfile has no
  # RUN step anyway).
  build=("${tool[@]}" build --isolation chroot)
fi

log "building $image with $builder"
# TARGETARCH is passed explicitly: docker's classic builder does not set it.
"${build[@]}" \
  --platform "linux/$arch" \
  --build-arg "TARGETARCH=$arch" \
  --build-arg "VERSION=$version" \
  --build-arg "REVISION=$revision" \
  --build-arg "SOURCE=$source" \
  -f Containerfile -t "$image" "$context" >&2
log "$image: binary $(stat -c %s "$bin") bytes; $("${tool[@]}" images --format '{{.Size}}' "$image" | head -n 1) as the builder counts it"

# --- its root file system, for tests/image.rs -----------------------------------------------
if [[ -n $rootfs ]]; then
  mkdir -p "$rootfs"
  case $builder in
    buildah)
      container=$("${tool[@]}" from --quiet "$image")
      trap '"${tool[@]}" rm "$container" >/dev/null; rm -rf "$context"' EXIT
      mounted=$("${tool[@]}" mount "$container")
      cp -a "$mounted/." "$rootfs/"
      "${tool[@]}" umount "$container" >/dev/null
      ;;
    *)
      container=$("${tool[@]}" create "$image")
      trap '"${tool[@]}" rm "$container" >/dev/null; rm -rf "$context"' EXIT
      "${tool[@]}" export "$container" | tar -x -C "$rootfs"
      ;;
  esac
  log "root file system of $image in $rootfs"
fi

# buildah: {"OCIv1": {"config": ...}, ...}; podman and docker: [{"Config": ...}].
if [[ -n $inspect ]]; then
  case $builder in
    buildah) "${tool[@]}" inspect --type image "$image" >"$inspect" ;;
    *) "${tool[@]}" image inspect "$image" >"$inspect" ;;
  esac
fi

echo "$image"
