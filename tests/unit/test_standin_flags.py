"""Contract: each stand-in command takes exactly the upstream flags, and behaves as upstream where it is cheap to see.

The flag lists are facts read from the pinned upstream sources (TensorRT-LLM 0.9.0, tensorrtllm_backend
r24.04); each file in testbed/sim/upstream-flags/ names its source. The parsers are imported, not run, so
no Docker and no stand-in image is needed.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SIM = REPO / "testbed" / "sim"
FLAGS = SIM / "upstream-flags"
BACKEND = SIM / "upstream" / "tensorrtllm_backend"
CONVERT = SIM / "upstream" / "TensorRT-LLM" / "examples" / "llama" / "convert_checkpoint.py"
FILL = BACKEND / "tools" / "fill_template.py"
LAUNCH = BACKEND / "scripts" / "launch_triton_server.py"


@pytest.fixture(autouse=True)
def standin_package(monkeypatch):
    """The stand-in tensorrt_llm package importable, as in the image."""
    monkeypatch.syspath_prepend(str(SIM / "trtllm"))


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_module():
    return importlib.import_module("tensorrt_llm.commands.build")


PARSERS = {
    "trtllm-build-0.9.0.txt": lambda: build_module().parser(),
    "convert_checkpoint-llama-0.9.0.txt": lambda: load(CONVERT, "convert_checkpoint").parser(),
    "fill_template-r24.04.txt": lambda: load(FILL, "fill_template").parser(),
    "launch_triton_server-r24.04.txt": lambda: load(LAUNCH, "launch_triton_server").parser(),
}


def recorded(name: str) -> list[str]:
    lines = (FLAGS / name).read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def accepted(parser: argparse.ArgumentParser) -> set[str]:
    """Every option string (positionals by name) the parser takes, argparse's own -h/--help left out."""
    names = set()
    for action in parser._actions:
        if not isinstance(action, argparse._HelpAction):
            names.update(action.option_strings or [action.dest])
    return names


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_the_stand_ins_flags_are_the_recorded_upstream_flags(name):
    upstream = recorded(name)
    assert len(upstream) == len(set(upstream)), f"{name} lists a flag twice"
    assert accepted(PARSERS[name]()) == set(upstream)


def test_every_flag_file_names_its_source_commit():
    for name in PARSERS:
        header = (FLAGS / name).read_text()
        assert "# Source:" in header and "# Commit:" in header and "# How read:" in header, name


@pytest.mark.parametrize("name, argv", [
    # Flags the stand-ins used to take that 0.9.0 does not have.
    ("trtllm-build-0.9.0.txt", ["--checkpoint_dir=c", "--nccl_plugin=float16"]),
    ("trtllm-build-0.9.0.txt", ["--checkpoint_dir=c", "--timing_cache=model.cache"]),
    ("trtllm-build-0.9.0.txt", ["--checkpoint_dir=c", "--weight_only_quant_matmul_plugin=float16"]),
    ("convert_checkpoint-llama-0.9.0.txt", ["--model_dir=m", "--enable_fp8"]),
    ("convert_checkpoint-llama-0.9.0.txt", ["--model_dir=m", "--dense_context_fmha"]),
])
def test_a_flag_upstream_lacks_is_refused_like_argparse(name, argv, capsys):
    with pytest.raises(SystemExit) as exited:
        PARSERS[name]().parse_args(argv)
    assert exited.value.code == 2
    assert f"unrecognized arguments: {argv[-1]}" in capsys.readouterr().err


# trtllm-build (tensorrt_llm/commands/build.py, _common.check_max_num_tokens at 0.9.0)


def test_trtllm_build_defaults_are_0_9_0s():
    args = build_module().parse_arguments(["--checkpoint_dir=c"])
    assert (args.max_batch_size, args.max_input_len, args.max_output_len, args.max_beam_width) == (1, 1024, 1024, 1)
    assert (args.max_num_tokens, args.opt_num_tokens, args.workers) == (None, None, 1)
    assert (args.input_timing_cache, args.output_timing_cache, args.log_level) == (None, "model.cache", "info")
    assert (args.gemm_plugin, args.gpt_attention_plugin, args.context_fmha, args.paged_kv_cache) == (
        None, "float16", "enable", "enable")
    assert (args.use_paged_context_fmha, args.tokens_per_block) == ("disable", 128)


