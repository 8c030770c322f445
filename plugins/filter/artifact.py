# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters artifact_record and artifact_change: an artifact kept where no manifest can sit (a container label)."""

from __future__ import annotations

import json

from ansible.errors import AnsibleFilterError

from ansible_collections.trtllm.deploy.plugins.module_utils import artifact as af

DOCUMENTATION = r"""
name: artifact_record
short_description: An artifact's key and inputs as compact JSON, for a place that holds a string (a container label)
version_added: 0.3.0
author:
  - trtllm-deploy maintainers (@trtllm-deploy)
description:
  - Input artifacts count by their key, as in the key itself, so the record stays small.
  - The collection also has the filter C(artifact_change), which names what differs between a record and an
    artifact (the same words as M(trtllm.deploy.artifact_key)'s reason).
options:
  _input:
    description: The artifact (kind, key, inputs) from M(trtllm.deploy.artifact_key).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Label the server with what it serves
  community.docker.docker_container:
    name: triton_server
    labels:
      org.trtllm-deploy.served: "{{ served.artifact | trtllm.deploy.artifact_record }}"

- name: Say why the server is recreated
  ansible.builtin.debug:
    msg: "{{ served.artifact | trtllm.deploy.artifact_change(old_label) }}"
"""

RETURN = r"""
_value:
  description: C({"kind", "key", "inputs"}) as compact JSON, input artifacts replaced by their keys.
  type: str
"""


def _check(value) -> dict:
    if not af.is_artifact(value):
        raise AnsibleFilterError("expected an artifact (kind, key, inputs) as trtllm.deploy.artifact_key returns it")
    return value


def artifact_record(made) -> str:
    made = _check(made)
    return json.dumps({"kind": made["kind"], "key": made["key"], "inputs": af.keys_only(made["inputs"])},
                      sort_keys=True, separators=(",", ":"))


def artifact_change(made, record) -> str:
    """What differs between a record (artifact_record's JSON) and the artifact; empty when they are the same."""
    made = _check(made)
    try:
        old = json.loads(record) if isinstance(record, str) else record
    except ValueError:
        old = None
    if not isinstance(old, dict) or "key" not in old:
        return "nothing records what it was made from"
    if old["key"] == made["key"]:
        return ""
    change = af.key_change(old.get("inputs") or {}, af.keys_only(made["inputs"]))
    return change or f"key {old['key'][:12]} -> {made['key'][:12]}"


def artifact_expected(files, expected) -> list[str]:
    """Why a manifest's files (name -> size, sha256) are not what their source lists; empty when they are."""
    return af.expected_problems(dict(files or {}), dict(expected or {}))


class FilterModule:
    def filters(self):
        return {"artifact_record": artifact_record, "artifact_change": artifact_change,
                "artifact_expected": artifact_expected}
