# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Artifacts host to host: a plan in rounds, a read-only file server, a resumable checked download.

No Ansible imports. The controller plans (plan_rounds); a host that holds an artifact serves exactly the
files of its manifest over HTTP to the hosts of its round (serve), which download them into a staging
directory, resuming a cut transfer with a Range request and checking every file's sha256 as it arrives
(fetch). Nothing passes through the controller: it sends each host a module, not the artifact's bytes.

Trust: every request carries a bearer token made for the run (compared in constant time); the server binds
one address, answers GET for the listed files only (no directory, no other path), and ends when told to
(POST /_stop with the token) or after a time without requests, so a run that dies leaves no server behind
for long.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BLOCK = 1 << 20
PART = ".part"


class TransferError(Exception):
    """A file could not be fetched, or is not what its manifest says; the message names it."""


# The plan

def plan_rounds(transfers: list[dict]) -> list[list[dict]]:
    """Rounds of host-to-host copies: [[{key, source, receiver, files}], ...].

    Each transfer is {key, source, receivers, files?: {receiver: [names]}}: a receiver with a file list
    (a cluster member that gets only its ranks) takes those, the others the whole artifact. In each round
    every holder of a key sends to one receiver, and a receiver that got the whole artifact holds it from
    the next round on: a key reaches N hosts in about log2(N + 1) rounds, and no host serves more than one
    receiver at a time. Holders and receivers are taken in the given order, so every host computes the same
    rounds.
    """
    rounds: list[list[dict]] = []
    state = []
    for transfer in transfers:
        subsets = transfer.get("files") or {}
        pending = list(transfer["receivers"])
        # Whole-artifact receivers first: they become holders sooner.
        pending.sort(key=lambda host: host in subsets)
        state.append({"key": transfer["key"], "holders": [transfer["source"]], "pending": pending,
                      "subsets": subsets})
    while any(entry["pending"] for entry in state):
        this_round, new_holders = [], []
        for entry in state:
            for holder in list(entry["holders"]):
                if not entry["pending"]:
                    break
                receiver = entry["pending"].pop(0)
                files = entry["subsets"].get(receiver)
                this_round.append({"key": entry["key"], "source": holder, "receiver": receiver, "files": files})
                if files is None:
                    new_holders.append((entry, receiver))
        for entry, receiver in new_holders:
            entry["holders"].append(receiver)
        rounds.append(this_round)
    return rounds


# The server

def _authorized(header: str | None, token: str) -> bool:
    given = (header or "").removeprefix("Bearer ").strip()
    return bool(token) and hmac.compare_digest(given.encode(), token.encode())


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """`bytes=START-` or `bytes=START-END` as (start, end inclusive); None for no or an unusable range."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, _, last = header[6:].partition("-")
    if not first.isdigit() or (last and not last.isdigit()):
        return None
    start, end = int(first), min(int(last) if last else size - 1, size - 1)
    return (start, end) if start <= end else None


class FileServer(ThreadingHTTPServer):
    """Serves the listed files of one directory to holders of the token, until stopped or idle."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], root: str, files: list[str], token: str):
        self.root, self.files, self.token = root, set(files), token
        self.last_activity, self.active, self.served = time.monotonic(), 0, 0
        self.activity = threading.Lock()
        self.stop_requested = threading.Event()
        super().__init__(address, _Handler)

    def touch(self, delta: int = 0) -> None:
        with self.activity:
            self.active += delta
            self.last_activity = time.monotonic()

    def idle_for(self) -> float:
        with self.activity:
            return 0.0 if self.active else time.monotonic() - self.last_activity


class _Handler(BaseHTTPRequestHandler):
    server: FileServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - BaseHTTPRequestHandler's signature
        pass

    def _answer(self, status: int, text: str = "") -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):  # noqa: N802
        if not _authorized(self.headers.get("Authorization"), self.server.token):
            return self._answer(403, "forbidden\n")
        if self.path != "/_stop":
            return self._answer(404, "not found\n")
        self._answer(200, "stopping\n")
        self.server.stop_requested.set()

    def do_GET(self):  # noqa: N802
        # Only a request with the token counts as activity: a port scan does not keep the server alive.
        if not _authorized(self.headers.get("Authorization"), self.server.token):
            return self._answer(403, "forbidden\n")
        self.server.touch(+1)
        try:
            return self._get()
        finally:
            self.server.touch(-1)

    def _get(self):
        name = urllib.parse.unquote(self.path.removeprefix("/files/"))
        if not self.path.startswith("/files/") or name not in self.server.files:
            return self._answer(404, "not found\n")
        full = os.path.join(self.server.root, name)
        size = os.path.getsize(full)
        wanted = parse_range(self.headers.get("Range"), size)
        start, end = wanted if wanted else (0, size - 1)
        if self.headers.get("Range") and wanted is None and size > 0:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        self.send_response(206 if wanted else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start + 1 if size else 0))
        if wanted:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        self.wfile.flush()
        if size:
            with open(full, "rb") as handle:
                self.connection.sendfile(handle, start, end - start + 1)
        self.server.served += end - start + 1 if size else 0
        return None


