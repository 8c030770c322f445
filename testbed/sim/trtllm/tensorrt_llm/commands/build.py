"""trtllm-build: TensorRT-LLM 0.9.0's command line, building stand-in engines from a checkpoint.

It follows 0.9.0's tensorrt_llm/commands/build.py, _common.check_max_num_tokens and builder.build
(testbed/sim/UPSTREAM-FACTS.md, "trtllm-build and convert_checkpoint.py"): the same flags
(testbed/sim/upstream-flags/trtllm-build-0.9.0.txt), defaults, warnings and clamps; --tp_size/--pp_size
ignored for Llama (the checkpoint's mapping wins); the output directory made before anything is read; a
missing rank file warned about and built from dummy weights; failures after parsing are exceptions
(exit 1), argparse's are exit 2. What the CPU stand-in cannot do (quantization, LoRA, auto parallel,
bfloat16, other model classes) fails with a message that says so.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .. import __version__, cuda

PLUGIN_DTYPES = ["float16", "float32", "bfloat16", "disable"]
# PluginConfig's fields and defaults (plugin/plugin.py); they all go into the engine's plugin_config.
PLUGIN_DEFAULTS = {
    "bert_attention_plugin": "float16",
    "gpt_attention_plugin": "float16",
    "gemm_plugin": None,
    "smooth_quant_gemm_plugin": None,
    "identity_plugin": None,
    "layernorm_quantization_plugin": None,
    "rmsnorm_quantization_plugin": None,
    "nccl_plugin": "float16",
    "lookup_plugin": None,
    "lora_plugin": None,
    "weight_only_groupwise_quant_matmul_plugin": None,
    "weight_only_quant_matmul_plugin": None,
    "quantize_per_token_plugin": False,
    "quantize_tensor_plugin": False,
    "moe_plugin": "float16",
    "mamba_conv1d_plugin": "float16",
    "context_fmha": True,
    "context_fmha_fp32_acc": False,
    "paged_kv_cache": True,
    "remove_input_padding": True,
    "use_custom_all_reduce": True,
    "multi_block_mode": False,
    "enable_xqa": True,
    "attention_qk_half_accumulation": False,
    "tokens_per_block": 128,
    "use_paged_context_fmha": False,
    "use_fp8_context_fmha": False,
    "use_context_fmha_for_generation": False,
    "multiple_profiles": False,
    "paged_state": True,
    "streamingllm": False,
}
# Only these are flags (cli_plugin_args); the others are set by the builder.
CLI_PLUGIN_ARGS = [
    "bert_attention_plugin", "gpt_attention_plugin", "gemm_plugin", "lookup_plugin", "lora_plugin", "moe_plugin",
    "mamba_conv1d_plugin", "context_fmha", "context_fmha_fp32_acc", "paged_kv_cache", "remove_input_padding",
    "use_custom_all_reduce", "multi_block_mode", "enable_xqa", "attention_qk_half_accumulation", "tokens_per_block",
    "use_paged_context_fmha", "use_fp8_context_fmha", "use_context_fmha_for_generation", "multiple_profiles",
    "paged_state", "streamingllm",
]
LORA_MODULES = ["attn_qkv", "attn_q", "attn_k", "attn_v", "attn_dense", "mlp_h_to_4h", "mlp_gate", "mlp_4h_to_h"]
CLUSTER_KEYS = ["A100-SXM-80GB", "A100-SXM-40GB", "A100-PCIe-80GB", "A100-PCIe-40GB", "H100-SXM", "H100-PCIe",
                "V100-PCIe-16GB", "V100-PCIe-32GB", "V100-SMX-16GB", "V100-SMX-32GB", "V100S-PCIe", "A40", "A30",
                "A10", "A10G", "L40S", "L40", "L4"]
# logger.severity_map; an unknown --log_level is a KeyError there.
LOG_LEVELS = {"internal_error": 0, "error": 1, "warning": 2, "info": 3, "verbose": 4}
SEVERITY = {"F": 0, "E": 1, "W": 2, "I": 3, "V": 4}
# modeling_utils.WEIGHT_LOADER_MODELS: the only architectures whose mapping --tp_size/--pp_size set.
WEIGHT_LOADER_MODELS = {"PhiForCausalLM"}
SUPPORTED_ARCHITECTURES = ("LlamaForCausalLM",)
_level = LOG_LEVELS["warning"]


class StandInLimit(RuntimeError):
    """What TensorRT-LLM 0.9.0 does but the CPU stand-in cannot."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="trtllm-build")
    p.add_argument("--checkpoint_dir", type=str, default=None)
    p.add_argument("--model_config", type=str, default=None)
    p.add_argument("--build_config", type=str, default=None)
    p.add_argument("--model_cls_file", type=str, default=None)
    p.add_argument("--model_cls_name", type=str, default=None)
    p.add_argument("--input_timing_cache", type=str, default=None,
                   help="timing cache to read; ignored when the file does not exist")
    p.add_argument("--output_timing_cache", type=str, default="model.cache", help="timing cache to write")
    p.add_argument("--log_level", type=str, default="info")
    p.add_argument("--profiling_verbosity", type=str, default="layer_names_only",
                   choices=["layer_names_only", "detailed", "none"])
    p.add_argument("--enable_debug_output", default=False, action="store_true")
    p.add_argument("--output_dir", type=str, default="engine_outputs")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--max_batch_size", type=int, default=1)
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
    p.add_argument("--lora_dir", type=str, default=None, nargs="+")
    p.add_argument("--lora_ckpt_source", type=str, default="hf", choices=["hf", "nemo"])
    p.add_argument("--lora_target_modules", nargs="+", default=None, choices=LORA_MODULES)
    p.add_argument("--max_lora_rank", type=int, default=64)
    p.add_argument("--auto_parallel", type=int, default=1)
    p.add_argument("--gpus_per_node", type=int, default=8)
    p.add_argument("--cluster_key", type=str, default=None, choices=CLUSTER_KEYS)
    plugins = p.add_argument_group("plugin_config")
    for name in CLI_PLUGIN_ARGS:
        default = PLUGIN_DEFAULTS[name]
        if isinstance(default, bool):
            plugins.add_argument(f"--{name}", type=str, default="enable" if default else "disable",
                                 choices=["enable", "disable"])
        elif isinstance(default, int):
            plugins.add_argument(f"--{name}", type=int, default=default)
        else:
            plugins.add_argument(f"--{name}", type=str, default=default, choices=PLUGIN_DTYPES)
    return p


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    args = parser().parse_args(argv)
    if args.gather_all_token_logits:
        args.gather_context_logits = True
        args.gather_generation_logits = True
    return args


