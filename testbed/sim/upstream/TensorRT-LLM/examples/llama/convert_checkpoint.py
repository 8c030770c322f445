"""Convert a Hugging Face LLaMA checkpoint to a TensorRT-LLM checkpoint (0.9.0 command line).

CPU stand-in from trtllm-deploy's test bed: it needs the stand-in `tensorrt_llm`
package of the tritonserver-sim image, and supports float16/float32 without
quantization.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import tensorrt_llm
from tensorrt_llm import cuda
from tensorrt_llm.checkpoint import CheckpointError, load_hf, trtllm_config, write_trtllm

UNSUPPORTED = ("use_weight_only", "smoothquant", "int8_kv_cache", "per_channel", "per_token", "per_group",
               "enable_fp8", "fp8_kv_cache", "ammo_quant_ckpt_path")


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--model_dir", type=str, default=None)
    parser.add_argument("--meta_ckpt_dir", type=str, default=None)
    parser.add_argument("--tp_size", type=int, default=1, help="N-way tensor parallelism size")
    parser.add_argument("--pp_size", type=int, default=1, help="N-way pipeline parallelism size")
    parser.add_argument("--dtype", type=str, default="float16", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--vocab_size", type=int, default=32000)
    parser.add_argument("--n_positions", type=int, default=2048)
    parser.add_argument("--n_layer", type=int, default=32)
    parser.add_argument("--n_head", type=int, default=32)
    parser.add_argument("--n_kv_head", type=int, default=None)
    parser.add_argument("--n_embd", type=int, default=4096)
    parser.add_argument("--inter_size", type=int, default=11008)
    parser.add_argument("--rms_norm_eps", type=float, default=1e-06)
    parser.add_argument("--use_weight_only", default=False, action="store_true")
    parser.add_argument("--weight_only_precision", const="int8", type=str, nargs="?", default="int8",
                        choices=["int8", "int4", "int4_gptq"])
    parser.add_argument("--smoothquant", "-sq", type=float, default=None)
    parser.add_argument("--per_channel", action="store_true", default=False)
    parser.add_argument("--per_token", action="store_true", default=False)
    parser.add_argument("--int8_kv_cache", default=False, action="store_true")
    parser.add_argument("--per_group", default=False, action="store_true")
    parser.add_argument("--enable_fp8", default=False, action="store_true")
    parser.add_argument("--fp8_kv_cache", default=False, action="store_true")
    parser.add_argument("--ammo_quant_ckpt_path", type=str, default=None)
    parser.add_argument("--load_by_shard", action="store_true")
    parser.add_argument("--hidden_act", type=str, default="silu")
    parser.add_argument("--rotary_base", type=float, default=10000.0)
    parser.add_argument("--group_size", type=int, default=128)
    parser.add_argument("--dataset-cache-dir", type=str, default=None)
    parser.add_argument("--load_model_on_cpu", action="store_true")
    parser.add_argument("--use_parallel_embedding", action="store_true", default=False)
    parser.add_argument("--embedding_sharding_dim", type=int, default=0, choices=[0, 1])
    parser.add_argument("--use_embedding_sharing", action="store_true", default=False)
    parser.add_argument("--output_dir", type=str, default="tllm_checkpoint")
    parser.add_argument("--workers", type=int, default=1,
                        help="The number of workers for converting checkpoint in parallel")
    parser.add_argument("--moe_num_experts", default=0, type=int)
    parser.add_argument("--moe_top_k", default=0, type=int)
    parser.add_argument("--enable_pos_shift", default=False, action="store_true")
    parser.add_argument("--dense_context_fmha", default=False, action="store_true")
    return parser, parser.parse_args(argv)


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
    parser, args = parse_arguments(argv)
    print(f"[TensorRT-LLM] TensorRT-LLM version: {tensorrt_llm.__version__}", flush=True)
    for flag in UNSUPPORTED:
        if getattr(args, flag):
            parser.error(f"--{flag} (quantization) is not supported by the CPU stand-in")
    if args.model_dir is None:
        parser.error("--model_dir is required (the stand-in converts Hugging Face checkpoints only)")
    if args.tp_size < 1 or args.pp_size < 1 or args.workers < 1:
        parser.error("--tp_size, --pp_size and --workers must be positive")
    started = time.time()
    try:
        hold_weights_on_gpus(Path(args.model_dir), args)
        hf_config, hf_weights = load_hf(Path(args.model_dir))
        config = trtllm_config(hf_config, args.dtype, args.tp_size, args.pp_size)
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
