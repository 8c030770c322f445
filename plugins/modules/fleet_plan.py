#!/usr/bin/python
# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: fleet_plan
short_description: The fleet's plan, from every host's published fact, as this host's fact C(trtllm_fleet_plan)
version_added: 0.5.0
description:
  - Runs on the controller only (an action plugin). Reads every inventory host's fact C(trtllm_host) and the
    inventory variables the plan needs of every host (C(trtllm_cluster), C(load_balancer_socket),
    C(load_balancer_backend_group)), and computes the plan with C(module_utils/fleet_plan.make_plan), the
    clusters (members, rank 0, who is absent, addresses, layouts, images, keys), the engines (one builder per
    key, receivers and rounds of host-to-host copies), the balancers' backends, the roll's batches and every
    endpoint.
  - Roles read C(trtllm_fleet_plan) and their own host's variables only; this is the one reader of other hosts.
    Every host computes the same plan from the same facts, so it runs on every host, never C(run_once).
  - The schema of the host fact and of the plan is in C(docs/architecture.md) ("The host fact", "The plan").
author:
  - trtllm-deploy maintainers (@trtllm-deploy)
options:
  publish:
    description:
      - Parts of this host's C(trtllm_host) fact to set (replacing those parts, keeping the others). Keys are those
        of the schema (C(gpus), C(endpoint), C(cluster), C(engine)).
      - With O(publish), the task only publishes and makes no plan, since a plan made in the same task would see
        the other hosts' parts of that task or not, depending on which host ran first. Plan in the next task.
    type: dict
    default: {}
  serial:
    description: The deploy roll's C(serial) (a number, a percentage or a list of them); the plan's C(batches).
    type: raw
attributes:
  check_mode:
    support: full
    description: Reads facts only, changes nothing.
  diff_mode:
    support: none
    description: Sets facts only.
  action:
    support: full
    description: Runs on the controller; the host is not contacted.
  facts:
    support: full
    description: Sets C(trtllm_host) or C(trtllm_fleet_plan).
"""

EXAMPLES = r"""
- name: Publish this host's endpoint
  trtllm.deploy.fleet_plan:
    publish:
      endpoint: {address: 10.0.0.5, http_port: 8000, grpc_port: 8001, metrics_port: 8002}

- name: Plan the fleet with every host's endpoint
  trtllm.deploy.fleet_plan:

- name: The cluster's rank 0
  ansible.builtin.debug:
    msg: "{{ trtllm_fleet_plan.clusters[trtllm_cluster].leader }}"
"""

RETURN = r"""
ansible_facts:
  description: With O(publish), C(trtllm_host) (this host's fact with those parts); otherwise C(trtllm_fleet_plan).
  returned: always
  type: dict
"""
