"""Hugging Face LLaMA checkpoints in, TRT-LLM 0.9.0 checkpoints out."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

DTYPES = {"float16": np.float16, "float32": np.float32}
PADDING, ENGINE_PADDING = "model.sim_padding", "transformer.sim_padding"
LLAMA_ARCHITECTURES = ("LlamaForCausalLM",)


class CheckpointError(Exception):
    pass


def numpy_dtype(name: str):
    if name not in DTYPES:
        raise CheckpointError(f"dtype {name} is not supported by the CPU stand-in (use one of {', '.join(DTYPES)})")
    return DTYPES[name]


def load_hf(model_dir: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """Read config.json and every safetensors shard of a Hugging Face model directory."""
    config_path = model_dir / "config.json"
    if not config_path.is_file():
        raise CheckpointError(f"{config_path} not found: --model_dir must be a Hugging Face model directory")
    config = json.loads(config_path.read_text())
    architectures = config.get("architectures") or []
    if not any(a in LLAMA_ARCHITECTURES for a in architectures):
        raise CheckpointError(f"{config_path}: architectures {architectures} is not a LLaMA model")
    index = model_dir / "model.safetensors.index.json"
    if index.is_file():
        files = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    else:
        files = sorted(p.name for p in model_dir.glob("*.safetensors"))
    if not files:
        raise CheckpointError(f"no *.safetensors weights in {model_dir}")
    weights: dict[str, np.ndarray] = {}
    for name in files:
        path = model_dir / name
        if not path.is_file():
            raise CheckpointError(f"{path} is listed in the index but missing")
        weights.update(load_file(str(path)))
    return config, weights


def trtllm_config(hf: dict, dtype: str, tp_size: int, pp_size: int, overrides: dict | None = None) -> dict:
    """0.9.0's create_config_from_hugging_face (models/llama/convert.py) for a LLaMA; `overrides` are the
    converter's override_fields (moe_tp_mode and the embedding/weight-only options)."""
    heads = hf["num_attention_heads"]
    kv_heads = hf.get("num_key_value_heads", heads)
    if heads % tp_size:
        raise CheckpointError(f"num_attention_heads ({heads}) is not divisible by tp_size ({tp_size})")
    if kv_heads % tp_size and tp_size % kv_heads:
        raise CheckpointError(f"num_key_value_heads ({kv_heads}) and tp_size ({tp_size}) do not divide each other")
    if hf["num_hidden_layers"] % pp_size:
        raise CheckpointError(f"num_hidden_layers ({hf['num_hidden_layers']}) is not divisible by pp_size ({pp_size})")
    return {
        "architecture": "LlamaForCausalLM",
        "dtype": dtype,
        "logits_dtype": "float32",
        "vocab_size": hf["vocab_size"],
        "max_position_embeddings": hf.get("max_position_embeddings", 2048),
        "hidden_size": hf["hidden_size"],
        "num_hidden_layers": hf["num_hidden_layers"],
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "head_size": hf["hidden_size"] // heads,
        "hidden_act": hf.get("hidden_act", "silu"),
        "intermediate_size": hf["intermediate_size"],
        "norm_epsilon": hf.get("rms_norm_eps", 1e-6),
        "position_embedding_type": "rope_gpt_neox",
        "use_parallel_embedding": False,
        "embedding_sharding_dim": 0,
        "share_embedding_table": False,
        "mapping": {"world_size": tp_size * pp_size, "tp_size": tp_size, "pp_size": pp_size},
        "quantization": {"quant_algo": None, "kv_cache_quant_algo": None},
        "kv_dtype": dtype,
        "rotary_scaling": hf.get("rope_scaling"),
        "rotary_base": float(hf.get("rope_theta", 10000.0)),
        "moe_num_experts": 0,
        "moe_top_k": 0,
        "moe_tp_mode": 2,  # MoeConfig.ParallelismMode.TENSOR_PARALLEL
        "moe_normalization_mode": None,
        "attn_bias": bool(hf.get("attention_bias", False)),
        **(overrides or {}),
        # Test bed only: the size of the model this tiny one stands for (GPU memory, tensorrt_llm/cuda.py).
        **({"sim_stands_for": hf["sim_stands_for"]} if "sim_stands_for" in hf else {}),
    }


def _rows(w: np.ndarray, tp: int, rank: int) -> np.ndarray:
    return np.split(w, tp, axis=0)[rank]


def _cols(w: np.ndarray, tp: int, rank: int) -> np.ndarray:
    return np.split(w, tp, axis=1)[rank]


