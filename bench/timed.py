#!/usr/bin/env python3
"""Run waiter processes and time them from outside: `timed.py SPEC.json RESULT.json`.

The benchmark driver sends API requests from several threads; a thread of its own that sleeps in
waitpid would have to win the GIL back before it could read the clock, which can cost
milliseconds. This process does nothing else: it starts every command of the spec at once, sleeps
in wait4(). Each command runs under bench/reap (reap.c), which reads CLOCK_MONOTONIC (system-wide,
so comparable with the driver's time.monotonic_ns()) the moment wait4() reaps the command, and
takes its peak RSS from the same wait4() (ru_maxrss: the largest process of the command's tree,
since a shell reaps its own children) without charging it this interpreter's memory.

SPEC: {"reap": PATH, "commands": [{"argv": [...], "env": {...}, "stdout": PATH, "stderr": PATH},
       ...], "deadline_s": N}
RESULT: {"started_ns": N, "children": [{"exit_ns", "status", "maxrss_kib", "killed"}, ...]}
`status` is the exit code, or 128+signal. Children still running at the deadline get SIGKILL and
`killed: true` (each child leads a process group of its own, killed whole).
"""

import json
import os
import signal
import sys
import time


def main():
    spec_path, result_path = sys.argv[1], sys.argv[2]
    with open(spec_path) as f:
        spec = json.load(f)
    pids = {}
    killed = set()

    def on_deadline(_sig, _frame):
        for pid in pids:
            try:
                os.killpg(pid, signal.SIGKILL)  # the child and its own children
                killed.add(pid)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGALRM, on_deadline)
    # Prepare everything that costs time before the first clock reading.
    prepared = []
    for i, cmd in enumerate(spec["commands"]):
        env = dict(os.environ)
        env.update(cmd.get("env", {}))
        out = os.open(cmd.get("stdout", os.devnull), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        err = os.open(cmd.get("stderr", os.devnull), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        reaped = f"{result_path}.{i}.reap"
        prepared.append((i, [spec["reap"], reaped, "--"] + cmd["argv"], env, out, err, reaped))
    devnull = os.open(os.devnull, os.O_RDONLY)
    started = time.monotonic_ns()
    for i, argv, env, out, err, _ in prepared:
        pid = os.posix_spawnp(
            argv[0],
            argv,
            env,
            file_actions=[
                (os.POSIX_SPAWN_DUP2, devnull, 0),
                (os.POSIX_SPAWN_DUP2, out, 1),
                (os.POSIX_SPAWN_DUP2, err, 2),
            ],
            setpgroup=0,
        )
        pids[pid] = i
    signal.setitimer(signal.ITIMER_REAL, float(spec.get("deadline_s", 600)))
    results = [None] * len(prepared)
    remaining = len(pids)
    while remaining:
        pid, status, rusage = os.wait4(-1, 0)
        now = time.monotonic_ns()
        if pid not in pids:
            continue
        code = os.waitstatus_to_exitcode(status)
        i = pids[pid]
        try:
            with open(prepared[i][5]) as f:
                exit_ns, code, maxrss = (int(x) for x in f.read().split())
        except (OSError, ValueError):  # reap itself was killed: our own reading
            exit_ns, maxrss = now, None
            code = code if code >= 0 else 128 - code
        results[i] = {
            "exit_ns": exit_ns,
            "status": code,
            "maxrss_kib": maxrss,
            "killed": pid in killed,
        }
        remaining -= 1
    signal.setitimer(signal.ITIMER_REAL, 0)
    with open(result_path + ".tmp", "w") as f:
        json.dump({"started_ns": started, "children": results}, f)
    os.rename(result_path + ".tmp", result_path)


if __name__ == "__main__":
    main()
