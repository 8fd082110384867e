#!/usr/bin/env bash
# Run etcd + kube-apiserver for one test process, and stop them when that process is gone.
#
# Rust runs no destructors for statics, and a test binary may be killed outright, so the
# servers' lifetime is tied to the parent PID here rather than to a Drop impl.
#
# usage: control-plane.sh ASSETS_DIR WORK_DIR PARENT_PID ETCD_PORT ETCD_PEER_PORT API_PORT
set -u
assets=$1 dir=$2 parent=$3 etcd_port=$4 peer_port=$5 api_port=$6

"$assets/etcd" \
  --data-dir "$dir/etcd" \
  --listen-client-urls "http://127.0.0.1:$etcd_port" \
  --advertise-client-urls "http://127.0.0.1:$etcd_port" \
  --listen-peer-urls "http://127.0.0.1:$peer_port" \
  --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
  --initial-cluster "default=http://127.0.0.1:$peer_port" \
  >"$dir/etcd.log" 2>&1 &
etcd=$!

# 1.20 still opens an insecure port on 8080 unless told not to; ServiceAccount admission would
# wait for a token controller that does not run here.
"$assets/kube-apiserver" \
  --etcd-servers "http://127.0.0.1:$etcd_port" \
  --bind-address 127.0.0.1 \
  --advertise-address 127.0.0.1 \
  --secure-port "$api_port" \
  --insecure-port 0 \
  --cert-dir "$dir/certs" \
  --token-auth-file "$dir/tokens.csv" \
  --authorization-mode RBAC \
  --service-account-key-file "$dir/sa.key" \
  --service-account-signing-key-file "$dir/sa.key" \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --disable-admission-plugins ServiceAccount \
  --service-cluster-ip-range 10.0.0.0/24 \
  --allow-privileged=true \
  >"$dir/apiserver.log" 2>&1 &
api=$!
echo "$api" >"$dir/apiserver.pid"
echo "$etcd" >"$dir/etcd.pid"

while kill -0 "$parent" 2>/dev/null; do
  sleep 1
done
kill "$api" "$etcd" 2>/dev/null
wait