def _kv_rows(w: np.ndarray, kv_heads: int, tp: int, rank: int) -> np.ndarray:
    if kv_heads >= tp:
        return _rows(w, tp, rank)
    # Fewer KV heads than ranks: each head is replicated on tp / kv_heads ranks.
    return np.split(w, kv_heads, axis=0)[rank * kv_heads // tp]


def split_rank(config: dict, hf: dict[str, np.ndarray], rank: int) -> dict[str, np.ndarray]:
    """The weights of one tensor-parallel rank (pipeline parallelism keeps all layers here)."""
    tp = config["mapping"]["tp_size"]
    dtype = numpy_dtype(config["dtype"])
    kv_heads = config["num_key_value_heads"]
    out = {
        "transformer.vocab_embedding.weight": hf["model.embed_tokens.weight"],
        "transformer.ln_f.weight": hf["model.norm.weight"],
    }
    lm_head = hf.get("lm_head.weight", hf["model.embed_tokens.weight"])
    pad = -lm_head.shape[0] % tp
    if pad:
        lm_head = np.concatenate([lm_head, np.zeros((pad, lm_head.shape[1]), lm_head.dtype)])
    out["lm_head.weight"] = _rows(lm_head, tp, rank)
    for i in range(config["num_hidden_layers"]):
        src, dst = f"model.layers.{i}.", f"transformer.layers.{i}."
        q = _rows(hf[src + "self_attn.q_proj.weight"], tp, rank)
        k = _kv_rows(hf[src + "self_attn.k_proj.weight"], kv_heads, tp, rank)
        v = _kv_rows(hf[src + "self_attn.v_proj.weight"], kv_heads, tp, rank)
        out[dst + "attention.qkv.weight"] = np.concatenate([q, k, v], axis=0)
        out[dst + "attention.dense.weight"] = _cols(hf[src + "self_attn.o_proj.weight"], tp, rank)
        out[dst + "mlp.fc.weight"] = _rows(hf[src + "mlp.gate_proj.weight"], tp, rank)
        out[dst + "mlp.gate.weight"] = _rows(hf[src + "mlp.up_proj.weight"], tp, rank)
        out[dst + "mlp.proj.weight"] = _cols(hf[src + "mlp.down_proj.weight"], tp, rank)
        out[dst + "input_layernorm.weight"] = hf[src + "input_layernorm.weight"]
        out[dst + "post_layernorm.weight"] = hf[src + "post_attention_layernorm.weight"]
    weights = {name: np.ascontiguousarray(w.astype(dtype)) for name, w in out.items()}
    if PADDING in hf:  # test-bed padding (tiny.py): split across ranks, kept as bytes
        weights[ENGINE_PADDING] = np.array_split(hf[PADDING], tp)[rank]
    return weights


def dummy_rank(config: dict, rank: int) -> dict[str, np.ndarray]:
    """Random weights of one rank, shaped as split_rank's: what 0.9.0 builds when a rank file is missing
    (modeling_utils.load_model: "Cannot find ... Use dummy model weights.")."""
    tp = config["mapping"]["tp_size"]
    hidden, heads = config["hidden_size"], config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads") or heads
    head_size = config.get("head_size") or hidden // heads
    inter, vocab = config["intermediate_size"], config["vocab_size"]
    rng = np.random.default_rng(rank)

    def rand(*shape):
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    q_rows = heads // tp * head_size
    kv_rows = max(kv_heads // tp, 1) * head_size
    out = {
        "transformer.vocab_embedding.weight": rand(vocab, hidden),
        "transformer.ln_f.weight": np.ones(hidden, np.float32),
        "lm_head.weight": rand(-(-vocab // tp), hidden),
    }
    for i in range(config["num_hidden_layers"]):
        dst = f"transformer.layers.{i}."
        out[dst + "attention.qkv.weight"] = rand(q_rows + 2 * kv_rows, hidden)
        out[dst + "attention.dense.weight"] = rand(hidden, q_rows)
        out[dst + "mlp.fc.weight"] = rand(inter // tp, hidden)
        out[dst + "mlp.gate.weight"] = rand(inter // tp, hidden)
        out[dst + "mlp.proj.weight"] = rand(hidden, inter // tp)
        out[dst + "input_layernorm.weight"] = np.ones(hidden, np.float32)
        out[dst + "post_layernorm.weight"] = np.ones(hidden, np.float32)
    return out


def required_hf_names(config: dict) -> list[str]:
    names = ["model.embed_tokens.weight", "model.norm.weight"]
    for i in range(config["num_hidden_layers"]):
        names += [f"model.layers.{i}.{n}.weight" for n in (
            "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj",
            "mlp.up_proj", "mlp.down_proj", "input_layernorm", "post_attention_layernorm")]
    return names


def write_trtllm(output_dir: Path, config: dict, hf_weights: dict[str, np.ndarray], workers: int = 1) -> list[Path]:
    """Write rank{N}.safetensors for every rank, then config.json last (its presence marks a whole checkpoint)."""
    missing = [n for n in required_hf_names(config) if n not in hf_weights]
    if missing:
        raise CheckpointError(f"the checkpoint lacks {len(missing)} LLaMA weight(s), e.g. {missing[0]}")
    output_dir.mkdir(parents=True, exist_ok=True)
    stale = output_dir / "config.json"
    if stale.exists():
        stale.unlink()
    paths = [output_dir / f"rank{rank}.safetensors" for rank in range(config["mapping"]["world_size"])]

    def convert(rank: int) -> None:
        save_file(split_rank(config, hf_weights, rank % config["mapping"]["tp_size"]), str(paths[rank]))

    if workers == 1:
        for rank in range(len(paths)):
            convert(rank)
    else:  # 0.9.0's execute(): a pool of --workers threads (0 or fewer is ThreadPoolExecutor's ValueError)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(convert, range(len(paths))))
    (output_dir / "config.json").write_text(json.dumps(config, indent=4) + "\n")
    return paths


def read_trtllm_config(checkpoint_dir: Path) -> dict:
    path = checkpoint_dir / "config.json"
    if not path.is_file():
        raise CheckpointError(f"{path} not found: --checkpoint_dir must hold a TensorRT-LLM checkpoint")
    config = json.loads(path.read_text())
    for key in ("architecture", "dtype", "mapping", "num_hidden_layers", "hidden_size"):
        if key not in config:
            raise CheckpointError(f"{path} has no '{key}': not a TensorRT-LLM 0.9 checkpoint")
    return config
