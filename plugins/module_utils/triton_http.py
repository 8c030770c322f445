# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one HTTP client for Triton's HTTP endpoint: readiness, the repository index and generate.

Readiness (triton_ready), the smoke test (triton_generate) and status (triton_info) all talk to the
server through these functions, so every answer is parsed one way and every failure reads the same.
No Ansible imports and the standard library only: the modules run with the node's python3.

Each call returns its parsed answer and the seconds it took, and raises TritonHTTPError, whose message
names the method, the URL and the HTTP status with Triton's error text or the socket error.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

DEFAULT_BASE = "http://127.0.0.1:8000"
# Quoted from a body at most this long: a stack trace or an HTML page must not flood the message.
BODY_QUOTE = 500


class TritonHTTPError(Exception):
    """A request to Triton failed: an HTTP status other than 200, an unreadable answer, or a socket error."""

    def __init__(self, method: str, url: str, *, status: int | None = None, body: str | None = None,
                 reason: str | None = None):
        self.method, self.url, self.status, self.body, self.reason = method, url, status, body, reason
        super().__init__(self.describe())

    def describe(self) -> str:
        where = f"{self.method} {self.url}"
        if self.status is None:
            return f"{where} failed: {self.reason}"
        detail = error_text(self.body)
        if self.reason:
            return f"{where} answered HTTP {self.status} {self.reason}: {detail}"
        return f"{where} answered HTTP {self.status}: {detail}"


def error_text(body: str | None) -> str:
    """Triton's {"error": "..."} text, or the body itself, shortened."""
    if not body:
        return "(empty body)"
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
        return parsed["error"]
    text = body.strip()
    return text if len(text) <= BODY_QUOTE else text[:BODY_QUOTE] + "..."


def model_url(base: str, model: str, action: str = "generate") -> str:
    """http://host:port/v2/models/<model>/<action>; <model> may be "name/versions/N"."""
    return f"{base.rstrip('/')}/v2/models/{urllib.parse.quote(model, safe='/')}/{action}"


def _socket_reason(err: BaseException, timeout: float) -> str:
    if isinstance(err, urllib.error.URLError) and not isinstance(err, urllib.error.HTTPError):
        err = err.reason if isinstance(err.reason, BaseException) else err
    if isinstance(err, (socket.timeout, TimeoutError)):
        return f"no answer within {timeout:g}s (timed out)"
    if isinstance(err, urllib.error.URLError):
        return str(err.reason)
    return str(err) or type(err).__name__


