"""CLI pieces without a node: failure messages, status exit code, Ansible found beside the interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from trtllm_deploy import cli
from trtllm_deploy.progress import Progress
from trtllm_deploy.runner import executables_dir, forwarded_env

REPO = Path(__file__).resolve().parents[2]


def test_argument_spec_failures_show_every_error():
    message = Progress(1, {}, live=False)._message({
        "msg": "Validation of arguments failed:\nargument 'trtllm_tp_size' is of type str ...",
        "argument_errors": ["argument 'trtllm_tp_size' is of type str and we were unable to convert to int: 'two'"]})
    assert message.startswith("argument 'trtllm_tp_size'") and "'two'" in message


def test_loop_failures_name_the_item():
    message = Progress(1, {}, live=False)._message({"msg": "One or more items failed", "results": [
        {"item": "nvidia_runtime", "failed": False},
        {"item": "engine_build", "failed": True, "msg": "Validation of arguments failed:",
         "argument_errors": ["value of x must be one of: a, b, got: c"]}]})
    assert message == "item engine_build: value of x must be one of: a, b, got: c"


def test_secrets_are_masked_in_messages():
    assert "s3cret" not in Progress(1, {"NGC_API_KEY": "s3cret"}, live=False)._message({"msg": "bad s3cret"})


def test_a_host_serves_only_with_every_model_ready_and_an_answer():
    good = {"container": "running", "models_ready": ["a"] * 5, "models_total": "5", "answers": "True"}
    assert cli.serves(good)
    assert not cli.serves(dict(good, models_ready=[]))
    assert not cli.serves(dict(good, answers="False"))
    assert not cli.serves(dict(good, container="exited"))
    assert not cli.serves({})


def test_ansible_is_found_beside_the_interpreter():
    env = forwarded_env({}, {"PATH": "/usr/bin:/bin"})
    assert env["PATH"].split(os.pathsep)[0] == executables_dir() == str(Path(sys.executable).parent)


def test_the_venvs_command_validates_without_the_venv_on_path(tmp_path):
    script = Path(sys.executable).parent / "trtllm-deploy"
    if not script.exists():
        import pytest
        pytest.skip("trtllm-deploy is not installed beside this interpreter")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run([str(script), "validate", "-i", str(REPO / "inventories" / "a100"), "-e", "trtllm_tp_size=0",
                           "--plain"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 4, proc.stderr
    assert "Traceback" not in proc.stderr and "trtllm_tp_size must be at least 1, got 0" in proc.stderr


def test_a_vaulted_inventory_is_read_with_the_vault_password_and_not_refused_without(tmp_path):
    import shutil

    from trtllm_deploy.validation import validate

    inventory = tmp_path / "a100"
    shutil.copytree(REPO / "inventories" / "a100", inventory)
    (tmp_path / "pw").write_text("vault-password\n")
    encrypted = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-vault"), "encrypt_string", "--vault-password-file",
         str(tmp_path / "pw"), "hunter2", "--name", "triton_container_registry_password"],
        capture_output=True, text=True, check=True).stdout
    (inventory / "group_vars" / "gpu_nodes" / "secret.yml").write_text(encrypted)
    hosts = str(inventory / "hosts.yml")
    assert validate([hosts], {}, None, REPO).problems == {}, "no password here: not refused"
    os.environ["ANSIBLE_VAULT_PASSWORD_FILE"] = str(tmp_path / "pw")
    try:
        assert validate([hosts], {}, None, REPO).problems == {}, "with the password"
        secret = inventory / "group_vars" / "gpu_nodes" / "secret.yml"
        secret.write_text("triton_container_registry_password: hunter2\n")
        subprocess.run([str(Path(sys.executable).parent / "ansible-vault"), "encrypt", "--vault-password-file",
                        str(tmp_path / "pw"), str(secret)], capture_output=True, text=True, check=True,
                       env={k: v for k, v in os.environ.items() if k != "ANSIBLE_VAULT_PASSWORD_FILE"})
        assert secret.read_text().startswith("$ANSIBLE_VAULT")
        assert validate([hosts], {}, None, REPO).problems == {}, "a whole encrypted file is read too"
    finally:
        del os.environ["ANSIBLE_VAULT_PASSWORD_FILE"]
