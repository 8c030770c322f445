"""tp_preflight: GPU count, head divisibility, and the memory estimate, on Llama-3-8B's real shape."""

from __future__ import annotations

from ansible_collections.trtllm.deploy.plugins.filter.preflight import parameter_count, tp_preflight

LLAMA3_8B = {"hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
             "intermediate_size": 14336, "vocab_size": 128256, "tie_word_embeddings": False}
LLAMA3_70B = dict(LLAMA3_8B, hidden_size=8192, num_hidden_layers=80, num_attention_heads=64,
                  intermediate_size=28672)


def gpus(count, mib=81920):
    return {"count": count, "gpus": [{"memory_total_mib": mib}] * count}


def test_parameter_count_matches_the_published_sizes():
    assert round(parameter_count(LLAMA3_8B) / 1e9, 2) == 8.03
    assert round(parameter_count(LLAMA3_70B) / 1e9, 1) == 70.6


def test_the_workflows_layout_fits_one_a100():
    assert tp_preflight(LLAMA3_8B, 1, gpus(1)) == []


def test_more_ranks_than_gpus():
    assert tp_preflight(LLAMA3_8B, 2, gpus(1)) == ["tp_size 2 x pp_size 1 needs 2 GPUs; this node has 1"]


def test_tp_must_divide_the_heads():
    problems = tp_preflight(LLAMA3_8B, 3, gpus(4))
    assert "tp_size 3 does not divide the model's 32 attention heads" in problems


def test_70b_does_not_fit_one_gpu_and_says_why():
    (problem,) = tp_preflight(LLAMA3_70B, 1, gpus(8))
    assert problem.startswith("weights need about 131.4 GiB per GPU (70.55B parameters x 2 bytes / 1 GPUs)")
    assert tp_preflight(LLAMA3_70B, 4, gpus(8)) == []


def test_a_cluster_member_holds_its_share_of_the_ranks():
    # Llama-3-70B at tp 8 over two 4-GPU hosts: 4 ranks each, ~16 GiB of weights per 80 GiB GPU.
    assert tp_preflight(LLAMA3_70B, 8, gpus(4), members=2) == []
    assert tp_preflight(LLAMA3_70B, 8, gpus(2), members=2) == [
        "tp_size 8 x pp_size 1 needs 8 GPUs, 4 on each of the cluster's 2 hosts; this node has 2"]
    assert tp_preflight(LLAMA3_70B, 8, gpus(4), members=3) == [
        "tp_size 8 x pp_size 1 = 8 ranks do not split evenly over the cluster's 3 hosts"]
    # 70B in float16 over two hosts of one 40 GiB GPU each: 66 GiB of weights per GPU do not fit.
    assert "raise tp_size" in tp_preflight(LLAMA3_70B, 2, gpus(1, mib=40960), members=2)[0]
