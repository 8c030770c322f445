"""module_utils/haproxy_runtime against a stand-in of HAProxy's runtime API on a Unix socket: one command per
connection, `show stat` CSV, `set server ... state` answering nothing (HAProxy 2.6 management.txt)."""

from __future__ import annotations

import socket
import threading

import pytest

from ansible_collections.trtllm.deploy.plugins.module_utils import haproxy_runtime as hr

HEADER = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status\n"


class FakeHAProxy:
    """Servers of backend triton_http with a status and requests in flight; records the commands."""

    def __init__(self, path: str, servers: dict):
        self.servers, self.commands = servers, []
        self.in_flight_after_drain = {}  # server -> list of scur values the next `show stat`s report
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(path)
        self.sock.listen(8)
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        while True:
            conn, _ = self.sock.accept()
            with conn:
                line = conn.recv(4096).decode().strip()
                self.commands.append(line)
                conn.sendall(self.answer(line).encode())

    def answer(self, line: str) -> str:
        if line == "show stat":
            rows = [f"triton_http,{name},0,0,{self.scur(name)},0,,0,0,0,,0,,0,0,0,0,{status}"
                    for name, status in self.servers.items()]
            return HEADER + "\n".join(rows + ["triton_http,BACKEND,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP"]) + "\n\n"
        words = line.split()
        if words[:2] == ["set", "server"] and words[3] == "state":
            name = words[2].split("/")[1]
            if name not in self.servers:
                return "No such server.\n"
            self.servers[name] = {"ready": "UP", "drain": "DRAIN", "maint": "MAINT"}[words[4]]
            return "\n"
        return "Unknown command.\n"

    def scur(self, name: str) -> int:
        pending = self.in_flight_after_drain.get(name)
        return pending.pop(0) if pending else 0


@pytest.fixture
def haproxy(tmp_path):
    path = str(tmp_path / "admin.sock")
    return path, FakeHAProxy(path, {"node-1": "UP", "node-2": "DOWN 1/2"})


def test_server_stats_and_base_status(haproxy):
    path, _ = haproxy
    assert hr.server_stats(path, "triton_http", "node-1")["status"] == "UP"
    assert hr.base_status(hr.server_stats(path, "triton_http", "node-2")["status"]) == "DOWN"
    assert hr.server_stats(path, "triton_http", "nope") is None


def test_drain_waits_for_the_requests_in_flight_then_sets_maintenance(haproxy):
    path, fake = haproxy
    fake.in_flight_after_drain["node-1"] = [3, 3, 2, 1, 0]
    result = hr.drain(path, "triton_http", "node-1", wait=60, interval=0, sleep=lambda _: None)
    assert result["drained"] and fake.servers["node-1"] == "MAINT"
    assert [c for c in fake.commands if c.startswith("set")] == ["set server triton_http/node-1 state drain",
                                                                  "set server triton_http/node-1 state maint"]
    assert fake.commands.count("show stat") >= 5, "it polled until no request was in flight"


def test_a_drain_that_runs_out_of_time_leaves_the_server_draining(haproxy):
    path, fake = haproxy
    fake.in_flight_after_drain["node-1"] = [2] * 50
    clock = iter(range(0, 1000, 10))
    result = hr.drain(path, "triton_http", "node-1", wait=30, interval=0, clock=lambda: next(clock),
                      sleep=lambda _: None)
    assert not result["drained"] and result["active_left"] == 2 and fake.servers["node-1"] == "DRAIN"


def test_a_down_server_is_drained_at_once(haproxy):
    path, fake = haproxy
    result = hr.drain(path, "triton_http", "node-2", wait=60, interval=0, sleep=lambda _: None)
    assert result["drained"] and result["active_at_start"] == 0 and fake.servers["node-2"] == "MAINT"


def test_make_ready_leaves_maintenance_and_waits_for_up(haproxy):
    path, fake = haproxy
    fake.servers["node-1"] = "MAINT"
    result = hr.make_ready(path, "triton_http", "node-1", wait=60, interval=0, sleep=lambda _: None)
    assert result["up"] and "set server triton_http/node-1 state ready" in fake.commands


def test_refusals_and_a_missing_socket_are_errors_that_say_so(haproxy, tmp_path):
    path, _ = haproxy
    with pytest.raises(hr.HAProxyError, match="refused 'set server triton_http/ghost state maint': No such server"):
        hr.set_state(path, "triton_http", "ghost", "maint")
    with pytest.raises(hr.HAProxyError, match="runtime API at .*missing.sock"):
        hr.command(str(tmp_path / "missing.sock"), "show stat")
