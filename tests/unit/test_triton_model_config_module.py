"""triton_model_config through Ansible: idempotence, check mode, diff, atomic failure."""

from __future__ import annotations

import pytest

MODULE = "trtllm.deploy.triton_model_config"
TEMPLATE = "tensorrtllm_backend-r24.04/tensorrt_llm/config.pbtxt"
VALUES = {
    "triton_max_batch_size": 256, "decoupled_mode": True, "batching_strategy": "inflight_fused_batching",
    "batch_scheduler_policy": "max_utilization", "kv_cache_free_gpu_mem_fraction": 0.9,
    "engine_dir": "/engines/llama", "max_queue_delay_microseconds": 0, "exclude_input_in_output": True,
}


@pytest.fixture
def args(fixtures, tmp_path):
    return {"src": str(fixtures / TEMPLATE), "path": str(tmp_path / "config.pbtxt"), "placeholders": VALUES}


def test_renders_then_changes_nothing(adhoc, args, tmp_path):
    rc, first = adhoc(MODULE, args)
    assert rc == 0, first
    assert first["changed"] is True
    assert first["config"]["max_batch_size"] == 256
    assert first["config"]["parameters"]["gpt_model_path"] == {"string_value": "/engines/llama"}
    assert "medusa_choices" in first["unfilled"]
    written = (tmp_path / "config.pbtxt").read_text()
    assert "max_batch_size: 256" in written
    rc, second = adhoc(MODULE, args)
    assert rc == 0 and second["changed"] is False
    assert (tmp_path / "config.pbtxt").read_text() == written
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".config")] == []


def test_check_mode_writes_nothing_and_diff_shows_the_change(adhoc, args, tmp_path):
    rc, result = adhoc(MODULE, args, check=True, diff=True)
    assert rc == 0 and result["changed"] is True
    assert not (tmp_path / "config.pbtxt").exists()
    assert result["diff"]["before"] == ""
    assert "max_batch_size: 256" in result["diff"]["after"]


def test_a_patch_is_a_minimal_diff_with_backup(adhoc, args, tmp_path):
    adhoc(MODULE, args)
    rc, result = adhoc(MODULE, dict(args, fields={"max_batch_size": 64}, backup=True), diff=True)
    assert rc == 0 and result["changed"] is True
    before, after = result["diff"]["before"].splitlines(), result["diff"]["after"].splitlines()
    assert [(a, b) for a, b in zip(before, after, strict=True) if a != b] == [
        ("max_batch_size: 256", "max_batch_size: 64"),
    ]
    assert (tmp_path / result["backup_file"].rsplit("/", 1)[1]).read_text().count("max_batch_size: 256") == 1


@pytest.mark.parametrize("extra, message", [
    ({"fields": {"model_transaction_policy.decoupled": "sometimes"}},
     "fields.model_transaction_policy.decoupled: expected a boolean, got 'sometimes'"),
    ({"placeholders": dict(VALUES, tokenizer_dir="/tok")}, "placeholders tokenizer_dir are not in the template"),
    ({"placeholders": {k: v for k, v in VALUES.items() if k != "engine_dir"}},
     "parameters.gpt_model_path is still ${engine_dir}: the model will not load without it"),
])
def test_failures_write_nothing(adhoc, args, tmp_path, extra, message):
    rc, result = adhoc(MODULE, dict(args, **extra))
    assert rc != 0
    assert message in result["msg"]
    assert list(tmp_path.glob("config.pbtxt*")) == []
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".config")] == []
