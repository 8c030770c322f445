"""Engine build keys, manifests and the fleet's build plan: through Ansible where a module is involved."""

from __future__ import annotations

import json
import os

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.trtllm.deploy.plugins.filter.engine_plan import engine_plan, with_engine_files
from ansible_collections.trtllm.deploy.plugins.module_utils import engine_key as ek

BUILD = {"max_batch_size": 256, "max_input_len": 2048, "max_output_len": 1024, "chunked_context": True}


def make_model(path, weights=b"weights-0"):
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps({"num_attention_heads": 32}))
    (path / "model-00001-of-00001.safetensors").write_bytes(weights)
    (path / "model.safetensors.index.json").write_text("{}")
    (path / "tokenizer.json").write_text("{}")
    return path


def make_engine(path, ranks=1):
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps({"pretrained_config": {"mapping": {"tp_size": ranks}}}))
    for rank in range(ranks):
        (path / f"rank{rank}.engine").write_bytes(os.urandom(256))
    return path


@pytest.fixture
def key_args(tmp_path):
    model = make_model(tmp_path / "model")
    return {"path": str(tmp_path / "engine"), "model_dir": str(model), "model": "Tiny", "dtype": "float16",
            "tp_size": 1, "build_options": BUILD, "toolchain": "0.9.0", "gpu_arch": ["9.0"],
            "hash_cache": str(tmp_path / "cache" / "Tiny.json")}


def test_the_checkpoint_inputs_leave_the_tokenizer_out(tmp_path):
    model = make_model(tmp_path / "model")
    assert ek.checkpoint_inputs(str(model)) == ["config.json", "model-00001-of-00001.safetensors",
                                                "model.safetensors.index.json"]
    (model / "model-00001-of-00001.safetensors").unlink()
    with pytest.raises(ek.KeyInputError, match="no weight files"):
        ek.checkpoint_inputs(str(model))


def test_each_component_changes_the_key_and_the_reason_names_it():
    base = {"model": "Tiny", "checkpoint_sha256": "a" * 64, "dtype": "float16", "tp_size": 1, "pp_size": 1,
            "build_options": BUILD, "toolchain": "0.9.0", "gpu_arch": ["9.0"]}
    changes = {"checkpoint_sha256": "b" * 64, "dtype": "bfloat16", "tp_size": 2, "pp_size": 2, "toolchain": "0.10.0",
               "gpu_arch": ["8.0"], "build_options": dict(BUILD, max_batch_size=128), "model": "Other"}
    keys = {ek.build_key(base)} | {ek.build_key(dict(base, **{k: v})) for k, v in changes.items()}
    assert len(keys) == len(changes) + 1
    assert ek.key_change(base, dict(base, build_options=dict(BUILD, max_batch_size=128))) == \
        "build_options.max_batch_size 256 -> 128"
    assert ek.key_change(base, dict(base, gpu_arch=["8.0"], checkpoint_sha256="b" * 64)) == \
        "the checkpoint's content, gpu_arch ['9.0'] -> ['8.0']"


def test_key_is_stable_across_hosts_and_follows_the_weights(adhoc, key_args, tmp_path):
    rc, first = adhoc("trtllm.deploy.engine_key", key_args)
    assert rc == 0 and first["changed"] is False, first
    assert first["current"] is False and first["reason"].endswith("engine does not exist")
    cache = json.loads((tmp_path / "cache" / "Tiny.json").read_text())
    assert sorted(cache) == ["config.json", "model-00001-of-00001.safetensors", "model.safetensors.index.json"]

    other_host = make_model(tmp_path / "elsewhere")
    rc, second = adhoc("trtllm.deploy.engine_key", dict(key_args, model_dir=str(other_host), hash_cache=None))
    assert second["key"] == first["key"], "same weights and options on another path give the same key"

    (other_host / "tokenizer.json").write_text('{"changed": true}')
    assert adhoc("trtllm.deploy.engine_key", dict(key_args, model_dir=str(other_host)))[1]["key"] == first["key"]
    (tmp_path / "model" / "model-00001-of-00001.safetensors").write_bytes(b"weights-1")
    rc, third = adhoc("trtllm.deploy.engine_key", key_args)
    assert third["key"] != first["key"]


