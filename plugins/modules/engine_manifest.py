#!/usr/bin/python
# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: engine_manifest
short_description: Write, verify or install a TensorRT-LLM engine with its key and checksum manifest
version_added: 0.1.0
description:
  - The manifest C(trtllm-deploy-manifest.json) sits in the engine directory and names the build key
    (see M(trtllm.deploy.engine_key)), what the key is made of, the host that built it and the size and
    sha256 of every file.
  - V(present) writes the manifest of the engine in O(path) (after a build).
  - V(verified) checks every file of O(path) against its manifest (sha256) and fails with the differences.
  - V(installed) checks the copy in O(src) the same way, then swaps it into O(path) with renames, so
    O(path) is either the old engine or the complete new one, never a mix. O(src) is removed either way.
author:
  - trtllm-deploy maintainers (@trtllm-deploy)
options:
  path:
    description: Engine directory.
    type: path
    required: true
  state:
    description: What to do.
    type: str
    choices: [present, verified, installed]
    default: present
  key:
    description: The build key. Required for V(present) and V(installed); with V(verified) the manifest must name it.
    type: str
  components:
    description: What the key is made of (from M(trtllm.deploy.engine_key)), recorded with V(present).
    type: dict
    default: {}
  origin:
    description: The host that built the engine, recorded with V(present).
    type: str
  src:
    description:
      - A complete copy of an engine with its manifest, on the same filesystem as O(path).
      - Required with V(installed).
    type: path
attributes:
  check_mode:
    support: full
    description: Says what it would write or install.
  diff_mode:
    support: full
    description: The manifest before and after.
  idempotent:
    support: full
    description: A manifest that already says the same, or an installed engine equal to O(src), changes nothing.
"""

EXAMPLES = r"""
- name: Record the freshly built engine
  trtllm.deploy.engine_manifest:
    path: /root/models/trt/Meta-Llama-3-8B-Instruct-trt-engine
    key: "{{ key.key }}"
    components: "{{ key.components }}"
    origin: "{{ inventory_hostname }}"

- name: Put a received copy in place after checking every sha256
  trtllm.deploy.engine_manifest:
    path: /root/models/trt/Meta-Llama-3-8B-Instruct-trt-engine
    src: /root/models/trt/.Meta-Llama-3-8B-Instruct-trt-engine.incoming
    key: "{{ key.key }}"
    state: installed
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

from ansible_collections.trtllm.deploy.plugins.module_utils import engine_key as ek
from ansible_collections.trtllm.deploy.plugins.module_utils.paths import replace_directory


def pretty(manifest: dict) -> str:
    return json.dumps(manifest, indent=2, sort_keys=True) + "\n" if manifest else ""


def present(module: AnsibleModule) -> None:
    path, params = module.params["path"], module.params
    if not os.path.isdir(path) or not ek.engine_files(path):
        module.fail_json(msg=f"{path} holds no engine: build it before writing its manifest")
    before = ek.read_manifest(path)
    after = ek.make_manifest(path, params["key"], params["components"], params["origin"])
    changed = before != after
    if changed and not module.check_mode:
        ek.write_manifest(path, after)
    module.exit_json(changed=changed, manifest=after, files=len(after["files"]),
                     diff={"before": pretty(before), "after": pretty(after),
                           "before_header": f"{path}/{ek.MANIFEST}", "after_header": f"{path}/{ek.MANIFEST}"})


def verified(module: AnsibleModule) -> None:
    path = module.params["path"]
    manifest = ek.read_manifest(path)
    found = ek.problems(path, manifest, module.params["key"], checksums=True)
    if found:
        module.fail_json(msg=f"the engine in {path} does not match its manifest: {'; '.join(found)}")
    module.exit_json(changed=False, manifest=manifest, files=len(manifest["files"]))


def installed(module: AnsibleModule) -> None:
    path, src, key = module.params["path"], module.params["src"], module.params["key"]
    path = os.path.normpath(path)
    incoming = ek.read_manifest(src)
    found = ek.problems(src, incoming, key, checksums=True)
    if found:
        if not module.check_mode:
            shutil.rmtree(src, ignore_errors=True)
        module.fail_json(msg=f"the copy in {src} is not a complete engine for key {key[:12]}: {'; '.join(found)}; "
                         f"it was removed and {path} was left as it was")
    before = ek.read_manifest(path)
    if before == incoming and not ek.problems(path, before, key):
        if not module.check_mode:
            shutil.rmtree(src, ignore_errors=True)
        module.exit_json(changed=False, manifest=before, files=len(before["files"]))
    if not module.check_mode:
        replace_directory(src, path)
    module.exit_json(changed=True, manifest=incoming, files=len(incoming["files"]),
                     diff={"before": pretty(before), "after": pretty(incoming),
                           "before_header": f"{path}/{ek.MANIFEST}", "after_header": f"{path}/{ek.MANIFEST}"})


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "state": {"type": "str", "choices": ["present", "verified", "installed"], "default": "present"},
            "key": {"type": "str", "no_log": False},
            "components": {"type": "dict", "default": {}},
            "origin": {"type": "str"},
            "src": {"type": "path"},
        },
        required_if=[("state", "present", ["key"]), ("state", "installed", ["key", "src"])],
        supports_check_mode=True,
    )
    {"present": present, "verified": verified, "installed": installed}[module.params["state"]](module)


if __name__ == "__main__":
    main()