def test_plugins_that_are_not_flags_keep_their_defaults_in_the_engine_config():
    build = build_module()
    plugins = build.plugin_config(build.parse_arguments(["--gemm_plugin=float16", "--context_fmha=disable"]))
    assert (plugins["gemm_plugin"], plugins["context_fmha"], plugins["nccl_plugin"]) == ("float16", False, "float16")
    assert plugins["weight_only_quant_matmul_plugin"] is None and plugins["quantize_per_token_plugin"] is False


def test_opt_num_tokens_above_max_num_tokens_is_lowered_with_0_9_0s_warning(capsys):
    build = build_module()
    build.set_level("info")
    assert build.check_max_num_tokens(1024, 4096, 256, 2048, 1, True, True, 128) == (1024, 1024)
    assert ("[TRT-LLM] [W] opt_num_tokens (4096) shouldn't be greater than max_num_tokens (1024), specifying to "
            "max_num_tokens (1024).") in capsys.readouterr().out


@pytest.mark.parametrize("given, context_fmha, wanted, warning", [
    # Unset: max_batch_size*max_input_len and max_batch_size*max_beam_width.
    ((None, None), True, (8 * 2048, 8), "while max_num_tokens is not set, setting to max_batch_size*max_input_len"),
    # Above max_batch_size*max_input_len: lowered (the message names the new value twice, as 0.9.0's).
    ((1 << 20, 64), True, (8 * 2048, 64), "max_num_tokens (16384) shouldn't be greater than max_input_len * "
                                          "max_batch_size (16384)"),
    # Below max_input_len with context FMHA (the default): built as given.
    ((1024, 64), True, (1024, 64), None),
    # ... without context FMHA: raised to max_input_len.
    ((1024, 64), False, (2048, 64), "When enable_context_fmha is not turned on, max_num_tokens (1024) should be at "
                                    "least max_input_len (2048), specifying to max_input_len (2048)."),
    # Below tokens_per_block with context FMHA: raised to it.
    ((100, 64), True, (128, 64), "you also need to enable context chunking at runtime"),
])
def test_max_num_tokens_follows_0_9_0(given, context_fmha, wanted, warning, capsys):
    build = build_module()
    build.set_level("info")
    assert build.check_max_num_tokens(*given, 8, 2048, 1, True, context_fmha, 128) == wanted
    out = capsys.readouterr().out
    assert (warning in out) if warning else "[W]" not in out


def test_without_remove_input_padding_the_token_limits_are_ignored_with_a_warning(capsys):
    build = build_module()
    build.set_level("info")
    assert build.check_max_num_tokens(1024, 4096, 8, 2048, 1, False, True, 128) == (1024, 4096)
    assert "the specified max_num_tokens/opt_num_tokens will be ignored." in capsys.readouterr().out


@pytest.mark.parametrize("architecture, wanted", [
    ("LlamaForCausalLM", {"world_size": 2, "tp_size": 2, "pp_size": 1}),  # the checkpoint's, flags ignored
    ("PhiForCausalLM", {"world_size": 4, "tp_size": 4, "pp_size": 1}),  # WEIGHT_LOADER_MODELS take the flags
])
def test_tp_and_pp_flags_apply_to_weight_loader_models_only(architecture, wanted):
    pretrained = {"architecture": architecture, "mapping": {"world_size": 2, "tp_size": 2, "pp_size": 1}}
    assert build_module().model_mapping(pretrained, 4, 1) == wanted


def test_multiple_profiles_with_opt_num_tokens_is_0_9_0s_runtime_error():
    build = build_module()
    args = build.parse_arguments(["--multiple_profiles=enable", "--opt_num_tokens=8"])
    with pytest.raises(RuntimeError, match="multiple_profiles is enabled, while opt_num_tokens is set"):
        build.build_config(args, build.plugin_config(args))


