"""Turns ansible-runner's event stream into per-host progress and a per-host summary."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from .secrets import mask

# Facts the roles record for the summary.
REPORT_FACTS = ("model_fetch_report", "engine_build_report", "smoke_test_report", "triton_server_report")
LONG_TASK_SECONDS = 15


@dataclass
class HostState:
    name: str
    role: str = ""
    task: str = ""
    task_started: float = 0.0
    done: int = 0
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0
    error: str = ""
    facts: dict = field(default_factory=dict)
    status: dict = field(default_factory=dict)
    balancer: dict = field(default_factory=dict)
    bench: dict = field(default_factory=dict)

    def summary(self) -> dict:
        engine = self.facts.get("engine_build_report") or {}
        smoke = self.facts.get("smoke_test_report") or {}
        server = self.facts.get("triton_server_report") or {}
        fetched = self.facts.get("model_fetch_report") or {}
        built = str(engine.get("built", "")).lower() == "true" if engine else None
        return {
            "ok": self.ok, "changed": self.changed, "failed": self.failed, "unreachable": self.unreachable,
            "skipped": self.skipped,
            "model": None if not fetched else model_cell(fetched),
            "model_bytes": int(fetched.get("bytes") or 0) if fetched else None,
            "engine": None if built is None else engine.get("action") or ("built" if built else "reused"),
            "build_seconds": float(engine["seconds"]) if built else None,
            "endpoint": server.get("endpoint") or self.status.get("endpoint"),
            "smoke_seconds": float(smoke["first_seconds"]) if smoke.get("first_seconds") else None,
            "smoke_concurrent_max_seconds": float(smoke["concurrent_max_seconds"])
            if smoke.get("concurrent_max_seconds") else None,
            # The first answer's tokens against its max_tokens, and the end id it was sent with.
            "smoke_tokens": f"{smoke['generated_tokens']}/{smoke['max_tokens']}" if smoke.get("max_tokens") else None,
            "smoke_end_id": int(smoke["end_id"]) if str(smoke.get("end_id", "")).lstrip("-").isdigit() else None,
            "error": self.error or None,
            **({"status": self.status} if self.status else {}),
            **({"balancer": self.balancer} if self.balancer else {}),
            **({"bench": self.bench} if self.bench else {}),
        }


def model_cell(fetched: dict) -> str:
    """What model_fetch did on a host: the bytes it downloaded (and whether the weights were among them)."""
    if str(fetched.get("downloaded", "")).lower() != "true":
        return "in place"
    size = int(fetched.get("bytes") or 0)
    shown = f"{size / 1e9:.2f} GB" if size >= 1e8 else f"{size / 1e6:.1f} MB"
    return f"{shown} fetched" + ("" if str(fetched.get("weights", "")).lower() == "true" else " (no weights)")


class Progress:
    """Event handler of ansible-runner's Runner: a live view through rich on a TTY, plain lines otherwise."""

    def __init__(self, total_tasks: int, secrets: dict, stream=None, live: bool | None = None):
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty() if live is None else live
        self.total = total_tasks
        self.secrets = secrets
        self.hosts: dict[str, HostState] = {}
        self.started = time.monotonic()
        self.lock = threading.Lock()
        # Redrawn by this class only (events and the ticker, under self.lock): no thread of rich's own.
        self._live = Live(console=Console(file=self.stream, force_terminal=True, highlight=False, markup=False,
                                          emoji=False),
                          auto_refresh=False, redirect_stdout=False, redirect_stderr=False) if self.live else None
        self._showing = False
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, daemon=True)

    # -- ansible-runner callbacks
    def __call__(self, event: dict) -> bool:
        with self.lock:
            self._handle(event)
            if self.live:
                self._draw()
        return True

    def start(self) -> None:
        if self._live:
            with self.lock:
                self._live.start()
                self._showing = True
                self._draw()
        self._ticker.start()

    def stop(self) -> None:
        self._stop.set()
        with self.lock:
            if self._live:
                self._draw()
                self._live.stop()
                self._showing = False

    # -- internals
    def _host(self, name: str) -> HostState:
        return self.hosts.setdefault(name, HostState(name))

    def _handle(self, event: dict) -> None:
        kind, data = event.get("event", ""), event.get("event_data", {})
        host = data.get("host")
        if not host:
            return
        state = self._host(host)
        if kind == "runner_on_start":
            state.role, state.task, state.task_started = data.get("role", ""), data.get("task", ""), time.monotonic()
            if not self.live:
                self._line(f"{host}  {state.role + ' : ' if state.role else ''}{state.task}")
        elif kind in ("runner_on_ok", "runner_on_failed", "runner_on_skipped", "runner_on_unreachable"):
            state.done += 1
            result = data.get("res", {}) or {}
            facts = result.get("ansible_facts", {}) or {}
            for name in REPORT_FACTS:
                if name in facts:
                    state.facts[name] = facts[name]
            message = result.get("msg")
            if isinstance(message, dict) and "trtllm_status" in message:
                state.status = message["trtllm_status"]
            if isinstance(message, dict) and "trtllm_balancer_status" in message:
                state.balancer = message["trtllm_balancer_status"]
            if isinstance(message, dict) and "trtllm_bench" in message:
                state.bench = message["trtllm_bench"]
            if kind == "runner_on_failed" and not data.get("ignore_errors"):
                state.error = f"{data.get('task', '')}: {self._message(result)}"
                if not self.live:
                    self._line(f"{host}  FAILED {state.error}")
            if kind == "runner_on_unreachable":
                state.error = f"unreachable: {self._message(result)}"
                if not self.live:
                    self._line(f"{host}  UNREACHABLE {self._message(result)}")

    def finish(self, stats: dict | None) -> None:
        for key, attr in (("ok", "ok"), ("changed", "changed"), ("failures", "failed"), ("dark", "unreachable"),
                          ("skipped", "skipped")):
            for host, count in ((stats or {}).get(key) or {}).items():
                setattr(self._host(host), attr, count)

    def _message(self, result: dict) -> str:
        """The check's own words: every argument error, the failed loop items with their item, not a generic
        first line ("Validation of arguments failed:", "One or more items failed")."""
        text = str(result.get("msg") or result.get("stderr") or result.get("reason") or "")
        details = [str(e) for e in result.get("argument_errors") or []]
        for item in result.get("results") or []:
            if isinstance(item, dict) and item.get("failed"):
                label = item.get("item", item.get("ansible_loop_var", ""))
                details.append(f"item {label}: {self._message(item)}")
        if details:
            head = text.splitlines()[0].rstrip(":") if text else ""
            generic = head in ("Validation of arguments failed", "One or more items failed")
            text = "; ".join(details if generic else [head, *details])
        else:
            text = " ".join(text.split())
        return mask(text, self.secrets)[:2000]

    def _elapsed(self) -> str:
        seconds = int(time.monotonic() - self.started)
        return f"{seconds // 60:02d}:{seconds % 60:02d}"

    def _line(self, text: str) -> None:
        self.stream.write(f"[{self._elapsed()}] {mask(text, self.secrets)}\n")
        self.stream.flush()

    def _view(self) -> Group:
        rows = []
        for state in self.hosts.values():
            running = int(time.monotonic() - state.task_started) if state.task_started else 0
            alive = f"  ({running}s)" if running >= LONG_TASK_SECONDS and not state.error else ""
            where = f"{state.role} : {state.task}" if state.role else state.task
            total = max(self.total, state.done)  # tasks included at run time are not in the static count
            rows.append(("  " + mask(state.name, self.secrets), f"{state.done}/{total}",
                         Text.assemble(("FAILED " if state.error else "", "red"), mask(where + alive, self.secrets))))
        hosts = Table.grid(padding=(0, 0, 0, 2))
        # Host and count keep their width; the task is cut to what is left of the terminal's (a wrapped line would
        # push the view down).
        widths = [max((len(row[i]) for row in rows), default=0) for i in (0, 1)]
        hosts.add_column(no_wrap=True)
        hosts.add_column(justify="right", no_wrap=True)
        hosts.add_column(no_wrap=True, overflow="ellipsis",
                         max_width=max(8, self._live.console.width - 1 - sum(widths) - 2 * len(widths)))
        for name, count, task in rows:
            hosts.add_row(Text(name), Text(count), task)
        return Group(Text(f"trtllm-deploy  {self._elapsed()} elapsed", style="bold"), hosts)

    def _draw(self) -> None:
        if self._showing:  # a refresh before start or after stop would print the view once more
            self._live.update(self._view(), refresh=True)

    def _tick(self) -> None:
        last_note = {}
        while not self._stop.wait(1.0):
            with self.lock:
                if self._stop.is_set():
                    return
                if self.live:
                    self._draw()
                    continue
                for state in self.hosts.values():
                    running = time.monotonic() - state.task_started if state.task_started else 0
                    key = (state.name, state.task)
                    if running >= LONG_TASK_SECONDS and time.monotonic() - last_note.get(key, 0) >= 30:
                        last_note[key] = time.monotonic()
                        self._line(f"{state.name}  still running: {state.task} ({int(running)}s)")