def test_key_fails_clearly_without_gpus_or_checkpoint(adhoc, key_args, tmp_path):
    rc, result = adhoc("trtllm.deploy.engine_key", dict(key_args, gpu_arch=[]))
    assert rc != 0 and "gather the GPUs first" in result["msg"]
    rc, result = adhoc("trtllm.deploy.engine_key", dict(key_args, model_dir=str(tmp_path / "absent")))
    assert rc != 0 and "cannot hash the checkpoint" in result["msg"]


def test_manifest_makes_the_engine_current_until_a_file_or_option_changes(adhoc, key_args, tmp_path):
    engine = make_engine(tmp_path / "engine")
    _, key = adhoc("trtllm.deploy.engine_key", key_args)
    manifest_args = {"path": str(engine), "key": key["key"], "components": key["components"], "origin": "node-1"}

    rc, check = adhoc("trtllm.deploy.engine_manifest", manifest_args, check=True, diff=True)
    assert rc == 0 and check["changed"] and not (engine / ek.MANIFEST).exists()
    assert '"origin": "node-1"' in check["diff"]["after"]
    rc, written = adhoc("trtllm.deploy.engine_manifest", manifest_args)
    assert written["changed"] and written["files"] == 2
    assert adhoc("trtllm.deploy.engine_manifest", manifest_args)[1]["changed"] is False

    _, again = adhoc("trtllm.deploy.engine_key", key_args)
    assert again["current"] is True and again["reason"] is None and again["manifest"]["origin"] == "node-1"
    _, smaller = adhoc("trtllm.deploy.engine_key", dict(key_args, build_options=dict(BUILD, max_batch_size=128)))
    assert smaller["current"] is False
    assert smaller["reason"] == "it was built for build_options.max_batch_size 256 -> 128"

    (engine / "rank0.engine").write_bytes(b"short")
    _, truncated = adhoc("trtllm.deploy.engine_key", key_args)
    assert truncated["reason"] == "differs from the manifest: rank0.engine (size)"


def test_verified_catches_same_size_corruption(adhoc, key_args, tmp_path):
    engine = make_engine(tmp_path / "engine")
    _, key = adhoc("trtllm.deploy.engine_key", key_args)
    adhoc("trtllm.deploy.engine_manifest", {"path": str(engine), "key": key["key"]})
    assert adhoc("trtllm.deploy.engine_manifest", {"path": str(engine), "state": "verified"})[0] == 0
    (engine / "rank0.engine").write_bytes(os.urandom(256))
    rc, result = adhoc("trtllm.deploy.engine_manifest", {"path": str(engine), "state": "verified"})
    assert rc != 0 and "rank0.engine (sha256)" in result["msg"]
    _, quick = adhoc("trtllm.deploy.engine_key", key_args)
    _, thorough = adhoc("trtllm.deploy.engine_key", dict(key_args, verify_checksums=True))
    assert quick["current"] is True and thorough["current"] is False


