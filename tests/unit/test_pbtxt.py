"""config.pbtxt rendering against the real r24.04 and tensorrt-demo templates."""

from __future__ import annotations

import difflib
import re

import pytest
from seed_values import SEED

from ansible_collections.trtllm.deploy.plugins.module_utils import pbtxt

MODELS = ["ensemble", "preprocessing", "postprocessing", "tensorrt_llm", "tensorrt_llm_bls"]
TEMPLATE_SETS = ["tensorrtllm_backend-r24.04", "tensorrt-demo"]

@pytest.fixture(scope="module")
def schema():
    return pbtxt.model_config_schema()


def template(fixtures, which, model):
    return (fixtures / which / model / "config.pbtxt").read_text()


def params(config):
    return {k: v["string_value"] for k, v in config.get("parameters", {}).items()}


@pytest.mark.parametrize("which", TEMPLATE_SETS)
@pytest.mark.parametrize("model", MODELS)
def test_seed_values_land_in_every_real_template(fixtures, schema, which, model):
    result = pbtxt.render(template(fixtures, which, model), schema, placeholders=SEED, ignore_unknown=True)
    config = result.config
    assert config["name"] == model
    assert config["max_batch_size"] == 256
    if model in ("preprocessing", "postprocessing"):
        assert params(config)["tokenizer_dir"] == "/models/trt/Meta-Llama-3-8B-Instruct"
    if model in ("tensorrt_llm", "tensorrt_llm_bls"):
        assert config["model_transaction_policy"]["decoupled"] is True
    if model == "tensorrt_llm":
        assert config["backend"] == "tensorrtllm"
        assert params(config)["gpt_model_type"] == "inflight_fused_batching"
        assert params(config)["batch_scheduler_policy"] == "max_utilization"
        assert params(config)["kv_cache_free_gpu_mem_fraction"] == "0.9"
        assert params(config)["gpt_model_path"] == SEED["engine_dir"]
    if model == "tensorrt_llm_bls":
        assert params(config)["tensorrt_llm_model_name"] == "tensorrt_llm"
    # Optional parameters stay placeholders, which the backend reads as unset.
    assert all(w.startswith("parameters.") for w in result.warnings)


@pytest.mark.parametrize("model", MODELS)
def test_rendering_is_byte_stable(fixtures, schema, model):
    text = template(fixtures, "tensorrtllm_backend-r24.04", model)
    once = pbtxt.render(text, schema, placeholders=SEED, ignore_unknown=True).text
    twice = pbtxt.render(text, schema, placeholders=SEED, ignore_unknown=True).text
    assert once == twice