def log(level: str, message: str) -> None:
    """tensorrt_llm.logger's format: [%m/%d/%Y-%H:%M:%S] [TRT-LLM] [W] message, on stdout."""
    if SEVERITY[level] <= _level:
        print(f"[{time.strftime('%m/%d/%Y-%H:%M:%S')}] [TRT-LLM] [{level}] {message}", flush=True)


def set_level(name: str) -> None:
    global _level
    _level = LOG_LEVELS[name]  # KeyError for a level 0.9.0 does not know, as there


def plugin_config(args: argparse.Namespace) -> dict:
    """PluginConfig.from_arguments: every field, the flags' values over the defaults ('disable' -> None)."""
    config = dict(PLUGIN_DEFAULTS)
    for name in CLI_PLUGIN_ARGS:
        value = getattr(args, name)
        if isinstance(PLUGIN_DEFAULTS[name], bool):
            value = value == "enable"
        elif value == "disable":
            value = None
        config[name] = value
    return config


def update_plugins(plugins: dict, given: dict) -> None:
    """PluginConfig.update_from_dict: switches take True/False/enable/disable, plugins 'disable' for None."""
    for name, value in given.items():
        if name not in plugins:
            continue
        if isinstance(PLUGIN_DEFAULTS[name], bool):
            if value not in (True, False, "enable", "disable"):
                raise RuntimeError(f"Unexpected value ({value}) to be updated for {name}.")
            value = value in (True, "enable")
        elif value == "disable":
            value = None
        plugins[name] = value


