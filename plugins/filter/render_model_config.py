# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter render_model_config: a config.pbtxt rendered on the controller, as module triton_model_config renders it."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible.utils.display import Display

from ansible_collections.trtllm.deploy.plugins.module_utils.pbtxt import PbtxtError, model_config_schema, render

DOCUMENTATION = r"""
name: render_model_config
short_description: Render and patch a Triton config.pbtxt's text, validated against Triton's schema
version_added: 0.4.0
author:
  - trtllm-deploy maintainers (@trtllm-deploy)
description:
  - >-
    The rendering of module M(trtllm.deploy.triton_model_config) (the same C(module_utils/pbtxt.render)) on text,
    in the controller's process. It fills C(${name}) placeholders, sets C(parameters) entries and dotted fields, and
    validates the result against Triton's C(ModelConfig) (from C(tritonclient), which the controller has).
  - For a role that reads the templates from a host and writes the results back in one task each, instead of
    running the module once per file.
  - Fails naming O(name) and the place to fix; warnings (placeholders left where the backend has a default) are
    shown as Ansible warnings.
options:
  _input:
    description: The template's text (a tensorrtllm_backend C(config.pbtxt)).
    type: str
    required: true
  placeholders:
    description: Values for C(${name}) placeholders, as the module's.
    type: dict
    default: {}
  parameters:
    description: C(parameters) entries to set; as the module's.
    type: dict
    default: {}
  fields:
    description: Scalar fields by dotted path; as the module's.
    type: dict
    default: {}
  ignore_unknown:
    description: A placeholder key the template lacks is no error.
    type: bool
    default: false
  strict:
    description: Unfilled placeholders where a value must be, or in a required parameter, are errors.
    type: bool
    default: true
  name:
    description: What the text is (its path), for messages.
    type: str
    default: config.pbtxt
"""

EXAMPLES = r"""
config: >-
  {{ source_text | trtllm.deploy.render_model_config(placeholders={'triton_max_batch_size': 64},
                                                      ignore_unknown=true, name='ensemble/config.pbtxt') }}
"""

RETURN = r"""
_value:
  description: The rendered text.
  type: str
"""


def render_model_config(text, placeholders=None, parameters=None, fields=None, ignore_unknown=False, strict=True,
                        name="config.pbtxt"):
    if not isinstance(text, str):
        raise AnsibleFilterError(f"render_model_config: {name}: expected the template's text, "
                                 f"got {type(text).__name__}")
    try:
        schema = model_config_schema()
    except ImportError as err:
        raise AnsibleFilterError(f"render_model_config needs tritonclient on the controller: {err}") from None
    try:
        # As the module reads its template (text mode): CRLF line ends become LF.
        result = render(text.replace("\r\n", "\n"), schema, placeholders or {}, parameters or {}, fields or {},
                        ignore_unknown=ignore_unknown, strict=strict)
    except PbtxtError as err:
        raise AnsibleFilterError(f"{name}: {err}") from None
    for warning in result.warnings:
        Display().warning(f"{name}: {warning}")
    return result.text


class FilterModule:
    def filters(self):
        return {"render_model_config": render_model_config}
