# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The build key of an engine and the manifest stored beside it.

An engine depends only on the Hugging Face checkpoint's content, dtype, tp/pp, the
trtllm-build options, the TensorRT-LLM version and the GPU architecture. Hosts with
equal keys can share one engine. The manifest names the key and every file's sha256,
so a copy is checked against what the builder wrote. No Ansible imports.
"""

from __future__ import annotations

import hashlib
import json
import os

from ansible_collections.trtllm.deploy.plugins.module_utils.engine_build import hash_files

MANIFEST = "trtllm-deploy-manifest.json"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


class KeyInputError(Exception):
    """The inputs of the key cannot be read; the message says what is missing."""


def canonical_digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def checkpoint_inputs(model_dir: str) -> list[str]:
    """The files the conversion reads: config.json, shard indexes and weights (not the tokenizer)."""
    try:
        names = sorted(os.listdir(model_dir))
    except OSError as err:
        raise KeyInputError(f"cannot list the checkpoint {model_dir}: {err.strerror}") from None
    inputs = [n for n in names if n == "config.json" or n.endswith(".index.json") or n.endswith(WEIGHT_SUFFIXES)]
    if "config.json" not in inputs:
        raise KeyInputError(f"{model_dir} has no config.json: it is not a Hugging Face checkpoint")
    if not any(n.endswith(WEIGHT_SUFFIXES) for n in inputs):
        raise KeyInputError(f"{model_dir} has no weight files ({', '.join('*' + s for s in WEIGHT_SUFFIXES)})")
    return inputs


def checkpoint_digest(files: dict) -> str:
    return canonical_digest({name: [f["size"], f["sha256"]] for name, f in files.items()})


def build_key(components: dict) -> str:
    return canonical_digest(components)


def engine_files(path: str) -> list[str]:
    """Every regular file under the engine directory, relative, except the manifest."""
    found = []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in files:
            relative = os.path.relpath(os.path.join(root, name), path)
            if relative != MANIFEST:
                found.append(relative)
    return sorted(found)


def make_manifest(path: str, key: str, components: dict, origin: str | None) -> dict:
    files = hash_files(path, engine_files(path))
    return {
        "key": key,
        "components": components,
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


def write_json(path: str, value) -> None:
    """Write JSON whole or not at all (a sibling file renamed over the target)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    partial = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.partial")
    with open(partial, "w", encoding="utf-8") as handle:
        json.dump(value, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.replace(partial, path)


def write_manifest(path: str, manifest: dict) -> None:
    write_json(os.path.join(path, MANIFEST), manifest)


def key_change(old: dict, new: dict) -> str:
    """What differs between two keys' components, e.g. 'build_options.max_batch_size 256 -> 128'."""
    changes = []
    for name in sorted(set(old) | set(new)):
        before, after = old.get(name), new.get(name)
        if before == after:
            continue
        if isinstance(before, dict) and isinstance(after, dict):
            changes += [f"{name}.{k} {before.get(k)} -> {after.get(k)}" for k in sorted(set(before) | set(after))
                        if before.get(k) != after.get(k)]
        elif name == "checkpoint_sha256":
            changes.append("the checkpoint's content")
        else:
            changes.append(f"{name} {before} -> {after}")
    return ", ".join(changes)


def problems(path: str, manifest: dict, key: str | None = None, checksums: bool = False,
             components: dict | None = None) -> list[str]:
    """Why the engine at path is not what its manifest (and key) say; empty when it is."""
    if not os.path.isdir(path):
        return [f"{path} does not exist"]
    if not manifest:
        return [f"{path} has no {MANIFEST}"]
    found = []
    if key and manifest.get("key") != key:
        change = key_change(manifest.get("components") or {}, components) if components else ""
        found.append(f"it was built for {change}" if change else
                     f"it was built for key {str(manifest.get('key'))[:12]}, this host needs {key[:12]}")
    listed, present = manifest["files"], set(engine_files(path))
    missing = sorted(set(listed) - present)
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
        elif checksums and hash_files(path, [name])[name]["sha256"] != listed[name].get("sha256"):
            wrong.append(f"{name} (sha256)")
    if wrong:
        found.append(f"differs from the manifest: {', '.join(wrong)}")
    return found
