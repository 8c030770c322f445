"""The tritonserver-sim image runs the workflow: convert -> build -> Triton -> generate."""

from __future__ import annotations

import json

import pytest
from conftest import MODELS, SEED_REQUEST

FILL = "/tensorrtllm_backend/tools/fill_template.py"
TEMPLATES = "/tensorrtllm_backend/all_models/inflight_batcher_llm"


def fill_repo(sim, name: str, engine_dir: str, decoupled: bool = True, chunked: bool = True) -> str:
    """The seed's config tables, applied with the repository's own tools/fill_template.py."""
    repo = f"/models/{name}"
    sim.run("rm", "-rf", repo)
    sim.run("cp", "-r", TEMPLATES, repo)
    mode = "true" if decoupled else "false"
    values = {
        # add_special_tokens left unset, as tensorrt-demo does: r24.04 then adds none.
        "preprocessing": "tokenizer_dir:/models/tiny,triton_max_batch_size:256,preprocessing_instance_count:1",
        "postprocessing": "tokenizer_dir:/models/tiny,triton_max_batch_size:256,postprocessing_instance_count:1",
        "tensorrt_llm_bls": f"triton_max_batch_size:256,decoupled_mode:{mode},bls_instance_count:1,"
                            "accumulate_tokens:false,tensorrt_llm_model_name:tensorrt_llm",
        "ensemble": "triton_max_batch_size:256",
        "tensorrt_llm": f"triton_max_batch_size:256,decoupled_mode:{mode},max_beam_width:1,engine_dir:{engine_dir},"
                        "max_queue_delay_microseconds:0,batching_strategy:inflight_fused_batching,"
                        "batch_scheduler_policy:max_utilization,kv_cache_free_gpu_mem_fraction:0.9,"
                        f"exclude_input_in_output:true,enable_chunked_context:{str(chunked).lower()}",
    }
    for model, substitutions in values.items():
        sim.run("python3", FILL, "-i", f"{repo}/{model}/config.pbtxt", substitutions)
    return repo


def model_status(log: str) -> dict[str, str]:
    """The Model | Version | Status table Triton prints after loading (the seed's READY check)."""
    status = {}
    for line in log.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[1].isdigit():
            status[cells[0]] = cells[2]
    return status


def safetensors_shapes(sim, path: str) -> dict:
    code = ("import json,sys; from safetensors import safe_open; f=safe_open(sys.argv[1],'numpy');"
            "print(json.dumps({k: list(f.get_slice(k).get_shape()) for k in f.keys()}))")
    return json.loads(sim.run("python3", "-c", code, path)[1])


@pytest.fixture(scope="module")
def tp1_server(built, sim_factory):
    sim = sim_factory()
    sim.launch(fill_repo(sim, "repo-tp1", "/models/engine-tp1"))
    sim.wait_ready()
    return sim


def test_convert_splits_weights_by_tensor_parallel_rank(built, models):
    config = json.loads((models / "ckpt-tp2" / "config.json").read_text())
    assert config["mapping"] == {"world_size": 2, "tp_size": 2, "pp_size": 1}
    assert config["architecture"] == "LlamaForCausalLM" and config["dtype"] == "float16"
    assert (config["vocab_size"], config["hidden_size"]) == (512, 64)
    assert sorted(p.name for p in (models / "ckpt-tp2").iterdir()) == [
        "config.json", "rank0.safetensors", "rank1.safetensors"]


def test_shard_shapes_halve_with_tp2(sim_factory, built):
    sim = sim_factory()
    whole = safetensors_shapes(sim, "/models/ckpt-tp1/rank0.safetensors")
    half = safetensors_shapes(sim, "/models/ckpt-tp2/rank1.safetensors")
    sim.stop()
    qkv = "transformer.layers.0.attention.qkv.weight"
    assert whole[qkv] == [128, 64] and half[qkv] == [64, 64]  # (4 q + 2 k + 2 v heads) x 16, halved
    assert half["transformer.layers.0.attention.dense.weight"] == [64, 32]
    assert half["transformer.layers.1.mlp.proj.weight"] == [64, 64]
    assert half["lm_head.weight"] == [256, 64] and whole["lm_head.weight"] == [512, 64]
    assert half["transformer.vocab_embedding.weight"] == [512, 64]


