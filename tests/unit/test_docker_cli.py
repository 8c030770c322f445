"""module_utils/docker_cli and the module oneshot_container: the collection's one way to run a command once in a
container of the serving image."""

from __future__ import annotations

import json
import os
import sys

import pytest

from ansible_collections.trtllm.deploy.plugins.module_utils.docker_cli import path_map, run_argv

SPEC = {"image": "nvcr.io/nvidia/tritonserver:24.04-trtllm-python-py3", "network_mode": "host", "shm_size": "2g",
        "ulimits": ["memlock:-1:-1", "stack:67108864:67108864"], "runtime": "nvidia", "gpus": "all",
        "env": {"NCCL_DEBUG": "WARN"}, "mounts": {"/models": "/root/models", "/tensorrtllm_backend": "/opt/b"}}


def test_a_one_shot_run_has_the_servers_options_and_ends_with_the_image():
    assert run_argv(SPEC, ["trtllm-build", "--x"], name="triton_server-build", workdir="/w") == [
        "docker", "run", "--rm", "--pull=never", "--name", "triton_server-build", "--network", "host",
        "--shm-size", "2g",
        "--ulimit", "memlock=-1:-1", "--ulimit", "stack=67108864:67108864", "--runtime", "nvidia", "--gpus", "all",
        "--env", "NCCL_DEBUG=WARN", "--volume", "/root/models:/models", "--volume", "/opt/b:/tensorrtllm_backend",
        "--workdir", "/w", "nvcr.io/nvidia/tritonserver:24.04-trtllm-python-py3", "trtllm-build", "--x"]
    assert run_argv(dict(SPEC, runtime="", gpus="2", env={}))[4:] == [
        "--network", "host", "--shm-size", "2g", "--ulimit", "memlock=-1:-1", "--ulimit", "stack=67108864:67108864",
        "--gpus", "2", "--volume", "/root/models:/models", "--volume", "/opt/b:/tensorrtllm_backend", SPEC["image"]]
    with pytest.raises(ValueError, match="has no image"):
        run_argv({"mounts": {}})
    # docker_container's name:soft form (hard = soft) is taken; a malformed one is named.
    assert "nofile=1024:1024" in run_argv(dict(SPEC, ulimits=["nofile:1024"]))
    with pytest.raises(ValueError, match="ulimit 'memlock' is not name:soft"):
        run_argv(dict(SPEC, ulimits=["memlock"]))
    assert run_argv(SPEC, pull="missing")[3] == "--pull=missing"
    with pytest.raises(ValueError, match="pull 'always' is not one of never, missing"):
        run_argv(SPEC, pull="always")
    assert path_map(SPEC) == {"/root/models": "/models", "/opt/b": "/tensorrtllm_backend"}


# A docker CLI on PATH that records each call and answers as Docker does: a taken name is refused until removed,
# an image that is not there is refused with --pull=never.
FAKE_DOCKER = r"""#!{python}
import json, os, sys
state = os.environ["FAKE_DOCKER_STATE"]
calls = json.load(open(state)) if os.path.exists(state) else []
args = sys.argv[1:]
calls.append({"args": args, "token": os.environ.get("HF_TOKEN")})
json.dump(calls, open(state, "w"))
taken = os.environ.get("FAKE_DOCKER_TAKEN", "")
removed = any(c["args"][:3] == ["rm", "--force", taken] for c in calls)
if args[0] == "rm":
    sys.exit(0 if args[-1] == taken else 1)
if args[0] == "run":
    if taken and "--name" in args and args[args.index("--name") + 1] == taken and not removed:
        print(f'docker: Error response from daemon: Conflict. The container name "/{taken}" is already in use by '
              'container "abc". You have to remove (or rename) that container to be able to reuse that name.',
              file=sys.stderr)
        sys.exit(125)
    if "missing:image" in args:
        print("Unable to find image 'missing:image' locally\ndocker: Error response from daemon: No such image: "
              "missing:image.", file=sys.stderr)
        sys.exit(125)
    command = args[args.index(os.environ.get("FAKE_DOCKER_IMAGE", "serving:image")) + 1:]
    if command[:1] == ["fail"]:
        print("\n".join(f"line {i}" for i in range(50)))
        sys.exit(3)
    print("ran " + " ".join(command))
"""


