# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading a serving container's state and log: did it die, and what did it say.

No Ansible imports; the module triton_ready polls with these.
"""

from __future__ import annotations

import re

# Triton's error lines (E1201 12:00:00.000 ...), TensorRT-LLM's, Python tracebacks' last
# lines and Open MPI's report of a rank that died.
ERROR_LINE = re.compile(
    r"^E\d{4} |\[TensorRT-LLM\]\[ERROR\]|UNAVAILABLE|^\w*(Error|Exception)\b|out of memory|"
    r"exited on signal|^mpirun (noticed|detected)|^Primary job +terminated")
# Harmless on CPU-only test beds and on hosts without DCGM.
NOISE = re.compile(r"CudaDriverHelper|CUDA driver version|DCGM|dcgm")


def container_state(inspect: dict) -> dict:
    """The fields of `docker inspect` that say whether the server is up and how often it died."""
    state = inspect.get("State") or {}
    return {
        "status": state.get("Status", "unknown"),
        "running": bool(state.get("Running")),
        "restarting": bool(state.get("Restarting")),
        "exit_code": state.get("ExitCode"),
        "started_at": state.get("StartedAt"),
        "restart_count": int(inspect.get("RestartCount") or 0),
        "id": inspect.get("Id", "")[:12],
    }


def died(before: dict, now: dict) -> str | None:
    """Why the server is gone since `before`, or None while it runs the same process."""
    if now["restart_count"] > before["restart_count"] or now["started_at"] != before["started_at"]:
        # A running container's ExitCode is 0 again: the failed run's code is in its log only.
        return f"exited and was restarted by Docker ({now['restart_count']} restart(s) in all)"
    if now["restarting"]:
        return f"exited with code {now['exit_code']} and Docker is restarting it"
    if not now["running"]:
        return f"is {now['status']} (exit code {now['exit_code']})"
    return None


def error_lines(log: str, limit: int = 20) -> list[str]:
    lines = [line.strip() for line in log.splitlines() if ERROR_LINE.search(line.strip())]
    return [line for line in lines if not NOISE.search(line)][-limit:]


def not_ready(index: list, models: list[str]) -> dict:
    """model -> state for each wanted model that the repository index does not show READY."""
    states = {entry.get("name"): entry.get("state", "UNKNOWN") for entry in index}
    return {name: states.get(name, "MISSING") for name in models if states.get(name) != "READY"}
