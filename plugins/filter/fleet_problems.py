# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter fleet_problems: the fleet-wide controller-side checks, for validate.yml."""

from __future__ import annotations

from ansible_collections.trtllm.deploy.plugins.module_utils.inventory_checks import fleet_problems as _fleet_problems

DOCUMENTATION = r"""
name: fleet_problems
short_description: Hosts outside gpu_nodes, and hosts at one address that share a port or the container name
version_added: 0.3.0
author:
  - trtllm-deploy maintainers (@trtllm-deploy)
description:
  - Returns one message per problem, naming the hosts, the address and what they share.
options:
  _input:
    description: Per host of C(gpu_nodes), its C(ansible_host), C(trtllm_http_port), C(trtllm_grpc_port),
      C(trtllm_metrics_port) and C(trtllm_container_name).
    type: dict
    required: true
  all_hosts:
    description: Every host of the inventory (C(groups['all'])).
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Check the fleet once
  ansible.builtin.assert:
    that: problems | length == 0
    fail_msg: "{{ problems | join('; ') }}"
  run_once: true
  vars:
    problems: >-
      {{ dict(groups['gpu_nodes'] | zip(groups['gpu_nodes'] | map('extract', hostvars, 'fleet_entry')))
         | trtllm.deploy.fleet_problems(groups['all']) }}
"""

RETURN = r"""
_value:
  description: One message per problem; empty when there is none.
  type: list
  elements: str
"""


def fleet_problems(hosts: dict, all_hosts: list) -> list[str]:
    return _fleet_problems({str(k): dict(v) for k, v in hosts.items()}, set(map(str, hosts)), list(map(str, all_hosts)))


class FilterModule:
    def filters(self):
        return {"fleet_problems": fleet_problems}
