# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Content keys and manifests: the one way every artifact of the pipeline says what it was made from.

An artifact is a directory (the Hugging Face checkpoint, the converted checkpoint, the engine) or a
running thing (the served configuration). Its key is the sha256 of its kind and its inputs; an input
that is itself an artifact (a dict with kind, key and inputs) counts by its key only, so each key is
built from its inputs' keys:

    model       files: {name: [size, sha256]} of config.json, shard indexes and weights
    checkpoint  model, dtype, tp_size, pp_size, extra_args, toolchain
    engine      checkpoint, build_options, gpu_arch, toolchain
    served      engine, configs: {model: [size, sha256]} of the config.pbtxt files

The manifest beside an artifact (trtllm-deploy-manifest.json) holds kind, key, inputs (with the
input artifacts' own inputs, so a change can be named at any depth), origin and every file's size
and sha256. No Ansible imports.
"""

from __future__ import annotations

import hashlib
import json
import os
import re

from ansible_collections.trtllm.deploy.plugins.module_utils.paths import replace_file

MANIFEST = "trtllm-deploy-manifest.json"
KINDS = ("model", "checkpoint", "engine", "served")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


class ArtifactInputError(Exception):
    """The inputs of a key cannot be read; the message says what is missing."""


def is_artifact(value) -> bool:
    return isinstance(value, dict) and value.get("kind") in KINDS and "key" in value and "inputs" in value


def keys_only(value):
    if is_artifact(value):
        return value["key"]
    if isinstance(value, dict):
        return {name: keys_only(item) for name, item in value.items()}
    if isinstance(value, list):
        return [keys_only(item) for item in value]
    return value


def canonical_digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def content_key(kind: str, inputs: dict) -> str:
    """The key of an artifact of this kind made from these inputs (input artifacts by their key)."""
    if kind not in KINDS:
        raise ArtifactInputError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    return canonical_digest({"kind": kind, "inputs": keys_only(inputs)})


def artifact(kind: str, inputs: dict) -> dict:
    return {"kind": kind, "key": content_key(kind, inputs), "inputs": inputs}


# Files and their hashes

def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def hash_files(directory: str, names: list[str], known: dict | None = None) -> dict:
    """name -> {size, mtime_ns, sha256}; a file whose size and mtime match `known` is not hashed again."""
    known = known or {}
    files = {}
    for name in names:
        stat = os.stat(os.path.join(directory, name))
        seen = known.get(name) or {}
        if seen.get("size") == stat.st_size and seen.get("mtime_ns") == stat.st_mtime_ns and seen.get("sha256"):
            digest = seen["sha256"]
        else:
            digest = sha256_file(os.path.join(directory, name))
        files[name] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest}
    return files


def read_hash_cache(path: str | None) -> dict:
    """A hash cache (hash_files' answer kept in a JSON file), or nothing when there is none or it is unreadable."""
    if not path:
        return {}
    try:
        with open(path, encoding="utf-8") as handle:
            cache = json.load(handle)
    except (OSError, ValueError):
        return {}
    return cache if isinstance(cache, dict) else {}


def file_digests(files: dict) -> dict:
    """The part of hash_files' answer that is content: name -> [size, sha256]."""
    return {name: [f["size"], f["sha256"]] for name, f in sorted(files.items())}


def model_inputs(model_dir: str, elsewhere=()) -> list[str]:
    """The files conversion reads from a Hugging Face checkpoint: config.json, shard indexes, weights (those
    on disk, and `elsewhere`: files known by their source's digests that this host does not hold)."""
    try:
        names = sorted(set(os.listdir(model_dir)) | set(elsewhere))
    except FileNotFoundError:
        if not elsewhere:  # not there yet, and no source said what it will hold (check mode plans from that)
            raise ArtifactInputError(f"cannot list the checkpoint {model_dir}: it does not exist") from None
        names = sorted(elsewhere)
    except OSError as err:
        raise ArtifactInputError(f"cannot list the checkpoint {model_dir}: {err.strerror}") from None
    inputs = [n for n in names if n == "config.json" or n.endswith(".index.json") or n.endswith(WEIGHT_SUFFIXES)]
    if "config.json" not in inputs:
        raise ArtifactInputError(f"{model_dir} has no config.json: it is not a Hugging Face checkpoint")
    if not any(n.endswith(WEIGHT_SUFFIXES) for n in inputs):
        raise ArtifactInputError(f"{model_dir} has no weight files ({', '.join('*' + s for s in WEIGHT_SUFFIXES)})")
    return inputs


def artifact_files(path: str) -> list[str]:
    """Every regular file under an artifact's directory, relative, except its manifest."""
    found = []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in files:
            relative = os.path.relpath(os.path.join(root, name), path)
            if relative != MANIFEST:
                found.append(relative)
    return sorted(found)


# Manifests

def make_manifest(path: str, made: dict, origin: str | None, known: dict | None = None) -> dict:
    """The manifest of the artifact `made` (kind, key, inputs) whose files are in `path` (`known`: hashes of
    hash_files' form, by size and mtime, not computed again)."""
    files = hash_files(path, artifact_files(path), known)
    return {
        "kind": made["kind"],
        "key": made["key"],
        "inputs": made["inputs"],
        "origin": origin,
        "files": {name: {"size": f["size"], "sha256": f["sha256"]} for name, f in files.items()},
    }


def read_manifest(path: str) -> dict:
    try:
        with open(os.path.join(path, MANIFEST), encoding="utf-8") as handle:
            manifest = json.load(handle)
    except (OSError, json.JSONDecodeError):
        return {}
    return manifest if isinstance(manifest, dict) and isinstance(manifest.get("files"), dict) else {}


def as_artifact(manifest: dict) -> dict | None:
    """The artifact a manifest describes, to use as another artifact's input."""
    if not manifest:
        return None
    return {"kind": manifest.get("kind"), "key": manifest.get("key"), "inputs": manifest.get("inputs") or {}}


def write_json(path: str, value) -> None:
    replace_file(path, json.dumps(value, indent=2, sort_keys=True) + "\n")


def write_manifest(path: str, manifest: dict) -> None:
    write_json(os.path.join(path, MANIFEST), manifest)


# What changed, and whether an artifact in place is the one wanted

def _short(value) -> str:
    if isinstance(value, str) and _DIGEST.match(value):
        return value[:12]
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)


def key_change(old: dict, new: dict, prefix: str = "") -> str:
    """What differs between two artifacts' inputs, e.g. 'build_options.max_batch_size 256 -> 128',
    'checkpoint.dtype float16 -> bfloat16' or 'checkpoint.model.files (model-00001.safetensors)'."""
    changes = []
    for name in sorted(set(old) | set(new)):
        before, after = old.get(name), new.get(name)
        if keys_only(before) == keys_only(after):
            continue
        label = f"{prefix}{name}"
        if is_artifact(before) and is_artifact(after):
            changes.append(key_change(before["inputs"], after["inputs"], f"{label}.") or f"{label} (its key)")
        elif name == "files" and isinstance(before, dict) and isinstance(after, dict):
            names = sorted(n for n in set(before) | set(after) if before.get(n) != after.get(n))
            changes.append(f"{label} ({', '.join(names)})")
        elif isinstance(before, dict) and isinstance(after, dict) and not is_artifact(after):
            changes.append(key_change(before, after, f"{label}."))
        elif is_artifact(after):
            changes.append(f"{label} {_short(keys_only(before))} -> {after['key'][:12]}")
        else:
            changes.append(f"{label} {_short(before)} -> {_short(after)}")
    return ", ".join(change for change in changes if change)


def problems(path: str, manifest: dict, wanted: dict | None = None, checksums: bool = False,
             held: list[str] | None = None) -> list[str]:
    """Why the artifact at path is not what its manifest (and the wanted artifact) say; empty when it is.
    `held`: the files of the manifest this host holds (a cluster member holds its own ranks); all when None."""
    if not os.path.isdir(path):
        return [f"{path} does not exist"]
    if not manifest:
        return [f"{path} has no {MANIFEST}"]
    found = []
    if wanted and manifest.get("key") != wanted["key"]:
        change = key_change(manifest.get("inputs") or {}, wanted.get("inputs") or {}) if wanted.get("inputs") else ""
        found.append(f"it was made for {change}" if change else
                     f"it was made for key {str(manifest.get('key'))[:12]}, this host needs {wanted['key'][:12]}")
    listed, present = manifest["files"], set(artifact_files(path))
    unknown = sorted(set(held or ()) - set(listed))
    if unknown:
        found.append(f"the manifest lists no {', '.join(unknown)}")
    missing = sorted((set(listed) if held is None else set(held) & set(listed)) - present)
    extra = sorted(present - set(listed))
    if missing:
        found.append(f"missing {', '.join(missing)}")
    if extra:
        found.append(f"not in the manifest: {', '.join(extra)}")
    wrong = []
    for name in sorted(set(listed) & present):
        full = os.path.join(path, name)
        if os.path.getsize(full) != listed[name].get("size"):
            wrong.append(f"{name} (size)")
        elif checksums and sha256_file(full) != listed[name].get("sha256"):
            wrong.append(f"{name} (sha256)")
    if wrong:
        found.append(f"differs from the manifest: {', '.join(wrong)}")
    return found


def expected_problems(files: dict, expected: dict) -> list[str]:
    """Files (name -> size, sha256) against what their source says they are (name -> size, and sha256 where
    the source knows it, e.g. the Hub's LFS files); empty when every expected file is there and equal."""
    missing = sorted(set(expected) - set(files))
    wrong = []
    for name in sorted(set(expected) & set(files)):
        want, have = expected[name] or {}, files[name]
        if want.get("size") is not None and int(want["size"]) != have["size"]:
            wrong.append(f"{name} ({have['size']} bytes, the source says {want['size']})")
        elif want.get("sha256") and want["sha256"] != have["sha256"]:
            wrong.append(f"{name} (sha256 {have['sha256'][:12]}, the source says {want['sha256'][:12]})")
    found = [f"missing {', '.join(missing)}"] if missing else []
    return found + ([f"not what the source has: {', '.join(wrong)}"] if wrong else [])
