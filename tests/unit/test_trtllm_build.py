"""trtllm_build: exact command lines, validation, and content-key idempotency through Ansible."""

from __future__ import annotations

import json
import os
import sys

import pytest

from ansible_collections.trtllm.deploy.plugins.module_utils import engine_build as eb
from ansible_collections.trtllm.deploy.plugins.module_utils.artifact import MANIFEST

SEED = {
    "checkpoint_dir": "/models/trt/Meta-Llama-3-8B-Instruct-trt-ckpt",
    "output_dir": "/models/trt/Meta-Llama-3-8B-Instruct-trt-engine",
    "dtype": "float16", "gpt_attention_plugin": "float16", "gemm_plugin": "float16",
    "remove_input_padding": True, "paged_kv_cache": True, "tp_size": 1,
    "max_batch_size": 256, "max_input_len": 2048, "max_output_len": 1024,
    "max_num_tokens": 1024, "opt_num_tokens": 1024, "workers": 1, "extra_args": [],
}
SEED_ARGV = [
    "trtllm-build",
    "--checkpoint_dir=/models/trt/Meta-Llama-3-8B-Instruct-trt-ckpt",
    "--gpt_attention_plugin=float16", "--gemm_plugin=float16",
    "--remove_input_padding=enable", "--paged_kv_cache=enable", "--tp_size=1",
    "--max_batch_size=256", "--max_input_len=2048", "--max_output_len=1024",
    "--max_num_tokens=1024", "--opt_num_tokens=1024",
    "--output_dir=/models/trt/Meta-Llama-3-8B-Instruct-trt-engine",
]
CHUNKED = ["--context_fmha=enable", "--use_paged_context_fmha=enable", "--context_fmha_fp32_acc=enable",
           "--multi_block_mode=enable"]


def test_the_workflows_command_line_without_chunked_prompt():
    assert eb.build_argv("trtllm-build", dict(SEED, chunked_context=False)) == SEED_ARGV


def test_the_workflows_command_line_with_chunked_prompt():
    assert eb.build_argv("trtllm-build", dict(SEED, chunked_context=True)) == SEED_ARGV + CHUNKED


def test_workers_and_extra_args_are_appended():
    argv = eb.build_argv("trtllm-build", dict(SEED, workers=2, extra_args=["--strongly_typed"]))
    assert argv[-2:] == ["--workers=2", "--strongly_typed"]


def test_custom_all_reduce_is_trtllm_builds_default_unless_set():
    assert not any("use_custom_all_reduce" in a for a in eb.build_argv("trtllm-build", SEED))
    argv = eb.build_argv("trtllm-build", dict(SEED, custom_all_reduce=False))
    assert "--use_custom_all_reduce=disable" in argv
    output_dir = next(a for a in argv if a.startswith("--output_dir"))
    assert argv.index("--use_custom_all_reduce=disable") < argv.index(output_dir)


def make_checkpoint(path, tp=1, dtype="float16", ranks=None):
    path.mkdir(parents=True, exist_ok=True)
    mapping = {"world_size": tp, "tp_size": tp, "pp_size": 1}
    config = {"architecture": "LlamaForCausalLM", "dtype": dtype, "mapping": mapping}
    (path / "config.json").write_text(json.dumps(config))
    for r in range(tp if ranks is None else ranks):
        (path / f"rank{r}.safetensors").write_bytes(b"weights-%d" % r)
    return path


@pytest.mark.parametrize("change, message", [
    # trtllm-build 0.9.0 would build the checkpoint's tp 1: the server launched for tp 2 would not match it.
    ({"tp_size": 2}, "tp_size 2 does not match the checkpoint's tp_size 1: trtllm-build 0.9.0 would ignore it"),
    ({"dtype": "bfloat16", "gpt_attention_plugin": "bfloat16", "gemm_plugin": "bfloat16"},
     "dtype bfloat16 does not match the checkpoint's dtype float16"),
    # 0.9.0 builds it (context FMHA on), but r24.04 then refuses every prompt above max_num_tokens.
    ({"chunked_context": False}, "max_num_tokens 1024 is below max_input_len 2048: the engine builds, but"),
    ({"max_batch_size": 0}, "max_batch_size must be at least 1, got 0"),
])
def test_inputs_that_cannot_build_the_engine_asked_for(tmp_path, change, message):
    ckpt = make_checkpoint(tmp_path / "ckpt")
    options = {**SEED, "checkpoint_dir": str(ckpt), "chunked_context": True, **change}
    with pytest.raises(eb.BuildInputError, match=message):
        eb.validate(options, eb.read_checkpoint(str(ckpt)))


