"""Stops a managed vLLM whose owner died without stopping it.

A flow process killed by SIGKILL, the OOM killer or a crashed worker never reaches its
`finally`, and vLLM (in a session of its own, so Ctrl-C does not hit it mid-request) would
hold the GPU or the CPU cores until someone finds it. This guard runs beside vLLM from the
moment it starts: it watches its own parent (the owner) and vLLM, and

- exits quietly once vLLM is gone (the owner stopped it, or it crashed);
- stops vLLM's whole process group once the owner is gone, noting why in vLLM's log.

It is a separate process, not a thread or PR_SET_PDEATHSIG: Prefect runs tasks in worker
threads, and a parent-death signal fires when the *thread* that started the child ends.

    python -m tasks.processes.owner_guard <vllm pid> <vllm create time> <stop timeout s> <owner pid> [<what>]

Started by `tasks.processes.groups.guard_process`; the pipeline CLI guards its local Prefect
server the same way (tasks.pipeline.prefect_server).
"""

from __future__ import annotations

import os
import signal
import sys
import time

POLL_S = 0.25


def _alive(pid: int, created: float) -> bool:
    import psutil

    try:
        p = psutil.Process(pid)
        return p.create_time() == created and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def watch(vllm_pid: int, created: float, stop_timeout_s: float, owner_pid: int, what: str = "vLLM") -> bool:
    """Returns True if it had to stop vLLM (the owner went first)."""
    while True:
        if not _alive(vllm_pid, created):
            return False
        if os.getppid() != owner_pid:  # re-parented: the owner is gone
            from tasks.processes.groups import stop_process_tree

            print(f"owner_guard: the process that started {what} (pid {owner_pid}) is gone; stopping {what} "
                  f"(pid {vllm_pid}) and its process group", file=sys.stderr, flush=True)
            stop_process_tree(vllm_pid, stop_timeout_s)
            return True
        time.sleep(POLL_S)


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    vllm_pid, created, stop_timeout_s, owner_pid = int(argv[0]), float(argv[1]), float(argv[2]), int(argv[3])
    watch(vllm_pid, created, stop_timeout_s, owner_pid, *argv[4:5])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
