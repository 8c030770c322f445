# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What trtllm-build would be asked to do, and whether it must run.

No Ansible imports. The module trtllm_build validates with validate(), builds the
command with build_argv() and decides with needs_build(): the engine in place is kept
when its manifest (module_utils.artifact) names the wanted key and lists every file.
"""

from __future__ import annotations

import json
import os

from ansible_collections.trtllm.deploy.plugins.module_utils.artifact import (
    MANIFEST,
    file_digests,
    hash_files,
    problems,
    read_manifest,
)

DTYPES = ("float16", "bfloat16", "float32")
CHUNKED_CONTEXT_FLAGS = [
    "--context_fmha=enable",
    "--use_paged_context_fmha=enable",
    "--context_fmha_fp32_acc=enable",
    "--multi_block_mode=enable",
]


class BuildInputError(Exception):
    """The inputs cannot give a correct engine; the message says what to fix."""


def _enable(value: bool) -> str:
    return "enable" if value else "disable"


# option -> (flag, how the value is written); the order is the workflow's command line.
FLAG_TABLE = [
    ("checkpoint_dir", "--checkpoint_dir", str),
    ("gpt_attention_plugin", "--gpt_attention_plugin", str),
    ("gemm_plugin", "--gemm_plugin", str),
    ("remove_input_padding", "--remove_input_padding", _enable),
    ("paged_kv_cache", "--paged_kv_cache", _enable),
    ("tp_size", "--tp_size", str),
    ("pp_size", "--pp_size", str),
    ("max_batch_size", "--max_batch_size", str),
    ("max_input_len", "--max_input_len", str),
    ("max_output_len", "--max_output_len", str),
    ("max_num_tokens", "--max_num_tokens", str),
    ("opt_num_tokens", "--opt_num_tokens", str),
    ("custom_all_reduce", "--use_custom_all_reduce", _enable),
    ("output_dir", "--output_dir", str),
    ("workers", "--workers", str),
]


def build_argv(executable: str, options: dict, output_dir: str | None = None) -> list[str]:
    """The command line; output_dir overrides options['output_dir'] (the temporary build dir)."""
    values = dict(options, output_dir=output_dir or options["output_dir"])
    argv = [executable]
    for name, flag, render in FLAG_TABLE:
        value = values.get(name)
        if value is None or (name == "workers" and value == 1):
            continue
        argv.append(f"{flag}={render(value)}")
    if values.get("chunked_context"):
        argv += CHUNKED_CONTEXT_FLAGS
    argv += list(values.get("extra_args") or [])
    return argv


def argv_options(argv: list[str]) -> dict:
    """trtllm-build's flags as a dict ('--max_batch_size=256' -> max_batch_size: '256'), output_dir left out."""
    options = {}
    for arg in argv[1:]:
        name, _, value = arg.lstrip("-").partition("=")
        if name != "output_dir":
            options[name] = value or True
    return options


def read_checkpoint(checkpoint_dir: str) -> dict:
    path = os.path.join(checkpoint_dir, "config.json")
    try:
        with open(path, encoding="utf-8") as handle:
            config = json.load(handle)
    except FileNotFoundError:
        raise BuildInputError(
            f"{path} does not exist: checkpoint_dir must hold a converted TensorRT-LLM checkpoint "
            "(run convert_checkpoint.py first)"
        ) from None
    except json.JSONDecodeError as err:
        raise BuildInputError(f"{path} is not JSON: {err}") from None
    mapping = config.get("mapping") or {}
    tp, pp = int(mapping.get("tp_size", 1)), int(mapping.get("pp_size", 1))
    world = int(mapping.get("world_size", tp * pp))
    if world != tp * pp:
        raise BuildInputError(f"{path}: mapping.world_size {world} is not tp_size {tp} x pp_size {pp}")
    return {"config": config, "tp_size": tp, "pp_size": pp, "world_size": world, "dtype": config.get("dtype")}


