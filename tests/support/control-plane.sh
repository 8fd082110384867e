#!/usr/bin/env bash
# Run etcd + kube-apiserver for one test process, and stop them when that process is gone.
#
# Rust runs no destructors for statics, and a test binary may be killed outright, so the
# servers' lifetime is tied to the parent PID here rather than to a Drop impl.
#
# Fault-injection tests stop (kill) a server by creating WORK_DIR/stop-apiserver (or stop-etcd) and
# start it again by removing the file; the loop below notices within 0.1 s.
#
# usage: control-plane.sh ASSETS_DIR WORK_DIR PARENT_PID ETCD_PORT ETCD_PEER_PORT API_PORT
set -u
assets=$1 dir=$2 parent=$3 etcd_port=$4 peer_port=$5 api_port=$6

start_etcd() {
  "$assets/etcd" \
    --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" \
    --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "default=http://127.0.0.1:$peer_port" \
    >>"$dir/etcd.log" 2>&1 &
  etcd=$!
}

# 1.20 still opens an insecure port on 8080 unless told not to; ServiceAccount admission would
# wait for a token controller that does not run here.
start_api() {
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
    >>"$dir/apiserver.log" 2>&1 &
  api=$!
}

# Stop or start one server to match its stop-file; $1 is etcd or apiserver.
reconcile() {
  local name=$1 pid
  if [[ $name == etcd ]]; then pid=$etcd; else pid=$api; fi
  if [[ -e $dir/stop-$name ]]; then
    if [[ -n $pid ]]; then
      # SIGKILL, as in a crash or a node going away: a graceful stop of kube-apiserver waits
      # for open watches (depwait's) to drain, for up to a minute.
      kill -KILL "$pid" 2>/dev/null
      wait "$pid" 2>/dev/null
      if [[ $name == etcd ]]; then etcd=; else api=; fi
      touch "$dir/stopped-$name"
    fi
  elif [[ -z $pid ]]; then
    rm -f "$dir/stopped-$name"
    if [[ $name == etcd ]]; then start_etcd; else start_api; fi
  fi
}

start_etcd
start_api
while kill -0 "$parent" 2>/dev/null; do
  reconcile etcd
  reconcile apiserver
  sleep 0.1
done
kill $api $etcd 2>/dev/null
wait
