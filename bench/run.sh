#!/usr/bin/env bash
# `just bench`: depwait against the polling tools, side by side; writes bench/RESULTS.md.
#
#   BENCH_SCALE=quick    ~2 min: few runs, no 15 s poller, the smallest scale only
#   (default)            ~9 min on 2 busy cores: every waiter; scale sizes S, M and L (L is the
#                        issue's: 10,000 pods in 100 namespaces, 100 dependencies in one depwait,
#                        200 processes × 10 dependencies, a 10,000-pod store)
#   BENCH_SCALE=full     more runs of the 15 s and 1 s pollers, a 60 s request window
#   BENCH_OUT=PATH       write the report elsewhere (default bench/RESULTS.md)
#   BENCH_IMAGE=0        do not build the image (scripts/image.sh) to report its size
#   BENCH_KEEP=1         keep the work directory's logs and audit log (else only results.json)
#   BENCH_REAL_POD=auto  (default) also the real-pod section (bench/real_pod.py): depwait and its
#                        peers as init containers in the e2e tier's one-node cluster, per server
#                        version; root only, reported as skipped with the reason otherwise. It
#                        waits for the machine's one cluster lock (/run/lock/depwait-e2e.lock)
#                        while another cluster runs. =1: the same, but a version that could not be
#                        measured fails the run; =0: skip it; =only: just this section (nothing
#                        else is built or run; the rest of RESULTS.md is left as it is)
#   BENCH_REAL_POD_VERSIONS="v1.20.2 v1.37.2"  server versions (scripts/cluster/build.sh builds
#                        each on first use: tens of minutes)
#   BENCH_REAL_POD_RUNS=10, BENCH_REAL_POD_RESTARTS=3  release runs (every waiter side by side in
#                        each) and power cuts of the node per version (quick: 3 and 1)
#   BENCH_PROFILES="opt-s opt-z ..."  (or 1 for all) also build release-profile variants with
#                        `cargo --config` (Cargo.toml untouched) and time them against the release
#                        build: opt-2, opt-s, opt-z (opt-level), no-lto (lto off, 16 codegen units),
#                        unstripped, max-info (tracing's release_max_level_info feature, set with
#                        --features, so Cargo.toml and Cargo.lock stay as they are). Each is a full
#                        LTO build: minutes apiece.
#
# Needs: cargo, python3 (stdlib), openssl, and the test API server (scripts/envtest-assets.sh
# builds or finds kube-apiserver, etcd and kubectl). The seed poller needs the `kubernetes`
# Python package: installed here into a venv in the cache, or reported as skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "bench: $*" >&2; }

mode=${BENCH_SCALE:-default}
case $mode in quick|default|full) ;; *) log "BENCH_SCALE must be quick, default or full"; exit 2 ;; esac
real_pod=${BENCH_REAL_POD:-auto}
case $real_pod in 0|1|auto|only) ;; *) log "BENCH_REAL_POD must be 0, 1, auto or only"; exit 2 ;; esac
out=${BENCH_OUT:-bench/RESULTS.md}

# The real-pod section, written into $out in place of its last run (bench/real_pod.py).
real_pod_section() {
  if [[ $real_pod == 0 ]]; then
    python3 bench/real_pod.py --out "$out" --skip "not run (BENCH_REAL_POD=0)"
    return
  fi
  local runs=10 restarts=3
  [[ $mode == quick ]] && runs=3 restarts=1
  local args=(--out "$out" --versions "${BENCH_REAL_POD_VERSIONS:-v1.20.2 v1.37.2}"
    --runs "${BENCH_REAL_POD_RUNS:-$runs}" --restarts "${BENCH_REAL_POD_RESTARTS:-$restarts}")
  [[ $real_pod == 1 ]] && args+=(--strict)
  if [[ ${BENCH_KEEP:-} == 1 ]]; then
    keep=$(mktemp -d /tmp/depwait-bench-real-pod.XXXXXX)
    log "keeping the clusters' logs in $keep"
    args+=(--keep "$keep" --json "$keep/samples.json")
  fi
  log "real-pod section: ${args[*]}"
  python3 bench/real_pod.py "${args[@]}"
}
if [[ $real_pod == only ]]; then
  real_pod_section
  exit
fi

log "building depwait (release)"
cargo build --release --quiet
target=${CARGO_TARGET_DIR:-target}
depwait=$(realpath "$target/release/depwait")

# Release-profile variants: name -> cargo --config overrides of [profile.release].
declare -A variant=(
  [opt-2]='opt-level=2'
  [opt-s]='opt-level="s"'
  [opt-z]='opt-level="z"'
  [no-lto]='lto=false codegen-units=16'
  [unstripped]='strip=false'
  [max-info]=''
)
variant_args=()
profiles=${BENCH_PROFILES:-}
[[ $profiles == 1 ]] && profiles="opt-2 opt-s opt-z no-lto unstripped max-info"
for name in $profiles; do
  [[ -v variant[$name] ]] || { log "unknown variant $name (one of: ${!variant[*]})"; exit 2; }
  profile=bench-$name
  config=(--config "profile.$profile.inherits=\"release\"")
  for setting in ${variant[$name]}; do
    config+=(--config "profile.$profile.$setting")
  done
  features=()
  [[ $name == max-info ]] && features=(--features tracing/release_max_level_info)
  log "building variant $name (${variant[$name]}${features[*]})"
  cargo build --quiet --profile "$profile" "${config[@]}" "${features[@]}"
  variant_args+=(--variant "$name=$(realpath "$target/$profile/depwait")")
done

assets=$(bash scripts/envtest-assets.sh)

# The seed's own pin. Each init container of the seed installs it with pip; here once, cached.
venv=${XDG_CACHE_HOME:-$HOME/.cache}/depwait/bench-venv
python="" python_why=""
if [[ ! -x $venv/bin/python ]] || ! "$venv/bin/python" -c 'import kubernetes' 2>/dev/null; then
  log "installing the kubernetes Python client (the seed poller's) into $venv"
  if ! { python3 -m venv "$venv" && "$venv/bin/pip" install -q kubernetes==29.0.0; } >&2; then
    python_why="pip install kubernetes==29.0.0 failed"
    log "$python_why: the seed poller is skipped"
  fi
fi
if [[ -z $python_why ]]; then
  python=$venv/bin/python
fi

# The image and its one file, built as `just image` builds them (scripts/image.sh: the static
# binary, then FROM scratch with podman, buildah or docker). BENCH_IMAGE=0 skips it.
image_size=""
if [[ ${BENCH_IMAGE:-1} != 0 ]]; then
  log "building the image (scripts/image.sh)"
  image_log=$(mktemp)
  if bash scripts/image.sh >/dev/null 2>"$image_log"; then
    # image.sh's last word on it: "image: NAME: binary N bytes; X MB as the builder counts it"
    image_size=$(sed -n 's/^image: \(.*\): binary \([0-9]*\) bytes; \(.*\) as the builder counts it$/\3 (static binary \2 bytes; \1)/p' "$image_log" | tail -n 1)
  else
    image_size="not built: $(tail -n 1 "$image_log")"
  fi
  rm -f "$image_log"
fi

python3 bench/bench.py --depwait "$depwait" --assets "$assets" --python "$python" \
  --python-why "$python_why" --mode "$mode" --out "$out" \
  --image-size "$image_size" "${variant_args[@]}" "$@"
real_pod_section
