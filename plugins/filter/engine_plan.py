# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter engine_plan: which host builds each engine key, which hosts receive a copy."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.trtllm.deploy.plugins.module_utils.transfer import plan_rounds

DOCUMENTATION = r"""
name: engine_plan
short_description: One builder per engine build key, copies for the other hosts
version_added: 0.1.0
author:
  - trtllm-deploy maintainers (@trtllm-deploy)
description:
  - Groups hosts by the build key of M(trtllm.deploy.artifact_key). For each key, a host whose engine is
    already current is the source; otherwise one host of the key builds, the first (in play order) that is
    not serving, else the first. A serving builder must stop its server for the build (conversion and
    C(trtllm-build) need the GPU memory the server holds); a receiver keeps serving until its deploy batch.
    Every other host of the key whose engine is not current receives a copy from the source.
  - Copies go host to host in rounds (C(module_utils/transfer.plan_rounds)); in each, every host that holds the
    whole engine sends it to one host that needs it, so a key reaches N hosts in about log2(N + 1) rounds. A
    cluster member (C(engine_build_held)) receives only the files it holds and sends to no one.
  - Every host computes the same plan from the same facts, so no host needs to wait for another to decide.
options:
  _input:
    description: Hosts in play order (C(ansible_play_hosts)).
    type: list
    elements: str
    required: true
  hostvars:
    description:
      - C(hostvars); each host needs C(engine_build_key), the registered result of M(trtllm.deploy.artifact_key),
        and may have C(engine_build_serving) (true when its server container runs), C(engine_build_forced)
        (true to build its key again, once, even where an engine is current; the others get copies) and
        C(engine_build_held) (the engine's files it holds when not all of them).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Plan the builds
  ansible.builtin.set_fact:
    engine_build_plan: "{{ ansible_play_hosts | trtllm.deploy.engine_plan(hostvars) }}"
"""

RETURN = r"""
_value:
  description: >-
    C(hosts): host -> {action (keep, build or receive), key, source, round, peer, files}: a receiver gets its copy in
    round C(round) (from 1) from C(peer), C(files) of it (null: all); C(transfers): [{key, source, receivers,
    files}]; C(rounds): [[{key, source, receiver, files}]]; C(builders): key -> host that builds it.
  type: dict
"""


def engine_plan(hosts: list, hostvars) -> dict:
    by_key: dict[str, list[tuple[str, bool]]] = {}
    serving, forced = set(), set()
    for host in hosts:
        try:
            fact = hostvars[host]["engine_build_key"]
        except KeyError:
            raise AnsibleFilterError(
                f"{host} has no engine_build_key: run trtllm.deploy.artifact_key (kind engine) there first") from None
        if _truthy(hostvars[host].get("engine_build_forced", False)):
            forced.add(fact["key"])
        by_key.setdefault(fact["key"], []).append((host, bool(fact["current"])))
        if _truthy(hostvars[host].get("engine_build_serving", False)):
            serving.add(host)

    plan = {"hosts": {}, "transfers": [], "builders": {}}
    held = {host: list(hostvars[host].get("engine_build_held") or []) for host in hosts}
    for key, members in by_key.items():
        if key in forced:  # engine_build_force: this key is built again, once, and copied as usual
            members = [(host, False) for host, _ in members]
        needy = [host for host, ok in members if not ok]
        # A source must hold the whole engine: a cluster member that holds only its ranks serves no one.
        whole = [host for host, ok in members if ok and not held[host]]
        idle = [host for host, _ in members if host not in serving]
        source = whole[0] if whole else (idle or [members[0][0]])[0]
        build = bool(needy) and not whole
        if build:
            plan["builders"][key] = source
        receivers = [host for host in needy if host != source]
        for host, ok in members:
            action = "build" if build and host == source else "keep" if ok else "receive"
            plan["hosts"][host] = {"action": action, "key": key, "source": source, "round": None, "peer": None,
                                   "files": None}
        if receivers:
            plan["transfers"].append({"key": key, "source": source, "receivers": receivers,
                                      "files": {host: held[host] for host in receivers if held[host]}})
    plan["rounds"] = plan_rounds(plan["transfers"])
    for number, copies in enumerate(plan["rounds"], start=1):
        for copy in copies:
            plan["hosts"][copy["receiver"]].update(round=number, peer=copy["source"], files=copy["files"])
    return plan


def _truthy(value) -> bool:
    return value is True or str(value).strip().lower() in ("true", "yes", "1")


class FilterModule:
    def filters(self):
        return {"engine_plan": engine_plan}
