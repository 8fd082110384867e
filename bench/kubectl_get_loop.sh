#!/bin/sh
# k8s-wait-for's pod loop, re-created for the benchmark: `kubectl get pods -n NS -l SELECTOR`
# every WAIT_TIME seconds (default 2, as k8s-wait-for's) until every matching pod has condition
# Ready=True. No matching pod means not ready; a kubectl error ends the wait with exit 1.
#
# usage: kubectl_get_loop.sh NAMESPACE SELECTOR   (KUBECONFIG, KUBECTL=path of kubectl)
ns=$1 selector=$2
kubectl=${KUBECTL:-kubectl}
# One line per pod that is not Ready, or "no pods": empty output means ready.
template='{{if not .items}}no pods{{"\n"}}{{end}}{{range .items}}{{$ready := false}}{{range .status.conditions}}{{if and (eq .type "Ready") (eq .status "True")}}{{$ready = true}}{{end}}{{end}}{{if not $ready}}{{.metadata.name}} not ready{{"\n"}}{{end}}{{end}}'
while :; do
  if ! out=$("$kubectl" get pods -n "$ns" -l "$selector" -o go-template="$template" 2>&1); then
    echo "$out" >&2
    exit 1
  fi
  [ -z "$out" ] && break
  echo "waiting for pods $selector in $ns: $out"
  sleep "${WAIT_TIME:-2}"
done
echo "pods $selector in $ns are ready"
