# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter variable_name_problems: names that look like the collection's but are no variable of it."""

from __future__ import annotations

from pathlib import Path

import yaml

from ansible_collections.trtllm.deploy.plugins.module_utils.inventory_checks import (
    known_variables,
    published_facts,
    unknown_variable_problems,
)

DOCUMENTATION = r"""
name: variable_name_problems
short_description: Variable names that look like the collection's but no role reads
version_added: 0.3.0
author:
  - trtllm-deploy maintainers (@trtllm-deploy)
description:
  - Returns one message per name, with the closest real name ("did you mean") or, for the seed workflow's
    own names (C(max_batch_size), C(model_tp_size), ...), the collection's name for it.
  - A name with one of the collection's prefixes is refused when no role's C(meta/argument_specs.yml)
    declares it; another name only when it is close to one of ours. A name the roles compute at run time
    (a role's C(vars/main.yml), a published fact) is refused as well, since an inventory value would be
    overwritten.
  - The roles are this collection's own, read on the controller.
options:
  _input:
    description: Variable names, e.g. C(hostvars[inventory_hostname].keys()).
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Refuse misspelled variables
  ansible.builtin.assert:
    that: problems | length == 0
    fail_msg: "{{ problems | join('; ') }}"
  vars:
    problems: "{{ hostvars[inventory_hostname].keys() | list | trtllm.deploy.variable_name_problems }}"
"""

RETURN = r"""
_value:
  description: One message per refused name; empty when every name is known or not ours.
  type: list
  elements: str
"""

ROLES = Path(__file__).resolve().parents[2] / "roles"


def _yaml(path: Path) -> dict:
    return (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}


def variable_name_problems(names) -> list[str]:
    roles = sorted(p for p in ROLES.iterdir() if p.is_dir())
    known = known_variables({role.name: _yaml(role / "meta" / "argument_specs.yml") for role in roles})
    internal = {name: f"role {role.name} (roles/{role.name}/vars/main.yml)" for role in roles
                for name in _yaml(role / "vars" / "main.yml")}
    internal.update({name: f"{where} (a fact)" for name, where in published_facts().items()})
    return list(unknown_variable_problems([str(n) for n in names], known, internal).values())


class FilterModule:
    def filters(self):
        return {"variable_name_problems": variable_name_problems}