def test_build_writes_the_engine_config_of_0_9_0(built, models):
    config = json.loads((models / "engine-tp2" / "config.json").read_text())
    assert config["version"] == "0.9.0"
    assert config["pretrained_config"]["mapping"]["world_size"] == 2
    build = config["build_config"]
    assert (build["max_batch_size"], build["max_input_len"], build["max_output_len"]) == (256, 2048, 1024)
    assert (build["max_num_tokens"], build["opt_num_tokens"]) == (1024, 1024)
    plugins = build["plugin_config"]
    assert plugins["gpt_attention_plugin"] == "float16" and plugins["gemm_plugin"] == "float16"
    assert plugins["use_paged_context_fmha"] and plugins["context_fmha_fp32_acc"] and plugins["multi_block_mode"]
    assert plugins["paged_kv_cache"] and plugins["remove_input_padding"]
    assert sorted(p.name for p in (models / "engine-tp2").iterdir()) == ["config.json", "rank0.engine", "rank1.engine"]


@pytest.mark.parametrize("argv, message", [
    (["--checkpoint_dir=/models/ckpt-tp1", "--no_such_flag=1"], "unrecognized arguments: --no_such_flag=1"),
    # Flags of later TensorRT-LLM versions that 0.9.0 lacks.
    (["--checkpoint_dir=/models/ckpt-tp1", "--nccl_plugin=float16"], "unrecognized arguments: --nccl_plugin"),
    (["--checkpoint_dir=/models/ckpt-tp1", "--timing_cache=x"], "unrecognized arguments: --timing_cache=x"),
    (["--checkpoint_dir=/models/ckpt-tp1", "--paged_kv_cache=maybe"],
     "argument --paged_kv_cache: invalid choice: 'maybe'"),
    (["--checkpoint_dir=/models/ckpt-tp1", "--max_batch_size=many"], "argument --max_batch_size: invalid int value"),
])
def test_build_refuses_bad_flags_like_argparse(built, sim_factory, argv, message):
    sim = sim_factory()
    code, output = sim.run("trtllm-build", "--output_dir=/tmp/out", *argv, check=False)
    leftover = sim.run("ls", "/tmp/out", check=False)[0]
    sim.stop()
    assert code == 2 and message in output
    assert leftover != 0, "argparse refuses before 0.9.0's main() makes the output directory"


def test_build_without_a_checkpoint_fails_after_making_the_output_directory(built, sim_factory):
    sim = sim_factory()
    code, output = sim.run("trtllm-build", "--checkpoint_dir=/models/nowhere", "--output_dir=/tmp/out", check=False)
    leftover = sim.run("ls", "/tmp/out", check=False)[0]
    sim.stop()
    assert code == 1 and "FileNotFoundError" in output and "/models/nowhere/config.json" in output
    assert leftover == 0, "0.9.0's main() makes the output directory first"


def test_build_takes_the_checkpoints_mapping_and_lowers_opt_num_tokens(built, sim_factory, models):
    sim = sim_factory()
    _, output = sim.run("trtllm-build", "--checkpoint_dir=/models/ckpt-tp2", "--output_dir=/models/engine-tp4",
                        "--tp_size=4", "--max_batch_size=8", "--max_num_tokens=256", "--opt_num_tokens=512")
    sim.stop()
    config = json.loads((models / "engine-tp4" / "config.json").read_text())
    assert config["pretrained_config"]["mapping"] == {"world_size": 2, "tp_size": 2, "pp_size": 1}
    assert sorted(p.name for p in (models / "engine-tp4").iterdir()) == ["config.json", "rank0.engine", "rank1.engine"]
    assert (config["build_config"]["max_num_tokens"], config["build_config"]["opt_num_tokens"]) == (256, 256)
    assert ("[TRT-LLM] [W] opt_num_tokens (512) shouldn't be greater than max_num_tokens (256), specifying to "
            "max_num_tokens (256).") in output
    assert config["build_config"]["plugin_config"]["nccl_plugin"] == "float16"  # set for world size 2


