"""The sample inventories parse and give each host the layout its group promises."""

from __future__ import annotations

import json
import os
import subprocess

import pytest


def hostvars(repo, inventory: str) -> dict:
    env = dict(os.environ, ANSIBLE_CONFIG=str(repo / "ansible.cfg"))
    out = subprocess.run(["ansible-inventory", "-i", str(repo / "inventories" / inventory), "--list"],
                         check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out)["_meta"]["hostvars"]


@pytest.mark.parametrize("host, tp, batch, port", [
    ("a100-node-1", 2, 256, None), ("a100-node-2", 2, 256, 9000), ("h100-node-1", 1, 128, None),
])
def test_fleet_groups_set_the_layout_and_host_vars_the_ports(repo, host, tp, batch, port):
    hosts = hostvars(repo, "fleet")
    assert sorted(hosts) == ["a100-node-1", "a100-node-2", "balancer-1", "h100-node-1"]
    assert (hosts[host]["trtllm_tp_size"], hosts[host]["trtllm_max_batch_size"]) == (tp, batch)
    assert hosts[host].get("trtllm_http_port") == port
    assert hosts[host]["trtllm_model_name"] == "Meta-Llama-3-8B-Instruct"


def test_the_workflows_a100_node_has_its_values(repo):
    node = hostvars(repo, "a100")["a100-node-1"]
    assert (node["trtllm_tp_size"], node["trtllm_max_batch_size"], node["trtllm_max_input_len"],
            node["trtllm_max_output_len"]) == (1, 256, 2048, 1024)
    assert node["triton_model_repo_kv_cache_free_gpu_mem_fraction"] == 0.9


def test_the_fleet_has_one_balancer_outside_the_gpu_nodes(repo):
    env = dict(os.environ, ANSIBLE_CONFIG=str(repo / "ansible.cfg"))
    groups = json.loads(subprocess.run(["ansible-inventory", "-i", str(repo / "inventories" / "fleet"), "--list"],
                                       check=True, capture_output=True, text=True, env=env).stdout)
    assert groups["load_balancers"]["hosts"] == ["balancer-1"]
    assert "load_balancers" not in groups["gpu_nodes"].get("children", [])


def test_the_multinode_sample_is_one_cluster_whose_ranks_are_its_gpus(repo):
    hosts = hostvars(repo, "multinode")
    assert sorted(hosts) == ["gpu-a", "gpu-b"]
    for host in hosts.values():
        assert (host["trtllm_cluster"], host["trtllm_tp_size"], host["nvidia_runtime_min_gpus"]) == ("llama70b", 8, 4)
        assert host["trtllm_tp_size"] == len(hosts) * host["nvidia_runtime_min_gpus"]
