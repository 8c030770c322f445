# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter host_problems: the controller-side checks of module_utils/inventory_checks.py, for validate.yml."""

from __future__ import annotations

from ansible_collections.trtllm.deploy.plugins.module_utils.inventory_checks import host_problems as _host_problems

DOCUMENTATION = r"""
name: host_problems
short_description: Ranges, relations, ports, paths, names, images and versions of one host's variables
version_added: 0.2.0
author:
  - trtllm-deploy maintainers (@trtllm-deploy)
description:
  - Returns a list of messages, each naming the variable and its bad value; empty when all is well.
  - The same checks C(trtllm-deploy validate) runs in-process (module_utils inventory_checks); trtllm-build's
    token rules are module_utils engine_build's C(validate()).
options:
  _input:
    description: Variable name to value (templated), e.g. from the C(ansible.builtin.vars) lookup.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Check the variables
  ansible.builtin.assert:
    that: problems | length == 0
    fail_msg: "{{ problems | join('; ') }}"
  vars:
    problems: "{{ {'trtllm_tp_size': trtllm_tp_size, 'trtllm_http_port': 8000} | trtllm.deploy.host_problems }}"
"""

RETURN = r"""
_value:
  description: Messages naming each problem; empty when none.
  type: list
  elements: str
"""


def host_problems(values: dict) -> list[str]:
    return _host_problems(dict(values))[0]


class FilterModule:
    def filters(self):
        return {"host_problems": host_problems}
