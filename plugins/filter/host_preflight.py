# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter host_preflight: the disk and port problems in a host_resources result, before anything changes."""

from __future__ import annotations

DOCUMENTATION = r"""
name: host_preflight
short_description: Disk space and port problems in a host_resources result
version_added: 0.3.0
author:
  - trtllm-deploy maintainers (@trtllm-deploy)
description:
  - Returns a list of messages, empty when the host has room and its ports are free.
  - Disk. Each measured path that does not exist yet is an artifact still to be written, of about
    O(artifact_bytes) (one size for all, or one per path). Paths on one file system are added up against its
    free space.
  - Ports. A port something listens on is a problem unless the deployment's own container runs (then the
    listener is its server, which the deploy replaces).
options:
  _input:
    description: The registered result of M(trtllm.deploy.host_resources).
    type: dict
    required: true
  artifact_bytes:
    description: Bytes an artifact to be written takes (the weights at the serving dtype), or a list with one
      size per measured path.
    type: raw
    required: true
  names:
    description: What each measured path is, in the order of the module's C(paths), for the message.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Refuse a host without room or with a busy port
  ansible.builtin.assert:
    that: problems | length == 0
    fail_msg: "{{ problems | join('; ') }}"
  vars:
    problems: >-
      {{ resources | trtllm.deploy.host_preflight(artifact_bytes=16060000000, names=['checkpoint', 'engine']) }}
"""

RETURN = r"""
_value:
  description: Messages naming each problem with its numbers; empty when there is none.
  type: list
  elements: str
"""

GIB = 1024**3


def host_preflight(resources: dict, artifact_bytes, names: list | None = None) -> list[str]:
    problems = []
    names = list(names or [])
    entries = resources.get("disk") or []
    sizes = ([int(b) for b in artifact_bytes] if isinstance(artifact_bytes, (list, tuple))
             else [int(artifact_bytes)] * len(entries))
    needed: dict[int, dict] = {}
    for index, entry in enumerate(entries):
        if entry["exists"]:
            continue
        device = needed.setdefault(entry["device"],
                                   {"free": entry["free_bytes"], "checked": entry["checked"], "what": []})
        what = names[index] if index < len(names) else entry["path"]
        device["what"].append((what, sizes[index]))
    for device in needed.values():
        need = sum(size for _, size in device["what"])
        if need > device["free"]:
            parts = ", ".join(f"the {what} {size / GIB:.1f}" for what, size in device["what"])
            problems.append(f"{device['checked']} has {device['free'] / GIB:.1f} GiB free; what is to be written "
                            f"there needs about {need / GIB:.1f} GiB ({parts} GiB)")
    if not resources.get("container_running"):
        for busy in resources.get("ports_in_use") or []:
            who = f" by {busy['process']} (pid {busy['pid']})" if busy.get("pid") else ""
            problems.append(f"port {busy['port']} is already in use{who}: Triton could not listen on it "
                            "(stop that process or choose other trtllm_*_port values)")
    return problems


class FilterModule:
    def filters(self):
        return {"host_preflight": host_preflight}
