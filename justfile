# depwait tasks. `cargo install just` if you do not have it.

# Lint and run every test (unit + integration against a real kube-apiserver).
test:
    cargo fmt --check
    cargo clippy --all-targets -- -D warnings
    cargo test

# Start a throwaway API server and watch depwait wait, explain and release.
demo:
    cargo build --quiet
    cargo run --quiet --example demo

# Build (or find) the kube-apiserver + etcd the tests use; prints their directory.
assets:
    bash scripts/envtest-assets.sh

# Build the static binary and the FROM-scratch image with podman, buildah or docker.
image:
    bash scripts/image.sh

# depwait against the polling tools, side by side; writes bench/RESULTS.md. As root it also
# runs them as init containers in the e2e tier's real cluster (BENCH_REAL_POD=0 skips that,
# BENCH_REAL_POD=only runs just that; see bench/run.sh).
bench:
    bash bench/run.sh

# A real one-node cluster (etcd, API server, controllers, scheduler, containerd, kubelet) in a
# network namespace with no route out, depwait from its image as a real init container.
# Root only. First run builds the cluster's binaries and images (~30 min on 2 shared cores);
# later runs start the cluster in ~20 s. Waits until the cluster is torn down (host as found).
e2e:
    bash scripts/cluster/e2e.sh
