"""Serving processes on this machine: a free loopback port, whether a process we started is
still ours and running, how it ended, and stopping it with its workers."""

from __future__ import annotations

import socket
import subprocess
from typing import Any

import psutil


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _exit_code(pid: int, proc: subprocess.Popen[bytes] | None) -> int | str | None:
    """None while `pid` runs; its exit code (or "unknown" for a forked one) once it ended."""
    if proc is not None:
        return proc.poll()
    try:
        gone = psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        gone = True  # the zygote's children are reaped by the kernel: no code to read
    return "unknown" if gone else None


def _alive(state: dict[str, Any]) -> bool:
    pid = state.get("pid")
    if not pid:
        return False
    try:
        proc = psutil.Process(int(pid))
        if not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE:
            return False
        # guard against pid reuse: the same pid started at the same time is our process
        if "started" in state:
            return abs(proc.create_time() - float(state["started"])) < 0.01
        return str(state.get("bundle_dir", "")) in " ".join(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _terminate(pid: int, grace: float = 10.0) -> None:
    """Stop `bentoml serve` and its workers (circus puts each worker in its own session)."""
    try:
        parent = psutil.Process(pid)
        tree = [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    try:
        parent.terminate()  # the arbiter stops its workers gracefully
    except psutil.NoSuchProcess:
        pass
    _gone, alive = psutil.wait_procs(tree, timeout=grace)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)
