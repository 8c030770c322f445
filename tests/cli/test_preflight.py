"""The read-only preflight over a fleet: one host that cannot serve stops the run before any host changes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
from conftest import REPO, node_inventory

pytestmark = pytest.mark.docker

NODES = {"pf-a": ("trtllm-cli-preflight-a", 2), "pf-b": ("trtllm-cli-preflight-b", 2),
         "pf-c": ("trtllm-cli-preflight-c", 1)}
# What any stage of the pipeline changes on a bare node: packages, apt sources, Docker's configuration,
# the work and model trees (files with size and time; directories by name: Ansible's own temporary
# directory under /root changes /root's time), containers.
SNAPSHOT = r"""
dpkg-query -W -f '${Package} ${Version}\n' | sort
ls -A /etc/apt/sources.list.d /etc/apt/keyrings 2>&1
cat /etc/docker/daemon.json
find /root /opt -xdev -path /root/.ansible -prune -o -type f -printf '%p %s %T@\n' -o -printf '%p/\n' | sort
command -v docker >/dev/null && docker ps -aq | wc -l || echo no-docker
"""


def snapshot(container: str) -> str:
    proc = subprocess.run(["docker", "exec", container, "sh", "-c", SNAPSHOT], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def fleet():
    nodes = [{"name": name, "gpus": gpus, "pipeline": True} for name, gpus in NODES.values()]
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    subprocess.run(["ansible-playbook", "testbed/fleet-nodes.yml", "-e", json.dumps({"fleet_nodes": nodes})],
                   check=True, env=env, cwd=REPO, capture_output=True)
    yield {host: name for host, (name, _) in NODES.items()}
    subprocess.run([sys.executable, str(REPO / "testbed" / "nodes.py"), "remove",
                    *(name for name, _ in NODES.values())], capture_output=True)


@pytest.fixture
def fleet_inventory(fleet, tmp_path):
    (tmp_path / "group_vars").symlink_to(REPO / "testbed" / "inventories" / "local" / "group_vars")
    return tmp_path


def test_a_host_with_too_few_gpus_stops_the_deploy_before_any_host_changes(cli, fleet, fleet_inventory):
    before = {host: snapshot(container) for host, container in fleet.items()}
    node_inventory(fleet_inventory / "hosts.yml", fleet)
    code, output, _ = cli("deploy", "-i", str(fleet_inventory / "hosts.yml"), "-e", "trtllm_tp_size=2")
    assert code == 2, output
    assert "pf-c: tp_size 2 x pp_size 1 needs 2 GPUs; this node has 1" in output, output
    assert "pf-a: tp_size" not in output and "pf-b: tp_size" not in output
    assert {host: snapshot(container) for host, container in fleet.items()} == before


def test_an_unreachable_host_stops_the_deploy_before_any_host_changes(cli, fleet, fleet_inventory):
    before = {host: snapshot(fleet[host]) for host in ("pf-a", "pf-b")}
    with socket.socket() as probe:  # a loopback port nothing listens on: ssh is refused at once
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    node_inventory(fleet_inventory / "hosts.yml", {"pf-a": fleet["pf-a"], "pf-b": fleet["pf-b"]})
    with (fleet_inventory / "hosts.yml").open("a") as hosts:
        hosts.write(f"        ghost:\n          ansible_connection: ssh\n          ansible_host: 127.0.0.1\n"
                    f"          ansible_port: {port}\n")
    code, output, _ = cli("deploy", "-i", str(fleet_inventory / "hosts.yml"), "-e", "trtllm_tp_size=2")
    assert code in (2, 3), output
    assert {host: snapshot(fleet[host]) for host in ("pf-a", "pf-b")} == before
