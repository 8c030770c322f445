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
    description:
      - The fleet's plan (C(trtllm_fleet_plan), module M(trtllm.deploy.fleet_plan)); each GPU host's published
        C(endpoint) (address, http_port, grpc_port, metrics_port, container) is compared with the others'.
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
    problems: "{{ trtllm_fleet_plan | trtllm.deploy.fleet_problems(groups['all']) }}"
"""

RETURN = r"""
_value:
  description: One message per problem; empty when there is none.
  type: list
  elements: str
"""


def fleet_problems(plan: dict, all_hosts: list) -> list[str]:
    hosts = {}
    for name, entry in plan["hosts"].items():
        endpoint = entry.get("endpoint") or {}
        if endpoint:
            hosts[str(name)] = {"ansible_host": endpoint.get("address"), "trtllm_http_port": endpoint.get("http_port"),
                                "trtllm_grpc_port": endpoint.get("grpc_port"),
                                "trtllm_metrics_port": endpoint.get("metrics_port"),
                                "trtllm_container_name": endpoint.get("container")}
    return _fleet_problems(hosts, set(map(str, plan["hosts"])), list(map(str, all_hosts)))


class FilterModule:
    def filters(self):
        return {"fleet_problems": fleet_problems}
