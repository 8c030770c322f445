#!/usr/bin/python
# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: triton_model_config
short_description: Render and patch a Triton config.pbtxt, validated against Triton's schema
version_added: 0.1.0
description:
  - >-
    Fills C(${name}) placeholders the way tensorrtllm_backend's C(tools/fill_template.py) does, without
    its traps: values may contain commas and colons, and are escaped inside quoted strings.
  - Sets C(parameters) entries and scalar fields by dotted path, adding what is missing.
  - Validates the result against Triton's C(ModelConfig) message (from C(tritonclient)) before writing;
    a wrong type or an unknown field fails with its path and nothing is written.
  - Edits are splices, so lines and comments that are not touched stay byte for byte.
  - Writes through a temporary file and an atomic rename; an unchanged result is not written.
author:
  - trtllm-deploy maintainers (@trtllm-deploy)
options:
  path:
    description:
      - The config.pbtxt to write, e.g. in the served model repository.
      - Without O(src), this file is the template and is patched in place.
    type: path
    required: true
  src:
    description:
      - The pristine template, e.g. from the tensorrtllm_backend checkout. Rendering from it keeps
        re-runs idempotent.
    type: path
  placeholders:
    description:
      - Values for C(${name}) placeholders. Booleans render as C(true)/C(false).
      - A key that is no placeholder of the template is an error unless O(ignore_unknown).
    type: dict
    default: {}
  ignore_unknown:
    description:
      - Accept O(placeholders) keys the template does not have (one dict for several templates).
    type: bool
    default: false
  parameters:
    description:
      - C(parameters { key value { string_value } }) entries to set or add. Values are stored as strings.
    type: dict
    default: {}
  fields:
    description:
      - Scalar fields of ModelConfig by dotted path, e.g. C(max_batch_size),
        C(model_transaction_policy.decoupled), C(instance_group.0.count). Numbers index repeated fields.
      - Values are converted to the field's type; missing messages are added.
    type: dict
    default: {}
  strict:
    description:
      - Fail when a placeholder is left where a value must be (it would not parse), or in a parameter the
        TensorRT-LLM models need to load (C(gpt_model_path), C(engine_dir), C(gpt_model_type),
        C(tokenizer_dir), C(tensorrt_llm_model_name)). Other parameters left as placeholders only warn.
    type: bool
    default: true
extends_documentation_fragment:
  - ansible.builtin.backup
  - ansible.builtin.files
attributes:
  check_mode:
    support: full
    description: Computes the result and the diff without writing.
  diff_mode:
    support: full
    description: Shows the file before and after.
  idempotent:
    support: full
    description: Same inputs give the same bytes, and an unchanged file is not written.
requirements:
  - tritonclient (its generated C(model_config_pb2); the grpc extra is not needed) and protobuf on the target
notes:
  - Later tensorrtllm_backend releases renamed and added placeholders; nothing here names them, so new
    templates need no change to this module.
"""

EXAMPLES = r"""
- name: Render the TensorRT-LLM model's config from the r24.04 template
  trtllm.deploy.triton_model_config:
    src: /opt/tensorrtllm_backend/all_models/inflight_batcher_llm/tensorrt_llm/config.pbtxt
    path: /opt/tensorrtllm_backend/triton_model_repo/tensorrt_llm/config.pbtxt
    placeholders:
      triton_max_batch_size: 256
      decoupled_mode: true
      batching_strategy: inflight_fused_batching
      batch_scheduler_policy: max_utilization
      kv_cache_free_gpu_mem_fraction: 0.9
      engine_dir: /tensorrtllm_backend/triton_model_repo/tensorrt_llm/1
      max_queue_delay_microseconds: 0
      exclude_input_in_output: true

- name: Patch an already-filled config in place
  trtllm.deploy.triton_model_config:
    path: /opt/tensorrtllm_backend/triton_model_repo/tensorrt_llm_bls/config.pbtxt
    parameters:
      tensorrt_llm_model_name: tensorrt_llm
    fields:
      max_batch_size: 256
      model_transaction_policy.decoupled: true
      instance_group.0.count: 1
    backup: true
"""

RETURN = r"""
path:
  description: The file written or checked.
  returned: always
  type: str
  sample: /opt/tensorrtllm_backend/triton_model_repo/tensorrt_llm/config.pbtxt
config:
  description:
    - The resulting ModelConfig as a dict keyed by the proto's own snake_case field names;
      C(parameters) maps each key to a dict with its C(string_value). 64-bit integers are strings, as in
      protobuf's JSON mapping. Empty when the result could not be validated (O(strict=false)).
  returned: success
  type: dict
  sample:
    name: tensorrt_llm
    backend: tensorrtllm
    max_batch_size: 256
    model_transaction_policy: {decoupled: true}
    parameters:
      gpt_model_type: {string_value: inflight_fused_batching}
unfilled:
  description: Placeholders still in the result outside comments.
  returned: success
  type: list
  elements: str
  sample: [max_beam_width, medusa_choices]
backup_file:
  description: The backup made before the change.
  returned: changed and O(backup=true) and the file existed
  type: str
  sample: /opt/repo/tensorrt_llm/config.pbtxt.1234.2026-11-24@01:02:03~
"""

import os
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.trtllm.deploy.plugins.module_utils.files import write_atomically
from ansible_collections.trtllm.deploy.plugins.module_utils.pbtxt import PbtxtError, model_config_schema, render


def read(module: AnsibleModule, path: str, what: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        module.fail_json(msg=f"{what} {path} does not exist")
    except (OSError, UnicodeDecodeError) as err:
        module.fail_json(msg=f"cannot read {what} {path}: {err}")


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "src": {"type": "path"},
            "placeholders": {"type": "dict", "default": {}},
            "ignore_unknown": {"type": "bool", "default": False},
            "parameters": {"type": "dict", "default": {}},
            "fields": {"type": "dict", "default": {}},
            "strict": {"type": "bool", "default": True},
            "backup": {"type": "bool", "default": False},
        },
        add_file_common_args=True,
        supports_check_mode=True,
    )
    p = module.params
    try:
        schema = model_config_schema()
    except ImportError:
        module.fail_json(msg=missing_required_lib("tritonclient"), exception=traceback.format_exc())

    exists = os.path.exists(p["path"])
    template = read(module, p["src"], "src") if p["src"] else read(module, p["path"], "path")
    before = (read(module, p["path"], "path") if p["src"] else template) if exists else ""
    try:
        result = render(template, schema, p["placeholders"], p["parameters"], p["fields"],
                        ignore_unknown=p["ignore_unknown"], strict=p["strict"])
    except PbtxtError as err:
        module.fail_json(msg=f"{p['src'] or p['path']}: {err}", path=p["path"])
    for warning in result.warnings:
        module.warn(f"{p['path']}: {warning}")

    changed = result.text != before
    outcome = {"path": p["path"], "config": result.config, "unfilled": result.unfilled}
    if module._diff:
        outcome["diff"] = {"before": before, "after": result.text,
                           "before_header": p["path"], "after_header": p["path"]}
    if changed and not module.check_mode:
        if p["backup"] and exists:
            outcome["backup_file"] = module.backup_local(p["path"])
        directory = os.path.dirname(p["path"]) or "."
        if not os.path.isdir(directory):
            module.fail_json(msg=f"the directory of path, {directory}, does not exist")
        write_atomically(module, p["path"], result.text)
    file_args = module.load_file_common_arguments(p)
    if not module.check_mode or exists:
        changed = module.set_fs_attributes_if_different(file_args, changed)
    module.exit_json(changed=changed, **outcome)


if __name__ == "__main__":
    main()
