"""What a command costs the controller: its process tree's peak memory and the bytes it reads and writes.

Samples /proc every `interval` seconds while the command runs: the sum of the tree's proportional set sizes
(Pss in smaps_rollup: shared pages split between the processes that map them, so forked workers are not counted
twice), and per process the largest rchar + wchar seen (/proc/PID/io), summed over every process the tree had.
A short-lived process between two samples is missed; what moves a large file through the controller (a fetch's
slurp, a copy's transfer) lives for seconds and is not.
"""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    return children


def _tree(root: int) -> list[int]:
    children, found, todo = _children(), [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def _pss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _io(pid: int) -> int:
    try:
        fields = dict(line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
        return int(fields["rchar"]) + int(fields["wchar"])
    except (OSError, KeyError, ValueError):
        return 0


def measure(argv: list[str], interval: float = 0.1, **kwargs) -> dict:
    """Run argv; {"rc", "output", "seconds", "peak_bytes", "io_bytes"}."""
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)
    peak, io = 0, {}
    chunks: list[str] = []
    reader = threading.Thread(target=lambda: chunks.append(proc.stdout.read()), daemon=True)
    reader.start()
    while proc.poll() is None:
        pids = _tree(proc.pid)
        peak = max(peak, sum(_pss(pid) for pid in pids))
        for pid in pids:
            io[pid] = max(io.get(pid, 0), _io(pid))
        time.sleep(interval)
    reader.join()
    return {"rc": proc.returncode, "output": "".join(chunks), "seconds": round(time.monotonic() - started, 1),
            "peak_bytes": peak, "io_bytes": sum(io.values())}
