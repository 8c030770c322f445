# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action fleet_plan: publish this host's part of trtllm_host and compute the fleet's plan (documentation in
plugins/modules/fleet_plan.py, logic in module_utils/fleet_plan.py)."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.trtllm.deploy.plugins.module_utils import fleet_plan


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec={
            "publish": {"type": "dict", "default": {}},
            "serial": {"type": "raw"},
        })
        unknown = sorted(set(args["publish"]) - set(fleet_plan.HOST_FACT))
        if unknown:
            raise AnsibleActionFail(f"publish: {', '.join(unknown)} is not a part of trtllm_host "
                                    f"(its parts: {', '.join(fleet_plan.HOST_FACT)})")
        me = task_vars["inventory_hostname"]
        hostvars = task_vars["hostvars"]
        own = dict(task_vars.get("trtllm_host") or {})
        if args["publish"]:
            # Only publish: a plan made in the same task would see the other hosts' parts of this task or not,
            # depending on which host's worker ran first.
            own.update(args["publish"])
            result.update(changed=False, ansible_facts={"trtllm_host": own})
            return result

        groups = {name: list(members) for name, members in task_vars["groups"].items()}
        wanted = set(groups.get(fleet_plan.GPU_GROUP, [])) | set(groups.get(fleet_plan.BALANCER_GROUP, []))
        hosts = {}
        for host in wanted | {me}:
            values = hostvars[host]
            hosts[host] = {
                "fact": own if host == me else (values.get("trtllm_host") or {}),
                "inventory": {name: values.get(name) for name in fleet_plan.INVENTORY_INPUTS},
            }
        try:
            # This batch of a rolling play (all of its hosts otherwise): a cluster member in another batch is
            # absent, so the cluster is refused before its containers change.
            plan = fleet_plan.make_plan(hosts, groups, list(task_vars.get("ansible_play_batch") or [me]),
                                        serial=args["serial"],
                                        play_hosts=list(task_vars.get("ansible_play_hosts_all") or [me]))
        except fleet_plan.PlanError as error:
            raise AnsibleActionFail(str(error)) from None
        result.update(changed=False, ansible_facts={"trtllm_fleet_plan": plan})
        return result