def check_max_num_tokens(max_num_tokens, opt_num_tokens, max_batch_size, max_input_len, max_beam_width,
                         remove_input_padding, enable_context_fmha, tokens_per_block):
    """0.9.0's _common.check_max_num_tokens: defaults, clamps and their warnings."""
    if not remove_input_padding:
        if max_num_tokens is not None or opt_num_tokens is not None:
            log("W", "remove_input_padding is not enabled, the specified max_num_tokens/opt_num_tokens will be "
                     "ignored.")
        return max_num_tokens, opt_num_tokens
    if max_num_tokens is None:
        max_num_tokens = max_input_len * max_batch_size
        log("W", "remove_input_padding is enabled, while max_num_tokens is not set, setting to "
                 "max_batch_size*max_input_len. \nIt may not be optimal to set "
                 "max_num_tokens=max_batch_size*max_input_len when remove_input_padding is enabled, because the "
                 "number of packed input tokens are very likely to be smaller, we strongly recommend to set "
                 "max_num_tokens according to your workloads.")
    if opt_num_tokens is None:
        opt_num_tokens = max_batch_size * max_beam_width
        log("W", "remove_input_padding is enabled, while opt_num_tokens is not set, setting to "
                 "max_batch_size*max_beam_width. \n")
    if max_num_tokens > max_input_len * max_batch_size:
        max_num_tokens = max_input_len * max_batch_size
        # 0.9.0 formats this after the clamp, so it names the new value twice.
        log("W", f"max_num_tokens ({max_num_tokens}) shouldn't be greater than max_input_len * max_batch_size "
                 f"({max_input_len * max_batch_size}), specifying to max_input_len * max_batch_size "
                 f"({max_input_len * max_batch_size}).")
    if max_num_tokens < max_input_len and not enable_context_fmha:
        log("W", f"When enable_context_fmha is not turned on, max_num_tokens ({max_num_tokens}) should be at least "
                 f"max_input_len ({max_input_len}), specifying to max_input_len ({max_input_len}).")
        max_num_tokens = max_input_len
    elif max_num_tokens < tokens_per_block and enable_context_fmha:
        log("W", f"When enable_context_fmha is turned on, max_num_tokens ({max_num_tokens}) should be at least "
                 f"tokens_per_block ({tokens_per_block}), specifying to tokens_per_block ({tokens_per_block}). At "
                 "this time, you also need to enable context chunking at runtime, otherwise you may encounter "
                 "errors.")
        max_num_tokens = tokens_per_block
    if opt_num_tokens > max_num_tokens:
        log("W", f"opt_num_tokens ({opt_num_tokens}) shouldn't be greater than max_num_tokens ({max_num_tokens}), "
                 f"specifying to max_num_tokens ({max_num_tokens}).")
        opt_num_tokens = max_num_tokens
    return max_num_tokens, opt_num_tokens


