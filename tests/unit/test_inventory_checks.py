"""inventory_checks: each controller-side check on plain values, without Ansible."""

from __future__ import annotations

import pytest

from ansible_collections.trtllm.deploy.plugins.module_utils import inventory_checks as checks

SPECS = {"trtllm": {"argument_specs": {"main": {"options": {"trtllm_tp_size": {}, "trtllm_max_batch_size": {},
                                                          "trtllm_http_port": {}}}}},
         "nvidia_runtime": {"argument_specs": {"main": {"options": {"nvidia_runtime_min_gpus": {}}}}}}
KNOWN = checks.known_variables(SPECS)
DEFAULTS = {"trtllm_tp_size": 1, "trtllm_pp_size": 1, "trtllm_max_batch_size": 256, "trtllm_max_input_len": 2048,
            "trtllm_max_output_len": 1024, "engine_build_max_num_tokens": 1024, "engine_build_opt_num_tokens": 1024,
            "engine_build_workers": 1, "trtllm_chunked_context": True, "trtllm_dtype": "float16",
            "trtllm_http_port": 8000, "trtllm_grpc_port": 8001, "trtllm_metrics_port": 8002,
            "trtllm_mounts": {"/models": "/root/models", "/tensorrtllm_backend": "/opt/trtllm/tensorrtllm_backend"},
            "trtllm_models_dir": "/models/trt", "trtllm_model_repo": "/tensorrtllm_backend/triton_model_repo",
            "trtllm_model_name": "Meta-Llama-3-8B-Instruct", "trtllm_container_name": "triton_server",
            "triton_container_image": "nvcr.io/nvidia/tritonserver:24.04-trtllm-python-py3",
            "trtllm_repos_backend_version": "r24.04", "nvidia_runtime_driver_min_version": "535.86",
            "nvidia_runtime_toolkit_version": "1.17.8-1", "triton_model_repo_kv_cache_free_gpu_mem_fraction": 0.9}


def problems(**changes):
    return checks.host_problems(dict(DEFAULTS, **changes))[0]


def test_the_workflows_values_pass():
    assert checks.host_problems(DEFAULTS) == ([], [])


def test_shared_variables_are_known_from_the_shared_roles_argument_spec():
    import yaml
    from conftest import REPO

    spec = yaml.safe_load((REPO / "roles" / "trtllm" / "meta" / "argument_specs.yml").read_text())
    known = checks.known_variables({"trtllm": spec})
    assert {"trtllm_become", "trtllm_serial", "trtllm_max_fail_percentage", "trtllm_teardown_engines"} <= set(known)
    assert not hasattr(checks, "SHARED") and not hasattr(checks, "FACTS") and not hasattr(checks, "PREFIXES")


def test_prefixes_and_facts_come_from_the_roles_not_a_list():
    # Both were missed by the hand-kept lists: serving_bench's prefix, and facts set after the list was written.
    assert "serving_bench_" in checks.prefixes() and "triton_model_repo_" in checks.prefixes()
    assert "triton_" in checks.prefixes(), "triton_http_port looks like ours: three roles are triton_*"
    facts = checks.published_facts()
    assert {"engine_build_held", "engine_build_forced", "triton_server_served", "trtllm_host",
            "trtllm_fleet_plan", "trtllm_gpus", "trtllm_preflight_passed"} <= set(facts)
    assert facts["trtllm_gpus"] == "module gpu_facts" and facts["trtllm_preflight_passed"] == "playbooks/preflight.yml"
    assert facts["engine_build_held"] == "role engine_build (roles/engine_build/tasks/key.yml)"
    refused = checks.unknown_variable_problems(["serving_bench_concurency", "engine_build_held"], KNOWN,
                                               {name: where for name, where in facts.items()})
    assert set(refused) == {"serving_bench_concurency", "engine_build_held"}


@pytest.mark.parametrize("name, expected", [
    ("trtllm_max_bach_size", "did you mean trtllm_max_batch_size?"),
    ("trtlm_tp_size", "did you mean trtllm_tp_size?"),
    ("nvidia_runtime_min_gpu", "did you mean nvidia_runtime_min_gpus?"),
    ("model_tp_size", "reads it as trtllm_tp_size"),
    ("max_batch_size", "reads it as trtllm_max_batch_size"),
    ("max_input_len", "reads it as trtllm_max_input_len"),
    ("model_dtype", "reads it as trtllm_dtype"),
    ("trtllm_something_else", "not a variable of any role"),
])
def test_unknown_names_get_the_closest_real_one(name, expected):
    assert expected in checks.unknown_variable_problems([name], KNOWN, {})[name]


def test_names_that_are_not_ours_pass():
    assert checks.unknown_variable_problems(["ansible_host", "site_owner", "inventory_dir"], KNOWN, {}) == {}


def test_a_computed_name_says_where_it_is_set():
    found = checks.unknown_variable_problems(["engine_build_options"], KNOWN, {"engine_build_options": "role x"})
    assert "set by role x" in found["engine_build_options"]


