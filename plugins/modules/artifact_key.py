#!/usr/bin/python
# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: artifact_key
short_description: The content key of a pipeline artifact, and whether the one in place has it
version_added: 0.3.0
description:
  - Computes the key of an artifact (V(model), V(checkpoint), V(engine) or V(served)) from its inputs. Hosts
    with equal keys can share the artifact, so a fleet builds an engine once per key.
  - With O(content), the files of O(path) are themselves the input (a Hugging Face checkpoint's weights, the
    served C(config.pbtxt) files); their size and sha256 become O(inputs)'s C(files).
  - Otherwise reads the manifest in O(path) and says whether it was made for this key and its files are
    complete (sizes; sha256 too with O(verify_checksums)), and if not, what changed.
  - Changes nothing on the host apart from the hash cache O(hash_cache), which saves hashing unchanged files
    again (a file is hashed again when its size or mtime changes).
author:
  - trtllm-deploy maintainers (@trtllm-deploy)
extends_documentation_fragment:
  - trtllm.deploy.artifact
  - trtllm.deploy.read_only
options:
  kind:
    description: What the artifact is.
    type: str
    required: true
    choices: [model, checkpoint, engine, served]
  inputs:
    description:
      - What the artifact is made from (no host paths). A value that is an artifact (the RV(artifact) of another
        run of this module) counts by its key.
    type: dict
    default: {}
  input_manifests:
    description:
      - Input name to a directory whose manifest is the input (the artifact it describes, or null when there
        is none), e.g. the engine a served configuration loads.
    type: dict
    default: {}
  content:
    description:
      - Files under O(path) (relative names, or glob patterns such as C(*/1/*.py)) whose content is an input.
        V(model) lists a Hugging Face checkpoint's C(config.json), shard indexes and weight files when this is
        not given (the tokenizer is left out). A listed name that is missing counts as null; a pattern that
        matches nothing adds nothing.
    type: list
    elements: str
  hash_cache:
    description: JSON file that remembers the hashes of O(content) by file size and mtime.
    type: path
  known_files:
    description:
      - For O(kind=model), files the key counts that are not on this host, with their C(size) and C(sha256) from
        their source (the Hub's metadata of its LFS files). A host that needs only the tokenizer computes the same
        key as the host that holds the weights; a file on disk is always hashed, never taken from here.
    type: dict
    default: {}
  verify_checksums:
    description: Compare every file's sha256 with the manifest, not only its size.
    type: bool
    default: false
  held:
    description:
      - The files of the manifest this host holds, when it holds only some (a cluster member holds the engine's
        C(config.json) and the ranks it serves); the artifact is current when those are there and equal. All
        of them when unset.
    type: list
    elements: str
attributes:
  check_mode:
    support: full
    description: Reads only; the hash cache is not written.
"""

EXAMPLES = r"""
- name: Key of the Hugging Face checkpoint
  trtllm.deploy.artifact_key:
    kind: model
    path: /root/models/Meta-Llama-3-8B-Instruct
    hash_cache: /opt/trtllm/.artifact-hashes/Meta-Llama-3-8B-Instruct.json
  register: model

- name: Key of the converted checkpoint, and whether the one in place has it
  trtllm.deploy.artifact_key:
    kind: checkpoint
    path: /root/models/trt/Meta-Llama-3-8B-Instruct-trt-ckpt
    inputs: {model: "{{ model.artifact }}", dtype: float16, tp_size: 1, pp_size: 1, extra_args: [], toolchain: 0.9.0}
  register: checkpoint

- name: Key of the engine on an H100 host
  trtllm.deploy.artifact_key:
    kind: engine
    path: /root/models/trt/Meta-Llama-3-8B-Instruct-trt-engine
    inputs:
      checkpoint: "{{ checkpoint.artifact }}"
      build_options: {max_batch_size: 256, max_input_len: 2048, max_output_len: 1024}
      gpu_arch: ["9.0"]
      toolchain: 0.9.0
  register: engine
"""

RETURN = r"""
key:
  description: The content key (sha256, hex).
  returned: always
  type: str
artifact:
  description: The artifact (kind, key, inputs), as another artifact's input or for M(trtllm.deploy.artifact_manifest).
  returned: always
  type: dict
current:
  description: Whether the artifact in O(path) was made for this key and has all its files (true with O(content)).
  returned: always
  type: bool
reason:
  description: Why the artifact in place is not current, naming what changed; null when it is.
  returned: always
  type: str
  sample: "it was made for build_options.max_batch_size 256 -> 128"
manifest:
  description: The manifest in O(path) (kind, key, inputs, origin, files with size and sha256); empty when none.
  returned: always
  type: dict
"""

import glob
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.trtllm.deploy.plugins.module_utils import artifact as af


def expand(path: str, content: list[str]) -> list[str]:
    """Names as given; glob patterns replaced by the files they match under path (relative, sorted)."""
    names = []
    for entry in content:
        if glob.has_magic(entry):
            names += sorted(os.path.relpath(match, path) for match in glob.glob(os.path.join(path, entry))
                            if os.path.isfile(match))
        else:
            names.append(entry)
    return sorted(set(names))


def hashed_content(module: AnsibleModule) -> dict:
    params = module.params
    try:
        names = expand(params["path"], params["content"]) if params["content"] is not None else (
            af.model_inputs(params["path"], params["known_files"]) if params["kind"] == "model" else [])
        present = [n for n in names if os.path.isfile(os.path.join(params["path"], n))]
        cache = af.read_hash_cache(params["hash_cache"])
        files = af.hash_files(params["path"], present, cache)
    except (af.ArtifactInputError, OSError) as err:
        module.fail_json(msg=f"cannot hash the {params['kind']} in {params['path']}: {err}")
    if params["hash_cache"] and files != cache and not module.check_mode:
        af.write_json(params["hash_cache"], files)
    digests = af.file_digests(files)
    known = {name: [f.get("size"), f.get("sha256")] for name, f in params["known_files"].items()}
    return {name: digests.get(name) or known.get(name) for name in sorted(names)}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "kind": {"type": "str", "required": True, "choices": list(af.KINDS)},
            "inputs": {"type": "dict", "default": {}},
            "input_manifests": {"type": "dict", "default": {}},
            "content": {"type": "list", "elements": "str"},
            "hash_cache": {"type": "path"},
            "verify_checksums": {"type": "bool", "default": False},
            "known_files": {"type": "dict", "default": {}},
            "held": {"type": "list", "elements": "str"},
        },
        supports_check_mode=True,
    )
    params = module.params
    inputs = dict(params["inputs"])
    for name, directory in params["input_manifests"].items():
        inputs[name] = af.as_artifact(af.read_manifest(directory))
    by_content = params["content"] is not None or params["kind"] == "model"
    if by_content:
        inputs["files"] = hashed_content(module)
    made = af.artifact(params["kind"], inputs)
    manifest = af.read_manifest(params["path"])
    found = [] if by_content else af.problems(params["path"], manifest, made, params["verify_checksums"],
                                              params["held"])
    module.exit_json(changed=False, key=made["key"], artifact=made, current=not found,
                     reason="; ".join(found) or None, manifest=manifest)


if __name__ == "__main__":
    main()