def changed_lines(before: str, after: str) -> list[str]:
    return [line for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_only_the_touched_lines_change(fixtures, schema):
    before = template(fixtures, "tensorrt-demo", "tensorrt_llm")
    after = pbtxt.render(
        before, schema,
        parameters={"kv_cache_free_gpu_mem_fraction": 0.85},
        fields={"max_batch_size": 64, "instance_group.0.count": 2},
    ).text
    assert sorted(changed_lines(before, after)) == sorted([
        "-max_batch_size: 256", "+max_batch_size: 64",
        "-    count: 1", "+    count: 2",
        '-    string_value: "0.9"', '+    string_value: "0.85"',
    ])


def test_missing_fields_and_parameters_are_added(fixtures, schema):
    before = template(fixtures, "tensorrt-demo", "preprocessing")
    result = pbtxt.render(
        before, schema,
        parameters={"add_special_tokens": False},
        fields={"model_transaction_policy.decoupled": True, "dynamic_batching.max_queue_delay_microseconds": 100},
    )
    assert all(line.startswith("+") for line in changed_lines(before, result.text))
    assert result.config["model_transaction_policy"] == {"decoupled": True}
    assert result.config["dynamic_batching"]["max_queue_delay_microseconds"] == "100"
    assert params(result.config)["add_special_tokens"] == "false"
    # the commented-out add_special_tokens block of the demo template is left alone
    assert "#parameters {" in result.text


def test_values_with_commas_colons_and_quotes_survive(fixtures, schema):
    odd = '/models/a,b:c/"quoted"\\dir'
    result = pbtxt.render(template(fixtures, "tensorrtllm_backend-r24.04", "preprocessing"), schema,
                          placeholders=dict(SEED, tokenizer_dir=odd), ignore_unknown=True)
    assert params(result.config)["tokenizer_dir"] == odd


@pytest.mark.parametrize("fields, message", [
    ({"max_batch_size": "lots"}, "fields.max_batch_size: expected an integer, got 'lots'"),
    ({"model_transaction_policy.decoupled": "maybe"},
     "fields.model_transaction_policy.decoupled: expected a boolean, got 'maybe'"),
    ({"model_transaction_policy.decoupld": True},
     "fields.model_transaction_policy.decoupld: ModelTransactionPolicy has no field 'decoupld'"),
    ({"instance_group.3.count": 1}, "fields.instance_group.3.count: instance_group has 1 element(s)"),
    ({"instance_group.0.kind": "KIND_TPU"}, "fields.instance_group.0.kind: expected one of KIND_AUTO"),
    ({"dynamic_batching.max_queue_delay_microseconds": -1}, "expected an unsigned integer, got -1"),
])
def test_wrong_fields_fail_with_their_path(fixtures, schema, fields, message):
    with pytest.raises(pbtxt.PbtxtError, match=re.escape(message)):
        pbtxt.render(template(fixtures, "tensorrt-demo", "tensorrt_llm"), schema, fields=fields)


def test_unknown_placeholder_is_an_error_unless_ignored(fixtures, schema):
    text = template(fixtures, "tensorrtllm_backend-r24.04", "ensemble")
    with pytest.raises(pbtxt.PbtxtError, match=r"placeholders tokenizer_dir are not in the template \(it has: "
                                               r"triton_max_batch_size\)"):
        pbtxt.render(text, schema, placeholders={"triton_max_batch_size": 8, "tokenizer_dir": "/x"})
    pbtxt.render(text, schema, placeholders={"triton_max_batch_size": 8, "tokenizer_dir": "/x"}, ignore_unknown=True)


def test_strict_refuses_bare_placeholders_with_their_line(fixtures, schema):
    text = template(fixtures, "tensorrtllm_backend-r24.04", "postprocessing")
    with pytest.raises(pbtxt.PbtxtError, match=r"placeholder \$\{postprocessing_instance_count\} is unfilled at "
                                               r"line 110"):
        pbtxt.render(text, schema, placeholders={"triton_max_batch_size": 8, "tokenizer_dir": "/x"})
    loose = pbtxt.render(text, schema, placeholders={"triton_max_batch_size": 8, "tokenizer_dir": "/x"}, strict=False)
    assert loose.unfilled == ["postprocessing_instance_count"]
    assert any("not validated" in w for w in loose.warnings)


def test_strict_refuses_the_bls_model_name_the_workflow_forgot(fixtures, schema):
    text = template(fixtures, "tensorrt-demo", "tensorrt_llm_bls")
    with pytest.raises(pbtxt.PbtxtError, match=r"parameters.tensorrt_llm_model_name is still "
                                               r"\$\{tensorrt_llm_model_name\}: the model will not load"):
        pbtxt.render(text, schema)
    assert pbtxt.render(text, schema, strict=False).unfilled == [
        "accumulate_tokens", "tensorrt_llm_draft_model_name", "tensorrt_llm_model_name"]


@pytest.mark.parametrize("broken, message", [
    ("name: \"x\"\ninput [ { name: \"a\" \n", "unclosed"),
    ("name: \"x\"\nmax_batch_size: 8\nbogus_field: 1\n", "has no field named \"bogus_field\""),
    ("name: \"x\"\nmax_batch_size: \"eight\"\n", "max_batch_size"),
    ("name: @\n", "cannot read '@"),
])
def test_malformed_pbtxt_fails_with_the_place(schema, broken, message):
    with pytest.raises(pbtxt.PbtxtError, match=re.escape(message)):
        pbtxt.render(broken, schema)


def test_an_element_of_a_repeated_scalar_is_set_in_place(fixtures, schema):
    text = pbtxt.fill_placeholders(template(fixtures, "tensorrtllm_backend-r24.04", "tensorrt_llm"), SEED,
                                   ignore_unknown=True)
    result = pbtxt.render(text, schema, fields={"max_batch_size": 128, "dynamic_batching.preferred_batch_size.0": 128})
    assert result.config["max_batch_size"] == 128
    assert result.config["dynamic_batching"]["preferred_batch_size"] == [128]
    assert "preferred_batch_size: [ 128 ]" in result.text
    with pytest.raises(pbtxt.PbtxtError, match="there is no preferred_batch_size.1"):
        pbtxt.render(text, schema, fields={"dynamic_batching.preferred_batch_size.1": 1})
