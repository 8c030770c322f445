"""The load_balancer role's haproxy.cfg, rendered by Ansible from an inventory: a server per serving host, none
for a cluster's members other than rank 0, the gRPC frontend only when asked for, and the servers' state kept
across a reload."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import REPO

PLAY = """
- hosts: gpu_nodes
  gather_facts: false
  tasks:
    - trtllm.deploy.fleet_plan:
        publish:
          endpoint: {address: "{{ address }}", http_port: 8000, grpc_port: 8001}
- hosts: load_balancers
  gather_facts: false
  vars:
    load_balancer_backend_group: gpu_nodes
    load_balancer_backend: triton_http
    load_balancer_grpc_backend: triton_grpc
    load_balancer_bind_address: "*"
    load_balancer_http_port: 8000
    load_balancer_balance: leastconn
    load_balancer_health_path: /v2/health/ready
    load_balancer_check_interval_ms: 1000
    load_balancer_check_fall: 2
    load_balancer_check_rise: 2
    load_balancer_timeout_connect: 5
    load_balancer_timeout_client: 600
    load_balancer_timeout_server: 600
    load_balancer_timeout_http_request: 30
    load_balancer_retries: 3
    load_balancer_socket: /run/haproxy/admin.sock
    load_balancer_state_file: /var/lib/haproxy/server-state
  tasks:
    - trtllm.deploy.fleet_plan:
    - ansible.builtin.template:
        src: "{{ repo }}/roles/load_balancer/templates/haproxy.cfg.j2"
        dest: "{{ dest }}"
        mode: "0644"
"""

INVENTORY = """
all:
  children:
    load_balancers:
      hosts:
        localhost: {ansible_connection: local}
    gpu_nodes:
      hosts:
        solo: {address: 10.0.0.1}
        rank0: {address: 10.0.0.2, trtllm_cluster: c1}
        member: {address: 10.0.0.3, trtllm_cluster: c1}
      vars: {ansible_connection: local}
"""


@pytest.mark.parametrize("grpc_port", [0, 8001])
def test_only_serving_hosts_are_backends_and_grpc_only_when_asked(tmp_path, grpc_port):
    (tmp_path / "play.yml").write_text(PLAY)
    (tmp_path / "hosts.yml").write_text(INVENTORY)
    dest = tmp_path / "haproxy.cfg"
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_LOCAL_TEMP=str(tmp_path / ".tmp"))
    done = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i",
                           str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml"), "-e", f"repo={REPO}",
                           "-e", f"dest={dest}", "-e", f"load_balancer_grpc_port={grpc_port}",
                           "-e", f"ansible_python_interpreter={sys.executable}"],
                          capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    servers = [line.split()[1:3] for line in dest.read_text().splitlines() if line.strip().startswith("server ")]
    http = [["rank0", "10.0.0.2:8000"], ["solo", "10.0.0.1:8000"]]
    grpc = [["rank0", "10.0.0.2:8001"], ["solo", "10.0.0.1:8001"]]
    assert servers == (http + grpc if grpc_port else http)
    assert ("frontend triton_grpc" in dest.read_text()) == bool(grpc_port)
    words = [line.split() for line in dest.read_text().splitlines()]
    assert ["server-state-file", "/var/lib/haproxy/server-state"] in words
    assert ["load-server-state-from-file", "global"] in words
