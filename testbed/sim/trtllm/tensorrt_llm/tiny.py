"""A tiny LLaMA-architecture model and tokenizer in the Hugging Face layout.

Generated deterministically (fixed seed, fixed corpus) so tests need no download:
config.json, generation_config.json, two safetensors shards with their index,
tokenizer.json (byte-level BPE trained on the corpus below), tokenizer_config.json
and special_tokens_map.json, as in meta-llama/Meta-Llama-3-8B-Instruct.

The tokenizer is a real Hugging Face one: r24.04's preprocessing and postprocessing load it
with transformers' AutoTokenizer.from_pretrained(dir, legacy=False, padding_side='left',
trust_remote_code=True), which gives PreTrainedTokenizerFast (tokenizer_class, as Llama 3's),
and take eos_token (<|eot_id|>, id 505) as the end and pad id.

Its greedy answers follow the corpus's text and end with <|eot_id|> within ANSWER_LIMIT tokens
(successors() and weights() say how): the workflow's question gets the corpus's answer, " It is
how computers learn from data.", in 10 tokens. So a request with the model's end id stops before
max_tokens, and one with the workflow's end id 2 runs on.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

# As in Llama 3, the special tokens sit after the trained vocabulary: <|begin_of_text|> first,
# <|end_of_text|> next, <|eot_id|> nine after the first (Llama 3: 128000, 128001, 128009), the rest
# reserved. So the end ids are the model's own, not the workflow's constant 2 (Llama 2's </s>).
TRAINED = 496
SPECIALS = (["<|begin_of_text|>", "<|end_of_text|>"] + [f"<|reserved_special_token_{i}|>" for i in range(4)]
            + ["<|start_header_id|>", "<|end_header_id|>", "<|reserved_special_token_4|>", "<|eot_id|>"]
            + [f"<|reserved_special_token_{i}|>" for i in range(5, 11)])
BOS, EOS, EOT = TRAINED, TRAINED + 1, TRAINED + 9
# The longest greedy answer, in tokens up to <|eot_id|>; the layers' share of the residual stream;
# the scale of the logits (a successor's is 0.75 x 8, the others' at most about half of it, so the
# choice is clear and the log probs still move with the layers).
ANSWER_LIMIT = 16
LAYER_SHARE = 0.3
LOGIT_SCALE = 0.75
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
What is machine learning? It is how computers learn from data.
The server answers a generate request with text, and streams tokens as they are made.
"""


def train_tokenizer() -> Tokenizer:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=TRAINED, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(CORPUS.splitlines(), trainer)
    if tokenizer.get_vocab_size() != TRAINED:
        raise RuntimeError(f"the corpus trains {tokenizer.get_vocab_size()} tokens, not {TRAINED}")
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIALS])
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{SPECIALS[0]} $A", pair=f"{SPECIALS[0]} $A {SPECIALS[0]} $B", special_tokens=[(SPECIALS[0], BOS)])
    return tokenizer


def successors(tokenizer: Tokenizer) -> dict[int, int]:
    """The token greedy decoding gives after each token: the corpus's next token, every line ending with
    <|eot_id|>. Lines are walked from their end, and a token keeps the first successor it is given, one
    already known to reach <|eot_id|> within ANSWER_LIMIT tokens, so every token does: no cycles. The
    last lines go first, so the line that answers the workflow's question keeps its successors whole;
    a token with none (outside the corpus, or too far from a line's end) starts that answer."""
    distance = {EOT: 0}
    follow: dict[int, int] = {}
    for line in reversed(CORPUS.splitlines()):
        ids = tokenizer.encode(line, add_special_tokens=False).ids + [EOT]
        for token, after in reversed(list(zip(ids[:-1], ids[1:], strict=True))):
            if token not in follow and token != EOT and distance[after] < ANSWER_LIMIT:
                follow[token], distance[token] = after, distance[after] + 1
            distance.setdefault(token, ANSWER_LIMIT)
    first = tokenizer.encode(CORPUS.splitlines()[0], add_special_tokens=False).ids[0]
    # After <|eot_id|> (a request that does not end there) the text starts again, as a real model rambles on.
    follow.update({BOS: first, EOT: BOS})
    answer = follow[tokenizer.token_to_id("?")]
    return {token: follow.get(token, answer) for token in range(SHAPE["vocab_size"])}


def weights(tokenizer: Tokenizer, seed: int) -> dict[str, np.ndarray]:
    """Weights whose greedy choice after each token is its successor (successors()): the embedding of a
    token is the code of its successor and lm_head scores each code. The layers, random, add LAYER_SHARE
    to the residual stream (their output projections scaled down): they move the log probs (a tensor
    parallel rank's lost share shows there) but not the choice."""
    rng = np.random.default_rng(seed)
    s = SHAPE
    head = s["hidden_size"] // s["num_attention_heads"]

    def linear(out_features: int, in_features: int, scale: float = 1.0) -> np.ndarray:
        return (rng.normal(0.0, in_features ** -0.5, (out_features, in_features)) * scale).astype(np.float16)

    follow = successors(tokenizer)
    codes = rng.normal(0.0, 1.0, (s["vocab_size"], s["hidden_size"]))
    codes /= np.linalg.norm(codes, axis=1, keepdims=True)
    embed = np.stack([codes[follow[t]] for t in range(s["vocab_size"])]) * s["hidden_size"] ** 0.5
    w = {"model.embed_tokens.weight": embed.astype(np.float16)}
    for i in range(s["num_hidden_layers"]):
        p = f"model.layers.{i}."
        w[p + "self_attn.q_proj.weight"] = linear(s["num_attention_heads"] * head, s["hidden_size"])
        w[p + "self_attn.k_proj.weight"] = linear(s["num_key_value_heads"] * head, s["hidden_size"])
        w[p + "self_attn.v_proj.weight"] = linear(s["num_key_value_heads"] * head, s["hidden_size"])
        w[p + "self_attn.o_proj.weight"] = linear(s["hidden_size"], s["num_attention_heads"] * head, LAYER_SHARE)
        w[p + "mlp.gate_proj.weight"] = linear(s["intermediate_size"], s["hidden_size"])
        w[p + "mlp.up_proj.weight"] = linear(s["intermediate_size"], s["hidden_size"])
        w[p + "mlp.down_proj.weight"] = linear(s["hidden_size"], s["intermediate_size"], LAYER_SHARE)
        w[p + "input_layernorm.weight"] = np.ones(s["hidden_size"], np.float16)
        w[p + "post_attention_layernorm.weight"] = np.ones(s["hidden_size"], np.float16)
    w["model.norm.weight"] = np.ones(s["hidden_size"], np.float16)
    # Only tokens that follow another get a row: the others (bytes, unused pieces, the other specials)
    # score 0, below any code's own score.
    targets = sorted(set(follow.values()))
    lm_head = np.zeros((s["vocab_size"], s["hidden_size"]))
    lm_head[targets] = codes[targets] * LOGIT_SCALE
    w["lm_head.weight"] = lm_head.astype(np.float16)
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
        "special_tokens_map.json": {"bos_token": SPECIALS[0], "eos_token": SPECIALS[EOT - BOS]},
        "tokenizer_config.json": {
            "added_tokens_decoder": {str(i): {"content": t, "special": True, "lstrip": False, "rstrip": False,
                                              "normalized": False, "single_word": False}
                                     for i, t in enumerate(SPECIALS, BOS)},
            "bos_token": SPECIALS[0], "eos_token": SPECIALS[EOT - BOS], "clean_up_tokenization_spaces": True,
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