def option_problems(options: dict) -> tuple[list[str], list[str]]:
    """(problems, warnings) of the options alone, without a checkpoint: what the controller can check.

    trtllm-build 0.9.0 itself accepts all but the non-positive sizes: it builds a max_num_tokens below
    max_input_len when context FMHA is on (its default); that is refused here because without chunked
    context the server refuses every longer prompt (README, "Modules"). What 0.9.0 only adjusts
    (_common.check_max_num_tokens) or does not check is a warning that says what it will do.
    """
    problems, warnings = [], []
    dtype = options["dtype"]
    for plugin in ("gpt_attention_plugin", "gemm_plugin"):
        value = options.get(plugin)
        if value not in (None, "disable", dtype):
            warnings.append(f"{plugin} {value} differs from the model's dtype {dtype}: trtllm-build 0.9.0 does not "
                            "check it and builds the plugin in that precision")
    batch, input_len = options["max_batch_size"], options["max_input_len"]
    for name in ("max_batch_size", "max_input_len", "max_output_len", "max_num_tokens", "opt_num_tokens", "workers"):
        if options.get(name) is not None and int(options[name]) < 1:
            problems.append(f"{name} must be at least 1, got {options[name]}")
    if problems:
        return problems, warnings
    max_tokens, opt_tokens = options.get("max_num_tokens"), options.get("opt_num_tokens")
    if not options.get("remove_input_padding"):
        if max_tokens is not None or opt_tokens is not None:
            warnings.append("remove_input_padding is off: trtllm-build 0.9.0 ignores max_num_tokens and "
                            "opt_num_tokens")
    elif max_tokens is not None:
        if max_tokens > batch * input_len:
            warnings.append(f"max_num_tokens {max_tokens} exceeds max_batch_size x max_input_len = "
                            f"{batch * input_len}: trtllm-build 0.9.0 lowers it to {batch * input_len}")
            max_tokens = batch * input_len
        if max_tokens < input_len and not options.get("chunked_context"):
            problems.append(
                f"max_num_tokens {max_tokens} is below max_input_len {input_len}: the engine builds, but without "
                "chunked context the server refuses every prompt longer than max_num_tokens; raise "
                "max_num_tokens or enable chunked_context"
            )
        if opt_tokens is not None and opt_tokens > max_tokens:
            warnings.append(f"opt_num_tokens {opt_tokens} is above max_num_tokens {max_tokens}: trtllm-build 0.9.0 "
                            f"lowers it to {max_tokens}")
    return problems, warnings


def validate(options: dict, checkpoint: dict) -> list[str]:
    """Raise BuildInputError on inputs that cannot build the engine asked for; return warnings.

    Beyond option_problems(), against the checkpoint: trtllm-build 0.9.0 builds dummy weights for a
    missing rank file and ignores --tp_size/--pp_size for Llama (the checkpoint's mapping wins); both are
    refused here because the engine would not be the one asked for.
    """
    problems = []
    world = checkpoint["world_size"]
    missing = [f"rank{r}.safetensors" for r in range(world)
               if not os.path.isfile(os.path.join(options["checkpoint_dir"], f"rank{r}.safetensors"))]
    if missing:
        problems.append(
            f"checkpoint_dir {options['checkpoint_dir']} lacks {', '.join(missing)} (its config.json maps "
            f"{world} rank(s)); trtllm-build would only warn and build an engine of random weights"
        )
    for name in ("tp_size", "pp_size"):
        if options.get(name) is not None and int(options[name]) != checkpoint[name]:
            problems.append(f"{name} {options[name]} does not match the checkpoint's {name} {checkpoint[name]}: "
                            "trtllm-build 0.9.0 would ignore it and build the checkpoint's mapping; convert the "
                            "checkpoint again with that size")
    dtype = options["dtype"]
    if checkpoint["dtype"] and checkpoint["dtype"] != dtype:
        problems.append(f"dtype {dtype} does not match the checkpoint's dtype {checkpoint['dtype']}")
    option_errors, warnings = option_problems(options)
    problems += option_errors
    if problems:
        raise BuildInputError("; ".join(problems))
    return warnings


def checkpoint_files(checkpoint_dir: str, world: int) -> dict:
    """The converted checkpoint's files trtllm-build reads: name -> [size, sha256]."""
    names = ["config.json"] + [f"rank{r}.safetensors" for r in range(world)]
    return file_digests(hash_files(checkpoint_dir, names))


def engine_files_missing(output_dir: str, world: int) -> list[str]:
    wanted = ["config.json"] + [f"rank{r}.engine" for r in range(world)]
    return [name for name in wanted if not os.path.isfile(os.path.join(output_dir, name))]


def needs_build(output_dir: str, made: dict, world: int, force: bool) -> str | None:
    """Why a build is needed, or None when the engine in place is the artifact `made`, complete."""
    if force:
        return "force is set"
    manifest = read_manifest(output_dir)
    if not manifest:
        return f"no engine with a {MANIFEST} is there"
    missing = engine_files_missing(output_dir, world)
    if missing:
        return f"the engine lacks {', '.join(missing)}"
    return "; ".join(problems(output_dir, manifest, made)) or None
