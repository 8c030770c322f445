# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read-only looks at a host for the preflight: free disk under a path that may not exist yet, and who
listens on a TCP port. Pure functions over the file system and /proc, so they test without a host."""

from __future__ import annotations

import errno
import os
import socket

TCP_LISTEN = "0A"  # the state column of /proc/net/tcp for a listening socket (include/net/tcp_states.h)


def nearest_existing(path: str) -> str:
    """The path itself, or its closest ancestor that exists (what a directory would be created on)."""
    path = os.path.abspath(path)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    return path


def disk(path: str) -> dict:
    """Free bytes (for an unprivileged writer: root's reserve excluded) of the file system `path` is or would
    be on, and the device that file system is, so paths on one file system can be added up."""
    existing = nearest_existing(path)
    stats = os.statvfs(existing)
    return {"path": path, "exists": existing == os.path.abspath(path), "checked": existing,
            "device": os.stat(existing).st_dev, "free_bytes": stats.f_bavail * stats.f_frsize}


def listening_ports(text: str) -> dict[int, str]:
    """{port: socket inode} of the listening sockets in a /proc/net/tcp or tcp6 table."""
    ports = {}
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != TCP_LISTEN:
            continue
        ports[int(fields[1].rsplit(":", 1)[1], 16)] = fields[9]
    return ports


def socket_owners(inodes: set[str], proc: str = "/proc") -> dict[str, dict]:
    """{inode: {pid, process}} for the sockets some process holds; best effort (other users' processes
    are only visible to root)."""
    owners = {}
    wanted = {f"socket:[{inode}]": inode for inode in inodes}
    for pid in filter(str.isdigit, os.listdir(proc)):
        try:
            fds = os.listdir(f"{proc}/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"{proc}/{pid}/fd/{fd}")
            except OSError:
                continue
            if target in wanted and wanted[target] not in owners:
                try:
                    with open(f"{proc}/{pid}/comm") as handle:
                        name = handle.read().strip()
                except OSError:
                    name = "?"
                owners[wanted[target]] = {"pid": int(pid), "process": name}
    return owners


def ports_in_use(ports: list[int], proc: str = "/proc") -> list[dict]:
    """The asked ports something listens on (IPv4 or IPv6), with the listening process where visible."""
    listening: dict[int, str] = {}
    for table in ("tcp", "tcp6"):
        try:
            with open(f"{proc}/net/{table}") as handle:
                listening.update(listening_ports(handle.read()))
        except OSError:
            continue
    busy = {port: listening[port] for port in ports if port in listening}
    owners = socket_owners(set(busy.values()), proc) if busy else {}
    return [{"port": port, **owners.get(inode, {"pid": None, "process": None})} for port, inode in sorted(busy.items())]


def reach(address: str, port: int, timeout: float = 5.0) -> dict:
    """Whether this host reaches address:port over TCP: `open` (something listens), `refused` (the host answered,
    nothing listens yet: reachable) or `unreachable` (no answer within timeout, no route, a filter), with the
    socket's error."""
    try:
        with socket.create_connection((address, int(port)), timeout=timeout):
            return {"address": address, "port": int(port), "state": "open", "error": None}
    except ConnectionRefusedError:
        return {"address": address, "port": int(port), "state": "refused", "error": None}
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else (
            exc.strerror or errno.errorcode.get(exc.errno, str(exc)))
        return {"address": address, "port": int(port), "state": "unreachable", "error": reason}
