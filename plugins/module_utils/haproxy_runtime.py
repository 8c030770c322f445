# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""HAProxy's runtime API over its stats socket (the `stats socket ... level admin` line of the
configuration): one command per connection, the answer read until HAProxy closes it.

Facts relied on (HAProxy 2.6, management.txt "Unix Socket commands"): `show stat` answers CSV
whose header starts with "# pxname,svname,"; `scur` is a server's current sessions and `status`
one of UP, DOWN, NOLB, MAINT, DRAIN, "no check", with " a/b" while a check is going up or down;
`set server <backend>/<server> state ready|drain|maint` answers nothing when it worked; `show servers state`
answers the format `server-state-file` loads (configuration.txt, "server-state-file": its output written to that
file before a reload, read back with `load-server-state-from-file`, keeps each server's administrative state,
drain and maintenance included).
"""

from __future__ import annotations

import csv
import socket
import time

# What `set server ... state` accepts, by what this module calls the wanted state.
STATES = {"ready": "ready", "drained": "maint"}


class HAProxyError(Exception):
    """The socket could not be reached, or HAProxy refused a command (its own words)."""


class HAProxyNotRunning(HAProxyError):
    """No process listens on the socket (none there, or one a stopped or crashed HAProxy left behind)."""


def command(path: str, line: str, timeout: float = 5.0) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(path)
            sock.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (ConnectionRefusedError, FileNotFoundError) as exc:
            raise HAProxyNotRunning(f"HAProxy's runtime API at {path} does not answer: {exc}") from None
        except OSError as exc:
            raise HAProxyError(f"HAProxy's runtime API at {path}: {exc}") from None
    return b"".join(chunks).decode(errors="replace")


def server_stats(path: str, backend: str, server: str, timeout: float = 5.0) -> dict | None:
    """The `show stat` row of one server ({status, scur, check_status, ...}), None when HAProxy has no such server."""
    text = command(path, "show stat", timeout).lstrip("# ")
    for row in csv.DictReader(text.splitlines()):
        if row.get("pxname") == backend and row.get("svname") == server:
            return row
    return None


def backend_servers(path: str, backend: str, timeout: float = 5.0) -> dict | None:
    """Every server of one backend: {name: {status, active, check}} (HAProxy's status as it says it, its current
    sessions, the last health check's result); None when HAProxy has no such backend."""
    text = command(path, "show stat", timeout).lstrip("# ")
    servers, found = {}, False
    for row in csv.DictReader(text.splitlines()):
        if row.get("pxname") != backend:
            continue
        found = True
        if row.get("svname") not in ("FRONTEND", "BACKEND"):
            servers[row["svname"]] = {"status": row.get("status", ""), "active": int(row.get("scur") or 0),
                                      "check": row.get("check_status", "")}
    return servers if found else None


def backends_of(path: str, server: str, timeout: float = 5.0) -> list[str]:
    """The backends that hold a server of this name (the HTTP one, and the gRPC one when the balancer has it)."""
    text = command(path, "show stat", timeout).lstrip("# ")
    return sorted({row["pxname"] for row in csv.DictReader(text.splitlines()) if row.get("svname") == server})


def base_status(status: str) -> str:
    """UP, DOWN, MAINT, DRAIN or NOLB, without a check's progress (" 1/2") or a reason in brackets."""
    return (status or "").split(" ")[0].upper()


def set_state(path: str, backend: str, server: str, state: str, timeout: float = 5.0) -> None:
    answer = command(path, f"set server {backend}/{server} state {state}", timeout).strip()
    if answer:
        raise HAProxyError(f"HAProxy refused 'set server {backend}/{server} state {state}': {answer}")


def drain(path: str, backend: str, server: str, wait: float, interval: float = 0.5,
          clock=time.monotonic, sleep=time.sleep) -> dict:
    """No new requests to the server, then wait (at most `wait` seconds) until it has none in flight, then
    maintenance (health checks off until it is set ready). Returns what happened; `drained` False when the
    wait ran out with requests still in flight (the caller decides)."""
    before = server_stats(path, backend, server)
    if before is None:
        raise HAProxyError(f"HAProxy has no server {backend}/{server}")
    start, active = clock(), int(before.get("scur") or 0)
    result = {"status_before": before["status"], "active_at_start": active, "waited": 0.0, "drained": True}
    if base_status(before["status"]) == "MAINT":
        return result
    set_state(path, backend, server, "drain")
    now = server_stats(path, backend, server) or {}
    while int(now.get("scur") or 0) > 0:
        if clock() - start >= wait:
            result.update(drained=False, active_left=int(now.get("scur") or 0))
            break
        sleep(interval)
        now = server_stats(path, backend, server) or {}
    result["waited"] = round(clock() - start, 3)
    if result["drained"]:
        set_state(path, backend, server, "maint")
    return result


def make_ready(path: str, backend: str, server: str, wait: float, interval: float = 0.5,
               clock=time.monotonic, sleep=time.sleep) -> dict:
    """Out of maintenance or drain, then wait (at most `wait` seconds) until HAProxy's own health check says UP."""
    before = server_stats(path, backend, server)
    if before is None:
        raise HAProxyError(f"HAProxy has no server {backend}/{server}")
    start = clock()
    result = {"status_before": before["status"], "waited": 0.0}
    if base_status(before["status"]) in ("MAINT", "DRAIN"):
        set_state(path, backend, server, "ready")
    now = server_stats(path, backend, server) or {}
    while base_status(now.get("status", "")) != "UP":
        if clock() - start >= wait:
            break
        sleep(interval)
        now = server_stats(path, backend, server) or {}
    result.update(status=now.get("status", ""), up=base_status(now.get("status", "")) == "UP",
                  waited=round(clock() - start, 3))
    return result


def servers_state(path: str, timeout: float = 5.0) -> str:
    """`show servers state`: every server's state, in the form HAProxy's server-state-file holds."""
    text = command(path, "show servers state", timeout)
    if not text.lstrip().startswith("1"):  # the format's version line
        raise HAProxyError(f"HAProxy did not answer 'show servers state' with a state file: {text.strip()[:200]}")
    return text