def test_installed_swaps_a_verified_copy_and_refuses_a_bad_one(adhoc, tmp_path):
    old = make_engine(tmp_path / "engine")
    adhoc("trtllm.deploy.engine_manifest", {"path": str(old), "key": "old"})
    new = make_engine(tmp_path / ".engine.incoming", ranks=2)
    adhoc("trtllm.deploy.engine_manifest", {"path": str(new), "key": "new", "origin": "builder"})
    rank1 = (new / "rank1.engine").read_bytes()

    (new / "rank1.engine").write_bytes(os.urandom(256))
    rc, refused = adhoc("trtllm.deploy.engine_manifest", {"path": str(old), "src": str(new), "key": "new",
                                                          "state": "installed"})
    assert rc != 0 and "rank1.engine (sha256)" in refused["msg"] and "was left as it was" in refused["msg"]
    assert not new.exists() and json.loads((old / ek.MANIFEST).read_text())["key"] == "old"

    new = make_engine(tmp_path / ".engine.incoming", ranks=2)
    adhoc("trtllm.deploy.engine_manifest", {"path": str(new), "key": "new", "origin": "builder"})
    rank1 = (new / "rank1.engine").read_bytes()
    args = {"path": str(old), "src": str(new), "key": "new", "state": "installed"}
    rc, check = adhoc("trtllm.deploy.engine_manifest", args, check=True)
    assert check["changed"] and new.exists() and json.loads((old / ek.MANIFEST).read_text())["key"] == "old"
    rc, done = adhoc("trtllm.deploy.engine_manifest", args)
    assert rc == 0 and done["changed"] and not new.exists()
    assert (old / "rank1.engine").read_bytes() == rank1 and json.loads((old / ek.MANIFEST).read_text())["key"] == "new"
    assert [n for n in os.listdir(tmp_path) if "engine" in n] == ["engine"], "no retired or staging directory is left"

    new = tmp_path / ".engine.incoming"
    new.mkdir()
    for name in os.listdir(old):
        (new / name).write_bytes((old / name).read_bytes())
    assert adhoc("trtllm.deploy.engine_manifest", args)[1]["changed"] is False


def fact(key, current):
    return {"engine_build_key": {"key": key, "current": current, "manifest": {}}}


def test_plan_builds_once_per_key_on_the_first_host():
    hostvars = {"a1": fact("tp2", False), "h1": fact("tp1", False), "h2": fact("tp1", False), "h3": fact("tp1", False)}
    plan = engine_plan(["a1", "h1", "h2", "h3"], hostvars)
    assert plan["builders"] == {"tp2": "a1", "tp1": "h1"}
    assert {h: p["action"] for h, p in plan["hosts"].items()} == {"a1": "build", "h1": "build", "h2": "receive",
                                                                  "h3": "receive"}
    assert plan["transfers"] == [{"key": "tp1", "source": "h1", "receivers": ["h2", "h3"]}]


def test_plan_copies_from_a_host_that_already_has_the_engine():
    hostvars = {"h1": fact("tp1", False), "h2": fact("tp1", True), "h3": fact("tp1", True)}
    plan = engine_plan(["h1", "h2", "h3"], hostvars)
    assert plan["builders"] == {}
    assert {h: p["action"] for h, p in plan["hosts"].items()} == {"h1": "receive", "h2": "keep", "h3": "keep"}
    assert plan["transfers"] == [{"key": "tp1", "source": "h2", "receivers": ["h1"]}]
    assert engine_plan(["h2", "h3"], hostvars)["transfers"] == []


def test_plan_prefers_a_builder_that_is_not_serving():
    hostvars = {"h1": dict(fact("tp1", False), engine_build_serving=True), "h2": fact("tp1", False),
                "h3": dict(fact("tp1", False), engine_build_serving="true")}
    plan = engine_plan(["h1", "h2", "h3"], hostvars)
    assert plan["builders"] == {"tp1": "h2"}
    assert plan["transfers"] == [{"key": "tp1", "source": "h2", "receivers": ["h1", "h3"]}]
    # Every host serving: the first builds (it stops its server for the build).
    everyone = {h: dict(v, engine_build_serving=True) for h, v in hostvars.items()}
    assert engine_plan(["h1", "h2", "h3"], everyone)["builders"] == {"tp1": "h1"}


def test_plan_names_a_host_without_a_key():
    with pytest.raises(AnsibleFilterError, match="h9 has no engine_build_key"):
        engine_plan(["h9"], {"h9": {}})


def test_transfers_list_the_sources_manifest_files():
    hostvars = {"h1": {"engine_build_key": {"manifest": {}},
                       "engine_build_manifest": {"manifest": {"files": {"rank0.engine": {}, "config.json": {}}}}}}
    transfers = with_engine_files([{"key": "k", "source": "h1", "receivers": ["h2"]}], hostvars)
    assert transfers[0]["files"] == ["config.json", "rank0.engine", ek.MANIFEST]
    with pytest.raises(AnsibleFilterError, match="h1 has no manifest"):
        with_engine_files([{"key": "k", "source": "h1"}], {"h1": {"engine_build_key": {"manifest": {}}}})
