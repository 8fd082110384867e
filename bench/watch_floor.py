"""The floor for release latency: the least any watcher can do.

`watch_floor.py SERVER CA TOKEN NAMESPACE SELECTOR`: list the pods once for a resourceVersion,
open one watch from it on the same keep-alive connection, and exit (os._exit, no interpreter
teardown) at the first event whose pod has condition Ready=True. No client library, no store, no
aggregation: what is left of its latency is the API server's (write to etcd, watch cache, fan-out
to the watch) plus loopback and one JSON decode.
"""

import http.client
import json
import os
import ssl
import sys
import urllib.parse


def ready(pod):
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def main():
    server, ca, token, ns, selector = sys.argv[1:6]
    host, port = server.removeprefix("https://").split(":")
    conn = http.client.HTTPSConnection(host, int(port),
                                       context=ssl.create_default_context(cafile=ca))
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    path = f"/api/v1/namespaces/{ns}/pods?labelSelector={urllib.parse.quote(selector)}"
    conn.request("GET", path, headers=headers)
    listed = json.loads(conn.getresponse().read())
    if listed.get("items") and all(ready(p) for p in listed["items"]):
        os._exit(0)
    rv = listed["metadata"]["resourceVersion"]
    conn.request("GET", f"{path}&watch=1&resourceVersion={rv}", headers=headers)
    response = conn.getresponse()
    while True:
        line = response.readline()
        if not line:
            os._exit(1)
        event = json.loads(line)
        if event.get("type") in ("ADDED", "MODIFIED") and ready(event["object"]):
            os._exit(0)


if __name__ == "__main__":
    main()
