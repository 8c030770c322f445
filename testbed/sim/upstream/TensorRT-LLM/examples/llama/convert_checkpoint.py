"""Convert a Hugging Face LLaMA checkpoint to a TensorRT-LLM checkpoint (0.9.0 command line).

CPU stand-in from trtllm-deploy's test bed: it needs the stand-in `tensorrt_llm`
package of the tritonserver-sim image. It takes exactly 0.9.0's flags
(testbed/sim/upstream-flags/convert_checkpoint-llama-0.9.0.txt) and follows its paths: no
--model_dir and no --meta_ckpt_dir writes a config.json made of the flags alone (no weights);
--save_config_only is accepted and, as in 0.9.0, changes nothing. It converts float16/float32
without quantization; what it cannot do fails with a message that says so.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import tensorrt_llm
from tensorrt_llm import cuda

# MoeConfig.ParallelismMode.TENSOR_PARALLEL and ExpertScaleNormalizationMode.RENORMALIZE (layers/moe.py).
MOE_TENSOR_PARALLEL, MOE_RENORMALIZE = 2, 1


def parser():
    p = argparse.ArgumentParser()
    p.add_argument("--model_dir", type=str, default=None)
    p.add_argument("--meta_ckpt_dir", type=str, default=None)
    p.add_argument("--tp_size", type=int, default=1, help="N-way tensor parallelism size")
    p.add_argument("--pp_size", type=int, default=1, help="N-way pipeline parallelism size")
    p.add_argument("--dtype", type=str, default="float16", choices=["float32", "bfloat16", "float16"])
    p.add_argument("--vocab_size", type=int, default=32000)
    p.add_argument("--n_positions", type=int, default=2048)
    p.add_argument("--n_layer", type=int, default=32)
    p.add_argument("--n_head", type=int, default=32)
    p.add_argument("--n_kv_head", type=int, default=None)
    p.add_argument("--n_embd", type=int, default=4096)
    p.add_argument("--inter_size", type=int, default=11008)
    p.add_argument("--rms_norm_eps", type=float, default=1e-06)
    p.add_argument("--use_weight_only", default=False, action="store_true")
    p.add_argument("--disable_weight_only_quant_plugin", default=False, action="store_true")
    p.add_argument("--weight_only_precision", const="int8", type=str, nargs="?", default="int8",
                   choices=["int8", "int4", "int4_gptq"])
    p.add_argument("--smoothquant", "-sq", type=float, default=None)
    p.add_argument("--per_channel", action="store_true", default=False)
    p.add_argument("--per_token", action="store_true", default=False)
    p.add_argument("--int8_kv_cache", default=False, action="store_true")
    p.add_argument("--ammo_quant_ckpt_path", type=str, default=None)
    p.add_argument("--per_group", default=False, action="store_true")
    p.add_argument("--load_by_shard", action="store_true")
    p.add_argument("--hidden_act", type=str, default="silu")
    p.add_argument("--rotary_base", type=float, default=10000.0)
    p.add_argument("--group_size", type=int, default=128)
    p.add_argument("--dataset-cache-dir", type=str, default=None)
    p.add_argument("--load_model_on_cpu", action="store_true")
    p.add_argument("--use_parallel_embedding", action="store_true", default=False)
    p.add_argument("--embedding_sharding_dim", type=int, default=0, choices=[0, 1])
    p.add_argument("--use_embedding_sharing", action="store_true", default=False)
    p.add_argument("--output_dir", type=str, default="tllm_checkpoint")
    p.add_argument("--workers", type=int, default=1, help="The number of workers for converting checkpoint in parallel")
    p.add_argument("--moe_num_experts", default=0, type=int)
    p.add_argument("--moe_top_k", default=0, type=int)
    p.add_argument("--moe_tp_mode", default=MOE_TENSOR_PARALLEL, type=int)
    p.add_argument("--moe_renorm_mode", default=MOE_RENORMALIZE, type=int)
    p.add_argument("--save_config_only", action="store_true", default=False)
    return p


def parse_arguments(argv=None):
    p = parser()
    args = p.parse_args(argv)
    if args.moe_num_experts and args.moe_top_k == 0:  # 0.9.0: the top_k the help promises
        args.moe_top_k = 1
    return p, args


def quantized(args):
    """Whether 0.9.0's args_to_quantization would give a quantization (weight-only, SmoothQuant, INT8 KV, GPTQ)."""
    return (args.use_weight_only or args.smoothquant is not None or args.int8_kv_cache
            or args.weight_only_precision == "int4_gptq")


