#!/usr/bin/env python3
"""A stand-in for the part of the Hugging Face Hub that huggingface_hub's download path uses.

NOT the Hugging Face Hub: the test bed's air-gapped replacement, serving the content that
testbed/hub/content.py builds (the tiny model as meta-llama/Meta-Llama-3-8B-Instruct).
Standard library only. Two listeners per bind address, as the Hub has two hosts:

hub  GET  /api/models/{repo}[/revision/{rev}][?blobs=true]   model info (siblings, sha)
     HEAD|GET /{repo}/resolve/{rev}/{path}   a regular file: 200 with the file (ranges:
          206); an LFS file: 302 to a signed URL on the CDN port, X-Linked-Size/-Etag
     /_testbed/...   the test bed's own API (not the Hub's): stats, faults, reset (all, or {"client": ADDR}), health
cdn  HEAD|GET /repos/{..}/{sha256}?...&Expires=&Signature=&Key-Pair-Id=   LFS objects
          (ranges: 206, 416); refused without a valid signature, as a signed CDN does

Gating (repository "gated"): no token 401, a token of a user not granted access 403,
both with X-Error-Code GatedRepo; an unknown token 401 "Invalid credentials in
Authorization header". The facts each answer follows: testbed/hub/UPSTREAM-FACTS.md.

Faults, set at run time (POST /_testbed/faults): drop the connection after N bytes of a
file, stall, slow down to N bytes/s, or answer an HTTP error, once or K times.
Stats (GET /_testbed/stats): content bytes served per file and per client address.

    python3 server.py --config CONFIG.json
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import signal
import socket
import sys
import threading
import time
import uuid
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

CHUNK = 64 * 1024
KEY_PAIR_ID = "K3TESTBEDSTANDIN"
MAX_REQUESTS_KEPT = 5000
FAULT_ACTIONS = {"drop", "stall", "slow", "error"}


def now_iso(epoch: float | None = None) -> str:
    """The Hub's date format, '%Y-%m-%dT%H:%M:%S.%fZ' with milliseconds."""
    t = time.gmtime(epoch if epoch is not None else time.time())
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", t)


class Closed(Exception):
    """The connection was closed on purpose (a drop fault) or by the client."""


