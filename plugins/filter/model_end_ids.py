# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter model_end_ids: the end and pad ids a request sends, from the model's own files."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: model_end_ids
short_description: The end id, pad id and extra stop words of a model, from its generation and tokenizer configs
version_added: 0.4.0
author:
  - trtllm-deploy maintainers (@trtllm-deploy)
description:
  - The workflow's request sends C(end_id) and C(pad_id) 2, a Llama-2 id; Llama 3 ends a turn with 128009 and a
    text with 128001 (its C(generation_config.json)), so a real Llama 3 would never stop before C(max_tokens).
  - C(end_id) is the id of the tokenizer's C(eos_token) (C(tokenizer_config.json), through its
    C(added_tokens_decoder)) when it is one of C(generation_config.json)'s C(eos_token_id), else the first of
    those. C(pad_id) is C(generation_config.json)'s C(pad_token_id), else C(end_id). C(stop_words) are the texts
    of the other end ids (Triton's r24.04 ensemble takes one C(end_id); the others stop as stop words).
options:
  _input:
    description: The parsed C(generation_config.json).
    type: dict
    required: true
  tokenizer_config:
    description: The parsed C(tokenizer_config.json).
    type: dict
    default: {}
"""

EXAMPLES = r"""
ids: "{{ generation_config | trtllm.deploy.model_end_ids(tokenizer_config) }}"
"""

RETURN = r"""
_value:
  description: C(end_id), C(pad_id), C(end_ids) (all of them) and C(stop_words).
  type: dict
"""


def model_end_ids(generation_config, tokenizer_config=None):
    eos = generation_config.get("eos_token_id")
    end_ids = [int(i) for i in (eos if isinstance(eos, list) else [eos] if eos is not None else [])]
    if not end_ids:
        raise AnsibleFilterError("model_end_ids: generation_config.json has no eos_token_id")
    decoder = (tokenizer_config or {}).get("added_tokens_decoder") or {}
    texts = {int(i): (token.get("content") if isinstance(token, dict) else token) for i, token in decoder.items()}
    eos_token = (tokenizer_config or {}).get("eos_token")
    eos_token = eos_token.get("content") if isinstance(eos_token, dict) else eos_token
    chosen = next((i for i in end_ids if eos_token and texts.get(i) == eos_token), end_ids[0])
    pad = generation_config.get("pad_token_id")
    return {"end_id": chosen, "pad_id": int(pad) if pad is not None else chosen, "end_ids": end_ids,
            "stop_words": [texts[i] for i in end_ids if i != chosen and texts.get(i)]}


class FilterModule:
    def filters(self):
        return {"model_end_ids": model_end_ids}