def _open(method: str, url: str, body: dict | list | None, timeout: float):
    """The open response to a request, or TritonHTTPError; the caller reads and closes it."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Accept": "application/json, text/event-stream"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    try:
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
    except ValueError as err:  # not an http(s) URL at all
        raise TritonHTTPError(method, url, reason=str(err)) from None
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        try:
            text = err.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException):
            text = ""
        finally:
            err.close()
        raise TritonHTTPError(method, url, status=err.code, body=text) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
        raise TritonHTTPError(method, url, reason=_socket_reason(err, timeout)) from None


def _read(method: str, url: str, response, timeout: float) -> bytes:
    try:
        with response:
            return response.read()
    except (OSError, http.client.HTTPException) as err:
        raise TritonHTTPError(method, url, reason=_socket_reason(err, timeout)) from None


def request_json(method: str, url: str, body: dict | list | None = None, timeout: float = 30,
                 empty=None) -> tuple:
    """(parsed JSON answer, seconds) of one request; an empty body answers `empty`."""
    started = time.monotonic()
    response = _open(method, url, body, timeout)
    status = response.status
    raw = _read(method, url, response, timeout)
    seconds = time.monotonic() - started
    if not raw.strip():
        return empty, seconds
    try:
        return json.loads(raw), seconds
    except ValueError:
        raise TritonHTTPError(method, url, status=status, body=raw.decode("utf-8", "replace"),
                              reason="with a body that is not JSON") from None


def health_ready(base: str = DEFAULT_BASE, timeout: float = 5) -> tuple[bool, float]:
    """(whether GET /v2/health/ready answers 200, seconds). A server that does not listen raises."""
    url = f"{base.rstrip('/')}/v2/health/ready"
    started = time.monotonic()
    try:
        response = _open("GET", url, None, timeout)
    except TritonHTTPError as err:
        if err.status is None:
            raise
        return False, time.monotonic() - started  # 503 (or 400) while models load
    _read("GET", url, response, timeout)
    return response.status == 200, time.monotonic() - started


def repository_index(base: str = DEFAULT_BASE, timeout: float = 30) -> tuple[list, float]:
    """(POST /v2/repository/index: [{name, version, state, reason}, ...], seconds)."""
    url = f"{base.rstrip('/')}/v2/repository/index"
    index, seconds = request_json("POST", url, {}, timeout, empty=[])
    if not isinstance(index, list):
        raise TritonHTTPError("POST", url, status=200, body=json.dumps(index), reason="with something not a list")
    return index, seconds


def generate(url: str, body: dict, timeout: float = 30) -> tuple[dict, float]:
    """(answer, seconds) of POST <url>, a model's generate endpoint (model_url(base, model))."""
    answer, seconds = request_json("POST", url, body, timeout, empty={})
    if not isinstance(answer, dict):
        raise TritonHTTPError("POST", url, status=200, body=json.dumps(answer), reason="with something not an object")
    return answer, seconds


def parse_sse(lines) -> list[str]:
    """The data of each server-sent event in `lines` (str or bytes, with or without line ends).

    An event ends at an empty line; its `data:` lines are joined with newlines; comments (`:`) and the
    other fields (`event:`, `id:`, `retry:`) are skipped. A last event without its empty line counts.
    """
    events, data = [], []
    for raw in lines:
        line = (raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw).rstrip("\r\n")
        if not line:
            if data:
                events.append("\n".join(data))
            data = []
        elif line.startswith("data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        events.append("\n".join(data))
    return events


def generate_stream(url: str, body: dict, timeout: float = 30) -> tuple[list, float]:
    """(events, seconds) of POST <url>, a model's generate_stream endpoint: each `data:` event parsed as JSON.

    `timeout` bounds the connection and each wait for the next line, not the whole stream. An event
    Triton sends on a failure mid-stream ({"error": "..."}) is in the list like the others.
    """
    started = time.monotonic()
    response = _open("POST", url, body, timeout)
    try:
        with response:
            payloads = parse_sse(response)
    except (OSError, http.client.HTTPException) as err:
        raise TritonHTTPError("POST", url, reason=_socket_reason(err, timeout)) from None
    seconds = time.monotonic() - started
    events = []
    for payload in payloads:
        try:
            events.append(json.loads(payload))
        except ValueError:
            raise TritonHTTPError("POST", url, status=response.status, body=payload,
                                  reason="with a stream event that is not JSON") from None
    return events, seconds


def generate_many(url: str, body: dict, count: int, timeout: float = 30) -> list[dict]:
    """Send `body` to `url` `count` times at once (a thread each): [{seconds, text_output, error}, ...].

    Every request is reported, in the order sent; a failure (error: the TritonHTTPError's message,
    text_output: "") stops none of the others.
    """
    results: list = [None] * count

    def send(position: int) -> None:
        started = time.monotonic()
        try:
            answer, seconds = generate(url, body, timeout)
            text = answer.get("text_output", "")
            results[position] = {"seconds": seconds, "text_output": text if isinstance(text, str) else "",
                                 "error": None}
        except Exception as err:  # reported per request: one failure must not hide the others
            results[position] = {"seconds": time.monotonic() - started, "text_output": "", "error": str(err)}

    threads = [threading.Thread(target=send, args=(position,), daemon=True) for position in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
