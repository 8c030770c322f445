"""The filters validate.yml checks names and the fleet with (the same rules as trtllm-deploy validate)."""

from __future__ import annotations

from ansible_collections.trtllm.deploy.plugins.filter.fleet_problems import fleet_problems
from ansible_collections.trtllm.deploy.plugins.filter.variable_names import variable_name_problems

# What hostvars[inventory_hostname].keys() holds besides the inventory's own variables.
MAGIC = ["inventory_file", "inventory_dir", "ansible_connection", "inventory_hostname", "inventory_hostname_short",
         "group_names", "ansible_facts", "playbook_dir", "ansible_playbook_python", "ansible_config_file", "groups",
         "ansible_version", "ansible_check_mode", "ansible_diff_mode", "ansible_forks", "ansible_inventory_sources",
         "ansible_skip_tags", "ansible_run_tags", "ansible_verbosity"]


def test_magic_and_known_names_pass():
    names = [*MAGIC, "trtllm_tp_size", "engine_build_max_num_tokens", "nvidia_runtime_min_gpus"]
    assert variable_name_problems(names) == []


def test_a_typo_gets_the_closest_name_and_the_workflows_name_ours():
    assert variable_name_problems(["trtllm_max_bach_size", "max_batch_size"]) == [
        "trtllm_max_bach_size is not a variable of any role of trtllm.deploy: did you mean trtllm_max_batch_size?",
        "max_batch_size is the workflow's name; this collection reads it as trtllm_max_batch_size"]


def test_a_name_the_roles_compute_is_refused():
    [problem] = variable_name_problems(["trtllm_host_model_path"])
    assert problem.startswith("trtllm_host_model_path is set by role trtllm (roles/trtllm/tasks/main.yml) (a fact)")


def entry(address, port=8000, name="triton_server"):
    return {"address": address, "http_port": port, "grpc_port": port + 1, "metrics_port": port + 2, "container": name}


def plan(**endpoints):
    """The fleet plan's hosts, each with the endpoint validate.yml publishes."""
    return {"hosts": {host: {"endpoint": endpoint} for host, endpoint in endpoints.items()}}


def test_hosts_at_one_address_must_differ_in_ports_and_container():
    assert fleet_problems(plan(a=entry("10.0.0.1"), b=entry("10.0.0.2")), ["a", "b"]) == []
    assert fleet_problems(plan(a=entry("10.0.0.1"), b=entry("10.0.0.1", 9000, "second")), ["a", "b"]) == []
    [problem] = fleet_problems(plan(a=entry("10.0.0.1"), b=entry("10.0.0.1", 8000, "second")), ["a", "b"])
    assert problem.startswith("hosts a and b are both at address 10.0.0.1 and share port(s) 8000, 8001, 8002:")


def test_a_host_outside_gpu_nodes_is_named():
    [problem] = fleet_problems(plan(a=entry("10.0.0.1")), ["a", "stray"])
    assert problem.startswith("host stray is in the inventory but not in group gpu_nodes")
