# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter tp_preflight: can this node run this model at this tensor/pipeline parallel layout?"""

from __future__ import annotations

DOCUMENTATION = r"""
name: tp_preflight
short_description: Problems that stop a tensor/pipeline parallel layout on a node, before anything changes
version_added: 0.1.0
author:
  - trtllm-deploy maintainers (@trtllm-deploy)
description:
  - Returns a list of messages, empty when the layout fits.
  - Checks that O(tp_size) x O(pp_size) GPUs exist, that O(tp_size) divides the attention heads, and a
    first-order memory estimate, stated in the message, that the weights per GPU leave room for the KV cache.
options:
  _input:
    description: The Hugging Face C(config.json) of the model, as a dict.
    type: dict
    required: true
  tp_size:
    description: Tensor parallel size.
    type: int
    required: true
  pp_size:
    description: Pipeline parallel size.
    type: int
    default: 1
  gpus:
    description: The C(trtllm_gpus) fact of M(trtllm.deploy.gpu_facts) (C(count) and C(gpus[].memory_total_mib)).
    type: dict
    required: true
  dtype:
    description: Weight dtype.
    type: str
    default: float16
  kv_cache_free_gpu_mem_fraction:
    description: Fraction of the memory left after the weights that the KV cache may take.
    type: float
    default: 0.9
  max_input_len:
    description: The engine's longest prompt; with O(max_output_len), checked against the model's
      C(max_position_embeddings) when both are given.
    type: int
  max_output_len:
    description: The engine's longest answer.
    type: int
"""

EXAMPLES = r"""
- name: Check the layout fits
  ansible.builtin.assert:
    that: problems | length == 0
    fail_msg: "{{ problems | join('; ') }}"
  vars:
    problems: "{{ hf_config | trtllm.deploy.tp_preflight(tp_size=2, gpus=trtllm_gpus) }}"
"""

RETURN = r"""
_value:
  description: Messages naming each problem; empty when the layout fits.
  type: list
  elements: str
"""

DTYPE_BYTES = {"float16": 2, "bfloat16": 2, "float32": 4}
# Room kept for activations, workspace and the CUDA context, as a fraction of GPU memory.
RUNTIME_RESERVE = 0.1
MIN_KV_GIB = 1.0


def parameter_count(config: dict) -> int:
    hidden, layers = config["hidden_size"], config["num_hidden_layers"]
    heads = config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads", heads)
    head = hidden // heads
    inter, vocab = config["intermediate_size"], config["vocab_size"]
    attention = hidden * head * (heads + 2 * kv_heads) + heads * head * hidden
    mlp = 3 * hidden * inter
    per_layer = attention + mlp + 2 * hidden
    embeddings = vocab * hidden * (1 if config.get("tie_word_embeddings") else 2)
    return layers * per_layer + embeddings + hidden


def weight_bytes(config: dict, dtype: str = "float16") -> int:
    """The model's weights at a dtype: about the size of its checkpoint and of its engine (all ranks)."""
    return parameter_count(config) * DTYPE_BYTES.get(dtype, 2)


def length_problems(config: dict, max_input_len, max_output_len) -> list[str]:
    positions = config.get("max_position_embeddings")
    if not positions or max_input_len is None or max_output_len is None:
        return []
    total = int(max_input_len) + int(max_output_len)
    if total <= int(positions):
        return []
    # trtllm-build 0.9.0 builds it anyway; the model answers garbage past the positions it was trained for.
    return [f"max_input_len {max_input_len} + max_output_len {max_output_len} = {total} exceeds the model's "
            f"max_position_embeddings {positions} (config.json): lower trtllm_max_input_len or trtllm_max_output_len"]


def tp_preflight(config, tp_size, gpus, pp_size=1, dtype="float16", kv_cache_free_gpu_mem_fraction=0.9,
                 max_input_len=None, max_output_len=None, members=1):
    tp, pp, members = int(tp_size), int(pp_size), int(members)
    problems = []
    count = int(gpus.get("count", 0))
    if members > 1 and (tp * pp) % members:
        problems.append(f"tp_size {tp} x pp_size {pp} = {tp * pp} ranks do not split evenly over the cluster's "
                        f"{members} hosts")
    elif tp * pp // members > count:
        problems.append(f"tp_size {tp} x pp_size {pp} needs {tp * pp} GPUs"
                        + (f", {tp * pp // members} on each of the cluster's {members} hosts" if members > 1 else "")
                        + f"; this node has {count}")
    heads = int(config["num_attention_heads"])
    if heads % tp:
        problems.append(f"tp_size {tp} does not divide the model's {heads} attention heads")
    kv_heads = int(config.get("num_key_value_heads", heads))
    if kv_heads % tp and tp % kv_heads:
        problems.append(f"tp_size {tp} and the model's {kv_heads} KV heads do not divide each other")
    memories = [int(g.get("memory_total_mib", 0)) for g in gpus.get("gpus", [])][: max(tp * pp // members, 1)]
    if memories and not problems:
        weights_gib = parameter_count(config) * DTYPE_BYTES.get(dtype, 2) / (tp * pp) / 1024**3
        memory_gib = min(memories) / 1024
        free_gib = memory_gib * (1 - RUNTIME_RESERVE) - weights_gib
        kv_gib = free_gib * float(kv_cache_free_gpu_mem_fraction)
        if kv_gib < MIN_KV_GIB:
            problems.append(
                f"weights need about {weights_gib:.1f} GiB per GPU ({parameter_count(config) / 1e9:.2f}B parameters "
                f"x {DTYPE_BYTES.get(dtype, 2)} bytes / {tp * pp} GPUs); a {memory_gib:.0f} GiB GPU less "
                f"{RUNTIME_RESERVE:.0%} for the runtime leaves {max(kv_gib, 0):.1f} GiB of KV cache at fraction "
                f"{kv_cache_free_gpu_mem_fraction} (at least {MIN_KV_GIB:.0f} GiB needed): raise tp_size")
    return length_problems(config, max_input_len, max_output_len) + problems


class FilterModule:
    def filters(self):
        return {"tp_preflight": tp_preflight, "model_weight_bytes": weight_bytes}
