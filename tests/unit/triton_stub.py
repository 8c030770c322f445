"""A loopback stand-in for Triton's HTTP endpoint, for the tests of the one Triton HTTP client.

It answers as Triton 2.51 does: health, the repository index, generate ({"error": ...} with 404 for an
unknown model, 400 for a request without its inputs) and generate_stream (server-sent events in a
chunked body). Ports come from binding to 0.
"""

from __future__ import annotations

import json
import socket
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODELS = ["ensemble", "preprocessing", "postprocessing", "tensorrt_llm", "tensorrt_llm_bls"]
# The workflow's request.
REQUEST = {"text_input": "What is machine learning?", "max_tokens": 20, "bad_words": "", "stop_words": "",
           "pad_id": 2, "end_id": 2}
# How long a held request waits for the test to release it: far beyond any client timeout of the tests.
HOLD_LIMIT = 60


class Stub:
    """What the stub answers; tests change it between requests."""

    def __init__(self) -> None:
        self.ready = True
        self.index = [{"name": name, "version": "1", "state": "READY"} for name in MODELS]
        self.words = [" Machine", " learning", " is"]
        self.stream_error: str | None = None  # sent as the last event
        self.barrier: threading.Barrier | None = None  # generate waits here: proves requests arrive together
        self.release = threading.Event()  # held requests (hold/*) wait for this
        self.requests: list[tuple[str, str, object]] = []
        self.lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    stub: Stub

    def log_message(self, *args) -> None:  # quiet
        pass

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (BrokenPipeError, ConnectionResetError):  # a client that timed out has gone
            self.close_connection = True

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        with self.stub.lock:
            self.stub.requests.append((self.command, self.path, body))
        return body

    def _send(self, status: int, payload, content_type: str = "application/json") -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def do_GET(self) -> None:
        self._body()
        if self.path == "/v2/health/ready":
            self._send(200 if self.stub.ready else 503, b"")
        elif self.path.startswith("/hold/"):
            self.stub.release.wait(HOLD_LIMIT)
            self._send(200, b"")
        else:
            self._send(404, {"error": "Not Found"})

    def do_POST(self) -> None:
        body = self._body()
        parts = self.path.strip("/").split("/")
        if self.path == "/v2/repository/index":
            self._send(200, self.stub.index)
        elif self.path == "/not-json":
            self._send(200, b"<html>not triton</html>", "text/html")
        elif self.path.startswith("/hold/"):
            self.stub.release.wait(HOLD_LIMIT)
            self._send(200, {"text_output": "late"})
        elif len(parts) == 4 and parts[:2] == ["v2", "models"] and parts[3] in ("generate", "generate_stream"):
            model, action = parts[2], parts[3]
            if model not in MODELS:
                self._send(404, {"error": f"Request for unknown model: '{model}' is not found"})
            elif "text_input" not in (body or {}):
                self._send(400, {"error": "[request id: <id_unknown>] expected number of inputs between 2 and 13 "
                                          f"but got 0 inputs for model '{model}'. Got input(s) [], but missing "
                                          "required input(s) ['text_input','max_tokens']. Please provide all "
                                          "required input(s)."})
            elif action == "generate":
                if self.stub.barrier is not None:
                    self.stub.barrier.wait(HOLD_LIMIT)
                self._send(200, {"model_name": model, "model_version": "1",
                                 "text_output": body["text_input"] + "".join(self.stub.words)})
            else:
                self._stream(model, body)
        else:
            self._send(404, {"error": "Not Found"})

    def _stream(self, model: str, body: dict) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for word in self.stub.words:
            event = {"model_name": model, "model_version": "1", "text_output": word, "stream": body.get("stream")}
            self._chunk(b"data: " + json.dumps(event).encode() + b"\n\n")
        if self.stub.stream_error:
            self._chunk(b"data: " + json.dumps({"error": self.stub.stream_error}).encode() + b"\n\n")
        if body.get("hold"):
            self.stub.release.wait(HOLD_LIMIT)
        self._chunk(b"")


@contextmanager
def serve():
    """(stub, base URL) of a stub server on a loopback port picked by the kernel."""
    stub = Stub()
    handler = type("BoundHandler", (Handler,), {"stub": stub})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield stub, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        stub.release.set()
        if stub.barrier is not None:
            stub.barrier.abort()
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def refusing():
    """Base URL of a loopback port that is bound but not listening: connecting is refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()
