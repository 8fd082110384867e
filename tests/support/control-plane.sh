#!/usr/bin/env bash
# Run etcd + kube-apiserver for one test process; once that process is gone, kill them and
# delete WORK_DIR.
#
# Rust runs no destructors for statics, and a test binary may be killed outright, so the servers'
# lifetime is tied to the test process here rather than to a Drop impl. That process holds the
# write end of our stdin and never writes: the kernel closes it however the process ends (even on
# SIGKILL), so `read` sees EOF at once. PARENT_PID is checked too, in case stdin was not a pipe.
#
# A server that exits on its own is not restarted; WORK_DIR/exited-NAME gets its exit status, so
# the test side can fail at once with the logs instead of waiting for a timeout.
#
# Fault-injection tests stop (kill) a server by creating WORK_DIR/stop-apiserver (or stop-etcd) and
# start it again by removing the file; the loop below notices within 0.1 s.
#
# usage: control-plane.sh ASSETS_DIR WORK_DIR PARENT_PID ETCD_PORT ETCD_PEER_PORT API_PORT
#
# DEPWAIT_APISERVER_EXTRA_ARGS, when set, is split on whitespace and appended to kube-apiserver's
# flags (the benchmark turns on the audit log with it; the tests do not set it).
set -u
assets=$1 dir=$2 parent=$3 etcd_port=$4 peer_port=$5 api_port=$6

# Server name (etcd, apiserver) -> PID while running, "exited" after an unrequested exit, empty
# while stopped on request.
declare -A pid=([etcd]= [apiserver]=)

# stdin is /dev/null: the servers must not hold the pipe that tells us the test process is gone.
start_etcd() {
  "$assets/etcd" \
    --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" \
    --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "default=http://127.0.0.1:$peer_port" \
    </dev/null >>"$dir/etcd.log" 2>&1 &
  pid[etcd]=$!
}

# Before 1.24 the API server opens an insecure port on 8080 unless told not to; 1.24 removed the
# flag and refuses to start when given it, so it is passed only to servers that know it (envtest
# binaries from KUBEBUILDER_ASSETS are usually newer than the 1.20 we build). ServiceAccount
# admission would wait for a token controller that does not run here.
extra_flags=()
minor=$("$assets/kube-apiserver" --version 2>/dev/null | sed -n 's/^Kubernetes v1\.\([0-9]*\)\..*/\1/p')
if [[ -n $minor && $minor -lt 24 ]]; then
  extra_flags+=(--insecure-port 0)
fi
# shellcheck disable=SC2206 # split on whitespace on purpose
extra_flags+=(${DEPWAIT_APISERVER_EXTRA_ARGS:-})

start_apiserver() {
  "$assets/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 \
    --advertise-address 127.0.0.1 \
    --secure-port "$api_port" \
    "${extra_flags[@]}" \
    --cert-dir "$dir/certs" \
    --token-auth-file "$dir/tokens.csv" \
    --authorization-mode RBAC \
    --service-account-key-file "$dir/sa.key" \
    --service-account-signing-key-file "$dir/sa.key" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --disable-admission-plugins ServiceAccount,ResourceQuota \
    --service-cluster-ip-range 10.0.0.0/24 \
    --allow-privileged=true \
    </dev/null >>"$dir/apiserver.log" 2>&1 &
  pid[apiserver]=$!
}

# Bring one server to the state its stop-file asks for, and notice if it died.
reconcile() {
  local name=$1
  local p=${pid[$name]}
  if [[ -e $dir/stop-$name ]]; then
    if [[ -n $p ]]; then
      # SIGKILL, as in a crash or a node going away: a graceful stop of kube-apiserver waits
      # for open watches (depwait's) to drain, for up to a minute.
      [[ $p == exited ]] || { kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; }
      pid[$name]=
      touch "$dir/stopped-$name"
    fi
  elif [[ -z $p ]]; then
    rm -f "$dir/stopped-$name" "$dir/exited-$name"
    "start_$name"
  elif [[ $p != exited ]] && ! kill -0 "$p" 2>/dev/null; then
    wait "$p"
    echo "$?" >"$dir/exited-$name"
    pid[$name]=exited
  fi
}

# Runs however this script ends. Ctrl-C reaches the whole process group, and background jobs of
# a non-interactive shell ignore SIGINT: without the trap the servers would outlive us.
cleanup() {
  local p
  for p in "${pid[@]}"; do
    # SIGKILL: the data is thrown away, and a graceful stop can take kube-apiserver seconds.
    [[ $p =~ ^[0-9]+$ ]] && kill -KILL "$p" 2>/dev/null
  done
  wait 2>/dev/null
  [[ -n $dir && -d $dir ]] && rm -rf "$dir"
}
trap cleanup EXIT
trap exit INT TERM HUP

start_etcd
start_apiserver
while kill -0 "$parent" 2>/dev/null; do
  # A timeout (status > 128) is the tick; EOF means the test process is gone.
  read -r -t 0.1 _
  (($? > 128)) || break
  reconcile etcd
  reconcile apiserver
done
