"""Content keys, manifests and the fleet's build plan: through Ansible where a module is involved."""

from __future__ import annotations

import json
import os

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.trtllm.deploy.plugins.filter.artifact import artifact_change, artifact_record
from ansible_collections.trtllm.deploy.plugins.module_utils import artifact as af

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


def keys(adhoc, tmp_path, model_dir=None, build=None, hash_cache=True, **engine_args):
    """model -> checkpoint -> engine keys through the module, as engine_build computes them."""
    model_dir = model_dir or tmp_path / "model"
    cache = {"hash_cache": str(tmp_path / "cache" / "Tiny.json")} if hash_cache else {}
    rc, model = adhoc("trtllm.deploy.artifact_key", {"kind": "model", "path": str(model_dir), **cache})
    assert rc == 0, model
    rc, checkpoint = adhoc("trtllm.deploy.artifact_key", {
        "kind": "checkpoint", "path": str(tmp_path / "ckpt"),
        "inputs": {"model": model["artifact"], "dtype": "float16", "tp_size": 1, "pp_size": 1, "extra_args": [],
                   "toolchain": "0.9.0"}})
    rc, engine = adhoc("trtllm.deploy.artifact_key", {
        "kind": "engine", "path": str(tmp_path / "engine"),
        "inputs": {"checkpoint": checkpoint["artifact"], "build_options": build or BUILD, "gpu_arch": ["9.0"],
                   "toolchain": "0.9.0"}, **engine_args})
    assert rc == 0, engine
    return model, checkpoint, engine


def test_the_model_inputs_leave_the_tokenizer_out(tmp_path):
    model = make_model(tmp_path / "model")
    assert af.model_inputs(str(model)) == ["config.json", "model-00001-of-00001.safetensors",
                                           "model.safetensors.index.json"]
    (model / "model-00001-of-00001.safetensors").unlink()
    with pytest.raises(af.ArtifactInputError, match="no weight files"):
        af.model_inputs(str(model))


def test_a_model_not_there_yet_is_planned_from_what_its_source_says_it_holds(tmp_path):
    # Check mode on a bare host: nothing downloaded, the Hub's list stands for the files.
    hub = ["config.json", "model-00001-of-00001.safetensors", "tokenizer.json"]
    assert af.model_inputs(str(tmp_path / "absent"), hub) == ["config.json", "model-00001-of-00001.safetensors"]
    with pytest.raises(af.ArtifactInputError, match="does not exist"):
        af.model_inputs(str(tmp_path / "absent"))


def test_each_input_changes_the_key_and_the_reason_names_it_at_any_depth():
    model = af.artifact("model", {"files": {"w.safetensors": [9, "a" * 64]}})
    ckpt_inputs = {"model": model, "dtype": "float16", "tp_size": 1, "pp_size": 1, "extra_args": [],
                   "toolchain": "0.9.0"}
    checkpoint = af.artifact("checkpoint", ckpt_inputs)
    base = {"checkpoint": checkpoint, "build_options": BUILD, "gpu_arch": ["9.0"], "toolchain": "0.9.0"}
    other_model = af.artifact("model", {"files": {"w.safetensors": [9, "b" * 64]}})
    changes = {"checkpoint": af.artifact("checkpoint", dict(ckpt_inputs, dtype="bfloat16")),
               "build_options": dict(BUILD, max_batch_size=128), "gpu_arch": ["8.0"], "toolchain": "0.10.0"}
    keys = {af.content_key("engine", base)}
    keys |= {af.content_key("engine", dict(base, **{k: v})) for k, v in changes.items()}
    assert len(keys) == len(changes) + 1
    assert af.content_key("engine", base) != af.content_key("checkpoint", base), "the kind is part of the key"
    # An input artifact counts by its key only: its inputs may be given in full or not at all.
    bare = dict(base, checkpoint=dict(checkpoint, inputs={}))
    assert af.content_key("engine", base) == af.content_key("engine", bare)

    assert af.key_change(base, dict(base, build_options=dict(BUILD, max_batch_size=128))) == \
        "build_options.max_batch_size 256 -> 128"
    assert af.key_change(base, dict(base, gpu_arch=["8.0"], checkpoint=changes["checkpoint"])) == \
        "checkpoint.dtype float16 -> bfloat16, gpu_arch [\"9.0\"] -> [\"8.0\"]"
    new_weights = dict(base, checkpoint=af.artifact("checkpoint", dict(ckpt_inputs, model=other_model)))
    assert af.key_change(base, new_weights) == "checkpoint.model.files (w.safetensors)"


