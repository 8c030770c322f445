"""trtllm-build: the 0.9.0 command line, building stand-in engines from a checkpoint."""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from safetensors.numpy import load_file

from .. import __version__, cuda
from ..checkpoint import CheckpointError, numpy_dtype, read_trtllm_config
from ..engine import write_rank

PLUGIN_DTYPES = ["float16", "float32", "bfloat16", "disable"]
PLUGIN_DTYPE_OPTIONS = {
    "bert_attention_plugin": "float16",
    "gpt_attention_plugin": "float16",
    "gemm_plugin": "disable",
    "lookup_plugin": "disable",
    "lora_plugin": "disable",
    "moe_plugin": "float16",
    "mamba_conv1d_plugin": "float16",
    "nccl_plugin": "float16",
    "smooth_quant_gemm_plugin": "disable",
    "layernorm_quantization_plugin": "disable",
    "rmsnorm_quantization_plugin": "disable",
    "identity_plugin": "disable",
    "weight_only_groupwise_quant_matmul_plugin": "disable",
    "weight_only_quant_matmul_plugin": "disable",
}
SWITCH_OPTIONS = {
    "context_fmha": "enable",
    "context_fmha_fp32_acc": "disable",
    "paged_kv_cache": "enable",
    "remove_input_padding": "enable",
    "use_custom_all_reduce": "enable",
    "multi_block_mode": "disable",
    "enable_xqa": "enable",
    "attention_qk_half_accumulation": "disable",
    "use_paged_context_fmha": "disable",
    "use_fp8_context_fmha": "disable",
    "use_context_fmha_for_generation": "disable",
    "multiple_profiles": "disable",
    "paged_state": "enable",
    "streamingllm": "disable",
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="trtllm-build", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--checkpoint_dir", type=str, default=None)
    p.add_argument("--model_config", type=str, default=None)
    p.add_argument("--build_config", type=str, default=None)
    p.add_argument("--model_cls_file", type=str, default=None)
    p.add_argument("--model_cls_name", type=str, default=None)
    p.add_argument("--timing_cache", type=str, default="model.cache")
    p.add_argument("--log_level", type=str, default="info", choices=["internal_error", "error", "warning", "info",
                                                                       "verbose", "debug"])
    p.add_argument("--profiling_verbosity", type=str, default="layer_names_only",
                   choices=["layer_names_only", "detailed", "none"])
    p.add_argument("--enable_debug_output", default=False, action="store_true")
    p.add_argument("--output_dir", type=str, default="engine_outputs")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--max_batch_size", type=int, default=256)
    p.add_argument("--max_input_len", type=int, default=1024)
    p.add_argument("--max_output_len", type=int, default=1024)
    p.add_argument("--max_beam_width", type=int, default=1)
    p.add_argument("--max_num_tokens", type=int, default=None)
    p.add_argument("--opt_num_tokens", type=int, default=None)
    p.add_argument("--tp_size", type=int, default=1)
    p.add_argument("--pp_size", type=int, default=1)
    p.add_argument("--max_prompt_embedding_table_size", "--max_multimodal_len", type=int, default=0)
    p.add_argument("--use_fused_mlp", default=False, action="store_true")
    p.add_argument("--gather_all_token_logits", action="store_true", default=False)
    p.add_argument("--gather_context_logits", action="store_true", default=False)
    p.add_argument("--gather_generation_logits", action="store_true", default=False)
    p.add_argument("--strongly_typed", default=False, action="store_true")
    p.add_argument("--builder_opt", type=int, default=None)
    p.add_argument("--logits_dtype", type=str, default=None, choices=["float16", "float32"])
    p.add_argument("--weight_only_precision", type=str, default=None, choices=["int8", "int4"])
    p.add_argument("--weight_sparsity", default=False, action="store_true")
    p.add_argument("--max_draft_len", type=int, default=0)
    p.add_argument("--auto_parallel", type=int, default=1)
    p.add_argument("--gpus_per_node", type=int, default=8)
    plugins = p.add_argument_group("plugin_config")
    for name, default in PLUGIN_DTYPE_OPTIONS.items():
        plugins.add_argument(f"--{name}", type=str, default=default, choices=PLUGIN_DTYPES)
    for name, default in SWITCH_OPTIONS.items():
        plugins.add_argument(f"--{name}", type=str, default=default, choices=["enable", "disable"])
    plugins.add_argument("--tokens_per_block", type=int, default=128)
    return p


def plugin_config(args: argparse.Namespace) -> dict:
    config = {}
    for name in PLUGIN_DTYPE_OPTIONS:
        value = getattr(args, name)
        config[name] = None if value == "disable" else value
    for name in SWITCH_OPTIONS:
        config[name] = getattr(args, name) == "enable"
    config["tokens_per_block"] = args.tokens_per_block
    return config


def check(args: argparse.Namespace, plugins: dict, pretrained: dict, fail) -> list[str]:
    """Refuse combinations TensorRT-LLM 0.9.0 refuses; return warnings for the ones it tolerates."""
    for name in ("max_batch_size", "max_input_len", "max_output_len", "max_beam_width", "workers", "tp_size",
                 "pp_size", "tokens_per_block"):
        if getattr(args, name) < 1:
            fail(f"--{name} must be a positive integer, got {getattr(args, name)}")
    mapping = pretrained["mapping"]
    if (args.tp_size, args.pp_size) not in ((1, 1), (mapping["tp_size"], mapping["pp_size"])):
        fail(f"--tp_size {args.tp_size} --pp_size {args.pp_size} do not match the checkpoint's mapping "
             f"(tp_size {mapping['tp_size']}, pp_size {mapping['pp_size']}); convert the checkpoint with them")
    if plugins["paged_kv_cache"] and not plugins["gpt_attention_plugin"]:
        fail("Paged KV cache is only supported with --gpt_attention_plugin enabled")
    if plugins["remove_input_padding"] and not plugins["gpt_attention_plugin"]:
        fail("--remove_input_padding requires --gpt_attention_plugin")
    if plugins["use_paged_context_fmha"] and not (plugins["context_fmha"] and plugins["paged_kv_cache"]):
        fail("--use_paged_context_fmha requires --context_fmha enable and --paged_kv_cache enable")
    if plugins["gpt_attention_plugin"] == "bfloat16" or pretrained["dtype"] == "bfloat16":
        fail("bfloat16 is not supported by the CPU stand-in")
    numpy_dtype(pretrained["dtype"])
    warnings = []
    if args.max_num_tokens is not None and args.max_num_tokens < args.max_input_len \
            and not plugins["use_paged_context_fmha"]:
        warnings.append(f"max_num_tokens ({args.max_num_tokens}) is smaller than max_input_len ({args.max_input_len}):"
                        " prompts longer than max_num_tokens fail at run time unless context chunking is enabled")
    if None not in (args.opt_num_tokens, args.max_num_tokens) and args.opt_num_tokens > args.max_num_tokens:
        fail(f"--opt_num_tokens ({args.opt_num_tokens}) must not exceed --max_num_tokens ({args.max_num_tokens})")
    if args.max_input_len > pretrained.get("max_position_embeddings", args.max_input_len):
        warnings.append(f"max_input_len ({args.max_input_len}) exceeds max_position_embeddings")
    return warnings


def build_config(args: argparse.Namespace, plugins: dict) -> dict:
    max_num_tokens = args.max_num_tokens
    if max_num_tokens is None:
        max_num_tokens = args.max_batch_size * args.max_input_len if plugins["remove_input_padding"] else None
    return {
        "max_input_len": args.max_input_len,
        "max_output_len": args.max_output_len,
        "max_batch_size": args.max_batch_size,
        "max_beam_width": args.max_beam_width,
        "max_num_tokens": max_num_tokens,
        "opt_num_tokens": args.opt_num_tokens,
        "max_prompt_embedding_table_size": args.max_prompt_embedding_table_size,
        "gather_context_logits": args.gather_context_logits or args.gather_all_token_logits,
        "gather_generation_logits": args.gather_generation_logits or args.gather_all_token_logits,
        "strongly_typed": args.strongly_typed,
        "builder_opt": args.builder_opt,
        "profiling_verbosity": args.profiling_verbosity,
        "enable_debug_output": args.enable_debug_output,
        "max_draft_len": args.max_draft_len,
        "use_refit": False,
        "input_timing_cache": None,
        "output_timing_cache": args.timing_cache,
        "lora_config": {"lora_dir": [], "lora_ckpt_source": "hf", "max_lora_rank": 64, "lora_target_modules": []},
        "auto_parallel_config": {"world_size": args.auto_parallel, "gpus_per_node": args.gpus_per_node},
        "weight_sparsity": args.weight_sparsity,
        "plugin_config": plugins,
    }


def log(level: str, message: str) -> None:
    stamp = time.strftime("%H:%M:%S")
    print(f"[{stamp}] [TRT-LLM] [{level}] {message}", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)

    def fail(message: str):
        p.error(message)

    print(f"[TensorRT-LLM] TensorRT-LLM version: {__version__}", flush=True)
    if args.checkpoint_dir is None:
        fail("--checkpoint_dir is required (the stand-in does not build from --model_config)")
    checkpoint = Path(args.checkpoint_dir)
    try:
        pretrained = read_trtllm_config(checkpoint)
    except CheckpointError as exc:
        fail(str(exc))
    plugins = plugin_config(args)
    try:
        warnings = check(args, plugins, pretrained, fail)
    except CheckpointError as exc:
        fail(str(exc))
    for warning in warnings:
        log("W", warning)
    world_size = pretrained["mapping"]["world_size"]
    missing = [f"rank{r}.safetensors" for r in range(world_size) if not (checkpoint / f"rank{r}.safetensors").is_file()]
    if missing:
        log("E", f"{checkpoint} lacks {', '.join(missing)} for world_size {world_size}")
        return 1
    gpus = cuda.visible_gpus()
    if not gpus and not cuda.no_gpu_allowed():
        log("E", "CUDA initialization failure with error: 100 (no CUDA-capable device is detected); "
                 "TensorRT builds on a GPU: run trtllm-build where GPUs are visible (--gpus)")
        return 1
    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    dtype = numpy_dtype(pretrained["dtype"])
    rank_bytes = cuda.model_bytes(pretrained, pretrained["dtype"]) // world_size
    started = time.monotonic()

    def build_rank(rank: int) -> None:
        log("I", f"Building rank {rank} of {world_size} from {checkpoint / f'rank{rank}.safetensors'}")
        # 0.9.0: gpu_id = rank % min(device_count, --workers); with one worker every rank builds on GPU 0.
        gpu = rank % max(1, min(len(gpus), args.workers)) if gpus else None
        held = cuda.allocate({gpu: rank_bytes + cuda.BUILDER_WORKSPACE_BYTES + cuda.CONTEXT_BYTES},
                             f"trtllm-build rank {rank}", style="tensorrt") if gpus else None
        try:
            weights = load_file(str(checkpoint / f"rank{rank}.safetensors"))
            write_rank(output / f"rank{rank}.engine",
                       {k: v.astype(dtype) if v.dtype.kind == "f" else v for k, v in weights.items()}, rank)
        finally:
            if held:
                held.release()
        log("I", f"Engine serialized to {output / f'rank{rank}.engine'}")

    try:
        with ThreadPoolExecutor(max_workers=max(1, min(args.workers, world_size))) as pool:
            list(pool.map(build_rank, range(world_size)))
    except cuda.OutOfMemory as exc:
        log("E", str(exc))
        return 1
    config = {"version": __version__, "pretrained_config": pretrained, "build_config": build_config(args, plugins)}
    (output / "config.json").write_text(json.dumps(config, indent=4) + "\n")
    elapsed = time.gmtime(time.monotonic() - started)
    log("I", f"Total time of building all engines: {time.strftime('%H:%M:%S', elapsed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
