#!/usr/bin/python
# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: engine_key
short_description: The build key of a TensorRT-LLM engine, and whether the engine in place has it
version_added: 0.1.0
description:
  - Computes the build key, a sha256 of the Hugging Face checkpoint's content, dtype, tp/pp, the
    trtllm-build options, the TensorRT-LLM version and the GPU architecture. Hosts with equal keys
    can share one engine, so a fleet builds once per key.
  - Reads the manifest C(trtllm-deploy-manifest.json) of the engine in O(path) and says whether it
    was built for this key and its files are complete (sizes; sha256 too with O(verify_checksums)).
  - Changes nothing on the host apart from the checkpoint hash cache O(hash_cache), which saves
    hashing unchanged weight files again (a file is re-hashed when its size or mtime changes).
author:
  - trtllm-deploy maintainers (@trtllm-deploy)
options:
  path:
    description: Engine directory.
    type: path
    required: true
  model_dir:
    description: Hugging Face checkpoint; its C(config.json), shard indexes and weight files are hashed.
    type: path
    required: true
  model:
    description: Model name, part of the key so two models never share an engine.
    type: str
    required: true
  dtype:
    description: Engine dtype.
    type: str
    required: true
  tp_size:
    description: Tensor parallel size.
    type: int
    required: true
  pp_size:
    description: Pipeline parallel size.
    type: int
    default: 1
  build_options:
    description: The trtllm-build options that shape the engine (no paths), e.g. limits and plugin switches.
    type: dict
    default: {}
  toolchain:
    description: TensorRT-LLM version that builds the engine.
    type: str
    required: true
  gpu_arch:
    description: Compute capabilities of the host's GPUs (e.g. C(9.0)); engines do not move between architectures.
    type: list
    elements: str
    required: true
  hash_cache:
    description: JSON file that remembers the checkpoint's hashes by file size and mtime.
    type: path
  verify_checksums:
    description: Compare every engine file's sha256 with the manifest, not only its size.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Reads only; the hash cache is not written.
  diff_mode:
    support: none
    description: Changes nothing.
  idempotent:
    support: full
    description: Never reports a change.
"""

EXAMPLES = r"""
- name: Key of the workflow's engine on an H100 host
  trtllm.deploy.engine_key:
    path: /root/models/trt/Meta-Llama-3-8B-Instruct-trt-engine
    model_dir: /root/models/Meta-Llama-3-8B-Instruct
    model: Meta-Llama-3-8B-Instruct
    dtype: float16
    tp_size: 1
    build_options: {max_batch_size: 256, max_input_len: 2048, max_output_len: 1024}
    toolchain: 0.9.0
    gpu_arch: ["9.0"]
    hash_cache: /opt/trtllm/.checkpoint-hashes/Meta-Llama-3-8B-Instruct.json
  register: key
"""

RETURN = r"""
key:
  description: The build key (sha256, hex).
  returned: always
  type: str
components:
  description: What the key is made of.
  returned: always
  type: dict
current:
  description: Whether the engine in place was built for this key and has all its files.
  returned: always
  type: bool
reason:
  description: Why the engine in place is not current; null when it is.
  returned: always
  type: str
  sample: "it was built for build_options.max_batch_size 256 -> 128"
manifest:
  description: The manifest of the engine in place (key, components, origin, files with size and sha256).
  returned: always
  type: dict
"""

import json

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.trtllm.deploy.plugins.module_utils import engine_key as ek
from ansible_collections.trtllm.deploy.plugins.module_utils.engine_build import hash_files


def read_cache(path: str | None) -> dict:
    if not path:
        return {}
    try:
        with open(path, encoding="utf-8") as handle:
            cache = json.load(handle)
    except (OSError, json.JSONDecodeError):
        return {}
    return cache if isinstance(cache, dict) else {}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "model_dir": {"type": "path", "required": True},
            "model": {"type": "str", "required": True},
            "dtype": {"type": "str", "required": True},
            "tp_size": {"type": "int", "required": True},
            "pp_size": {"type": "int", "default": 1},
            "build_options": {"type": "dict", "default": {}},
            "toolchain": {"type": "str", "required": True},
            "gpu_arch": {"type": "list", "elements": "str", "required": True},
            "hash_cache": {"type": "path"},
            "verify_checksums": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    params = module.params
    if not params["gpu_arch"]:
        module.fail_json(msg="gpu_arch is empty: gather the GPUs first (trtllm.deploy.gpu_facts)")
    try:
        names = ek.checkpoint_inputs(params["model_dir"])
        cache = read_cache(params["hash_cache"])
        files = hash_files(params["model_dir"], names, cache)
    except (ek.KeyInputError, OSError) as err:
        module.fail_json(msg=f"cannot hash the checkpoint: {err}")
    if params["hash_cache"] and files != cache and not module.check_mode:
        ek.write_json(params["hash_cache"], files)

    components = {
        "model": params["model"],
        "checkpoint_sha256": ek.checkpoint_digest(files),
        "dtype": params["dtype"],
        "tp_size": params["tp_size"],
        "pp_size": params["pp_size"],
        "build_options": params["build_options"],
        "toolchain": params["toolchain"],
        "gpu_arch": sorted(set(params["gpu_arch"])),
    }
    key = ek.build_key(components)
    manifest = ek.read_manifest(params["path"])
    found = ek.problems(params["path"], manifest, key, params["verify_checksums"], components)
    module.exit_json(changed=False, key=key, components=components, current=not found,
                     reason="; ".join(found) or None, manifest=manifest)


if __name__ == "__main__":
    main()