@pytest.mark.parametrize("changes, expected", [
    ({"trtllm_tp_size": 0}, "trtllm_tp_size must be at least 1, got 0"),
    ({"trtllm_pp_size": -1}, "trtllm_pp_size must be at least 1, got -1"),
    ({"trtllm_max_batch_size": 0}, "trtllm_max_batch_size must be at least 1, got 0"),
    ({"triton_model_repo_kv_cache_free_gpu_mem_fraction": 1.5}, "must be in (0, 1], got 1.5"),
    ({"triton_model_repo_kv_cache_free_gpu_mem_fraction": 0}, "must be in (0, 1], got 0"),
    ({"trtllm_http_port": 70000}, "trtllm_http_port must be a port from 1 to 65535, got 70000"),
    ({"trtllm_metrics_port": 8000}, "trtllm_metrics_port 8000 is also trtllm_http_port"),
    ({"trtllm_models_dir": "/data/trt"}, "trtllm_models_dir '/data/trt' is not inside a mount"),
    ({"trtllm_models_dir": "trt"}, "trtllm_models_dir must be an absolute path inside the container"),
    ({"trtllm_workdir": "opt"}, "trtllm_workdir must be an absolute host path, got 'opt'"),
    ({"trtllm_model_name": "meta-llama/Llama"}, "trtllm_model_name must be the model's directory name"),
    ({"trtllm_container_name": "a b"}, "trtllm_container_name must be a Docker container name"),
    ({"triton_container_image": "nvcr.io/NVIDIA/x:1"}, "is not an image reference"),
    ({"nvidia_runtime_driver_min_version": "535"}, "nvidia_runtime_driver_min_version must be a driver version"),
    ({"nvidia_runtime_toolkit_version": "latest"}, "nvidia_runtime_toolkit_version must be an apt version"),
    ({"trtllm_repos_backend_version": "r24.05"}, "must come from branch r24.04"),
    ({"trtllm_models": ["ensemble", "tensorrt-llm"]}, "trtllm_models[1] 'tensorrt-llm' is not a model"),
])
def test_each_host_check_names_the_variable_and_value(changes, expected):
    assert any(expected in p for p in problems(**changes)), problems(**changes)


def test_token_rules_are_engine_builds():
    found = problems(engine_build_max_num_tokens=512, trtllm_chunked_context=False)
    assert found == [p for p in found if "engine_build_max_num_tokens 512 is below trtllm_max_input_len 2048" in p]
    assert problems(engine_build_max_num_tokens=512, trtllm_chunked_context=True) == []
    warnings = checks.host_problems(dict(DEFAULTS, engine_build_opt_num_tokens=4096))[1]
    assert any("engine_build_opt_num_tokens 4096" in w for w in warnings)


@pytest.mark.parametrize("image, branch, refused", [
    ("nvcr.io/nvidia/tritonserver:24.04-trtllm-python-py3", "r24.04", False),
    ("nvcr.io/nvidia/tritonserver:24.05-trtllm-python-py3", "r24.04", True),
    ("trtllm-deploy/tritonserver-sim:latest", "r24.04", False),
    ("nvcr.io/nvidia/tritonserver:24.04-trtllm-python-py3", "0123abc", False),
])
def test_image_release_pairs_with_the_backend_branch(image, branch, refused):
    assert bool(checks.pairing_problems(image, branch)) is refused


@pytest.mark.parametrize("values, inventory, expected", [
    ({"trtllm_serial": "0"}, set(), "trtllm_serial '0' is not a host count"),
    ({"trtllm_serial": "150%"}, set(), "trtllm_serial '150%'"),
    ({"trtllm_max_fail_percentage": 120}, set(), "trtllm_max_fail_percentage 120"),
    ({"trtllm_serial": 1}, {"trtllm_serial"}, "pass -e trtllm_serial=... or trtllm-deploy deploy --serial"),
])
def test_rolling_settings(values, inventory, expected):
    assert any(expected in p for p in checks.rolling_problems(values, inventory))


def test_good_rolling_settings_pass():
    assert checks.rolling_problems({"trtllm_serial": "25%", "trtllm_max_fail_percentage": 0}, set()) == []
    assert checks.rolling_problems({"trtllm_serial": 2}, set()) == []


def test_plain_text_secrets_are_refused_templates_pass():
    found = checks.secret_problems({"triton_container_registry_password": "s3cret",
                                    "trtllm_hf_token": "{{ lookup('ansible.builtin.env', 'HF_TOKEN') }}"},
                                   {"triton_container_registry_password": "g/all.yml:3"})
    assert len(found) == 1 and "g/all.yml:3" in found[0] and "--secret-file" in found[0] and "ansible-vault" in found[0]
    assert "s3cret" not in found[0]
    assert checks.secret_problems({"my_note": "hf_abcdefghijklmnop"}, {})  # a token's shape, whatever the name


def test_fleet_structure():
    hosts = {"a": {"ansible_host": "192.0.2.1", "trtllm_http_port": 8000, "trtllm_container_name": "t"},
             "b": {"ansible_host": "192.0.2.1", "trtllm_http_port": 9000, "trtllm_container_name": "u"},
             "c": {"ansible_host": "192.0.2.1", "trtllm_http_port": 8000, "trtllm_container_name": "v"}}
    found = checks.fleet_problems(hosts, {"a", "b", "c"}, ["a", "b", "c", "d"])
    assert any("host d is in the inventory but not in group gpu_nodes" in p for p in found)
    assert any("hosts a and c are both at address 192.0.2.1 and share port(s) 8000" in p for p in found)
    assert not any("hosts a and b" in p for p in found)