def test_model_key_is_stable_across_hosts_and_follows_the_weights(adhoc, tmp_path):
    make_model(tmp_path / "model")
    model, checkpoint, engine = keys(adhoc, tmp_path)
    assert model["current"] is True and sorted(model["artifact"]["inputs"]["files"]) == [
        "config.json", "model-00001-of-00001.safetensors", "model.safetensors.index.json"]
    assert checkpoint["current"] is False and checkpoint["reason"].endswith("ckpt does not exist")
    assert engine["current"] is False and engine["reason"].endswith("engine does not exist")
    cache = json.loads((tmp_path / "cache" / "Tiny.json").read_text())
    assert sorted(cache) == ["config.json", "model-00001-of-00001.safetensors", "model.safetensors.index.json"]

    other_host = make_model(tmp_path / "elsewhere")
    assert keys(adhoc, tmp_path, model_dir=other_host, hash_cache=False)[2]["key"] == engine["key"], \
        "same weights and options on another path give the same key"
    (other_host / "tokenizer.json").write_text('{"changed": true}')
    assert keys(adhoc, tmp_path, model_dir=other_host, hash_cache=False)[2]["key"] == engine["key"]
    (tmp_path / "model" / "model-00001-of-00001.safetensors").write_bytes(b"weights-1")
    third = keys(adhoc, tmp_path)
    assert third[0]["key"] != model["key"] and third[1]["key"] != checkpoint["key"] and third[2]["key"] != engine["key"]


def test_key_fails_clearly_without_a_checkpoint(adhoc, tmp_path):
    rc, result = adhoc("trtllm.deploy.artifact_key", {"kind": "model", "path": str(tmp_path / "absent")})
    assert rc != 0 and "cannot hash the model" in result["msg"] and "absent" in result["msg"]


def test_served_key_follows_the_configs_and_the_engine(adhoc, tmp_path):
    repo, engine = tmp_path / "repo", make_engine(tmp_path / "engine")
    (repo / "ensemble").mkdir(parents=True)
    (repo / "ensemble" / "config.pbtxt").write_text('name: "ensemble"')
    args = {"kind": "served", "path": str(repo), "content": ["ensemble/config.pbtxt", "tensorrt_llm/config.pbtxt"],
            "input_manifests": {"engine": str(engine)}}
    _, first = adhoc("trtllm.deploy.artifact_key", args)
    assert first["artifact"]["inputs"]["engine"] is None
    assert first["artifact"]["inputs"]["files"]["tensorrt_llm/config.pbtxt"] is None, "a missing config counts as null"
    made = af.artifact("engine", {"build_options": BUILD})
    adhoc("trtllm.deploy.artifact_manifest", {"path": str(engine), "artifact": made, "record": True})
    _, second = adhoc("trtllm.deploy.artifact_key", args)
    assert second["artifact"]["inputs"]["engine"]["key"] == made["key"] and second["key"] != first["key"]
    assert adhoc("trtllm.deploy.artifact_key", args)[1]["key"] == second["key"]
    (repo / "ensemble" / "config.pbtxt").write_text('name: "ensemble" max_batch_size: 1')
    assert adhoc("trtllm.deploy.artifact_key", args)[1]["key"] != second["key"]


def test_manifest_makes_the_engine_current_until_a_file_or_option_changes(adhoc, tmp_path):
    make_model(tmp_path / "model")
    engine = make_engine(tmp_path / "engine")
    key = keys(adhoc, tmp_path)[2]
    manifest_args = {"path": str(engine), "artifact": key["artifact"], "record": True, "origin": "node-1"}

    rc, check = adhoc("trtllm.deploy.artifact_manifest", manifest_args, check=True, diff=True)
    assert rc == 0 and check["changed"] and not (engine / af.MANIFEST).exists()
    assert '"origin": "node-1"' in check["diff"]["after"] and '"kind": "engine"' in check["diff"]["after"]
    rc, written = adhoc("trtllm.deploy.artifact_manifest", manifest_args)
    assert written["changed"] and written["files"] == 2
    assert adhoc("trtllm.deploy.artifact_manifest", manifest_args)[1]["changed"] is False
    manifest = json.loads((engine / af.MANIFEST).read_text())
    assert manifest["inputs"]["checkpoint"]["inputs"]["model"]["kind"] == "model", "the manifest keeps the provenance"

    again = keys(adhoc, tmp_path)[2]
    assert again["current"] is True and again["reason"] is None and again["manifest"]["origin"] == "node-1"
    smaller = keys(adhoc, tmp_path, build=dict(BUILD, max_batch_size=128))[2]
    assert smaller["current"] is False
    assert smaller["reason"] == "it was made for build_options.max_batch_size 256 -> 128"

    (engine / "rank0.engine").write_bytes(b"short")
    assert keys(adhoc, tmp_path)[2]["reason"] == "differs from the manifest: rank0.engine (size)"