@pytest.fixture
def docker(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "docker").write_text(FAKE_DOCKER.replace("{python}", sys.executable))
    (bindir / "docker").chmod(0o755)
    state = tmp_path / "calls.json"
    env = {"PATH": f"{bindir}:{os.environ['PATH']}", "FAKE_DOCKER_STATE": str(state)}
    return env, lambda: json.loads(state.read_text()) if state.exists() else []


ARGS = {"spec": {"image": "serving:image", "gpus": "none", "mounts": {"/models": "/root/models"}},
        "command": ["python3", "-c", "print(1)"], "name": "triton_server-fetch"}


def test_a_run_is_one_docker_run_with_the_spec_and_a_change_unless_it_is_a_read(adhoc, docker):
    env, calls = docker
    rc, result = adhoc("trtllm.deploy.oneshot_container", ARGS, env=env)
    assert rc == 0 and result["changed"] and result["stdout"].strip() == "ran python3 -c print(1)"
    assert [c["args"] for c in calls()] == [["run", "--rm", "--pull=never", "--name", "triton_server-fetch", "--volume",
                                             "/root/models:/models", "serving:image", "python3", "-c", "print(1)"]]
    rc, read = adhoc("trtllm.deploy.oneshot_container", dict(ARGS, changes=False), env=env)
    assert rc == 0 and not read["changed"]


def test_a_container_a_killed_run_left_is_removed_and_the_run_tried_again(adhoc, docker):
    env, calls = docker
    rc, result = adhoc("trtllm.deploy.oneshot_container", ARGS, env=dict(env, FAKE_DOCKER_TAKEN="triton_server-fetch"))
    assert rc == 0 and result["removed_leftover"] and result["rc"] == 0
    assert [c["args"][0] for c in calls()] == ["run", "rm", "run"]


def test_a_secret_goes_through_the_environment_not_argv(adhoc, docker):
    env, calls = docker
    rc, result = adhoc("trtllm.deploy.oneshot_container", dict(ARGS, pass_env=["HF_TOKEN"]),
                       env=dict(env, HF_TOKEN="hf_secretvalue123"))
    assert rc == 0 and "hf_secretvalue123" not in json.dumps(result["argv"])
    [call] = calls()
    assert call["token"] == "hf_secretvalue123" and call["args"][call["args"].index("--env") + 1] == "HF_TOKEN"


def test_a_failure_quotes_the_last_lines_and_a_missing_image_says_who_pulls_it(adhoc, docker):
    env, _ = docker
    rc, failed = adhoc("trtllm.deploy.oneshot_container", dict(ARGS, command=["fail"], log_lines=3), env=env)
    assert rc != 0 and "it exited with 3" in failed["msg"] and failed["msg"].endswith("line 47\nline 48\nline 49")
    rc, judged = adhoc("trtllm.deploy.oneshot_container", dict(ARGS, command=["fail"], failed_when_rc=False), env=env)
    assert rc == 0 and judged["rc"] == 3
    rc, missing = adhoc("trtllm.deploy.oneshot_container",
                        dict(ARGS, spec={"image": "missing:image"}), env=dict(env, FAKE_DOCKER_IMAGE="missing:image"))
    assert rc != 0 and "missing:image is not on this host (pull never): role triton_container" in missing["msg"]


def test_without_docker_a_run_fails_and_a_judged_one_says_so(adhoc, tmp_path):
    env = {"PATH": str(tmp_path / "empty-bin")}
    rc, failed = adhoc("trtllm.deploy.oneshot_container", ARGS, env=env)
    assert rc != 0 and "docker was not found on this host" in failed["msg"]
    rc, judged = adhoc("trtllm.deploy.oneshot_container", dict(ARGS, failed_when_rc=False), env=env)
    assert rc == 0 and judged["rc"] == 127 and not judged["changed"]


def test_check_mode_runs_nothing(adhoc, docker):
    env, calls = docker
    rc, result = adhoc("trtllm.deploy.oneshot_container", ARGS, check=True, env=env)
    assert rc == 0 and result["changed"] and calls() == []
