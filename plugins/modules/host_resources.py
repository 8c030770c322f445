#!/usr/bin/python
# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: host_resources
short_description: Read the free disk space and busy TCP ports a deployment needs, changing nothing
version_added: 0.3.0
description:
  - For each path, the free space of the file system it is on, or would be created on when it does not
    exist yet (its closest existing ancestor), and that file system's device number, so that paths on one
    file system can be added up.
  - For each port, whether a process listens on it (IPv4 or IPv6, any address), and which process when
    the module can see it (root sees all).
  - Whether a Docker container of a given name is running, so that ports held by the deployment's own
    server are told apart from ports held by something else.
  - The read-only preflight (role C(trtllm), C(tasks/preflight.yml)) turns these numbers into refusals
    before any host changes.
author:
  - trtllm-deploy maintainers (@trtllm-deploy)
options:
  paths:
    description: Host paths to measure; they need not exist.
    type: list
    elements: path
    default: []
  ports:
    description: TCP ports to look for listeners on.
    type: list
    elements: int
    default: []
  reach:
    description:
      - Hosts this host must reach over TCP on O(reach_port) (the other hosts of a multi-node instance), by name,
        each with its address.
      - Each is reported in RV(reach); a refused connection counts as reached (the host answered).
    type: dict
    default: {}
  reach_port:
    description: The TCP port of O(reach).
    type: int
    default: 22
  reach_timeout:
    description: Seconds to wait for each address of O(reach).
    type: int
    default: 5
  container:
    description:
      - Name of a Docker container whose state is reported in RV(container_running).
      - Left out, or no C(docker) command on the host, RV(container_running) is false.
    type: str
  docker_runtimes:
    description:
      - Ask the Docker engine for its runtimes (RV(docker_runtimes)), as C(docker info) lists them; fails when the
        engine does not answer (for a caller that retries while it restarts).
    type: bool
    default: false
extends_documentation_fragment:
  - trtllm.deploy.read_only
"""

EXAMPLES = r"""
- name: Measure the models' file system and Triton's ports
  trtllm.deploy.host_resources:
    paths: [/opt/models/ckpt, /opt/models/engine]
    ports: [8000, 8001, 8002]
    container: triton-llama3
  register: resources

- name: Refuse a port something else holds
  ansible.builtin.assert:
    that: resources.container_running or resources.ports_in_use | length == 0
    fail_msg: "busy: {{ resources.ports_in_use }}"
"""

RETURN = r"""
docker_runtimes:
  description: The Docker engine's runtimes by name (with O(docker_runtimes)).
  returned: when O(docker_runtimes) is set
  type: dict
  sample: {runc: {path: runc}, nvidia: {path: nvidia-container-runtime}}
disk:
  description: One entry per path, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The path asked about.
      type: str
    exists:
      description: Whether the path itself exists.
      type: bool
    checked:
      description: The path measured (the path, or its closest existing ancestor).
      type: str
    device:
      description: Device number of the file system (equal numbers, one file system).
      type: int
    free_bytes:
      description: Bytes an unprivileged writer may still use on that file system.
      type: int
  sample:
    - {path: /opt/models/engine, exists: false, checked: /opt, device: 2049, free_bytes: 512110190592}
ports_in_use:
  description: The asked ports something listens on.
  returned: always
  type: list
  elements: dict
  sample:
    - {port: 8000, pid: 912, process: nginx}
container_running:
  description: Whether the container named in O(container) runs.
  returned: always
  type: bool
reach:
  description: One entry per host of O(reach), sorted by name.
  returned: always
  type: list
  elements: dict
  sample: [{name: gpu-2, address: 10.0.0.2, port: 2233, state: refused, error: null}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.trtllm.deploy.plugins.module_utils.docker_cli import DockerCLI
from ansible_collections.trtllm.deploy.plugins.module_utils.host_resources import disk, ports_in_use, reach


def container_running(module: AnsibleModule, name: str | None) -> bool:
    found = DockerCLI(module).inspect_container(name) if name else None
    return bool(found and found.get("State", {}).get("Running"))


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "paths": {"type": "list", "elements": "path", "default": []},
            "ports": {"type": "list", "elements": "int", "default": []},
            "reach": {"type": "dict", "default": {}},
            "reach_port": {"type": "int", "default": 22},
            "reach_timeout": {"type": "int", "default": 5},
            "container": {"type": "str"},
            "docker_runtimes": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    for port in module.params["ports"]:
        if not 1 <= port <= 65535:
            module.fail_json(msg=f"ports: {port} is not a TCP port (1-65535)")
    extra = {}
    if module.params["docker_runtimes"]:
        runtimes = DockerCLI(module).runtimes()
        if runtimes is None:
            module.fail_json(msg="the Docker engine did not answer docker info")
        extra["docker_runtimes"] = runtimes
    module.exit_json(
        changed=False,
        **extra,
        disk=[disk(path) for path in module.params["paths"]],
        ports_in_use=ports_in_use(module.params["ports"]),
        container_running=container_running(module, module.params["container"]),
        reach=[dict(reach(str(address), module.params["reach_port"], module.params["reach_timeout"]), name=name)
               for name, address in sorted(module.params["reach"].items())],
    )


if __name__ == "__main__":
    main()