class State:
    """Content, tokens, faults and counters shared by every listener."""

    def __init__(self, config: dict):
        self.config = config
        self.content = Path(config["content"])
        self.hub = json.loads((self.content / "hub.json").read_text())
        self.granted = set(config["tokens"]["granted"])
        self.not_granted = set(config["tokens"]["not_granted"])
        self.secret = config["cdn_secret"].encode()
        self.cdn_port = int(config["cdn_port"])
        self.url_ttl = int(config.get("cdn_url_ttl_s", 3600))
        self.lock = threading.Lock()
        self.faults: list[dict] = []
        self.fault_ids = 0
        self.started = time.time()
        self.in_flight = 0
        # LFS objects by sha256: the paths that name them (to count and fault by path).
        self.paths_by_sha: dict[str, set[str]] = {}
        for repo in self.hub["repos"].values():
            for commit in repo["commits"].values():
                for path, entry in commit["files"].items():
                    self.paths_by_sha.setdefault(entry["sha256"], set()).add(path)
        self.reset()

    def reset(self, client: str | None = None) -> None:
        """Counters and faults from zero: all of them, or one client address's (tests running at the same time
        each reset their own)."""
        with self.lock:
            if client is not None:
                mine = self.clients.pop(client, {"files": {}})
                for name, size in mine["files"].items():
                    if name in self.files:
                        self.files[name]["bytes"] -= size
                self.requests = [r for r in self.requests if r["client"] != client]
                self.faults = [f for f in self.faults if f["client"] != client]
                return
            self.requests: list[dict] = []
            self.request_count = 0
            self.files: dict[str, dict] = {}
            self.clients: dict[str, dict] = {}
            self.faults = []

    # --- repositories ------------------------------------------------------------

    def resolve(self, repo: dict, revision: str) -> str | None:
        """A branch name, a full commit id, or an unambiguous commit id prefix (7+ hex)."""
        if revision in repo["refs"]:
            return repo["refs"][revision]
        if revision in repo["commits"]:
            return revision
        if len(revision) >= 7 and all(c in "0123456789abcdef" for c in revision):
            found = [c for c in repo["commits"] if c.startswith(revision)]
            if len(found) == 1:
                return found[0]
        return None

    # --- signed CDN URLs ---------------------------------------------------------

    def sign(self, path: str, expires: int) -> str:
        return hmac.new(self.secret, f"{path}\n{expires}".encode(), hashlib.sha256).hexdigest()

    # --- faults ------------------------------------------------------------------

    def add_faults(self, specs: list[dict]) -> list[dict]:
        added = []
        with self.lock:
            for spec in specs:
                action = spec.get("action")
                if action not in FAULT_ACTIONS:
                    raise ValueError(f"fault action must be one of {sorted(FAULT_ACTIONS)}, got {action!r}")
                if not spec.get("file"):
                    raise ValueError("a fault needs `file` (a path in the repository, or * for every file)")
                self.fault_ids += 1
                fault = {"id": self.fault_ids, "method": "GET", "times": 1, "client": None, "fired": 0,
                         "after_bytes": 0, "status": 503, "bytes_per_s": 0, "seconds": 0.0, **spec}
                if fault["method"] not in ("GET", "HEAD", "*"):
                    raise ValueError("fault method must be GET, HEAD or *")
                self.faults.append(fault)
                added.append(dict(fault))
        return added

    def take_faults(self, paths: set[str], method: str, client: str, content: bool) -> list[dict]:
        """The faults that fire for this request (their counts are spent); body faults
        (drop, stall, slow) only fire on responses that carry the file's content."""
        fired = []
        with self.lock:
            for fault in self.faults:
                if fault["file"] != "*" and fault["file"] not in paths:
                    continue
                if fault["method"] not in ("*", method) or fault["client"] not in (None, client):
                    continue
                if fault["action"] != "error" and not content:
                    continue
                if fault["action"] == "error" and method == "GET" and not content:
                    continue  # the hub's redirect to the CDN: the error fires where the body is
                if fault["times"] is not None and fault["fired"] >= fault["times"]:
                    continue
                fault["fired"] += 1
                fired.append(dict(fault))
        return fired

    # --- counters ----------------------------------------------------------------

    def begin(self) -> None:
        with self.lock:
            self.in_flight += 1

    def record(self, entry: dict) -> None:
        with self.lock:
            self.in_flight = max(self.in_flight - 1, 0)
            self.request_count += 1
            entry["n"] = self.request_count
            self.requests.append(entry)
            del self.requests[:-MAX_REQUESTS_KEPT]
            client = self.clients.setdefault(entry["client"], {"requests": 0, "bytes": 0, "files": {}})
            client["requests"] += 1
            if entry.get("file") and entry.get("content"):
                client["bytes"] += entry["bytes"]
                client["files"][entry["file"]] = client["files"].get(entry["file"], 0) + entry["bytes"]
                stats = self.files.setdefault(entry["file"], {"bytes": 0, "responses": 0})
                stats["bytes"] += entry["bytes"]
                stats["responses"] += 1

    def stats(self) -> dict:
        with self.lock:
            # in_flight: requests read but not yet counted (a reader polls until it is 0).
            return json.loads(json.dumps({"files": self.files, "clients": self.clients, "in_flight": self.in_flight,
                                          "requests": self.requests, "faults": self.faults}))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "trtllm-testbed-hub-standin"
    state: State  # set on the subclass per listener
    role: str  # "hub" or "cdn"

    # --- plumbing ----------------------------------------------------------------

    def log_message(self, fmt, *args):  # one line per request on stderr (docker logs)
        sys.stderr.write(f"[hub-standin {self.role}] {self.client_address[0]} {fmt % args}\n")

    def do_GET(self):
        self.dispatch("GET")

    def do_HEAD(self):
        self.dispatch("HEAD")

    def do_POST(self):
        self.dispatch("POST")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def dispatch(self, method: str) -> None:
        self.request_id = f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}"
        self.entry = {"t": round(time.time(), 3), "client": self.client_address[0], "server": self.role,
                      "method": method, "path": self.path, "file": None, "status": None, "range": None,
                      "bytes": 0, "content": False, "auth": bool(self.headers.get("Authorization")),
                      "agent": self.headers.get("User-Agent"), "faults": []}
        counted = not self.path.startswith("/_testbed/")
        if counted:
            self.state.begin()
        try:
            if self.role == "cdn":
                self.cdn(method)
            else:
                self.hub(method)
        except Closed:
            self.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            if counted:
                self.state.record(self.entry)

    def send(self, status: int, headers: dict, body: bytes = b"", method: str = "GET") -> None:
        self.entry["status"] = status
        self.send_response(status)
        headers = {"X-Request-Id": self.request_id, "Content-Length": str(len(body)), **headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if method != "HEAD" and body:
            self.wfile.write(body)

    def send_json(self, status: int, data, method: str = "GET", headers: dict | None = None) -> None:
        body = (json.dumps(data) + "\n").encode()
        self.send(status, {"Content-Type": "application/json; charset=utf-8", **(headers or {})}, body, method)

    def send_error_hub(self, status: int, code: str | None, message: str, method: str,
                       headers: dict | None = None) -> None:
        """The Hub's error shape: X-Error-Code and X-Error-Message headers, {"error": ...} body."""
        extra = {"X-Error-Message": message, **(headers or {})}
        if code:
            extra["X-Error-Code"] = code
        self.send_json(status, {"error": message}, method, extra)

    def endpoint(self) -> str:
        return f"http://{self.headers.get('Host', 'localhost')}"

    def host_name(self) -> str:
        host = self.headers.get("Host") or self.server.server_address[0]
        return host.rsplit(":", 1)[0] if not host.endswith("]") else host

    # --- the Hub -----------------------------------------------------------------

    def hub(self, method: str) -> None:
        url = urlsplit(self.path)
        raw = url.path
        if raw.startswith("/_testbed/"):
            return self.admin(method, raw, url.query)
        if method not in ("GET", "HEAD"):
            return self.send_json(405, {"error": "Method not allowed"}, method)
        parts = raw.strip("/").split("/")
        if parts[:2] == ["api", "models"] and len(parts) > 2:
            return self.api_model(method, parts[2:], parse_qs(url.query))
        for i in (1, 2):  # name/resolve/... or owner/name/resolve/...
            if len(parts) > i + 2 and parts[i] == "resolve":
                repo_id = "/".join(unquote(p) for p in parts[:i])
                revision = unquote(parts[i + 1])
                path = "/".join(unquote(p) for p in parts[i + 2:])
                return self.resolve_file(method, repo_id, revision, path)
        self.send_json(404, {"error": "Sorry, we can't find the page you are looking for."}, method)

    def authorize(self, repo_id: str, method: str) -> dict | None:
        """The repository if this request may read it; otherwise the error is sent, None."""
        auth = self.headers.get("Authorization", "")
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else None
        known = token in self.state.granted or token in self.state.not_granted
        if token and not known:
            # 0.22.2 turns a 401 on a repository URL into RepositoryNotFoundError only over
            # https (REPO_API_REGEX); X-Error-Code gives the same class over this http.
            self.send_error_hub(401, "RepoNotFound", "Invalid credentials in Authorization header", method)
            return None
        repo = self.state.hub["repos"].get(repo_id)
        if repo is None or (repo["private"] and token not in self.state.granted):
            status = 404 if token else 401
            self.send_error_hub(status, "RepoNotFound", "Repository not found", method)
            return None
        if repo["gated"] and token is None:
            self.send_error_hub(401, "GatedRepo", f"Access to model {repo_id} is restricted. "
                                "You must be authenticated to access it.", method)
            return None
        if repo["gated"] and token not in self.state.granted:
            self.send_error_hub(403, "GatedRepo", f"Access to model {repo_id} is restricted and you are not in "
                                f"the authorized list. Visit {self.endpoint()}/{repo_id} to ask for access.", method)
            return None
        return repo

    def api_model(self, method: str, parts: list[str], query: dict) -> None:
        if len(parts) >= 4 and parts[2] == "revision":
            repo_id, revision, rest = "/".join(parts[:2]), unquote(parts[3]), parts[4:]
        elif len(parts) >= 3 and parts[1] == "revision":
            repo_id, revision, rest = parts[0], unquote(parts[2]), parts[3:]
        else:
            repo_id, revision, rest = "/".join(parts[:2]), "main", parts[2:]
        if rest:
            return self.send_json(404, {"error": "Sorry, we can't find the page you are looking for."}, method)
        repo = self.authorize(unquote(repo_id), method)
        if repo is None:
            return
        commit = self.state.resolve(repo, revision)
        if commit is None:
            return self.send_error_hub(404, "RevisionNotFound", f"Invalid rev id: {revision}", method)
        blobs = query.get("blobs", ["false"])[-1].lower() in ("1", "true")
        self.send_json(200, self.model_info(unquote(repo_id), repo, commit, blobs), method)

    def model_info(self, repo_id: str, repo: dict, commit: str, blobs: bool) -> dict:
        files = repo["commits"][commit]["files"]
        siblings = []
        for path, entry in sorted(files.items()):
            sibling = {"rfilename": path}
            if blobs:
                sibling.update(blobId=entry["blob_id"], size=entry["size"])
                if entry["lfs"]:
                    sibling["lfs"] = {"sha256": entry["sha256"], "size": entry["size"],
                                      "pointerSize": entry["pointer_size"]}
            siblings.append(sibling)
        return {
            "_id": hashlib.sha1(repo_id.encode()).hexdigest()[:24], "id": repo_id, "modelId": repo_id,
            "author": repo["author"], "sha": commit, "lastModified": repo["commits"][commit]["date"],
            "private": repo["private"], "disabled": repo["disabled"], "gated": repo["gated"],
            "downloads": 0, "likes": 0, "library_name": repo["library_name"], "tags": repo["tags"],
            "pipeline_tag": repo["pipeline_tag"], "cardData": repo["card"], "config": repo["config"],
            "transformersInfo": {"auto_model": "AutoModelForCausalLM", "pipeline_tag": "text-generation",
                                 "processor": "AutoTokenizer"},
            "createdAt": repo["created_at"], "siblings": siblings, "spaces": [],
        }

    def resolve_file(self, method: str, repo_id: str, revision: str, path: str) -> None:
        repo = self.authorize(repo_id, method)
        if repo is None:
            return
        commit = self.state.resolve(repo, revision)
        if commit is None:
            return self.send_error_hub(404, "RevisionNotFound", f"Invalid rev id: {revision}", method)
        entry = repo["commits"][commit]["files"].get(path)
        common = {"X-Repo-Commit": commit, "Accept-Ranges": "bytes"}
        if entry is None:
            return self.send_error_hub(404, "EntryNotFound", "Entry not found", method, common)
        self.entry["file"] = path
        if entry["lfs"]:
            # The body is on the CDN: only an error fault for HEAD (or *) fires here.
            faults = self.state.take_faults({path}, method, self.client_address[0], content=False)
            if faults:
                return self.fault_error(faults[0], method)
            return self.redirect_lfs(method, repo_id, path, entry, common)
        self.send_content(method, {path}, entry, {**common, "ETag": f'"{entry["blob_id"]}"',
                                                   "Content-Type": "text/plain; charset=utf-8"})

    def redirect_lfs(self, method: str, repo_id: str, path: str, entry: dict, common: dict) -> None:
        name = path.rsplit("/", 1)[-1]
        cdn_path = f"/repos/{hashlib.sha256(repo_id.encode()).hexdigest()[:32]}/{entry['sha256']}"
        expires = int(time.time()) + self.state.url_ttl
        disposition = f"attachment; filename*=UTF-8''{quote(name)}; filename=\"{name}\";"
        query = (f"response-content-disposition={quote(disposition, safe='')}&Expires={expires}"
                 f"&Signature={self.state.sign(cdn_path, expires)}&Key-Pair-Id={KEY_PAIR_ID}")
        location = f"http://{self.host_name()}:{self.state.cdn_port}{cdn_path}?{query}"
        body = f"Found. Redirecting to {location}".encode()
        self.send(302, {**common, "Location": location, "Content-Type": "text/plain; charset=utf-8",
                        "ETag": f'"{entry["blob_id"]}"', "X-Linked-Size": str(entry["size"]),
                        "X-Linked-Etag": f'"{entry["sha256"]}"', "Vary": "Origin, Accept"}, body, method)

    # --- the CDN -----------------------------------------------------------------

    def cdn(self, method: str) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        sha256 = url.path.rsplit("/", 1)[-1]
        paths = self.state.paths_by_sha.get(sha256, set())
        if method not in ("GET", "HEAD"):
            return self.cdn_error(405, "MethodNotAllowed", "The specified method is not allowed.", method)
        if "Key-Pair-Id" not in query:
            return self.cdn_error(403, "MissingKey", "Missing Key-Pair-Id query parameter or cookie value", method)
        expires = query.get("Expires", ["0"])[-1]
        signature = query.get("Signature", [""])[-1]
        good = expires.isdigit() and hmac.compare_digest(signature, self.state.sign(url.path, int(expires)))
        if not good or int(expires) < time.time():
            return self.cdn_error(403, "AccessDenied", "Access denied", method)
        if not paths:
            return self.cdn_error(404, "NoSuchKey", "The specified key does not exist.", method)
        path = sorted(paths)[0]
        self.entry["file"] = path
        entry = next(c["files"][path] for r in self.state.hub["repos"].values() for c in r["commits"].values()
                     if path in c["files"] and c["files"][path]["sha256"] == sha256)
        disposition = query.get("response-content-disposition", [None])[-1]
        headers = {"Content-Type": "application/octet-stream", "ETag": f'"{entry["md5"]}"',
                   "Last-Modified": formatdate(self.state.started, usegmt=True), "X-Cache": "Miss from cloudfront"}
        if disposition:
            headers["Content-Disposition"] = disposition
        self.send_content(method, paths, entry, headers)

    def cdn_error(self, status: int, code: str, message: str, method: str) -> None:
        body = (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
                f"<Message>{message}</Message></Error>").encode()
        self.send(status, {"Content-Type": "text/xml"}, body, method)

    # --- file bodies, ranges and faults ------------------------------------------

    def fault_error(self, fault: dict, method: str) -> None:
        self.entry["faults"].append(fault["id"])
        status = int(fault["status"])
        message = fault.get("message") or f"Test-bed fault {fault['id']}: HTTP {status}"
        self.send_error_hub(status, None, message, method)

    def send_content(self, method: str, paths: set[str], entry: dict, headers: dict) -> None:
        size = entry["size"]
        faults = self.state.take_faults(paths, method, self.client_address[0], content=method == "GET")
        errors = [f for f in faults if f["action"] == "error"]
        if errors:
            return self.fault_error(errors[0], method)
        start, end = 0, size - 1
        status = 200
        spec = self.headers.get("Range")
        if spec:
            self.entry["range"] = spec
            parsed = parse_range(spec, size)
            if parsed == "unsatisfiable":
                body = b""
                if self.role == "cdn":
                    body = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidRange</Code>'
                            b"<Message>The requested range is not satisfiable</Message></Error>")
                return self.send(416, {**headers, "Content-Range": f"bytes */{size}", "Content-Type": "text/xml"},
                                 body, method)
            if parsed is not None:
                start, end = parsed
                status = 206
                headers = {**headers, "Content-Range": f"bytes {start}-{end}/{size}"}
        length = end - start + 1
        self.entry["status"] = status
        self.send_response(status)
        for name, value in {"X-Request-Id": self.request_id, "Accept-Ranges": "bytes", **headers,
                            "Content-Length": str(length)}.items():
            self.send_header(name, value)
        self.end_headers()
        if method == "HEAD":
            return
        self.entry["content"] = True
        self.entry["faults"] = [f["id"] for f in faults]
        self.stream(self.state.content / "objects" / entry["sha256"], start, length, faults)

    def stream(self, source: Path, start: int, length: int, faults: list[dict]) -> None:
        drop = min((f["after_bytes"] for f in faults if f["action"] == "drop"), default=None)
        stalls = sorted((f["after_bytes"], f["seconds"]) for f in faults if f["action"] == "stall")
        rate = min((f["bytes_per_s"] for f in faults if f["action"] == "slow" and f["bytes_per_s"] > 0), default=0)
        sent = 0
        began = time.monotonic()
        try:
            with source.open("rb") as handle:
                handle.seek(start)
                while sent < length:
                    if drop is not None and sent >= drop:
                        self.drop_connection()
                    if stalls and sent >= stalls[0][0]:
                        self.wfile.flush()
                        time.sleep(float(stalls.pop(0)[1]))
                        continue
                    limit = min(CHUNK, length - sent)
                    if drop is not None:
                        limit = min(limit, drop - sent)
                    if stalls:
                        limit = min(limit, stalls[0][0] - sent)
                    if rate:
                        limit = min(limit, max(rate // 10, 1))
                    chunk = handle.read(limit)
                    if not chunk:
                        break
                    self.wfile.write(chunk)
                    sent += len(chunk)
                    self.entry["bytes"] = sent
                    if rate:
                        ahead = sent / rate - (time.monotonic() - began)
                        if ahead > 0:
                            self.wfile.flush()
                            time.sleep(ahead)
        finally:
            self.entry["bytes"] = sent

    def drop_connection(self) -> None:
        """Close mid-body: what was written is delivered, then the peer sees the end of the stream."""
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        raise Closed()

    # --- the test bed's own API --------------------------------------------------

    def admin(self, method: str, path: str, query: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            data = json.loads(body) if body else None
        except ValueError:
            return self.send_json(400, {"error": "the body must be JSON"}, method)
        if path == "/_testbed/health" and method in ("GET", "HEAD"):
            repos = {rid: r["refs"] for rid, r in self.state.hub["repos"].items()}
            return self.send_json(200, {"standin": True, "content_key": self.state.config.get("content_key"),
                                        "repos": repos, "started": self.state.started}, method)
        if path == "/_testbed/stats" and method in ("GET", "HEAD"):
            return self.send_json(200, self.state.stats(), method)
        if path == "/_testbed/reset" and method == "POST":
            self.state.reset((data or {}).get("client"))
            return self.send_json(200, {"reset": True}, method)
        if path == "/_testbed/faults":
            if method == "GET":
                return self.send_json(200, {"faults": self.state.stats()["faults"]}, method)
            if method == "DELETE":
                with self.state.lock:
                    self.state.faults = []
                return self.send_json(200, {"faults": []}, method)
            if method == "POST":
                specs = data.get("faults", [data]) if isinstance(data, dict) else data
                try:
                    added = self.state.add_faults(specs or [])
                except (ValueError, TypeError) as exc:
                    return self.send_json(400, {"error": str(exc)}, method)
                return self.send_json(200, {"added": added}, method)
        self.send_json(404, {"error": f"no test-bed endpoint {method} {path}"}, method)


def parse_range(spec: str, size: int):
    """(start, end) of a single `bytes=` range, "unsatisfiable", or None to send it whole
    (a multi-range or malformed header is ignored, as RFC 9110 allows)."""
    unit, _, ranges = spec.partition("=")
    if unit.strip().lower() != "bytes" or "," in ranges:
        return None
    first, dash, last = ranges.strip().partition("-")
    if not dash:
        return None
    try:
        if first == "":
            suffix = int(last)
            if suffix <= 0:
                return "unsatisfiable"
            return max(size - suffix, 0), size - 1
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if start >= size or start < 0:
        return "unsatisfiable"
    if end < start:
        return None
    return start, min(end, size - 1)


def serve(config: dict) -> None:
    state = State(config)
    servers = []
    for address in config["bind"]:
        for role, port in (("hub", config["hub_port"]), ("cdn", config["cdn_port"])):
            handler = type(f"{role.title()}Handler", (Handler,), {"state": state, "role": role})
            server = ThreadingHTTPServer((address, int(port)), handler)
            server.daemon_threads = True
            servers.append(server)
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    addresses = ", ".join(f"{s.server_address[0]}:{s.server_address[1]}" for s in servers)
    print(f"[hub-standin] serving {', '.join(state.hub['repos'])} on {addresses}", file=sys.stderr, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    for server in servers:
        server.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, type=Path)
    args = parser.parse_args(argv)
    serve(json.loads(args.config.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
