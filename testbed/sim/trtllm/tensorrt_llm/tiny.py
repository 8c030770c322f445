"""A tiny LLaMA-architecture model and tokenizer in the Hugging Face layout.

Generated deterministically (fixed seed, fixed corpus) so tests need no download:
config.json, generation_config.json, two safetensors shards with their index,
tokenizer.json (byte-level BPE trained on the corpus below), tokenizer_config.json
and special_tokens_map.json, as in meta-llama/Meta-Llama-3-8B-Instruct.

The tokenizer is a real Hugging Face one: r24.04's preprocessing and postprocessing load it
with transformers' AutoTokenizer.from_pretrained(dir, legacy=False, padding_side='left',
trust_remote_code=True), which gives PreTrainedTokenizerFast (tokenizer_class, as Llama 3's),
and take eos_token (<|eot_id|>, id 2) as the end and pad id.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"]
BOS, EOS, EOT = 0, 1, 2
# Meta-Llama-3-8B-Instruct: 8,030,261,248 parameters (16.06 GB in float16, its safetensors index's total_size).
LLAMA3_8B_PARAMETERS = 8030261248
SHAPE = {"vocab_size": 512, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 2}
CORPUS = """\
Machine learning is a field of artificial intelligence that learns patterns from data.
A language model predicts the next token of a text from the tokens before it.
Large language models are trained on a large amount of text and run on GPUs.
TensorRT-LLM compiles a model into an engine that runs fast on NVIDIA GPUs.
Triton Inference Server serves models over HTTP and gRPC with dynamic batching.
Tensor parallelism splits the attention heads and the MLP across several GPUs.
The engine is built once for each model, data type and parallel layout.
A checkpoint holds the weights of the model; the tokenizer turns text into tokens.
Inflight batching adds new requests to the batch while others are still running.
The key value cache keeps the attention state so each new token is cheap to compute.
Deployment automation makes every step repeatable, checkable and safe to run twice.
What is machine learning? It is how computers learn to solve tasks from examples.
The server answers a generate request with text, and streams tokens as they are made.
"""


def train_tokenizer() -> Tokenizer:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=SHAPE["vocab_size"], special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(CORPUS.splitlines(), trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{SPECIALS[BOS]} $A", pair=f"{SPECIALS[BOS]} $A {SPECIALS[BOS]} $B",
        special_tokens=[(SPECIALS[BOS], BOS)])
    return tokenizer


def weights(tokenizer: Tokenizer, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    s = SHAPE
    head = s["hidden_size"] // s["num_attention_heads"]

    def linear(out_features: int, in_features: int) -> np.ndarray:
        return rng.normal(0.0, in_features ** -0.5, (out_features, in_features)).astype(np.float16)

    w = {"model.embed_tokens.weight": rng.normal(0.0, 1.0, (s["vocab_size"], s["hidden_size"])).astype(np.float16)}
    for i in range(s["num_hidden_layers"]):
        p = f"model.layers.{i}."
        w[p + "self_attn.q_proj.weight"] = linear(s["num_attention_heads"] * head, s["hidden_size"])
        w[p + "self_attn.k_proj.weight"] = linear(s["num_key_value_heads"] * head, s["hidden_size"])
        w[p + "self_attn.v_proj.weight"] = linear(s["num_key_value_heads"] * head, s["hidden_size"])
        w[p + "self_attn.o_proj.weight"] = linear(s["hidden_size"], s["num_attention_heads"] * head)
        w[p + "mlp.gate_proj.weight"] = linear(s["intermediate_size"], s["hidden_size"])
        w[p + "mlp.up_proj.weight"] = linear(s["intermediate_size"], s["hidden_size"])
        w[p + "mlp.down_proj.weight"] = linear(s["hidden_size"], s["intermediate_size"])
        w[p + "input_layernorm.weight"] = np.ones(s["hidden_size"], np.float16)
        w[p + "post_attention_layernorm.weight"] = np.ones(s["hidden_size"], np.float16)
    w["model.norm.weight"] = np.ones(s["hidden_size"], np.float16)
    lm_head = linear(s["vocab_size"], s["hidden_size"])
    # Untrained rows: special tokens and pieces that are not letters get zero logits,
    # so greedy decoding of random weights yields word pieces rather than bytes.
    for token in range(s["vocab_size"]):
        text = tokenizer.decode([token], skip_special_tokens=False)
        if token < len(SPECIALS) or not (text.strip().isascii() and text.strip().isalpha()):
            lm_head[token] = 0
    w["lm_head.weight"] = lm_head
    return w


# Test bed only: an inert tensor of this name gives a checkpoint the bytes of a large model
# (benchmarks); conversion and build carry it to every rank, the runtime never loads it.
PADDING = "model.sim_padding"


def write(output: Path, seed: int = 2024, pad_bytes: int = 0) -> list[Path]:
    output.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer()
    tokenizer.save(str(output / "tokenizer.json"))
    tensors = weights(tokenizer, seed)
    names = sorted(tensors)
    shards = {"model-00001-of-00002.safetensors": names[: len(names) // 2],
              "model-00002-of-00002.safetensors": names[len(names) // 2:]}
    if pad_bytes > 0:
        tensors[PADDING] = np.zeros(pad_bytes, np.uint8)
        shards["model-00002-of-00002.safetensors"].append(PADDING)
    weight_map = {}
    for shard, keys in shards.items():
        save_file({k: tensors[k] for k in keys}, str(output / shard), metadata={"format": "pt"})
        weight_map.update({k: shard for k in keys})
    total = sum(t.nbytes for t in tensors.values())
    files = {
        "model.safetensors.index.json": {"metadata": {"total_size": total}, "weight_map": weight_map},
        "config.json": {
            "architectures": ["LlamaForCausalLM"], "model_type": "llama", "attention_bias": False,
            "bos_token_id": BOS, "eos_token_id": EOT, "hidden_act": "silu", "initializer_range": 0.02,
            "max_position_embeddings": 8192, "rms_norm_eps": 1e-05, "rope_scaling": None, "rope_theta": 500000.0,
            "tie_word_embeddings": False, "torch_dtype": "float16", "transformers_version": "4.40.0",
            "use_cache": True, **SHAPE,
            # Test bed only: the stand-ins hold GPU memory for the model this one stands in for.
            "sim_stands_for": {"name": "Meta-Llama-3-8B-Instruct", "parameters": LLAMA3_8B_PARAMETERS},
        },
        "generation_config.json": {"bos_token_id": BOS, "eos_token_id": [EOS, EOT], "do_sample": False,
                                   "transformers_version": "4.40.0"},
        "special_tokens_map.json": {"bos_token": SPECIALS[BOS], "eos_token": SPECIALS[EOT]},
        "tokenizer_config.json": {
            "added_tokens_decoder": {str(i): {"content": t, "special": True, "lstrip": False, "rstrip": False,
                                              "normalized": False, "single_word": False}
                                     for i, t in enumerate(SPECIALS)},
            "bos_token": SPECIALS[BOS], "eos_token": SPECIALS[EOT], "clean_up_tokenization_spaces": True,
            "model_input_names": ["input_ids", "attention_mask"], "model_max_length": 8192,
            "tokenizer_class": "PreTrainedTokenizerFast",
        },
    }
    for name, content in files.items():
        (output / name).write_text(json.dumps(content, indent=2) + "\n")
    return sorted(output.iterdir())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="trtllm-sim-tiny-llama", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output_dir", type=Path)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--pad-bytes", type=int, default=0,
                        help="add an inert tensor of this many bytes (a large checkpoint for benchmarks)")
    args = parser.parse_args(argv)
    for path in write(args.output_dir, args.seed, args.pad_bytes):
        print(f"{path} {path.stat().st_size}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
