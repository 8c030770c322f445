#!/usr/bin/python
# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: artifact_manifest
short_description: Make sure a directory holds a complete pipeline artifact for a key, with its manifest
version_added: 0.3.0
description:
  - The result is always the same state, O(path) holds the artifact with key O(key) (or O(artifact)'s key), every
    file listed with its size and sha256 in C(trtllm-deploy-manifest.json). How it gets there depends on the options.
  - With O(record), the files are what was just made (a conversion, a build), and their manifest is written.
  - Without O(record), the manifest already there must name the key and match every file (sha256); the module
    fails with the differences otherwise (a copy fetched to the controller, an engine before it is sent).
  - With O(src), the artifact is first made or checked in O(src), a staging directory on the same filesystem, then
    swapped into O(path) with renames, so O(path) is the old artifact or the complete new one, never a mix. A
    copy in O(src) that fails the check is removed and O(path) is left as it was.
author:
  - trtllm-deploy maintainers (@trtllm-deploy)
extends_documentation_fragment:
  - trtllm.deploy.artifact
options:
  artifact:
    description: The artifact (kind, key, inputs), as M(trtllm.deploy.artifact_key) returns it. Required with O(record).
    type: dict
  key:
    description: The key alone, to check an artifact that is already recorded.
    type: str
  record:
    description: Write the manifest of the files in O(src) or O(path) as O(artifact).
    type: bool
    default: false
  origin:
    description: The host that made the artifact, recorded with O(record).
    type: str
  src:
    description: A staging directory with the artifact, swapped into O(path) once it is recorded or checked.
    type: path
  checksums:
    description: Check every file's sha256, not only its size, when checking an artifact that is recorded already.
    type: bool
    default: true
  expected:
    description:
      - What the artifact's source says its files are, checked when recording (name -> C(size), and C(sha256)
        where the source knows it), e.g. a download against the Hub's own sizes and LFS sha256.
      - A file missing or different fails the module before anything is swapped in; with O(src) the staging
        copy is removed.
    type: dict
  hash_cache:
    description: JSON file of hashes already computed, by file size and mtime (as M(trtllm.deploy.artifact_key)
      keeps it), used and not written when recording, so large files are not hashed twice.
    type: path
  held:
    description: When checking, the files of the manifest that must be here (a cluster member's ranks and
      C(config.json)); all of them when unset.
    type: list
    elements: str
attributes:
  check_mode:
    support: full
    description: Says what it would write or swap in.
  diff_mode:
    support: full
    description: The manifest before and after.
  idempotent:
    support: full
    description: A manifest that already says the same, or an artifact in place equal to O(src), changes nothing.
"""

EXAMPLES = r"""
- name: Record the freshly converted checkpoint
  trtllm.deploy.artifact_manifest:
    path: /root/models/trt/Meta-Llama-3-8B-Instruct-trt-ckpt
    artifact: "{{ checkpoint.artifact }}"
    record: true
    origin: "{{ inventory_hostname }}"

- name: Check an engine fetched to the controller
  trtllm.deploy.artifact_manifest:
    path: ~/.cache/trtllm-deploy/engines/{{ key }}
    key: "{{ key }}"
  delegate_to: localhost

- name: Put a received copy in place after checking every sha256
  trtllm.deploy.artifact_manifest:
    path: /root/models/trt/Meta-Llama-3-8B-Instruct-trt-engine
    src: /root/models/trt/.Meta-Llama-3-8B-Instruct-trt-engine.incoming
    key: "{{ key }}"
"""

RETURN = r"""
manifest:
  description: The manifest of O(path) after the module ran (or would have).
  returned: success
  type: dict
files:
  description: Number of files the manifest lists.
  returned: success
  type: int
"""

import json
import os
import shutil

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.trtllm.deploy.plugins.module_utils import artifact as af
from ansible_collections.trtllm.deploy.plugins.module_utils.paths import replace_directory


def pretty(manifest: dict) -> str:
    return json.dumps(manifest, indent=2, sort_keys=True) + "\n" if manifest else ""


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "artifact": {"type": "dict"},
            "key": {"type": "str", "no_log": False},
            "record": {"type": "bool", "default": False},
            "origin": {"type": "str"},
            "src": {"type": "path"},
            "checksums": {"type": "bool", "default": True},
            "expected": {"type": "dict"},
            "hash_cache": {"type": "path"},
            "held": {"type": "list", "elements": "str"},
        },
        mutually_exclusive=[("artifact", "key")],
        required_one_of=[("artifact", "key")],
        required_if=[("record", True, ["artifact"])],
        supports_check_mode=True,
    )
    params = module.params
    path = os.path.normpath(params["path"])
    made = params["artifact"]
    if made and not af.is_artifact(made):
        module.fail_json(msg="artifact needs kind, key and inputs (as trtllm.deploy.artifact_key returns it)")
    key = made["key"] if made else params["key"]
    where = params["src"] or path
    before = af.read_manifest(path)

    if params["record"]:
        if not os.path.isdir(where) or not af.artifact_files(where):
            module.fail_json(msg=f"{where} holds no files: make the {made['kind']} before recording it")
        after = af.make_manifest(where, made, params["origin"], af.read_hash_cache(params["hash_cache"]))
        wrong = af.expected_problems(after["files"], params["expected"] or {})
        if wrong:
            if params["src"] and not module.check_mode:
                shutil.rmtree(where, ignore_errors=True)
            left = f"; it was removed and {path} was left as it was" if params["src"] else ""
            module.fail_json(msg=f"{where} is not the {made['kind']} its source has: {'; '.join(wrong)}{left}")
        staged = af.read_manifest(where)
        if after != staged and not module.check_mode:
            af.write_manifest(where, after)
        changed = after != staged or bool(params["src"])
    else:
        after = af.read_manifest(where)
        found = af.problems(where, after, {"key": key}, checksums=params["checksums"], held=params["held"])
        if found:
            if params["src"] and not module.check_mode:
                shutil.rmtree(where, ignore_errors=True)
            left = f"; it was removed and {path} was left as it was" if params["src"] else ""
            module.fail_json(msg=f"{where} is not a complete artifact for key {key[:12]}: {'; '.join(found)}{left}")
        changed = False
        if params["src"]:
            if before == after and not af.problems(path, before, {"key": key}, held=params["held"]):
                if not module.check_mode:
                    shutil.rmtree(where, ignore_errors=True)
            else:
                changed = True
    if params["src"] and changed and not module.check_mode:
        replace_directory(where, path)
    module.exit_json(changed=changed, manifest=after, files=len(after["files"]),
                     diff={"before": pretty(before), "after": pretty(after),
                           "before_header": f"{path}/{af.MANIFEST}", "after_header": f"{path}/{af.MANIFEST}"})


if __name__ == "__main__":
    main()
