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

    def __init__(self, path: str, servers: dict, **other_backends: dict):
        self.servers, self.commands = servers, []
        self.backends = {"triton_http": servers, **other_backends}
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
            rows = ["triton_http,FRONTEND,0,0,0,0,,0,0,0,,0,,0,0,0,0,OPEN"]
            for backend, servers in self.backends.items():
                rows += [f"{backend},{name},0,0,{self.scur(name) if backend == 'triton_http' else 0},0,,0,0,0,,0,,"
                         f"0,0,0,0,{status}" for name, status in servers.items()]
                rows.append(f"{backend},BACKEND,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP")
            return HEADER + "\n".join(rows) + "\n\n"
        words = line.split()
        if words[:2] == ["set", "server"] and words[3] == "state":
            backend, name = words[2].split("/")
            if name not in self.backends.get(backend, {}):
                return "No such server.\n"
            self.backends[backend][name] = {"ready": "UP", "drain": "DRAIN", "maint": "MAINT"}[words[4]]
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


def test_backend_servers_lists_every_server_of_a_backend_and_none_for_an_unknown_one(haproxy):
    path, fake = haproxy
    fake.in_flight_after_drain["node-1"] = [4]
    assert hr.backend_servers(path, "triton_http") == {"node-1": {"status": "UP", "active": 4, "check": ""},
                                                      "node-2": {"status": "DOWN 1/2", "active": 0, "check": ""}}
    assert hr.backend_servers(path, "nope") is None


def test_backends_of_names_every_backend_holding_the_server(tmp_path):
    path = str(tmp_path / "admin.sock")
    FakeHAProxy(path, {"node-1": "UP", "node-2": "UP"}, triton_grpc={"node-1": "UP"})
    assert hr.backends_of(path, "node-1") == ["triton_grpc", "triton_http"]
    assert hr.backends_of(path, "node-2") == ["triton_http"]
    assert hr.backends_of(path, "ghost") == []


def test_the_module_drains_a_server_in_every_backend_and_makes_it_ready_again(adhoc, tmp_path):
    path = str(tmp_path / "admin.sock")
    fake = FakeHAProxy(path, {"node-1": "UP", "node-2": "UP"}, triton_grpc={"node-1": "UP", "node-2": "UP"})
    fake.in_flight_after_drain["node-1"] = [2, 1, 0]
    args = {"socket": path, "server": "node-1", "state": "drained", "wait": 30}
    rc, result = adhoc("trtllm.deploy.haproxy_server", args, check=True)
    assert rc == 0 and result["changed"] and fake.backends["triton_grpc"]["node-1"] == "UP", "check mode sets nothing"
    rc, result = adhoc("trtllm.deploy.haproxy_server", args)
    assert rc == 0 and result["changed"] and result["drained"], result
    assert {b: s["node-1"] for b, s in fake.backends.items()} == {"triton_http": "MAINT", "triton_grpc": "MAINT"}
    assert fake.backends["triton_http"]["node-2"] == "UP"
    sets = [c for c in fake.commands if c.startswith("set")]
    assert sets[:2] == ["set server triton_grpc/node-1 state drain", "set server triton_http/node-1 state drain"], \
        "no new requests anywhere before the first wait"
    rc, result = adhoc("trtllm.deploy.haproxy_server", args)
    assert rc == 0 and not result["changed"], "a drained server is left as it is"
    rc, result = adhoc("trtllm.deploy.haproxy_server", dict(args, state="ready", wait=10))
    assert rc == 0 and result["changed"] and result["up"], result
    assert {b: s["node-1"] for b, s in fake.backends.items()} == {"triton_http": "UP", "triton_grpc": "UP"}
    rc, result = adhoc("trtllm.deploy.haproxy_server", dict(args, server="ghost"))
    assert rc != 0 and "has no server ghost" in result["msg"]


def test_haproxy_info_reports_every_backend_asked_and_refuses_an_unknown_one(adhoc, tmp_path):
    path = str(tmp_path / "admin.sock")
    FakeHAProxy(path, {"node-1": "UP", "node-2": "MAINT"}, triton_grpc={"node-1": "UP", "node-2": "MAINT"})
    rc, result = adhoc("trtllm.deploy.haproxy_info", {"socket": path, "backends": ["triton_http", "triton_grpc"]},
                       check=True)
    assert rc == 0 and not result["changed"]
    assert {b: {n: s["status"] for n, s in servers.items()} for b, servers in result["backends"].items()} == {
        "triton_http": {"node-1": "UP", "node-2": "MAINT"}, "triton_grpc": {"node-1": "UP", "node-2": "MAINT"}}
    rc, result = adhoc("trtllm.deploy.haproxy_info", {"socket": path, "backends": ["nope"]})
    assert rc != 0 and "has no backend nope" in result["msg"]


def test_a_socket_a_crashed_haproxy_left_is_told_apart_from_a_refusal(tmp_path):
    """The reload handler saves the servers' state first: with no HAProxy listening (no socket, or a stale one)
    there is nothing to save, and that must not stop the reload that starts it."""
    stale = str(tmp_path / "admin.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as left:
        left.bind(stale)  # bound, never listening, then closed: the file stays, as after a crash
    for path in (stale, str(tmp_path / "none.sock")):
        with pytest.raises(hr.HAProxyNotRunning, match="does not answer"):
            hr.servers_state(path)
