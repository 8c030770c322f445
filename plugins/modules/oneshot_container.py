#!/usr/bin/python
# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: oneshot_container
short_description: Run a command once in a container of the serving image, removed when it ends
version_added: 0.5.0
description:
  - The one way the collection runs a command in a container that ends (the conversion, the Hub download, the
    toolchain probe, role nvidia_runtime's GPU probe; M(trtllm.deploy.trtllm_build) runs the build the same
    way), as C(docker run --rm) with the options of O(spec), the serving container's description
    (C(triton_container_spec) - network, shared memory, ulimits, runtime, GPUs, environment, mounts).
  - Owns the pull policy (O(pull)), the removal of a container of the same O(name) that a killed run left
    (it may still hold the GPUs; removed and the run tried again once), and the output on failure (the last
    O(log_lines) lines of the command's output in the message).
  - A secret reaches the container through the task's C(environment) and O(pass_env) (C(--env NAME) without a
    value), never through the command line.
author:
  - trtllm-deploy maintainers (@trtllm-deploy)
options:
  spec:
    description:
      - The container, as C(triton_container_spec) - C(image) (required), C(network_mode), C(shm_size),
        C(ulimits) (C(name:soft[:hard])), C(runtime), C(gpus) (C(all), a count, C(device=...); C(none) for no
        GPU), C(env), C(mounts) (container directory to host directory).
    type: dict
    required: true
  command:
    description: The command and its arguments (no shell).
    type: list
    elements: str
    required: true
  name:
    description: The container's name while it runs, so a killed run's container can be found and removed.
    type: str
  workdir:
    description: The command's working directory in the container.
    type: str
  pass_env:
    description: Names of variables of the task's environment the container gets (their values stay out of argv).
    type: list
    elements: str
    default: []
  pull:
    description:
      - V(never), the image must be on the host (role triton_container pulls the serving image with its
        credentials); V(missing), pulled when absent (a public probe image).
    type: str
    choices: [never, missing]
    default: never
  changes:
    description: Whether a run counts as a change (V(false) for a read such as a version probe).
    type: bool
    default: true
  failed_when_rc:
    description: Fail when the command exits non-zero; V(false) returns its exit status for the caller to judge.
    type: bool
    default: true
  log_lines:
    description: Lines of the command's output quoted in the failure message.
    type: int
    default: 30
attributes:
  check_mode:
    support: partial
    description: Runs nothing in check mode and says it would run.
    details: A read (a version probe) runs in check mode with the task keyword C(check_mode=false).
  diff_mode:
    support: none
    description: A run has no diff.
  idempotent:
    support: none
    description: A run is a run; the caller decides when one is needed (an artifact's key).
"""

EXAMPLES = r"""
- name: Read the TensorRT-LLM version of the image
  trtllm.deploy.oneshot_container:
    spec: "{{ triton_container_spec }}"
    command: [python3, -c, "import tensorrt_llm; print(tensorrt_llm.__version__)"]
    changes: false
  check_mode: false
  register: probe

- name: Download with the token in the environment only
  trtllm.deploy.oneshot_container:
    spec: "{{ triton_container_spec | combine({'gpus': 'none'}) }}"
    name: triton_server-fetch
    command: [python3, /work/download.py]
    pass_env: [HF_TOKEN]
  environment:
    HF_TOKEN: "{{ hf_token }}"
  no_log: true
"""

RETURN = r"""
rc:
  description: The command's exit status.
  returned: when it ran
  type: int
stdout:
  description: Its standard output.
  returned: when it ran
  type: str
stderr:
  description: Its standard error (and Docker's own errors).
  returned: when it ran
  type: str
argv:
  description: The docker command line (values of O(pass_env) are not in it).
  returned: always
  type: list
  elements: str
seconds:
  description: How long it ran.
  returned: when it ran
  type: float
removed_leftover:
  description: Whether a container of the same name that a killed run left was removed first.
  returned: when it ran
  type: bool
image_missing:
  description: Whether Docker refused the run because the image is not on the host (with O(pull=never)).
  returned: when it ran
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.trtllm.deploy.plugins.module_utils.docker_cli import DockerCLI, run_argv, tail


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "spec": {"type": "dict", "required": True},
            "command": {"type": "list", "elements": "str", "required": True},
            "name": {"type": "str"},
            "workdir": {"type": "str"},
            # Names of variables, not their values.
            "pass_env": {"type": "list", "elements": "str", "default": [], "no_log": False},
            "pull": {"type": "str", "choices": ["never", "missing"], "default": "never"},
            "changes": {"type": "bool", "default": True},
            "failed_when_rc": {"type": "bool", "default": True},
            "log_lines": {"type": "int", "default": 30},
        },
        supports_check_mode=True,
    )
    p = module.params
    try:
        argv = run_argv(p["spec"], p["command"], name=p["name"], workdir=p["workdir"], pass_env=p["pass_env"],
                        pull=p["pull"])
    except ValueError as err:
        module.fail_json(msg=f"spec: {err}")
    if module.check_mode:
        module.exit_json(changed=p["changes"], argv=argv, msg="check mode: not run")
    docker = DockerCLI(module)
    if not docker.path and not p["failed_when_rc"]:
        # As the command module answers for a missing executable: the caller judges (a probe on a bare host).
        module.exit_json(changed=False, failed=False, rc=127, stdout="", stderr="docker was not found on this host",
                         argv=argv, seconds=0.0, removed_leftover=False, image_missing=False)
    result = docker.oneshot(p["spec"], p["command"], name=p["name"], workdir=p["workdir"], pass_env=p["pass_env"],
                            pull=p["pull"])
    missing = result["image_missing"]
    if result["rc"] != 0 and p["failed_when_rc"]:
        if missing:
            why = (f"the image {p['spec']['image']} is not on this host (pull {p['pull']}): role triton_container "
                   "pulls the serving image (triton_container_pull) or it has to be loaded")
        else:
            why = f"it exited with {result['rc']}"
        output = tail(result["stdout"] + result["stderr"], p["log_lines"])
        module.fail_json(msg=f"The one-shot run {p['name'] or p['command'][0]} of {p['spec']['image']}: {why}. "
                         f"Last lines of its output:\n{output}", changed=True, **result)
    # failed=False: Ansible counts a result with a non-zero rc as failed unless it says otherwise.
    module.exit_json(changed=p["changes"], failed=False, **result)


if __name__ == "__main__":
    main()
