"""Real state of the GPU nodes after the nvidia_runtime role converged."""

import json
import os

import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]
).get_hosts("gpu_nodes")

EXPECTED = {
    "trtllm-mol-h100x1": (1, "NVIDIA H100 80GB HBM3", "9.0"),
    "trtllm-mol-a100x8": (8, "NVIDIA A100-SXM4-80GB", "8.0"),
}


def expected(host):
    return EXPECTED[host.backend.get_hostname()]


def test_toolkit_package_is_installed_from_the_repository(host):
    package = host.package("nvidia-container-toolkit")
    assert package.is_installed
    assert package.version == "1.17.8-1"
    source = host.file("/etc/apt/sources.list.d/nvidia-container-toolkit.list").content_string
    assert "signed-by=/etc/apt/keyrings/nvidia-container-toolkit.asc" in source
    assert "file:///srv/nvidia-apt/stable/deb/amd64 /" in source
    assert host.run("nvidia-ctk --version").stdout.startswith("NVIDIA Container Toolkit CLI version 1.17.8")


def test_the_role_installed_an_engine_only_where_none_was_and_enabled_it_at_boot(host):
    # prepare.yml gave the A100 node Docker CE: the role kept it (docker.io would have replaced it).
    docker_ce = host.backend.get_hostname() == "trtllm-mol-a100x8"
    assert host.package("docker-ce").is_installed is docker_ce
    assert host.package("docker.io").is_installed is not docker_ce
    assert host.file("/etc/rc2.d/S01docker").is_symlink


def test_daemon_json_gained_the_runtime_and_kept_the_sites_keys(host):
    config = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert config.pop("registry-mirrors")[0].startswith("http://")
    assert config == {
        "storage-driver": "overlay2",
        "log-driver": "json-file",
        "runtimes": {"nvidia": {"args": [], "path": "nvidia-container-runtime"}},
    }
    backups = host.run("ls /etc/docker/").stdout.split()
    assert any(name.startswith("daemon.json.") for name in backups), backups


def test_dockerd_answers_with_the_nvidia_runtime(host):
    runtimes = host.check_output("docker info --format '{{json .Runtimes}}'")
    assert "nvidia" in json.loads(runtimes)


def test_a_gpu_container_lists_every_gpu(host):
    count, name, _ = expected(host)
    listed = host.check_output("docker run --rm --gpus all trtllm-deploy/probe:latest nvidia-smi -L")
    lines = listed.splitlines()
    assert len(lines) == count
    assert all(f": {name} (UUID: GPU-" in line for line in lines)


def test_a_container_with_one_gpu_sees_one(host):
    listed = host.check_output("docker run --rm --gpus device=0 trtllm-deploy/probe:latest nvidia-smi -L")
    assert len(listed.splitlines()) == 1


def test_gpu_facts_module_reports_the_node(host):
    count, name, cap = expected(host)
    facts = host.ansible("trtllm.deploy.gpu_facts", check=False)["ansible_facts"]["trtllm_gpus"]
    assert facts["count"] == count
    assert facts["names"] == [name]
    assert facts["compute_capability"] == cap
    assert len({gpu["uuid"] for gpu in facts["gpus"]}) == count
    assert facts["memory_total_mib"] == count * facts["gpus"][0]["memory_total_mib"]
