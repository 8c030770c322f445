#!/usr/bin/python
# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: file_contents
short_description: Write several small files from their text in one task, each only when it differs
version_added: 0.4.0
description:
  - Each file of O(files) whose content differs is written through a temporary file in its directory and an
    atomic rename; an unchanged file is not written. Owner, group and mode follow the common file options.
  - One module run for a set of files that change together (a model repository's five C(config.pbtxt)), where
    M(ansible.builtin.copy) with a loop costs two runs on the host per file even when nothing changed.
  - Every directory must exist; a missing one fails before any file is written (in check mode, its files count
    as changed).
author:
  - trtllm-deploy maintainers (@trtllm-deploy)
options:
  files:
    description:
      - Absolute path of each file, and its whole content (text, written as UTF-8).
    type: dict
    required: true
extends_documentation_fragment:
  - ansible.builtin.backup
  - ansible.builtin.files
attributes:
  check_mode:
    support: full
    description: Says which files would change, and the diff, without writing.
  diff_mode:
    support: full
    description: One diff per changed file.
  idempotent:
    support: full
    description: Same contents give the same bytes, and an unchanged file is not written.
"""

EXAMPLES = r"""
- name: Write the served models' configs
  trtllm.deploy.file_contents:
    files:
      /opt/repo/ensemble/config.pbtxt: "{{ ensemble_config }}"
      /opt/repo/tensorrt_llm/config.pbtxt: "{{ tensorrt_llm_config }}"
    mode: "0644"
    backup: true
"""

RETURN = r"""
changed_files:
  description: The files whose content changed (or would, in check mode), in the order given.
  returned: always
  type: list
  elements: str
  sample: [/opt/repo/tensorrt_llm/config.pbtxt]
backup_files:
  description: The backup made of each changed file that existed, by path.
  returned: changed and O(backup=true)
  type: dict
  sample: {/opt/repo/tensorrt_llm/config.pbtxt: /opt/repo/tensorrt_llm/config.pbtxt.1234.2026-11-24@01:02:03~}
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.trtllm.deploy.plugins.module_utils.files import write_atomically


def read(module: AnsibleModule, path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as err:
        module.fail_json(msg=f"cannot read {path}: {err}")


def main() -> None:
    module = AnsibleModule(
        argument_spec={"files": {"type": "dict", "required": True}, "backup": {"type": "bool", "default": False}},
        add_file_common_args=True,
        supports_check_mode=True,
    )
    files = module.params["files"]
    problems = [f"{path}: not an absolute path" for path in files if not os.path.isabs(path)]
    problems += [f"{path}: its content is not text" for path, text in files.items() if not isinstance(text, str)]
    # In check mode a missing directory is one an earlier task would have made: its files count as changed.
    problems += [f"{path}: its directory does not exist" for path in files if not module.check_mode
                 and os.path.isabs(path) and not os.path.isdir(os.path.dirname(path))]
    if problems:
        module.fail_json(msg="nothing was written: " + "; ".join(problems))

    befores = {path: read(module, path) for path in files}
    changed_files = [path for path, text in files.items() if befores[path] != text]
    result = {"changed_files": changed_files}
    if module._diff:
        result["diff"] = [{"before": befores[path] or "", "after": files[path], "before_header": path,
                           "after_header": path} for path in changed_files]
    changed = bool(changed_files)
    if not module.check_mode:
        backups = {}
        for path in changed_files:
            if module.params["backup"] and befores[path] is not None:
                backups[path] = module.backup_local(path)
            write_atomically(module, path, files[path])
        if module.params["backup"] and changed_files:
            result["backup_files"] = backups
    for path in files:
        if module.check_mode and befores[path] is None:
            continue
        file_args = module.load_file_common_arguments(module.params, path=path)
        changed = module.set_fs_attributes_if_different(file_args, changed)
    module.exit_json(changed=changed, **result)


if __name__ == "__main__":
    main()
