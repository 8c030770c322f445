"""The LLaMA forward pass in NumPy, as one tensor-parallel rank computes it.

Weights use TRT-LLM 0.9.0 checkpoint names. Attention heads, MLP columns and the
lm_head vocabulary are split by rank; the partial results are summed (attention
output, MLP) or concatenated (logits) across ranks by the caller.
"""

from __future__ import annotations

import numpy as np


def rms_norm(x: np.ndarray, weight: np.ndarray, eps: float) -> np.ndarray:
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def rope(x: np.ndarray, base: float) -> np.ndarray:
    """Rotary embedding, GPT-NeoX layout (rotate halves), for x of shape (seq, heads, head_size)."""
    half = x.shape[-1] // 2
    inv_freq = 1.0 / base ** (np.arange(half, dtype=np.float64) * 2 / x.shape[-1])
    angles = np.arange(x.shape[0], dtype=np.float64)[:, None] * inv_freq[None, :]
    cos = np.cos(angles).astype(np.float32)[:, None, :]
    sin = np.sin(angles).astype(np.float32)[:, None, :]
    x1, x2 = x[..., :half], x[..., half:]
    return np.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)


def silu(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.exp(-x))


class Shard:
    """One rank's weights and the computations that need only them."""

    def __init__(self, config: dict, weights: dict[str, np.ndarray]):
        tp = config["mapping"]["tp_size"]
        self.config = config
        self.w = {name: np.asarray(value, dtype=np.float32) for name, value in weights.items()}
        self.layers = config["num_hidden_layers"]
        self.head_size = config.get("head_size") or config["hidden_size"] // config["num_attention_heads"]
        self.heads = config["num_attention_heads"] // tp
        self.kv_heads = max(config["num_key_value_heads"] // tp, 1)
        self.eps = config.get("norm_epsilon", 1e-5)
        self.rope_base = config.get("rotary_base", 10000.0)

    def embed(self, ids: list[int]) -> np.ndarray:
        return self.w["transformer.vocab_embedding.weight"][np.asarray(ids)]

    def attention(self, layer: int, x: np.ndarray) -> np.ndarray:
        p = f"transformer.layers.{layer}."
        h = rms_norm(x, self.w[p + "input_layernorm.weight"], self.eps)
        qkv = h @ self.w[p + "attention.qkv.weight"].T
        q_end = self.heads * self.head_size
        k_end = q_end + self.kv_heads * self.head_size
        seq = x.shape[0]
        q = rope(qkv[:, :q_end].reshape(seq, self.heads, self.head_size), self.rope_base)
        k = rope(qkv[:, q_end:k_end].reshape(seq, self.kv_heads, self.head_size), self.rope_base)
        v = qkv[:, k_end:].reshape(seq, self.kv_heads, self.head_size)
        group = self.heads // self.kv_heads
        k, v = np.repeat(k, group, axis=1), np.repeat(v, group, axis=1)
        scores = np.einsum("qhd,khd->hqk", q, k) / np.sqrt(self.head_size)
        scores = scores + np.triu(np.full((seq, seq), -np.inf, dtype=np.float32), k=1)
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        scores /= scores.sum(axis=-1, keepdims=True)
        out = np.einsum("hqk,khd->qhd", scores, v).reshape(seq, self.heads * self.head_size)
        return out @ self.w[p + "attention.dense.weight"].T

    def mlp(self, layer: int, x: np.ndarray) -> np.ndarray:
        p = f"transformer.layers.{layer}."
        h = rms_norm(x, self.w[p + "post_layernorm.weight"], self.eps)
        # TRT-LLM's GatedMLP: fc is HF's gate_proj, gate is HF's up_proj, proj is down_proj.
        gated = silu(h @ self.w[p + "mlp.fc.weight"].T) * (h @ self.w[p + "mlp.gate.weight"].T)
        return gated @ self.w[p + "mlp.proj.weight"].T

    def logits(self, x: np.ndarray) -> np.ndarray:
        h = rms_norm(x, self.w["transformer.ln_f.weight"], self.eps)
        return h @ self.w["lm_head.weight"].T