def build_config(args: argparse.Namespace, plugins: dict) -> dict:
    """BuildConfig.to_dict() of what main() makes from the flags (or reads from --build_config)."""
    lora = {"lora_dir": list(args.lora_dir or []), "lora_ckpt_source": args.lora_ckpt_source,
            "max_lora_rank": args.max_lora_rank, "lora_target_modules": list(args.lora_target_modules or []),
            "trtllm_modules_to_hf_modules": {}}
    auto_parallel = {"world_size": args.auto_parallel, "gpus_per_node": args.gpus_per_node,
                     "cluster_key": args.cluster_key}
    if args.build_config is not None:  # BuildConfig.from_json_file: the file's values, no checks
        with open(args.build_config) as handle:
            given = json.load(handle)
        update_plugins(plugins, given.pop("plugin_config", {}))
        config = {name: given.pop(name) for name in ("max_input_len", "max_output_len", "max_batch_size",
                                                     "max_beam_width", "max_num_tokens", "opt_num_tokens")}
        return {**config, **given, "lora_config": given.get("lora_config", lora),
                "auto_parallel_config": given.get("auto_parallel_config", auto_parallel), "plugin_config": plugins}
    if args.multiple_profiles == "enable" and args.opt_num_tokens is not None:
        raise RuntimeError("multiple_profiles is enabled, while opt_num_tokens is set. "
                           "They are not supposed to be working in the same time for now.")
    max_num_tokens, opt_num_tokens = check_max_num_tokens(
        max_num_tokens=args.max_num_tokens, opt_num_tokens=args.opt_num_tokens, max_batch_size=args.max_batch_size,
        max_input_len=args.max_input_len, max_beam_width=args.max_beam_width,
        remove_input_padding=plugins["remove_input_padding"], enable_context_fmha=plugins["context_fmha"],
        tokens_per_block=plugins["tokens_per_block"])
    return {
        "max_input_len": args.max_input_len,
        "max_output_len": args.max_output_len,
        "max_batch_size": args.max_batch_size,
        "max_beam_width": args.max_beam_width,
        "max_num_tokens": max_num_tokens,
        "opt_num_tokens": opt_num_tokens,
        "max_prompt_embedding_table_size": args.max_prompt_embedding_table_size,
        "gather_context_logits": args.gather_context_logits,
        "gather_generation_logits": args.gather_generation_logits,
        "strongly_typed": args.strongly_typed,
        "builder_opt": args.builder_opt,
        "profiling_verbosity": args.profiling_verbosity,
        "enable_debug_output": args.enable_debug_output,
        "max_draft_len": args.max_draft_len,
        "use_refit": False,
        "input_timing_cache": args.input_timing_cache,
        "output_timing_cache": args.output_timing_cache,
        "lora_config": lora,
        "auto_parallel_config": auto_parallel,
        "weight_sparsity": args.weight_sparsity,
        "plugin_config": plugins,
        "use_fused_mlp": args.use_fused_mlp,
    }


def model_mapping(pretrained: dict, tp_size: int, pp_size: int) -> dict:
    """preprocess_model_config: --tp_size/--pp_size replace the mapping of WEIGHT_LOADER_MODELS only."""
    mapping = dict(pretrained["mapping"])
    if pretrained.get("architecture") in WEIGHT_LOADER_MODELS:
        mapping.update(tp_size=tp_size, pp_size=pp_size, world_size=tp_size * pp_size)
    return mapping


def read_model_config(source: str) -> tuple[dict, Path | None]:
    """parallel_build: a .json is a model config without weights, anything else a checkpoint directory."""
    if source.lower().endswith(".json"):
        path, checkpoint = Path(source), None
    else:
        path, checkpoint = Path(source) / "config.json", Path(source)
    with open(path) as handle:  # FileNotFoundError, as PretrainedConfig.from_json_file
        config = json.load(handle)
    for key in ("architecture", "dtype", "mapping", "num_hidden_layers", "hidden_size", "num_attention_heads",
                "vocab_size"):
        if key not in config:
            raise KeyError(key)  # PretrainedConfig.from_dict's KeyError
    return config, checkpoint


def check_plugins(plugins: dict) -> None:
    """Combinations the 0.9.0 build itself stops on."""
    if plugins["paged_kv_cache"] and not plugins["gpt_attention_plugin"]:
        # layers/attention.py, plain TensorRT mode (no GPT attention plugin).
        raise AssertionError("assert paged_kv_cache == False (paged KV cache needs --gpt_attention_plugin)")
    if plugins["remove_input_padding"] and not plugins["gpt_attention_plugin"]:
        raise StandInLimit("--remove_input_padding enable needs --gpt_attention_plugin in the CPU stand-in")


def check_stand_in(args: argparse.Namespace, plugins: dict, pretrained: dict) -> None:
    if args.model_cls_file is not None:
        assert args.model_cls_name is not None
        raise StandInLimit("--model_cls_file: the CPU stand-in builds its own LlamaForCausalLM only")
    if pretrained["architecture"] not in SUPPORTED_ARCHITECTURES:
        raise StandInLimit(f"architecture {pretrained['architecture']}: the CPU stand-in builds "
                           f"{', '.join(SUPPORTED_ARCHITECTURES)} only")
    if args.auto_parallel > 1:
        raise StandInLimit("--auto_parallel > 1 is not supported by the CPU stand-in")
    if args.weight_only_precision is not None or (pretrained.get("quantization") or {}).get("quant_algo"):
        raise StandInLimit("quantization is not supported by the CPU stand-in")
    if plugins["lora_plugin"]:
        raise StandInLimit("--lora_plugin is not supported by the CPU stand-in")
    if "bfloat16" in (pretrained["dtype"], plugins["gpt_attention_plugin"], plugins["gemm_plugin"]):
        raise StandInLimit("bfloat16 is not supported by the CPU stand-in")
    for name in ("max_batch_size", "max_input_len", "max_output_len", "max_beam_width", "tokens_per_block"):
        if getattr(args, name) < 1:
            raise StandInLimit(f"--{name} {getattr(args, name)}: TensorRT needs a positive size")


