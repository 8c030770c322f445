"""The pipeline's model repository serves upstream's own code.

It is assembled as the pipeline does it from the generated remotes: tensorrt-demo's
triton_model_repo (its configs, r24.04's model.py files) plus r24.04's BLS lib/ from the
tensorrtllm_backend checkout, configs rendered with the workflow's values. The Python models
that answer are byte-identical to ../shared/fixtures; only `tensorrt_llm` runs the stand-in
backend.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import MODELS, SEED_REQUEST, copy_files
from seed_values import SEED as WORKFLOW

from ansible_collections.trtllm.deploy.plugins.module_utils import pbtxt

BACKEND = "tensorrtllm_backend-r24.04"
PYTHON_MODELS = ("preprocessing", "postprocessing", "tensorrt_llm_bls")
LIB = "all_models/inflight_batcher_llm/tensorrt_llm_bls/1/lib"
REPO_PATH = "/models/repo-pipeline"
# What roles/triton_model_repo sets on tensorrt-demo's configs, pointed at this test's model and engine.
PLACEHOLDERS = dict(WORKFLOW, tokenizer_dir="/models/tiny", engine_dir="/models/engine-tp1", max_beam_width=1)
PARAMETERS = {
    "preprocessing": {"tokenizer_dir": "/models/tiny"},
    "postprocessing": {"tokenizer_dir": "/models/tiny"},
    "tensorrt_llm": {"gpt_model_type": "inflight_fused_batching", "gpt_model_path": "/models/engine-tp1",
                     "batch_scheduler_policy": "max_utilization", "enable_chunked_context": "true",
                     "kv_cache_free_gpu_mem_fraction": "0.9", "exclude_input_in_output": "true"},
    "tensorrt_llm_bls": {"tensorrt_llm_model_name": "tensorrt_llm"},
}
# The python backend starts one stub per model instance: argv[1] is the model's model.py, argv[9]
# DEFAULT, or for a python-based backend (`backend: "tensorrtllm"`) the folder whose model.py it runs.
STUBS = """
import glob
for path in glob.glob("/proc/[0-9]*/cmdline"):
    try:
        argv = [a.decode() for a in open(path, "rb").read().split(bytes(1))]
    except OSError:  # the process ended meanwhile
        continue
    if argv and argv[0].endswith("triton_python_backend_stub"):
        print(argv[1] if argv[9] == "DEFAULT" else argv[9] + "/model.py")
"""
TOKENIZE = """
import json, sys
from transformers import AutoTokenizer
tokenizer = AutoTokenizer.from_pretrained("/models/tiny", legacy=False, padding_side="left", trust_remote_code=True)
print(json.dumps({"class": type(tokenizer).__name__, "eos": tokenizer.eos_token, "eos_id": tokenizer.eos_token_id,
                  "ids": tokenizer.encode(sys.argv[1], add_special_tokens=False)}))
