"""The real r24.04 and tensorrt-demo config.pbtxt files and r24.04's Python models (../shared/fixtures) in the
image's Triton."""

from __future__ import annotations

import shutil

import pytest
from conftest import MODELS, copy_files
from seed_values import SEED as WORKFLOW
from test_tritonserver_sim import fill_repo, model_status

from ansible_collections.trtllm.deploy.plugins.module_utils import pbtxt

# The workflow's values, pointed at this test's tiny model and engine.
SEED = dict(WORKFLOW, tokenizer_dir="/models/tiny", engine_dir="/models/engine-tp1", max_beam_width=1)
BACKEND = "tensorrtllm_backend-r24.04"


def model_repository(fixtures, which: str, target, parameters=None, bls_lib: bool = True):
    """The fixture configs rendered with the seed's values, beside r24.04's own models' code."""
    schema = pbtxt.model_config_schema()
    for model in MODELS:
        (target / model / "1").mkdir(parents=True)
        if (fixtures / BACKEND / model / "1").is_dir():
            copy_files(fixtures / BACKEND / model / "1", target / model / "1")
        template = (fixtures / which / model / "config.pbtxt").read_text()
        result = pbtxt.render(template, schema, placeholders=SEED, parameters=(parameters or {}).get(model),
                              ignore_unknown=True, strict=False)
        (target / model / "config.pbtxt").write_text(result.text)
    if not bls_lib:
        shutil.rmtree(target / "tensorrt_llm_bls" / "1" / "lib")
    return target


@pytest.fixture(scope="module")
def upstream_server(built, models, fixtures, sim_factory, tp1_answer):
    model_repository(fixtures, "tensorrtllm_backend-r24.04", models / "repo-r24.04")
    sim = sim_factory()
    sim.launch("/models/repo-r24.04")
    sim.wait_ready()
    return sim


@pytest.fixture(scope="module")
def tp1_answer(built, sim_factory):
    sim = sim_factory()
    sim.launch(fill_repo(sim, "repo-reference", "/models/engine-tp1"))
    sim.wait_ready()
    answer = sim.generate()["text_output"]
    sim.stop()
    return answer


def test_r24_04_templates_load_unchanged_but_for_the_fill(upstream_server, models, fixtures):
    for model in MODELS:
        rendered = (models / "repo-r24.04" / model / "config.pbtxt").read_text().splitlines()
        original = (fixtures / "tensorrtllm_backend-r24.04" / model / "config.pbtxt").read_text().splitlines()
        assert len(rendered) == len(original)
        changed = [(a, b) for a, b in zip(original, rendered, strict=True) if a != b]
        assert all("${" in a and "${" not in b for a, b in changed), changed
    index = upstream_server.wait_loaded()
    assert {name: m["state"] for name, m in index.items()} == {name: "READY" for name in MODELS}


def test_r24_04_ensemble_and_bls_answer(upstream_server, tp1_answer):
    assert upstream_server.generate()["text_output"] == tp1_answer
    assert upstream_server.generate("tensorrt_llm_bls")["text_output"] == tp1_answer
    events = upstream_server.generate_stream(max_tokens=4)
    assert len(events) == 4 and all(e["text_output"] for e in events)


def test_tensorrt_demo_set_needs_the_bls_lib_it_lacks(built, models, fixtures, sim_factory, tp1_answer):
    # tensorrt-demo pins its own paths; point them at this test's model and engine.
    paths = {"preprocessing": {"tokenizer_dir": "/models/tiny"}, "postprocessing": {"tokenizer_dir": "/models/tiny"},
             "tensorrt_llm": {"gpt_model_path": "/models/engine-tp1", "exclude_input_in_output": "true"},
             "tensorrt_llm_bls": {"tensorrt_llm_model_name": "tensorrt_llm"}}
    model_repository(fixtures, "tensorrt-demo", models / "repo-demo", paths, bls_lib=False)
    sim = sim_factory()
    sim.launch("/models/repo-demo")
    status = model_status(sim.wait_exit())
    assert status["tensorrt_llm_bls"].startswith("UNAVAILABLE")
    assert "No module named 'lib'" in status["tensorrt_llm_bls"]
    assert {status[m] for m in MODELS if m not in ("tensorrt_llm_bls", "ensemble")} == {"READY"}
    copy_files(fixtures / BACKEND / "tensorrt_llm_bls" / "1" / "lib",
               models / "repo-demo" / "tensorrt_llm_bls" / "1" / "lib")
    sim.stop()
    sim = sim_factory()
    sim.launch("/models/repo-demo")
    sim.wait_ready()
    assert sim.generate("tensorrt_llm_bls")["text_output"] == tp1_answer