def test_a_recorded_artifact_is_checked_down_to_each_sha256(adhoc, tmp_path):
    make_model(tmp_path / "model")
    engine = make_engine(tmp_path / "engine")
    key = keys(adhoc, tmp_path)[2]
    adhoc("trtllm.deploy.artifact_manifest", {"path": str(engine), "artifact": key["artifact"], "record": True})
    assert adhoc("trtllm.deploy.artifact_manifest", {"path": str(engine), "key": key["key"]})[0] == 0
    rc, wrong = adhoc("trtllm.deploy.artifact_manifest", {"path": str(engine), "key": "0" * 64})
    assert rc != 0 and "it was made for key" in wrong["msg"]
    (engine / "rank0.engine").write_bytes(os.urandom(256))
    rc, result = adhoc("trtllm.deploy.artifact_manifest", {"path": str(engine), "key": key["key"]})
    assert rc != 0 and "rank0.engine (sha256)" in result["msg"]
    quick = keys(adhoc, tmp_path)[2]
    thorough = keys(adhoc, tmp_path, verify_checksums=True)[2]
    assert quick["current"] is True and thorough["current"] is False
    rc, refused = adhoc("trtllm.deploy.artifact_manifest", {"path": str(engine), "record": True})
    assert rc != 0 and "artifact" in refused["msg"]


def test_a_copy_is_swapped_in_when_checked_and_refused_when_not(adhoc, tmp_path):
    old_made, new_made = af.artifact("engine", {"n": 1}), af.artifact("engine", {"n": 2})
    old = make_engine(tmp_path / "engine")
    adhoc("trtllm.deploy.artifact_manifest", {"path": str(old), "artifact": old_made, "record": True})
    new = make_engine(tmp_path / ".engine.incoming", ranks=2)
    adhoc("trtllm.deploy.artifact_manifest", {"path": str(new), "artifact": new_made, "record": True,
                                              "origin": "builder"})

    (new / "rank1.engine").write_bytes(os.urandom(256))
    args = {"path": str(old), "src": str(new), "key": new_made["key"]}
    rc, refused = adhoc("trtllm.deploy.artifact_manifest", args)
    assert rc != 0 and "rank1.engine (sha256)" in refused["msg"] and "was left as it was" in refused["msg"]
    assert not new.exists() and json.loads((old / af.MANIFEST).read_text())["key"] == old_made["key"]

    new = make_engine(tmp_path / ".engine.incoming", ranks=2)
    adhoc("trtllm.deploy.artifact_manifest", {"path": str(new), "artifact": new_made, "record": True,
                                              "origin": "builder"})
    rank1 = (new / "rank1.engine").read_bytes()
    rc, check = adhoc("trtllm.deploy.artifact_manifest", args, check=True)
    assert check["changed"] and new.exists() and json.loads((old / af.MANIFEST).read_text())["key"] == old_made["key"]
    rc, done = adhoc("trtllm.deploy.artifact_manifest", args)
    assert rc == 0 and done["changed"] and not new.exists()
    assert (old / "rank1.engine").read_bytes() == rank1
    assert json.loads((old / af.MANIFEST).read_text())["key"] == new_made["key"]
    assert [n for n in os.listdir(tmp_path) if "engine" in n] == ["engine"], "no retired or staging directory is left"

    new = tmp_path / ".engine.incoming"
    new.mkdir()
    for name in os.listdir(old):
        (new / name).write_bytes((old / name).read_bytes())
    assert adhoc("trtllm.deploy.artifact_manifest", args)[1]["changed"] is False


def test_a_staged_conversion_is_recorded_and_swapped_in(adhoc, tmp_path):
    made = af.artifact("checkpoint", {"dtype": "float16"})
    ckpt, staging = tmp_path / "ckpt", make_engine(tmp_path / ".ckpt.converting")
    rc, done = adhoc("trtllm.deploy.artifact_manifest", {"path": str(ckpt), "src": str(staging), "artifact": made,
                                                         "record": True})
    assert rc == 0 and done["changed"] and not staging.exists()
    assert json.loads((ckpt / af.MANIFEST).read_text())["kind"] == "checkpoint"
    assert sorted(os.listdir(ckpt)) == ["config.json", "rank0.engine", af.MANIFEST]