def serve(root: str, files: list[str], bind: str, port: int, token: str, idle_timeout: float,
          ready=None, clock=time.monotonic) -> dict:
    """Serve until POST /_stop or idle_timeout seconds without a request; {"bytes", "seconds", "reason"}."""
    missing = [name for name in files if not os.path.isfile(os.path.join(root, name))]
    if missing:
        raise TransferError(f"{root} lacks {', '.join(missing)}: nothing to serve")
    server = FileServer((bind, port), root, files, token)
    started = clock()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    if ready:
        ready(server)
    reason = "stopped"
    try:
        while not server.stop_requested.wait(0.5):
            if server.idle_for() > idle_timeout:
                reason = f"idle for {idle_timeout:.0f}s"
                break
    finally:
        server.shutdown()
        server.server_close()
    return {"bytes": server.served, "seconds": round(clock() - started, 1), "reason": reason}


def stop(url: str, token: str, timeout: float = 10) -> bool:
    """Ask a server to stop; False when it was not (or no longer) there."""
    request = urllib.request.Request(f"{url.rstrip('/')}/_stop", data=b"", method="POST",
                                     headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


# The download

def _hash_prefix(path: str) -> tuple[hashlib._Hash, int]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(BLOCK), b""):
            digest.update(block)
            size += len(block)
    return digest, size


def fetch_file(url: str, token: str, dest: str, size: int, sha256: str, timeout: float) -> int:
    """One file into dest, resuming dest + '.part'; checked against size and sha256. Returns bytes received."""
    part = dest + PART
    if os.path.exists(part) and os.path.getsize(part) > size:
        os.remove(part)
    digest, have = _hash_prefix(part) if os.path.exists(part) else (hashlib.sha256(), 0)
    received = 0
    if have < size:
        headers = {"Authorization": f"Bearer {token}"}
        if have:
            headers["Range"] = f"bytes={have}-"
        request = urllib.request.Request(url, headers=headers)
        with urllib.request.urlopen(request, timeout=timeout) as answer, open(part, "ab") as out:
            if have and answer.status != 206:
                raise TransferError(f"{url} did not resume at byte {have} (HTTP {answer.status})")
            for block in iter(lambda: answer.read(BLOCK), b""):
                out.write(block)
                digest.update(block)
                received += len(block)
        have += received
        if have < size:
            # A connection closed early (http.client returns a short read, not an error): keep what came, so the
            # next attempt resumes from there.
            raise TransferError(f"{os.path.basename(dest)} from {url} stopped at byte {have} of {size}")
    elif size == 0 and not os.path.exists(part):
        open(part, "wb").close()
    if have != size or digest.hexdigest() != sha256:
        os.remove(part)
        what = f"{have} bytes, the manifest says {size}" if have != size else \
            f"sha256 {digest.hexdigest()[:12]}, the manifest says {sha256[:12]}"
        raise TransferError(f"{os.path.basename(dest)} from {url} is not the manifest's file ({what})")
    os.replace(part, dest)
    return received


def fetch(base_url: str, token: str, dest_dir: str, files: dict, retries: int = 3, timeout: float = 60,
          sleep=time.sleep) -> dict:
    """The files (name -> {size, sha256}) into dest_dir, each checked; a file already there and equal is kept.
    A cut transfer is resumed where it stopped, up to `retries` more times. {"received", "files", "kept"}."""
    os.makedirs(dest_dir, exist_ok=True)
    result = {"received": 0, "files": [], "kept": []}
    for name in sorted(files):
        want = files[check_name(name)]
        dest = os.path.join(dest_dir, name)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        if os.path.exists(dest) and os.path.getsize(dest) == want["size"] and \
                _hash_prefix(dest)[0].hexdigest() == want["sha256"]:
            result["kept"].append(name)
            continue
        url = f"{base_url.rstrip('/')}/files/{urllib.parse.quote(name)}"
        for attempt in range(retries + 1):
            try:
                result["received"] += fetch_file(url, token, dest, int(want["size"]), want["sha256"], timeout)
                break
            except (urllib.error.URLError, OSError, TransferError) as err:
                if attempt == retries:
                    detail = err.reason if isinstance(err, urllib.error.URLError) else err
                    raise TransferError(f"{name} was not received from {base_url} after {retries + 1} "
                                        f"attempt(s): {detail}") from None
                sleep(min(2 ** attempt, 10))
        result["files"].append(name)
    return result


def check_name(name: str) -> str:
    """A manifest's file name, refused unless it stays inside the artifact's directory (the manifest comes from
    another host)."""
    parts = name.split("/")
    if not name or name.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise TransferError(f"{name!r} is not a file name inside the artifact's directory")
    return name


def manifest_files(manifest_text: str, names: list[str] | None = None) -> dict:
    """The files to fetch from a manifest's JSON text: all of them, or those named."""
    listed = json.loads(manifest_text)["files"]
    wanted = names if names is not None else sorted(listed)
    unknown = [name for name in wanted if name not in listed]
    if unknown:
        raise TransferError(f"the manifest lists no {', '.join(unknown)}")
    return {check_name(name): listed[name] for name in wanted}