"""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def files_of(root) -> dict[str, str]:
    return {str(p.relative_to(root)): sha256(p.read_bytes()) for p in sorted(root.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def pipeline_repo(built, models, demo, backend):
    target = models / "repo-pipeline"
    schema = pbtxt.model_config_schema()
    for model in MODELS:
        copy_files(demo / "triton_model_repo" / model / "1", target / model / "1")
        fields = {"max_batch_size": 256}
        if model in ("tensorrt_llm", "tensorrt_llm_bls"):
            fields["model_transaction_policy.decoupled"] = True
        result = pbtxt.render((demo / "triton_model_repo" / model / "config.pbtxt").read_text(), schema,
                              placeholders=PLACEHOLDERS, parameters=PARAMETERS.get(model), fields=fields,
                              ignore_unknown=True, strict=False)
        (target / model / "config.pbtxt").write_text(result.text)
    # tensorrt-demo lacks the BLS model's lib/: it comes from the backend checkout, as in the role.
    copy_files(backend / LIB, target / "tensorrt_llm_bls" / "1" / "lib")
    return target


@pytest.fixture(scope="module")
def server(pipeline_repo, sim_factory):
    sim = sim_factory()
    sim.launch(REPO_PATH)
    sim.wait_ready()
    return sim


def test_served_python_models_are_the_fixture_files(pipeline_repo, fixtures):
    for model in PYTHON_MODELS:
        assert files_of(pipeline_repo / model / "1") == files_of(fixtures / BACKEND / model / "1"), model


def test_the_running_stubs_are_upstream_code_and_only_tensorrt_llm_a_stand_in(server, fixtures):
    stubs = sorted(server.run("python3", "-c", STUBS)[1].split())
    assert stubs == sorted([f"{REPO_PATH}/{m}/1/model.py" for m in PYTHON_MODELS]
                           + ["/opt/tritonserver/backends/tensorrtllm/model.py"])
    for model in PYTHON_MODELS:
        served = server.run("sha256sum", f"{REPO_PATH}/{model}/1/model.py")[1].split()[0]
        assert served == sha256((fixtures / BACKEND / model / "1" / "model.py").read_bytes()), model


def test_the_workflow_request_and_20_concurrent_ones_are_answered(server):
    index = server.wait_loaded()
    assert {name: m["state"] for name, m in index.items()} == {name: "READY" for name in MODELS}
    answer = server.generate()
    assert answer["text_output"].strip()
    assert len(answer["output_log_probs"]) == 20  # max_tokens, none cut short by end_id
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda _: server.generate()["text_output"], range(20)))
    assert answers == [answer["text_output"]] * 20


def test_generate_stream_streams_through_the_ensemble_and_the_bls_model(server):
    whole = server.generate(max_tokens=8)["text_output"]
    for model in ("ensemble", "tensorrt_llm_bls"):
        events = server.generate_stream(model, max_tokens=8)
        assert len(events) == 8, model
        assert "".join(e["text_output"] for e in events) == whole, model


def test_the_bls_model_answers_like_the_ensemble(server):
    assert server.generate("tensorrt_llm_bls")["text_output"] == server.generate()["text_output"]
    # Without bad and stop words r24.04's preprocessing sends empty [1, 2, 0] word lists.
    bare = {"text_input": SEED_REQUEST["text_input"], "max_tokens": 5}
    status, body = server.http("POST", "/v2/models/tensorrt_llm_bls/generate", bare)
    assert status == 200, body
    assert json.loads(body)["text_output"] == server.generate(max_tokens=5)["text_output"]


def test_the_bls_model_refuses_with_r24_04_lib_validation(server):
    status, body = server.http("POST", "/v2/models/tensorrt_llm_bls/generate", {**SEED_REQUEST, "max_tokens": 0})
    assert status == 400 and "max_tokens must be a single value > 0" in body  # lib/decode.py's Request.validate


def infer(server, model: str, inputs: list[dict]) -> dict:
    status, body = server.http("POST", f"/v2/models/{model}/infer", {"inputs": inputs})
    assert status == 200, body
    return {o["name"]: o["data"] for o in json.loads(body)["outputs"]}


def test_preprocessing_and_postprocessing_use_the_tiny_hugging_face_tokenizer(server):
    text = SEED_REQUEST["text_input"]
    expected = json.loads(server.run("python3", "-c", TOKENIZE, text)[1].splitlines()[-1])
    assert expected["class"] == "PreTrainedTokenizerFast" and expected["eos"] == "<|eot_id|>"
    pre = infer(server, "preprocessing", [
        {"name": "QUERY", "shape": [1, 1], "datatype": "BYTES", "data": [text]},
        {"name": "REQUEST_OUTPUT_LEN", "shape": [1, 1], "datatype": "INT32", "data": [20]}])
    # r24.04: no special tokens unless add_special_tokens is set (tensorrt-demo leaves it out);
    # end and pad ids from the tokenizer's eos token when the request gives none.
    assert pre["INPUT_ID"] == expected["ids"] and pre["REQUEST_INPUT_LEN"] == [len(expected["ids"])]
    # The stand-in's <|eot_id|> is its own id, as Llama 3's 128009 is (not the workflow's 2).
    assert expected["eos_id"] != 2 and pre["OUT_END_ID"] == [expected["eos_id"]] == pre["OUT_PAD_ID"]
    ids = expected["ids"]
    post = infer(server, "postprocessing", [
        {"name": "TOKENS_BATCH", "shape": [1, 1, len(ids)], "datatype": "INT32", "data": ids},
        {"name": "SEQUENCE_LENGTH", "shape": [1, 1], "datatype": "INT32", "data": [len(ids)]}])
    assert post["OUTPUT"] == [text]