@pytest.mark.parametrize("change, warning", [
    # _common.check_max_num_tokens (0.9.0) lowers both, with a warning, and builds.
    ({"opt_num_tokens": 4096, "max_num_tokens": 2048},
     "opt_num_tokens 4096 is above max_num_tokens 2048: trtllm-build 0.9.0 lowers it to 2048"),
    ({"max_batch_size": 1, "max_num_tokens": 4096, "opt_num_tokens": 4096},
     "max_num_tokens 4096 exceeds max_batch_size x max_input_len = 2048: trtllm-build 0.9.0 lowers it to 2048"),
    ({"remove_input_padding": False}, "remove_input_padding is off: trtllm-build 0.9.0 ignores max_num_tokens"),
    # 0.9.0 checks no plugin dtype against the model's.
    ({"gemm_plugin": "float32"}, "gemm_plugin float32 differs from the model's dtype float16"),
])
def test_what_0_9_0_adjusts_or_does_not_check_is_a_warning(tmp_path, change, warning):
    ckpt = make_checkpoint(tmp_path / "ckpt")
    options = {**SEED, "checkpoint_dir": str(ckpt), "chunked_context": True, **change}
    assert warning in " | ".join(eb.validate(options, eb.read_checkpoint(str(ckpt))))


def test_the_lowered_max_num_tokens_is_the_one_checked_against_max_input_len(tmp_path):
    ckpt = make_checkpoint(tmp_path / "ckpt")
    options = {**SEED, "checkpoint_dir": str(ckpt), "chunked_context": False, "max_batch_size": 1,
               "max_input_len": 2048, "max_num_tokens": 8192, "opt_num_tokens": 8192}
    # No refusal: 8192 becomes 2048, which is not below max_input_len; opt_num_tokens follows it down.
    assert eb.validate(options, eb.read_checkpoint(str(ckpt))) == [
        "max_num_tokens 8192 exceeds max_batch_size x max_input_len = 2048: trtllm-build 0.9.0 lowers it to 2048",
        "opt_num_tokens 8192 is above max_num_tokens 2048: trtllm-build 0.9.0 lowers it to 2048"]


def test_a_missing_rank_file_is_refused(tmp_path):
    ckpt = make_checkpoint(tmp_path / "ckpt", tp=2, ranks=1)
    with pytest.raises(eb.BuildInputError, match="lacks rank1.safetensors .* random weights"):
        eb.validate(dict(SEED, checkpoint_dir=str(ckpt), tp_size=2, chunked_context=True),
                    eb.read_checkpoint(str(ckpt)))


FAKE_BUILD = r'''#!{python}
import json, os, sys
if sys.argv[1:] == ["--version"]:  # 0.9.0's trtllm-build has no --version: argparse refuses it
    print("trtllm-build: error: unrecognized arguments: --version", file=sys.stderr); sys.exit(2)
args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if "=" in a)
with open(os.environ["FAKE_BUILD_LOG"], "a") as log:
    log.write(" ".join(sys.argv[1:]) + "\n")
out = args["output_dir"]
os.makedirs(out, exist_ok=True)
ckpt = json.load(open(os.path.join(args["checkpoint_dir"], "config.json")))
world = ckpt["mapping"]["world_size"]
if os.environ.get("FAKE_BUILD_DIE"):
    open(os.path.join(out, "rank0.engine"), "w").write("partial")
    sys.exit(1)
build_config = {"max_batch_size": int(args["max_batch_size"])}
engine = {"version": "0.9.0", "pretrained_config": ckpt, "build_config": build_config}
json.dump(engine, open(os.path.join(out, "config.json"), "w"))
for r in range(world):
    open(os.path.join(out, "rank%d.engine" % r), "w").write("engine")
'''


@pytest.fixture
def build(adhoc, tmp_path):
    exe = tmp_path / "trtllm-build"
    exe.write_text(FAKE_BUILD.replace("{python}", sys.executable))
    exe.chmod(0o755)
    log = tmp_path / "builds.log"
    log.touch()
    ckpt = make_checkpoint(tmp_path / "ckpt", tp=2)
    args = dict(SEED, checkpoint_dir=str(ckpt), output_dir=str(tmp_path / "engine"), tp_size=2,
                chunked_context=True, executable=str(exe))
    args.pop("workers")

    def run(env=None, check=False, **change):
        environment = {"FAKE_BUILD_LOG": str(log), **(env or {})}
        rc, result = adhoc("trtllm.deploy.trtllm_build", dict(args, **change), check=check, env=environment)
        return rc, result, len(log.read_text().splitlines())

    return run