def build_options(args):
    """args_to_build_options plus moe_tp_mode: the override_fields 0.9.0 writes into the config."""
    return {"moe_tp_mode": args.moe_tp_mode, "use_parallel_embedding": args.use_parallel_embedding,
            "embedding_sharding_dim": args.embedding_sharding_dim, "share_embedding_table": args.use_embedding_sharing,
            "disable_weight_only_quant_plugin": args.disable_weight_only_quant_plugin}


def config_from_flags(args):
    """from_cli_args: the model the flags describe, for a checkpoint without weights."""
    return {
        "architecture": "LlamaForCausalLM", "dtype": args.dtype, "logits_dtype": "float32",
        "num_hidden_layers": args.n_layer, "num_attention_heads": args.n_head, "hidden_size": args.n_embd,
        "intermediate_size": args.inter_size,
        "num_key_value_heads": args.n_kv_head if args.n_kv_head is not None else args.n_head,
        "vocab_size": args.vocab_size, "position_embedding_type": "rope_gpt_neox",
        "max_position_embeddings": args.n_positions, "hidden_act": args.hidden_act, "rotary_base": args.rotary_base,
        "norm_epsilon": args.rms_norm_eps, "moe_num_experts": args.moe_num_experts, "moe_top_k": args.moe_top_k,
        "moe_tp_mode": args.moe_tp_mode, "moe_normalization_mode": args.moe_renorm_mode,
        "mapping": {"world_size": args.tp_size * args.pp_size, "tp_size": args.tp_size, "pp_size": args.pp_size},
        "quantization": {"quant_algo": None, "kv_cache_quant_algo": None, "exclude_modules": ["lm_head"]},
        **build_options(args),
    }


def hold_weights_on_gpus(model_dir, args):
    """0.9.0 preloads the Hugging Face model with device_map="auto" (its weights spread over the visible GPUs)
    unless --load_by_shard; --load_model_on_cpu does not reach that path."""
    if args.load_by_shard:
        return
    gpus = cuda.visible_gpus()
    config_path = model_dir / "config.json"
    if not gpus or not config_path.is_file():
        return
    config = json.loads(config_path.read_text())
    share = cuda.model_bytes(config, config.get("torch_dtype", args.dtype)) // len(gpus)
    # Held until the process ends, like the loaded model.
    cuda.allocate({g["index"]: share + cuda.CONTEXT_BYTES for g in gpus}, "convert_checkpoint.py")


def main(argv=None):
    print(f"[TensorRT-LLM] TensorRT-LLM version: {tensorrt_llm.__version__}", flush=True)  # `import tensorrt_llm`
    parser, args = parse_arguments(argv)
    print(tensorrt_llm.__version__, flush=True)
    started = time.time()
    os.makedirs(args.output_dir, exist_ok=True)
    if args.model_dir is None and args.meta_ckpt_dir is None:
        with open(os.path.join(args.output_dir, "config.json"), "w") as handle:
            json.dump(config_from_flags(args), handle, indent=4)
    else:
        if args.meta_ckpt_dir is not None:
            assert args.model_dir is None, "Shall not specify both meta checkpoint dir and hugging face dir"
            print("[TensorRT-LLM][ERROR] --meta_ckpt_dir: the CPU stand-in converts Hugging Face checkpoints only",
                  file=sys.stderr)
            return 1
        if args.weight_only_precision != "int4_gptq":
            assert args.ammo_quant_ckpt_path is None, "only gptq weights only needs this option"
        if quantized(args):
            print("[TensorRT-LLM][ERROR] quantization is not supported by the CPU stand-in", file=sys.stderr)
            return 1
        if args.use_parallel_embedding:
            print("[TensorRT-LLM][ERROR] --use_parallel_embedding is not supported by the CPU stand-in",
                  file=sys.stderr)
            return 1
        from tensorrt_llm.checkpoint import CheckpointError, load_hf, trtllm_config, write_trtllm

        try:
            hold_weights_on_gpus(Path(args.model_dir), args)
            hf_config, hf_weights = load_hf(Path(args.model_dir))
            config = trtllm_config(hf_config, args.dtype, args.tp_size, args.pp_size, build_options(args))
            for path in write_trtllm(Path(args.output_dir), config, hf_weights, args.workers):
                print(f"[TensorRT-LLM] wrote {path}", flush=True)
        except CheckpointError as exc:
            print(f"[TensorRT-LLM][ERROR] {exc}", file=sys.stderr)
            return 1
        except cuda.OutOfMemory as exc:
            print(f"Traceback (most recent call last):\n  File \"convert_checkpoint.py\", in <module>\n{exc}",
                  file=sys.stderr)
            return 1
    print(f"Total time of converting checkpoints: {time.strftime('%H:%M:%S', time.gmtime(time.time() - started))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
