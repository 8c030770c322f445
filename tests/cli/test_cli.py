"""trtllm-deploy against a simulated node: output, report, exit codes, secrets. Tests run in order."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

from conftest import SECRET, node_exec


def command_lines(under: int | None = None) -> list[str]:
    """Every process's whole command line, from /proc; with `under`, only that process's descendants (another
    ansible-playbook on this machine, e.g. a second checkout's tests, is not ours)."""
    parents, lines = {}, {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as handle:  # pid (comm) state ppid ...; comm may hold spaces
                parents[int(entry)] = int(handle.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                lines[int(entry)] = handle.read().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):  # it ended meanwhile
            continue

    def descends(pid: int) -> bool:
        seen = set()
        while pid in parents and pid not in seen:
            if parents[pid] == under:
                return True
            seen.add(pid)
            pid = parents[pid]
        return False

    return [line for pid, line in lines.items() if under is None or descends(pid)]


def report_of(output: str) -> dict:
    path = next(line.split("report: ", 1)[1].split()[0] for line in output.splitlines() if "report: " in line)
    return json.loads(open(path).read())


def test_bad_variables_exit_4_and_touch_nothing(cli, inventory):
    code, output, _ = cli("deploy", "-i", str(inventory), "-e", "trtllm_tp_size=0")
    assert code == 4, output
    assert "trtllm_tp_size must be at least 1, got 0" in output and "no host was touched" in output
    assert node_exec("test", "-e", "/opt/trtllm").returncode != 0


def test_unparsable_inventory_exits_4(cli, tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("all:\n  hosts: [oops\n")
    code, output, _ = cli("plan", "-i", str(broken))
    assert code == 4 and "bad input" in output


def test_plan_reports_changes_and_changes_nothing(cli, inventory):
    code, output, _ = cli("plan", "-i", str(inventory))
    assert code == 0, output
    report = report_of(output)
    assert report["hosts"]["cli-node"]["changed"] > 0
    assert "cli-node: " in output and "change(s) would be made" in output
    assert node_exec("test", "-e", "/opt/trtllm/tensorrtllm_backend").returncode != 0
    assert node_exec("docker", "inspect", "triton_server").returncode != 0


def test_tp_beyond_the_nodes_gpus_fails_before_anything_changes(cli, inventory):
    code, output, _ = cli("deploy", "-i", str(inventory), "-e", "trtllm_tp_size=2")
    assert code == 2
    assert "tp_size 2 x pp_size 1 needs 2 GPUs; this node has 1" in report_of(output)["hosts"]["cli-node"]["error"]
    assert node_exec("test", "-e", "/etc/apt/sources.list.d/nvidia-container-toolkit.list").returncode != 0
    assert node_exec("test", "-e", "/opt/trtllm").returncode != 0


def test_deploy_serves_and_summarizes_without_leaking_secrets(cli, inventory, tmp_path, hub):
    # HF_TOKEN: a token the (stand-in) Hub accepts, as the model is downloaded with it.
    secret_file = tmp_path / "secrets.env"
    secret_file.write_text(f"HF_TOKEN={hub['token']}\n")
    secret_file.chmod(0o600)
    code, output, artifacts = cli("deploy", "-i", str(inventory), "--secret-file", str(secret_file),
                                  env={"NGC_API_KEY": SECRET, "SOME_PRIVATE_VAR": "not-forwarded-xyz"})
    assert code == 0, output[-3000:]
    report = report_of(output)
    host = report["hosts"]["cli-node"]
    assert host["failed"] == 0 and host["engine"] == "built" and host["build_seconds"] is not None
    assert host["endpoint"] == "http://127.0.0.1:8000" and host["smoke_seconds"] is not None
    assert "cli-node" in output and "built" in output and "[" in output  # progress lines and the table
    for secret in (SECRET, hub["token"]):
        leaks = [str(p) for p in artifacts.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
        assert leaks == [] and secret not in output
    command = json.loads(next(artifacts.rglob("command")).read_text())
    assert "SOME_PRIVATE_VAR" not in command["env"] and command["env"].get("HF_TOKEN") == "********"


def test_second_deploy_reuses_the_engine(cli, inventory):
    code, output, _ = cli("deploy", "-i", str(inventory))
    host = report_of(output)["hosts"]["cli-node"]
    assert code == 0 and host["changed"] == 0 and host["engine"] == "reused", output[-2000:]


def test_status_json_lists_ready_models_and_an_answer(cli, inventory):
    code, output, _ = cli("status", "-i", str(inventory), "--json")
    assert code == 0
    status = json.loads(output[output.index("{"):output.rindex("}") + 1])["cli-node"]
    assert status["container"] == "running" and len(status["models_ready"]) == 5 and status["answers"] is True
    assert int(status["restarts"]) == 0 and len(status["engine_key"]) == 16


def test_a_failing_host_exits_2_and_says_why(cli, inventory):
    code, output, _ = cli("deploy", "-i", str(inventory), "--tags", "verify",
                          "-e", "smoke_test_url=http://127.0.0.1:8000/v2/models/nope/generate")
    assert code == 2
    error = report_of(output)["hosts"]["cli-node"]["error"]
    assert error.startswith("Send the workflow's generate request")


def test_an_unreachable_host_exits_3(cli, inventory, tmp_path):
    # ssh to a loopback port nothing listens on: refused, so unreachable. (A missing container over the
    # docker connection is a failed task, not an unreachable host: `docker exec` just exits 1.)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (tmp_path / "group_vars").symlink_to(inventory / "group_vars")
    (tmp_path / "hosts.yml").write_text(
        "all:\n  children:\n    gpu_nodes:\n      hosts:\n        ghost:\n          ansible_connection: ssh\n"
        f"          ansible_host: 127.0.0.1\n          ansible_port: {port}\n")
    code, output, _ = cli("status", "-i", str(tmp_path / "hosts.yml"))
    assert code == 3 and report_of(output)["hosts"]["ghost"]["unreachable"] == 1


def test_ctrl_c_cancels_cleanly_with_130_and_no_secret_in_the_process_list(inventory, tmp_path):
    env = dict(os.environ, NGC_API_KEY=SECRET)
    proc = subprocess.Popen([sys.executable, "-m", "trtllm_deploy", "deploy", "-i", str(inventory), "--plain",
                             "--artifacts", str(tmp_path / "artifacts")], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    # Poll for the deploy's own ansible-playbook (not the validation run, not the task listing), from /proc:
    # ps cuts lines under pytest.
    deadline = time.monotonic() + 120
    while not any("ansible-playbook" in line and "site.yml" in line and "--list-tasks" not in line
                  for line in command_lines(under=proc.pid)):
        assert proc.poll() is None and time.monotonic() < deadline, "ansible-playbook site.yml never started"
        time.sleep(0.5)
    assert not [line for line in command_lines() if SECRET in line]
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, output[-2000:]
    assert report_of(output)["status"] == "canceled"


def test_teardown_removes_the_container_and_keeps_the_engine(cli, inventory):
    code, output, _ = cli("teardown", "-i", str(inventory))
    assert code == 0, output[-2000:]
    assert node_exec("docker", "inspect", "triton_server").returncode != 0
    assert node_exec("test", "-f", "/root/models/trt/Tiny-Llama-Sim-trt-engine/config.json").returncode == 0


def test_every_command_has_help():
    for command in ("deploy", "plan", "status", "teardown", "validate"):
        proc = subprocess.run([sys.executable, "-m", "trtllm_deploy", command, "--help"], capture_output=True,
                              text=True)
        assert proc.returncode == 0 and "--inventory" in proc.stdout


def test_a_relative_inventory_path_is_the_callers(cli, inventory, tmp_path):
    (tmp_path / "inv").symlink_to(inventory)
    code, output, _ = cli("validate", "-i", "inv")
    assert code == 0 and "validate: ok" in output


def test_a_limit_matching_no_host_is_bad_input(cli, inventory):
    code, output, _ = cli("status", "-i", str(inventory), "--limit", "no-such-host")
    assert code == 4


def test_artifacts_rotate_to_the_last_n(cli, inventory):
    for _ in range(3):
        code, _, artifacts = cli("validate", "-i", str(inventory), "--keep", "2")
        assert code == 0
    assert len([p for p in artifacts.iterdir() if p.is_dir()]) == 2