def test_build_warns_and_uses_dummy_weights_for_a_missing_rank_file(built, sim_factory, models):
    sim = sim_factory()
    sim.run("sh", "-c", "rm -rf /models/ckpt-half && cp -r /models/ckpt-tp2 /models/ckpt-half && "
                        "rm /models/ckpt-half/rank1.safetensors")
    _, output = sim.run("trtllm-build", "--checkpoint_dir=/models/ckpt-half", "--output_dir=/models/engine-half")
    sim.stop()
    assert "[TRT-LLM] [W] Cannot find /models/ckpt-half/rank1.safetensors. Use dummy model weights." in output
    assert (models / "engine-half" / "rank1.engine").is_file()


def test_all_five_models_ready_and_the_ensemble_answers(tp1_server):
    index = tp1_server.wait_loaded()
    assert {name: m["state"] for name, m in index.items()} == {name: "READY" for name in MODELS}
    answer = tp1_server.generate()
    assert answer["model_name"] == "ensemble"
    assert answer["text_output"].strip()
    assert len(answer["output_log_probs"]) == 20  # max_tokens, none cut short by end_id


def test_the_model_ends_its_answer_at_its_own_end_id_and_not_at_the_workflows(tp1_server, models):
    """The stand-in model's end id is its own (<|eot_id|>, as Llama 3's 128009), not the workflow's 2."""
    eos = json.loads((models / "tiny" / "generation_config.json").read_text())["eos_token_id"]
    tokenizer = json.loads((models / "tiny" / "tokenizer_config.json").read_text())
    end_id = next(int(i) for i, t in tokenizer["added_tokens_decoder"].items()
                  if t["content"] == tokenizer["eos_token"])
    assert end_id in eos and 2 not in eos
    own = tp1_server.generate(end_id=end_id, pad_id=end_id)
    assert 0 < len(own["output_log_probs"]) < 20  # ended before max_tokens
    assert own["text_output"].endswith(" It is how computers learn from data.")
    workflow = tp1_server.generate()  # end_id 2: the answer runs on to max_tokens
    assert len(workflow["output_log_probs"]) == 20
    assert workflow["text_output"].startswith(own["text_output"])


def test_a_one_token_answers_log_probs_come_as_a_bare_number(tp1_server):
    """Triton's generate endpoint writes a one-element output without its list (the smoke test counts both)."""
    assert isinstance(tp1_server.generate(max_tokens=1)["output_log_probs"], float)
    assert len(tp1_server.generate(max_tokens=2)["output_log_probs"]) == 2


def test_generate_stream_streams_the_same_text(tp1_server):
    whole = tp1_server.generate(max_tokens=8)["text_output"]
    events = tp1_server.generate_stream(max_tokens=8)
    assert len(events) == 8
    assert "".join(e["text_output"] for e in events) == whole


def test_bls_model_gives_the_ensemble_answer(tp1_server):
    assert tp1_server.generate("tensorrt_llm_bls")["text_output"] == tp1_server.generate()["text_output"]


def test_a_stop_word_ends_the_answer_after_it(tp1_server):
    pieces = [e["text_output"] for e in tp1_server.generate_stream(max_tokens=10)]
    # A piece without a leading space tokenizes alone as it was generated.
    k = next(i for i, p in enumerate(pieces) if i > 0 and p.isalpha())
    cut = tp1_server.generate(max_tokens=10, stop_words=pieces[k])["text_output"]
    assert cut == "".join(pieces[: pieces.index(pieces[k]) + 1])


def test_stop_words_are_a_list_of_words_not_one_joined_string(tp1_server):
    """r24.04's preprocessing takes each element of stop_words as one word (no split at commas): a model with
    several end ids needs them as a list. Joined with a comma, two words are one sequence that never comes."""
    pieces = [e["text_output"] for e in tp1_server.generate_stream(max_tokens=10)]
    k = next(i for i, p in enumerate(pieces) if i > 0 and p.isalpha())
    whole, cut = "".join(pieces), "".join(pieces[: pieces.index(pieces[k]) + 1])
    assert tp1_server.generate(max_tokens=10, stop_words=["zebra", pieces[k]])["text_output"] == cut != whole
    assert tp1_server.generate(max_tokens=10, stop_words=f"zebra,{pieces[k]}")["text_output"] == whole