def test_a_label_records_an_artifact_and_names_what_changed_since():
    engine = af.artifact("engine", {"build_options": BUILD})
    served = af.artifact("served", {"engine": engine, "files": {"ensemble/config.pbtxt": [10, "a" * 64]}})
    record = artifact_record(served)
    files = {"ensemble/config.pbtxt": [10, "a" * 64]}
    inputs = {"engine": engine["key"], "files": files}
    assert json.loads(record) == {"kind": "served", "key": served["key"], "inputs": inputs}
    assert artifact_change(served, record) == ""
    rebuilt = af.artifact("engine", {"build_options": dict(BUILD, max_batch_size=128)})
    changed = af.artifact("served", {"engine": rebuilt, "files": {"ensemble/config.pbtxt": [11, "b" * 64]}})
    assert artifact_change(changed, record) == \
        f"engine {engine['key'][:12]} -> {rebuilt['key'][:12]}, files (ensemble/config.pbtxt)"
    assert artifact_change(changed, "") == "nothing records what it was made from"
    with pytest.raises(AnsibleFilterError, match="expected an artifact"):
        artifact_record({"key": "k"})


def test_content_patterns_take_the_files_they_match(adhoc, tmp_path):
    repo = tmp_path / "repo"
    (repo / "bls" / "1" / "lib").mkdir(parents=True)
    (repo / "bls" / "1" / "model.py").write_text("code")
    (repo / "bls" / "1" / "lib" / "decode.py").write_text("lib")
    args = {"kind": "served", "path": str(repo), "content": ["bls/config.pbtxt", "*/1/*.py", "*/1/lib/*.py"]}
    _, first = adhoc("trtllm.deploy.artifact_key", args)
    assert sorted(first["artifact"]["inputs"]["files"]) == ["bls/1/lib/decode.py", "bls/1/model.py", "bls/config.pbtxt"]
    (repo / "bls" / "1" / "lib" / "decode.py").write_text("new lib")
    assert adhoc("trtllm.deploy.artifact_key", args)[1]["key"] != first["key"]


def test_a_host_without_the_weights_computes_the_same_model_key_from_their_source_digests(adhoc, tmp_path):
    full = make_model(tmp_path / "full")
    rc, model = adhoc("trtllm.deploy.artifact_key", {"kind": "model", "path": str(full)})
    weights = "model-00001-of-00001.safetensors"
    known = {weights: {"size": len(b"weights-0"), "sha256": af.sha256_file(str(full / weights))}}
    tokenizer_only = make_model(tmp_path / "tokenizer-only")
    (tokenizer_only / weights).unlink()
    rc, without = adhoc("trtllm.deploy.artifact_key", {"kind": "model", "path": str(tokenizer_only),
                                                        "known_files": known})
    assert rc == 0 and without["key"] == model["key"]
    rc, refused = adhoc("trtllm.deploy.artifact_key", {"kind": "model", "path": str(tokenizer_only)})
    assert rc != 0 and "no weight files" in refused["msg"]
    # A file on disk is hashed, never taken from the source's word.
    rc, lied = adhoc("trtllm.deploy.artifact_key", {"kind": "model", "path": str(full), "known_files": {
        weights: {"size": 9, "sha256": "0" * 64}}})
    assert lied["key"] == model["key"]


def test_a_download_is_checked_against_its_source_before_it_is_swapped_in(adhoc, tmp_path):
    made = af.artifact("model", {"files": {}})
    staging = make_model(tmp_path / ".model.fetching")
    weights = "model-00001-of-00001.safetensors"
    good = {weights: {"size": 9, "sha256": af.sha256_file(str(staging / weights))}, "config.json": {"size": None}}
    rc, done = adhoc("trtllm.deploy.artifact_manifest", {"path": str(tmp_path / "model"), "src": str(staging),
                                                         "artifact": made, "record": True, "origin": "hf:a/b@c",
                                                         "expected": good})
    assert rc == 0 and done["changed"] and json.loads((tmp_path / "model" / af.MANIFEST).read_text())["origin"] == \
        "hf:a/b@c"
    staging = make_model(tmp_path / ".model.fetching", weights=b"weights-X")
    rc, refused = adhoc("trtllm.deploy.artifact_manifest", {"path": str(tmp_path / "model"), "src": str(staging),
                                                            "artifact": made, "record": True, "expected": good})
    assert rc != 0 and f"{weights} (sha256" in refused["msg"] and not staging.exists()
    assert (tmp_path / "model" / weights).read_bytes() == b"weights-0", "the model in place was left as it was"
    staging = make_model(tmp_path / ".model.fetching")
    rc, missing = adhoc("trtllm.deploy.artifact_manifest", {"path": str(tmp_path / "model"), "src": str(staging),
                                                            "artifact": made, "record": True,
                                                            "expected": dict(good, **{"tokenizer.model": {"size": 1}})})
    assert rc != 0 and "missing tokenizer.model" in missing["msg"]


def test_the_roles_name_the_manifest_as_the_modules_write_it():
    import yaml
    from conftest import REPO

    shared = yaml.safe_load((REPO / "roles" / "trtllm" / "vars" / "main.yml").read_text())
    assert shared["trtllm_manifest_name"] == af.MANIFEST