def test_builds_once_then_only_when_an_input_changes(build, tmp_path):
    rc, first, builds = build()
    assert rc == 0, first
    assert first["changed"] is True and builds == 1
    assert first["mapping"] == {"world_size": 2, "tp_size": 2, "pp_size": 1}
    assert first["config"]["build_config"]["max_batch_size"] == 256
    assert sorted(os.listdir(tmp_path / "engine")) == ["config.json", "rank0.engine", "rank1.engine", MANIFEST]
    manifest = json.loads((tmp_path / "engine" / MANIFEST).read_text())
    assert manifest["kind"] == "engine" and manifest["key"] == first["key"] == first["manifest"]["key"]
    command = manifest["inputs"]["command"]
    assert command["max_batch_size"] == "256" and "output_dir" not in command
    assert sorted(manifest["files"]) == ["config.json", "rank0.engine", "rank1.engine"]
    rc, second, builds = build()
    assert (rc, second["changed"], second["reason"], builds) == (0, False, None, 1)

    rc, check, builds = build(check=True, max_batch_size=64)
    assert (check["changed"], check["reason"], builds) == (True, "it was made for command.max_batch_size 256 -> 64", 1)

    (tmp_path / "ckpt" / "rank1.safetensors").write_bytes(b"new weights")
    rc, third, builds = build()
    assert third["reason"] == "it was made for files (rank1.safetensors)" and builds == 2

    made = {"kind": "engine", "key": "e" * 64, "inputs": {"build_options": {"max_batch_size": 256}}}
    rc, keyed, builds = build(artifact=made, origin="node-1")
    assert keyed["reason"].startswith("it was made for") and builds == 3
    assert json.loads((tmp_path / "engine" / MANIFEST).read_text())["origin"] == "node-1"
    assert build(artifact=made)[0:3:2] == (0, 3), "the same artifact again builds nothing"
    rc, refused, _ = build(artifact={"kind": "model", "key": "m", "inputs": {}})
    assert rc != 0 and "must be an engine artifact" in refused["msg"]


def test_a_killed_build_leaves_the_old_engine_and_nothing_that_looks_complete(build, tmp_path):
    build()
    before = (tmp_path / "engine" / MANIFEST).read_text()
    rc, result, _ = build(env={"FAKE_BUILD_DIE": "1"}, force=True)
    assert rc != 0
    assert "trtllm-build exited with 1; nothing was changed" in result["msg"]
    assert (tmp_path / "engine" / MANIFEST).read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".engine")) == []


FAKE_DOCKER = r'''#!{python}
import os, subprocess, sys
# docker run --rm ... IMAGE CMD...: the container sees the host's {root} at /c.
args = sys.argv[1:]
assert args[:3] == ["run", "--rm", "--pull=never"] and "--gpus" in args, args
cmd = [a.replace("/c/", "{root}/") for a in args[args.index("serving:image") + 1:]]
sys.exit(subprocess.call(["{root}/trtllm-build"] + cmd[1:]))
'''
def container(host_dir):
    """The serving container's spec, its one mount at /c."""
    return {"image": "serving:image", "gpus": "all", "mounts": {"/c": str(host_dir)}}


def test_runs_in_the_container_through_its_mounts(build, tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    docker = bindir / "docker"
    docker.write_text(FAKE_DOCKER.replace("{python}", sys.executable).replace("{root}", str(tmp_path)))
    docker.chmod(0o755)
    env = {"PATH": f"{bindir}:{os.environ['PATH']}"}
    rc, result, builds = build(env=env, container=container(tmp_path), container_name="triton_server-build",
                               executable="trtllm-build", toolchain="0.9.0")
    assert rc == 0, result
    assert result["argv"][0] == "trtllm-build"
    assert "--checkpoint_dir=/c/ckpt" in result["argv"] and result["argv"][-5] == "--output_dir=/c/engine"
    assert builds == 1 and (tmp_path / "engine" / "rank1.engine").is_file()

    rc, outside, _ = build(env=env, container=container("/elsewhere"), executable="trtllm-build", toolchain="0.9.0")
    assert rc != 0 and "is under none of the container's mounts (/elsewhere)" in outside["msg"]


def test_check_mode_on_a_host_without_docker_says_it_would_build(build, tmp_path):
    env = {"PATH": str(tmp_path / "empty-bin")}
    rc, check, builds = build(env=env, check=True, container=container(tmp_path), toolchain="0.9.0")
    assert (rc, check["changed"], check["reason"], builds) == (0, True, "docker is not installed yet", 0)
    rc, failed, _ = build(env=env, container=container(tmp_path), toolchain="0.9.0")
    assert rc != 0 and "docker was not found on this host" in failed["msg"]