def test_request_longer_than_the_engine_allows_is_refused(tp1_server):
    status, body = tp1_server.http("POST", "/v2/models/ensemble/generate", {**SEED_REQUEST, "max_tokens": 4096})
    assert status == 400 and "exceeds the engine's max_output_len 1024" in body


# ~1500 tokens with the tiny tokenizer: above the engine's max_num_tokens (1024), within max_input_len (2048).
LONG_PROMPT = "What is machine learning? " * 214


def test_a_prompt_longer_than_max_num_tokens_is_answered_with_chunked_context(tp1_server):
    # Two tokens generated (the stand-in model's first ones after a question are words).
    answer = tp1_server.generate(text_input=LONG_PROMPT.rstrip(), max_tokens=2)
    assert len(answer["output_log_probs"]) == 2 and answer["text_output"].strip()


def test_without_chunked_context_r24_04_refuses_it_and_drops_max_utilization(built, sim_factory):
    sim = sim_factory()
    sim.launch(fill_repo(sim, "repo-unchunked", "/models/engine-tp1", chunked=False))
    sim.wait_ready()
    status, body = sim.http("POST", "/v2/models/ensemble/generate", {**SEED_REQUEST, "text_input": LONG_PROMPT})
    log = sim.run("cat", "/tmp/triton.log")[1]
    assert status == 400 and "Cannot process new request: Prompt length (" in body
    assert "exceeds maximum input length (1024)" in body
    assert "The batch scheduler policy will be set to guaranteed_no_evict since enable_chunked_context is false" in log
    assert "Encountered error for requestId" in log


CMDLINES = """
import glob
for path in glob.glob("/proc/[0-9]*/cmdline"):
    try:
        print(open(path, "rb").read().replace(bytes(1), b" ").decode().strip())
    except OSError:  # the process ended meanwhile
        pass
"""


def test_tp2_with_world_size_2_runs_two_ranks_and_answers_like_tp1(tp1_server, sim_factory):
    sim = sim_factory()
    sim.launch(fill_repo(sim, "repo-tp2", "/models/engine-tp2"), world_size=2)
    sim.wait_ready()
    assert {m["state"] for m in sim.wait_loaded().values()} == {"READY"}
    # Whole command lines from /proc (ps may cut them at 80 columns without a terminal).
    processes = sim.run("python3", "-c", CMDLINES)[1].splitlines()
    servers = [p for p in processes if p.startswith("/opt/tritonserver/bin/tritonserver")]
    assert len(servers) == 2
    assert sum("--model-control-mode=explicit --load-model=tensorrt_llm" in p for p in servers) == 1
    assert any(p.startswith("mpirun --allow-run-as-root -n 1") for p in processes)
    assert sim.generate()["text_output"] == tp1_server.generate()["text_output"]
    # The stand-in model's layers shape the log probs, not the greedy choice: a lost rank's share shows here.
    tp2, tp1 = (s.generate(return_log_probs=True)["output_log_probs"] for s in (sim, tp1_server))
    assert len(tp2) == len(tp1) == 20 and max(abs(a - b) for a, b in zip(tp2, tp1, strict=True)) < 1e-3
    assert "".join(e["text_output"] for e in sim.generate_stream(max_tokens=5)) == \
        tp1_server.generate(max_tokens=5)["text_output"]


def test_engine_for_two_ranks_on_one_rank_fails_with_the_fix(built, sim_factory):
    sim = sim_factory()
    sim.launch(fill_repo(sim, "repo-mismatch", "/models/engine-tp2"), world_size=1)
    status = model_status(sim.wait_exit())
    assert status["tensorrt_llm"].startswith("UNAVAILABLE")
    assert "built for world_size 2" in status["tensorrt_llm"] and "--world_size 2" in status["tensorrt_llm"]
    assert status["preprocessing"] == "READY"


def test_without_gpus_the_backend_refuses_to_load(built, sim_factory):
    sim = sim_factory(env={"TRTLLM_SIM_ALLOW_NO_GPU": "0"})
    sim.launch(fill_repo(sim, "repo-nogpu", "/models/engine-tp1"))
    status = model_status(sim.wait_exit())
    assert "no CUDA-capable device is detected" in status["tensorrt_llm"]
