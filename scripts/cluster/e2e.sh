#!/usr/bin/env bash
# The real one-node cluster tier (`just e2e`, run by .ci/run): for each Kubernetes version, build
# or find its binaries and images (scripts/cluster/build.sh), then run tests/e2e.rs against a
# cluster of that version, one test at a time (one cluster per machine).
#
# DEPWAIT_E2E_VERSIONS picks the versions (default: both the suite covers, below). Every version
# runs even when an earlier one failed; the exit status is 1 if any did. Root only.
#
# --build-only: build or find what every version needs (the test server included), run nothing.
set -u
cd "$(dirname "$0")/../.."

# 1.20.2: Debian's source package, the oldest the suite covers. The newest: the newest
# k8s.io/kubernetes release the Go module proxy serves that builds here (README, "Real cluster").
versions=${DEPWAIT_E2E_VERSIONS:-v1.20.2 v1.37.2}

if [[ ${1:-} == --build-only ]]; then
  bash scripts/envtest-assets.sh >/dev/null || exit 1
  for v in $versions; do
    DEPWAIT_E2E_VERSION=$v bash scripts/cluster/build.sh >/dev/null || exit 1
  done
  exit 0
fi

failed=()
for v in $versions; do
  echo "e2e: Kubernetes $v" >&2
  if ! DEPWAIT_E2E_VERSION=$v bash scripts/cluster/build.sh >/dev/null; then
    failed+=("$v (build)")
    continue
  fi
  DEPWAIT_E2E_VERSION=$v cargo test --locked --test e2e -- --ignored --test-threads=1
  status=$?
  # The cluster's supervisor tears it down once the test process is gone, holding this lock:
  # the next version (and the caller) start on a host put back as it was.
  flock /run/lock/depwait-e2e.lock true
  ((status == 0)) || failed+=("$v")
done

if ((${#failed[@]})); then
  echo "e2e: failed at ${failed[*]}" >&2
  exit 1
fi
echo "e2e: passed at $versions" >&2
