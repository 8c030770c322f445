# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter cluster_problems: what stops a multi-node instance, before anything changes."""

from __future__ import annotations

from ansible_collections.trtllm.deploy.plugins.module_utils import cluster

DOCUMENTATION = r"""
name: cluster_problems
short_description: Members, layout, GPU count, clock and network problems of a multi-node instance
version_added: 0.4.0
author:
  - trtllm-deploy maintainers (@trtllm-deploy)
description:
  - Returns a list of messages, empty when the cluster can start. Each member publishes its layout (part
    C(cluster.layout) of its C(trtllm_host) fact, role trtllm_cluster, tasks/preflight.yml) and the fleet's plan
    (M(trtllm.deploy.fleet_plan)) gathers them; a member without one did not answer the preflight.
  - The members must agree on tp_size, pp_size, the model, the engine's path, the ssh port, the interface and
    InfiniBand; have the same GPU count, whose sum is tp_size x pp_size; have clocks within O(max_clock_skew)
    seconds; and answer each other on the cluster's address (a refused connection counts as an answer).
  - With no C(trtllm_cluster_interface), a member with more than one candidate interface (up, IPv4, not
    loopback or a Docker bridge; filter C(cluster_interfaces)) is refused, since MPI and NCCL would pick one of
    them; a named interface must exist. C(NCCL_IB_*) in C(trtllm_cluster_env) without C(trtllm_cluster_infiniband)
    is refused (NCCL would fall back to sockets silently), and so is C(trtllm_cluster_infiniband) on a member
    without C(/dev/infiniband).
options:
  _input:
    description:
      - The cluster's entry of the fleet's plan, C(trtllm_fleet_plan.clusters[NAME]); its C(members) (rank 0
        first) and C(layouts) (a member's layout, or null when it is not in the run or did not publish one).
    type: dict
    required: true
  reach:
    description: This host's M(trtllm.deploy.host_resources) C(reach) result towards the other members.
    type: list
    elements: dict
    default: []
  max_clock_skew:
    description: Seconds the members' clocks may differ.
    type: int
    default: 30
  seen_from:
    description: This host's name, for the messages.
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: Check the cluster
  ansible.builtin.assert:
    that: problems | length == 0
    fail_msg: "{{ problems | join('; ') }}"
  vars:
    problems: "{{ trtllm_fleet_plan.clusters[trtllm_cluster] | trtllm.deploy.cluster_problems(reach.reach) }}"
"""

RETURN = r"""
_value:
  description: The problems, each with its numbers; empty when there are none.
  type: list
  elements: str
"""


def cluster_interfaces(facts) -> list[str]:
    """The interfaces MPI and NCCL could pick between the members (up, IPv4, not lo or a Docker bridge), from a
    host's network facts (C(ansible_facts) after C(setup) with the network subset)."""
    names = list(facts.get("interfaces") or [])
    return cluster.interface_candidates({name: facts.get(name.replace("-", "_")) for name in names})


def cluster_problems(planned, reach=None, max_clock_skew=30, seen_from=""):
    members = list(planned["members"])
    layouts = {host: (planned.get("layouts") or {}).get(host) for host in members}
    return cluster.cluster_problems(members, layouts, list(reach or []), int(max_clock_skew), seen_from)


class FilterModule:
    def filters(self):
        return {"cluster_problems": cluster_problems, "cluster_interfaces": cluster_interfaces}