def main(argv: list[str] | None = None) -> int:
    print(f"[TensorRT-LLM] TensorRT-LLM version: {__version__}", flush=True)  # printed by `import tensorrt_llm`
    args = parse_arguments(argv)
    set_level(args.log_level)
    started = time.monotonic()
    os.makedirs(args.output_dir, exist_ok=True)  # before anything is read, as 0.9.0's main()
    gpus = cuda.visible_gpus()
    if not gpus and not cuda.no_gpu_allowed():
        log("E", "CUDA initialization failure with error: 100 (no CUDA-capable device is detected); "
                 "TensorRT builds on a GPU: run trtllm-build where GPUs are visible (--gpus)")
        return 1
    workers = min(len(gpus) or 1, args.workers)
    if workers < 1:
        raise ValueError("max_workers must be greater than 0")  # ProcessPoolExecutor(max_workers=0)
    plugins = plugin_config(args)
    build = build_config(args, plugins)
    source = args.checkpoint_dir if args.checkpoint_dir is not None else args.model_config
    if source is None:
        raise AttributeError("'NoneType' object has no attribute 'lower'")  # 0.9.0 needs one of the two
    pretrained, checkpoint = read_model_config(source)
    pretrained["mapping"] = model_mapping(pretrained, args.tp_size, args.pp_size)
    check_stand_in(args, plugins, pretrained)
    check_plugins(plugins)
    if args.logits_dtype is not None:
        pretrained["logits_dtype"] = args.logits_dtype
    world_size = pretrained["mapping"]["world_size"]
    # builder.build: the NCCL plugin follows the model's dtype when there is more than one rank.
    plugins["nccl_plugin"] = pretrained["dtype"] if world_size > 1 else None

    from ..checkpoint import dummy_rank, numpy_dtype  # safetensors is needed only to build
    from ..engine import write_rank

    dtype = numpy_dtype(pretrained["dtype"])
    rank_bytes = cuda.model_bytes(pretrained, pretrained["dtype"]) // world_size

    def build_rank(rank: int) -> None:
        from safetensors.numpy import load_file

        # 0.9.0: gpu_id = rank % min(device_count, --workers); with one worker every rank builds on GPU 0.
        gpu = rank % workers if gpus else None
        held = cuda.allocate({gpu: rank_bytes + cuda.BUILDER_WORKSPACE_BYTES + cuda.CONTEXT_BYTES},
                             f"trtllm-build rank {rank}", style="tensorrt") if gpus else None
        try:
            weights = None
            if checkpoint is not None:
                path = checkpoint / f"rank{rank}.safetensors"
                if path.is_file():
                    weights = load_file(str(path))
                else:
                    log("W", f"Cannot find {path}. Use dummy model weights.")
            if weights is None:
                weights = dummy_rank(pretrained, rank)
            write_rank(Path(args.output_dir) / f"rank{rank}.engine",
                       {k: v.astype(dtype) if v.dtype.kind == "f" else v for k, v in weights.items()}, rank)
        finally:
            if held:
                held.release()
        log("I", f"Engine serialized to {Path(args.output_dir) / f'rank{rank}.engine'}")

    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(build_rank, range(world_size)))
    except cuda.OutOfMemory as exc:
        log("E", str(exc))
        return 1
    config = {"version": __version__, "pretrained_config": pretrained, "build_config": build}
    (Path(args.output_dir) / "config.json").write_text(json.dumps(config, indent=4) + "\n")
    elapsed = time.gmtime(time.monotonic() - started)
    log("I", f"Total time of building all engines: {time.strftime('%H:%M:%S', elapsed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
