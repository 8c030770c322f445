"""file_contents through Ansible, and filter render_model_config: what role triton_model_repo writes its five
configs with (one module run for all of them)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from seed_values import SEED

from ansible_collections.trtllm.deploy.plugins.filter.render_model_config import render_model_config

MODULE = "trtllm.deploy.file_contents"
TEMPLATE = "tensorrtllm_backend-r24.04/tensorrt_llm/config.pbtxt"


def test_the_filter_renders_what_the_module_renders(adhoc, fixtures, tmp_path):
    template = fixtures / TEMPLATE
    args = {"src": str(template), "path": str(tmp_path / "c"), "placeholders": SEED, "ignore_unknown": True,
            "fields": {"max_batch_size": 64}}
    rc, result = adhoc("trtllm.deploy.triton_model_config", args)
    assert rc == 0, result
    text = render_model_config(template.read_text(), placeholders=SEED, ignore_unknown=True,
                               fields={"max_batch_size": 64})
    assert text == (tmp_path / "c").read_text() and "max_batch_size: 64" in text


def test_the_filter_fails_naming_the_file_and_the_place(fixtures):
    message = "llm/config.pbtxt: fields.model_transaction_policy.decoupled: expected a boolean, got 'sometimes'"
    with pytest.raises(AnsibleFilterError, match=message):
        render_model_config((fixtures / TEMPLATE).read_text(), placeholders=SEED, ignore_unknown=True,
                            name="llm/config.pbtxt",
                            fields={"model_transaction_policy.decoupled": "sometimes"})


def test_writes_what_differs_then_changes_nothing(adhoc, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    kept = tmp_path / "b" / "config.pbtxt"
    kept.write_text("same\n")
    files = {str(tmp_path / "a" / "config.pbtxt"): "new\n", str(kept): "same\n"}
    rc, first = adhoc(MODULE, {"files": files, "mode": "0644"}, diff=True)
    assert rc == 0 and first["changed"] is True, first
    assert first["changed_files"] == [str(tmp_path / "a" / "config.pbtxt")]
    assert [d["after"] for d in first["diff"]] == ["new\n"]
    assert (tmp_path / "a" / "config.pbtxt").read_text() == "new\n"
    assert oct((tmp_path / "a" / "config.pbtxt").stat().st_mode & 0o777) == "0o644"
    rc, second = adhoc(MODULE, {"files": files, "mode": "0644"})
    assert rc == 0 and second["changed"] is False and second["changed_files"] == []


def test_check_mode_writes_nothing_and_a_change_keeps_a_backup(adhoc, tmp_path):
    path = tmp_path / "config.pbtxt"
    path.write_text("max_batch_size: 256\n")
    args = {"files": {str(path): "max_batch_size: 64\n"}, "backup": True}
    rc, checked = adhoc(MODULE, args, check=True)
    assert rc == 0 and checked["changed"] is True and path.read_text() == "max_batch_size: 256\n"
    rc, done = adhoc(MODULE, args)
    assert rc == 0 and done["changed"] is True and path.read_text() == "max_batch_size: 64\n"
    assert Path(done["backup_files"][str(path)]).read_text() == "max_batch_size: 256\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".config")] == []


def test_a_missing_directory_fails_before_any_file_is_written(adhoc, tmp_path):
    files = {str(tmp_path / "config.pbtxt"): "x\n", str(tmp_path / "missing" / "config.pbtxt"): "y\n"}
    rc, result = adhoc(MODULE, {"files": files})
    assert rc != 0 and "missing/config.pbtxt: its directory does not exist" in result["msg"], result
    assert "nothing was written" in result["msg"] and not (tmp_path / "config.pbtxt").exists()
    rc, checked = adhoc(MODULE, {"files": files}, check=True)
    assert rc == 0 and checked["changed_files"] == list(files), checked