def test_an_unknown_log_level_passes_argparse_and_fails_after(capsys):
    build = build_module()
    args = build.parse_arguments(["--log_level=debug"])  # no choices in 0.9.0
    with pytest.raises(KeyError):
        build.set_level(args.log_level)


# convert_checkpoint.py (examples/llama at 0.9.0)


def test_convert_without_model_dir_writes_the_config_of_its_flags(tmp_path):
    convert = load(CONVERT, "convert_checkpoint")
    out = tmp_path / "ckpt"
    assert convert.main([f"--output_dir={out}", "--n_layer=2", "--n_head=4", "--n_kv_head=2", "--n_embd=64",
                         "--inter_size=128", "--vocab_size=512", "--tp_size=2", "--save_config_only"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["mapping"] == {"world_size": 2, "tp_size": 2, "pp_size": 1}
    assert (config["num_key_value_heads"], config["moe_tp_mode"], config["moe_normalization_mode"]) == (2, 2, 1)
    assert sorted(p.name for p in out.iterdir()) == ["config.json"]


def test_convert_moe_top_k_defaults_to_one_with_experts():
    _, args = load(CONVERT, "convert_checkpoint").parse_arguments(["--moe_num_experts=8"])
    assert args.moe_top_k == 1


# fill_template.py (tools/ at r24.04)


def test_fill_template_ignores_unknown_keys_and_keeps_unfilled_placeholders(tmp_path):
    template = tmp_path / "config.pbtxt"
    template.write_text('max_batch_size: ${triton_max_batch_size}\nkey: "${engine_dir}"\n')
    load(FILL, "fill_template").main(str(template), "triton_max_batch_size:8,no_such_key:1", True)
    assert template.read_text() == 'max_batch_size: 8\nkey: "${engine_dir}"\n'


@pytest.mark.parametrize("substitutions", ["engine_dir:/a:b", "gpu_device_ids:0,1", r"tokenizer_dir:C\,D"])
def test_fill_template_fails_on_a_value_with_a_colon_or_a_comma(tmp_path, substitutions):
    template = tmp_path / "config.pbtxt"
    template.write_text("${engine_dir} ${gpu_device_ids} ${tokenizer_dir}\n")
    with pytest.raises(ValueError):
        load(FILL, "fill_template").main(str(template), substitutions, True)


# launch_triton_server.py (scripts/ at r24.04)


@pytest.fixture
def launch(monkeypatch):
    """Run the script as __main__ with pgrep answering `running` and mpirun recorded, not started."""
    calls, started = [], []
    real_run = subprocess.run

    def fake_run(argv, **kwargs):
        if argv[0] != "pgrep":
            return real_run(argv, **kwargs)
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 0 if running else 1, stdout=running, stderr="")

    def fake_popen(argv, env=None, **kwargs):
        started.append((argv, env))

    monkeypatch.setattr(subprocess, "run", fake_run)
    monkeypatch.setattr(subprocess, "Popen", fake_popen)
    running = ""

    def run(*argv, pids=""):
        nonlocal running
        running = pids
        monkeypatch.setattr(sys, "argv", [str(LAUNCH), *argv])
        runpy.run_path(str(LAUNCH), run_name="__main__")
        return calls[-1], started

    return run


def test_launch_looks_only_for_running_servers(launch):
    # r24.04 asks `pgrep -r R tritonserver`: an idle server sleeps, is not found, and a second one is started.
    pgrep, started = launch("--model_repo=/r")
    assert pgrep == ["pgrep", "-r", "R", "tritonserver"]
    assert started[0][0][:2] == ["mpirun", "--allow-run-as-root"]


def test_launch_refuses_a_server_it_sees_running_unless_forced(launch):
    with pytest.raises(RuntimeError, match="already found with PID"):
        launch("--model_repo=/r", pids="42\n")
    _, started = launch("--model_repo=/r", "--force", pids="42\n")
    assert len(started) == 1


def test_launch_multi_model_sets_the_orchestrator(launch):
    _, started = launch("--model_repo=/r", "--multi-model")
    assert started[0][1]["TRTLLM_ORCHESTRATOR"] == "1"
