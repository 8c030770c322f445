"""CLI pieces without a node: failure messages, status exit code, Ansible found beside the interpreter, the
run's environment, where the playbooks are found, the tables."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from trtllm_deploy import cli, runner
from trtllm_deploy import project as projects
from trtllm_deploy.progress import Progress
from trtllm_deploy.runner import Stage, executables_dir, forwarded_env

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


ENV_PLAYBOOK = """\
- name: Show what the run's environment holds
  hosts: all
  gather_facts: false
  tasks:
    - name: Forwarded secret and a variable that is not forwarded
      ansible.builtin.debug:
        msg: "{{ lookup('env', 'HF_TOKEN') }}|{{ lookup('env', 'TRTLLM_TEST_UNFORWARDED') }}"
"""


def test_a_run_gets_the_forwarded_environment_and_never_touches_os_environ(tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "playbooks").mkdir(parents=True)
    (project / "playbooks" / "site.yml").write_text("[]\n")
    (project / "playbooks" / "env.yml").write_text(ENV_PLAYBOOK)
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(json.dumps({"all": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
    monkeypatch.setenv("TRTLLM_DEPLOY_PROJECT", str(project))
    monkeypatch.setenv("TRTLLM_TEST_UNFORWARDED", "stays-home")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)
    before = dict(os.environ)
    seen, events = [], []

    class Watching(Progress):
        """Looks at os.environ from the event handler, while the run and the progress thread are going."""

        def __call__(self, event: dict) -> bool:
            seen.append(dict(os.environ))
            events.append(event)
            return super().__call__(event)

    monkeypatch.setattr(runner, "Progress", Watching)
    result = runner.run_stage(Stage("playbooks/env.yml", [str(inventory)]), tmp_path / "artifacts", 3,
                              {"HF_TOKEN": "tok-4f9a2c"}, stream=io.StringIO(), live=False)
    assert result.rc == 0 and result.status == "successful"
    assert seen and all(env == before for env in seen), "os.environ changed while the run was going"
    assert dict(os.environ) == before
    shown = [e["event_data"]["res"]["msg"] for e in events if e.get("event") == "runner_on_ok"]
    assert shown == ["tok-4f9a2c|"], "the secret reaches the run, an unforwarded variable does not"
    leaks = [p for p in (tmp_path / "artifacts").rglob("*") if p.is_file() and "tok-4f9a2c" in p.read_text()]
    assert leaks == []


def fake_collection(base: Path) -> Path:
    """trtllm.deploy as `ansible-galaxy collection install` lays it out, playbooks only."""
    root = base / "ansible_collections" / "trtllm" / "deploy"
    (root / "playbooks").mkdir(parents=True)
    for name in ("site", "validate", "status", "teardown", "bench"):
        (root / "playbooks" / f"{name}.yml").write_text("[]\n")
    (root / "MANIFEST.json").write_text(json.dumps({"collection_info": {"namespace": "trtllm", "name": "deploy",
                                                                        "version": "0.3.0"}}))
    return root


@pytest.fixture
def outside(tmp_path, monkeypatch) -> Path:
    """The CLI as pip installs it (no checkout around it), run from a directory that is no checkout either."""
    monkeypatch.delenv("TRTLLM_DEPLOY_PROJECT", raising=False)
    monkeypatch.setattr(projects, "PACKAGE_DIR", tmp_path / "site-packages" / "trtllm_deploy")
    monkeypatch.setenv("ANSIBLE_COLLECTIONS_SCAN_SYS_PATH", "False")  # tests/conftest.py puts the checkout there
    here = tmp_path / "ops"
    here.mkdir()
    monkeypatch.chdir(here)
    return here


def test_an_installed_collection_is_found_outside_a_checkout(tmp_path, monkeypatch, outside):
    root = fake_collection(tmp_path / "collections")
    paths = os.pathsep.join([str(tmp_path / "empty"), str(tmp_path / "collections")])
    monkeypatch.setenv("ANSIBLE_COLLECTIONS_PATH", paths)
    project = projects.find_project()
    assert (project.root, project.checkout, project.cwd) == (root, False, outside)
    assert projects.project_dir() == root
    assert all((root / playbook).is_file() for playbook in cli.PLAYBOOK.values())
    env = forwarded_env({}, {"PATH": "/usr/bin", "ANSIBLE_COLLECTIONS_PATH": paths}, project)
    assert "ANSIBLE_CONFIG" not in env and env["ANSIBLE_COLLECTIONS_PATH"] == paths, "nothing of a checkout"


def test_the_collections_path_of_the_ansible_cfg_read_from_here_is_searched(tmp_path, monkeypatch, outside):
    root = fake_collection(outside / "collections")
    (outside / "ansible.cfg").write_text("[defaults]\ncollections_path = ./collections\n")
    monkeypatch.delenv("ANSIBLE_CONFIG", raising=False)
    monkeypatch.delenv("ANSIBLE_COLLECTIONS_PATH", raising=False)
    assert projects.find_project().root == root


def test_ansibles_default_collections_path_is_searched(tmp_path, monkeypatch, outside):
    root = fake_collection(tmp_path / "home" / ".ansible" / "collections")  # ansible-galaxy's default target
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("ANSIBLE_CONFIG", "ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_HOME"):
        monkeypatch.delenv(name, raising=False)
    assert projects.find_project().root == root


def test_pythons_path_is_searched_as_ansible_does(tmp_path, monkeypatch, outside):
    root = fake_collection(tmp_path / "site-packages")  # where the `ansible` package keeps its collections
    monkeypatch.setenv("ANSIBLE_COLLECTIONS_PATH", str(tmp_path / "empty"))
    monkeypatch.syspath_prepend(str(tmp_path / "site-packages"))
    with pytest.raises(projects.ProjectNotFound):
        projects.find_project()
    monkeypatch.setenv("ANSIBLE_COLLECTIONS_SCAN_SYS_PATH", "True")
    assert projects.find_project().root == root


def test_an_installed_copy_named_by_trtllm_deploy_project_is_put_on_the_runs_collections_path(tmp_path, monkeypatch,
                                                                                             outside):
    root = fake_collection(tmp_path / "elsewhere")
    monkeypatch.setenv("TRTLLM_DEPLOY_PROJECT", str(root))
    monkeypatch.setenv("ANSIBLE_COLLECTIONS_PATH", str(tmp_path / "empty"))
    project = projects.find_project()
    assert (project.root, project.checkout) == (root, False)
    env = forwarded_env({}, {"PATH": "/usr/bin"}, project)
    assert env["ANSIBLE_COLLECTIONS_PATH"].split(os.pathsep)[:2] == [str(tmp_path / "elsewhere"),
                                                                     str(tmp_path / "empty")]


def test_no_collection_anywhere_exits_4_saying_where_it_looked_and_how_to_install(tmp_path, monkeypatch, outside,
                                                                                   capsys):
    monkeypatch.setenv("ANSIBLE_COLLECTIONS_PATH", str(tmp_path / "empty"))
    with pytest.raises(projects.ProjectNotFound):
        projects.find_project()
    assert cli.main(["validate", "-i", str(tmp_path / "inventory"), "--plain"]) == cli.EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "trtllm.deploy was not found" in err and str(tmp_path / "empty") in err and str(outside) in err
    assert "ansible-galaxy collection install" in err and "TRTLLM_DEPLOY_PROJECT" in err
    assert "Traceback" not in err
    monkeypatch.setenv("TRTLLM_DEPLOY_PROJECT", str(tmp_path))
    assert cli.main(["validate", "-i", str(tmp_path / "inventory")]) == cli.EXIT_BAD_INPUT
    assert f"TRTLLM_DEPLOY_PROJECT={tmp_path} holds no playbooks/site.yml" in capsys.readouterr().err


def test_a_checkout_runs_its_own_playbooks_with_its_own_configuration(monkeypatch):
    monkeypatch.delenv("TRTLLM_DEPLOY_PROJECT", raising=False)
    project = projects.find_project()
    assert (project.root, project.checkout, project.cwd) == (REPO, True, REPO)
    assert all((REPO / playbook).is_file() for playbook in cli.PLAYBOOK.values())
    env = forwarded_env({}, {"PATH": "/usr/bin"}, project)
    assert env["ANSIBLE_CONFIG"] == str(REPO / "ansible.cfg")
    assert env["ANSIBLE_COLLECTIONS_PATH"] == str(REPO / ".collections")


def report(**host) -> dict:
    base = {"ok": 12, "changed": 3, "failed": 0, "unreachable": 0, "engine": "built", "build_seconds": 1.53,
            "endpoint": "http://10.0.0.5:8000/" + "v" * 150, "smoke_seconds": 0.0421}
    return {"hosts": {"node-a": dict(base, model="16.06 GB fetched"), "gpu[1]": dict(base, **host)}}


def test_plain_tables_are_ascii_one_line_per_host_and_show_cells_verbatim():
    summary = cli.summary_table(report(failed=1, engine="[bold]reused[/bold]"), plain=True)
    lines = summary.splitlines()
    assert summary.isascii() and "\x1b" not in summary
    assert lines[0].split() == ["host", "ok", "changed", "failed", "unreachable", "model", "engine", "build", "s",
                                "endpoint", "smoke", "s"]
    assert set(lines[1]) == {"-", " "} and len(lines) == 4, "header, rule, a line per host however wide"
    assert lines[2].split()[:8] == ["node-a", "12", "3", "0", "0", "16.06", "GB", "fetched"]
    assert lines[2].split()[8] == "built"
    assert lines[3].split()[:7] == ["gpu[1]", "12", "3", "1", "0", "-", "[bold]reused[/bold]"]
    assert all(line == line.rstrip() for line in lines)
    served = {"container": "running", "restarts": 0, "engine_key": "abc", "models_ready": ["a"] * 5,
              "models_total": "5", "endpoint": "http://10.0.0.5:8000", "answers": "True"}
    status = cli.status_table({"hosts": {"up": {"status": served}, "down": {}}}, plain=True)
    assert status.isascii() and "\x1b" not in status
    assert [line.split() for line in status.splitlines()[2:]] == [
        ["up", "running", "0", "abc", "5/5", "http://10.0.0.5:8000", "yes"], ["down", "unknown", "-", "-", "0/?", "-",
                                                                              "no"]]


def test_the_fleet_table_shows_each_balancers_endpoint_and_backends_and_status_counts_a_balancer_apart():
    balancer = {"endpoint": "http://10.0.0.9:8000", "grpc_endpoint": None, "error": None,
                "servers": {"gpu-2": {"status": "MAINT", "active": 0, "check": ""},
                            "gpu-1": {"status": "UP", "active": 3, "check": "L7OK"}}}
    report = {"hosts": {"gpu-1": {"status": {}}, "lb": {"balancer": balancer}}}
    lines = cli.fleet_table(report).splitlines()
    assert lines[0].split() == ["balancer", "fleet", "endpoint", "backend", "state", "in", "flight", "check"]
    assert [line.split() for line in lines[2:]] == [["lb", "http://10.0.0.9:8000", "gpu-1", "UP", "3", "L7OK"],
                                                    ["lb", "http://10.0.0.9:8000", "gpu-2", "MAINT", "0", "-"]]
    assert cli.fleet_table({"hosts": {"gpu-1": {"status": {}}}}) == "", "no balancer, no table"
    member = {"container": "running", "restarts": 0, "engine_key": "abc", "models_ready": [], "models_total": "5",
              "answers": "False", "cluster": {"name": "c", "rank0": "gpu-a", "is_rank0": False}}
    assert cli.serves(member) and not cli.serves(dict(member, container="exited"))
    assert cli.status_table({"hosts": {"gpu-b": {"status": member}}}).splitlines()[2].split() == [
        "gpu-b", "running", "0", "abc", "-", "rank", "0:", "gpu-a", "via", "rank", "0"]
    assert [line.split()[0] for line in cli.status_table(report).splitlines()[2:]] == ["gpu-1"]
    assert cli.balances(balancer)
    assert not cli.balances(dict(balancer, servers={"gpu-1": {"status": "DOWN"}}))
    assert not cli.balances(dict(balancer, error="HAProxy's runtime API at /run/haproxy/admin.sock: refused"))


def test_the_bench_table_has_a_row_per_endpoint_and_concurrency_in_order():
    sweep = {"4": {"ttft_p50_ms": 30.25, "ttft_p99_ms": 80, "itl_p50_ms": 5.5, "output_tokens_per_s": 512.0,
                   "requests_per_s": 3.21, "errors": 1},
             "1": {"ttft_p50_ms": 10, "ttft_p99_ms": 20, "itl_p50_ms": 4, "output_tokens_per_s": 200,
                   "requests_per_s": 1, "errors": 0}}
    report = {"hosts": {"gpu-a": {"bench": {"endpoint": "http://10.0.0.5:8000", "sweep": sweep}}, "gpu-b": {}}}
    lines = cli.bench_table(report).splitlines()
    assert [line.split() for line in lines[2:]] == [
        ["gpu-a", "http://10.0.0.5:8000", "1", "10.0", "20.0", "4.0", "200.0", "1.00", "0"],
        ["gpu-a", "http://10.0.0.5:8000", "4", "30.2", "80.0", "5.5", "512.0", "3.21", "1"]]
    assert cli.bench_table({"hosts": {"gpu-b": {}}}) == ""


def test_terminal_tables_are_drawn_by_rich(monkeypatch):
    # A colour terminal 160 columns wide, whatever the terminal (or TERM=dumb, no terminal) running the tests.
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("COLUMNS", "160")
    monkeypatch.delenv("NO_COLOR", raising=False)
    drawn = cli.summary_table(report(failed=1), plain=False)
    assert "\x1b[" in drawn and not drawn.isascii() and "node-a" in drawn


def test_the_live_view_masks_secrets_and_keeps_every_host(monkeypatch):
    stream = io.StringIO()
    progress = Progress(10, {"HF_TOKEN": "s3cret-token"}, stream=stream, live=True)
    progress.start()
    progress({"event": "runner_on_start", "event_data": {"host": "node-a", "role": "engine_build",
                                                          "task": "Build with s3cret-token " + "x" * 300}})
    progress({"event": "runner_on_failed", "event_data": {"host": "node-b", "task": "t", "res": {"msg": "no"}}})
    progress.stop()
    shown = stream.getvalue()
    assert "s3cret-token" not in shown and "node-a" in shown and "node-b" in shown and "FAILED" in shown
    assert "0/10" in shown and "1/10" in shown


def test_the_summary_says_how_many_tokens_the_smoke_answer_had_and_which_end_id_it_sent():
    from trtllm_deploy.progress import HostState

    host = HostState("node", facts={"smoke_test_report": {"first_seconds": "0.05", "generated_tokens": "10",
                                                  "max_tokens": "20", "end_id": "505"}})
    assert host.summary()["smoke_tokens"] == "10/20" and host.summary()["smoke_end_id"] == 505
    assert HostState("bare").summary()["smoke_tokens"] is None and HostState("bare").summary()["smoke_end_id"] is None


def test_every_roles_argument_spec_checks_the_inventory_but_not_what_a_playbook_passes(tmp_path):
    import shutil

    from trtllm_deploy.validation import validate

    inventory, bad = tmp_path / "a100", tmp_path / "a100-bad"
    shutil.copytree(REPO / "inventories" / "a100", inventory)
    shutil.copytree(REPO / "inventories" / "a100", bad)
    # serving_bench_url is required by role serving_bench and passed by the playbooks, never the inventory.
    assert validate([inventory], {}, None, REPO).problems == {}
    # serving_bench's options are checked like the other roles' (the hand-kept role list left it out). Another
    # copy: Ansible's vars plugin remembers the files of a directory it has read.
    (bad / "group_vars" / "gpu_nodes" / "bench.yml").write_text("serving_bench_enforce: maybe\n")
    problems = [p for found in validate([bad], {}, None, REPO).problems.values() for p in found]
    assert any(p.startswith("role serving_bench:") and "serving_bench_enforce" in p for p in problems), problems
