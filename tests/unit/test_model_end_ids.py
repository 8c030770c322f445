"""model_end_ids: the ids a request sends come from the model's own files, not the workflow's constant 2."""

from __future__ import annotations

from ansible_collections.trtllm.deploy.plugins.filter.model_end_ids import model_end_ids

# meta-llama/Meta-Llama-3-8B-Instruct: generation_config.json and the part of tokenizer_config.json read here.
LLAMA3_GENERATION = {"bos_token_id": 128000, "eos_token_id": [128001, 128009], "do_sample": True,
                     "temperature": 0.6, "top_p": 0.9}
LLAMA3_TOKENIZER = {"eos_token": "<|eot_id|>", "bos_token": "<|begin_of_text|>",
                    "added_tokens_decoder": {"128000": {"content": "<|begin_of_text|>", "special": True},
                                             "128001": {"content": "<|end_of_text|>", "special": True},
                                             "128009": {"content": "<|eot_id|>", "special": True}}}


def test_llama3_instruct_ends_a_turn_at_eot_and_stops_at_end_of_text_too():
    assert model_end_ids(LLAMA3_GENERATION, LLAMA3_TOKENIZER) == {
        "end_id": 128009, "pad_id": 128009, "end_ids": [128001, 128009], "stop_words": ["<|end_of_text|>"]}


def test_a_single_eos_and_a_pad_id_of_its_own():
    assert model_end_ids({"eos_token_id": 2, "pad_token_id": 0}) == {"end_id": 2, "pad_id": 0, "end_ids": [2],
                                                                      "stop_words": []}
