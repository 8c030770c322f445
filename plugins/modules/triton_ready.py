#!/usr/bin/python
# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: triton_ready
short_description: Wait until the Triton server of a container is ready, or say from its log why not
version_added: 0.2.0
description:
  - Polls C(/v2/health/ready) until it answers 200, then reads C(/v2/repository/index) and checks that every
    model in O(models) is READY.
  - Watches the server's container meanwhile (C(docker inspect)). When the server exits, also when Docker has
    already restarted it, the wait ends at once instead of at O(timeout).
  - On failure the message quotes the error lines of the container's log (C(docker logs)), where the
    TensorRT-LLM runtime's own messages are.
  - The HTTP client is the collection's C(module_utils/triton_http), shared with
    M(trtllm.deploy.triton_generate) and M(trtllm.deploy.triton_info).
author:
  - trtllm-deploy maintainers (@trtllm-deploy)
extends_documentation_fragment:
  - trtllm.deploy.read_only
  - trtllm.deploy.read_only.triton_http
options:
  container:
    description: Name of the server's container.
    type: str
    required: true
  url:
    description: Base URL of Triton's HTTP endpoint, as seen from the host.
    type: str
    default: http://127.0.0.1:8000
  models:
    description: Models that must be READY.
    type: list
    elements: str
    default: []
  timeout:
    description: Seconds to wait for readiness.
    type: int
    default: 600
  log_lines:
    description: Lines of the container's log to read on failure.
    type: int
    default: 200
"""

EXAMPLES = r"""
- name: Wait for the five models
  trtllm.deploy.triton_ready:
    container: triton_server
    url: http://127.0.0.1:8000
    models: [ensemble, preprocessing, postprocessing, tensorrt_llm, tensorrt_llm_bls]
    timeout: 600
"""

RETURN = r"""
seconds:
  description: How long the server took to become ready.
  returned: success
  type: float
models:
  description: Every model of the repository index with its state.
  returned: when the server answered
  type: dict
  sample: {ensemble: READY, tensorrt_llm: READY}
container:
  description: The container's state (status, running, exit_code, started_at, restart_count, id).
  returned: always
  type: dict
errors:
  description: Error lines of the container's log.
  returned: failure
  type: list
  elements: str
log_tail:
  description: The last lines of the container's log.
  returned: failure
  type: str
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.trtllm.deploy.plugins.module_utils import triton_http as th
from ansible_collections.trtllm.deploy.plugins.module_utils import triton_ready as tr
from ansible_collections.trtllm.deploy.plugins.module_utils.docker_cli import DockerCLI


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "container": {"type": "str", "required": True},
            "url": {"type": "str", "default": "http://127.0.0.1:8000"},
            "models": {"type": "list", "elements": "str", "default": []},
            "timeout": {"type": "int", "default": 600},
            "log_lines": {"type": "int", "default": 200},
        },
        supports_check_mode=True,
    )
    p = module.params
    docker = DockerCLI(module)
    docker.require()
    base = p["url"].rstrip("/")

    def inspect() -> dict | None:
        found = docker.inspect_container(p["container"])
        return tr.container_state(found) if found else None

    def fail(why: str, state: dict | None) -> None:
        # The server writes to its stderr (Triton's log) and stdout.
        log = docker.logs(p["container"], p["log_lines"])
        errors = tr.error_lines(log)
        tail = "\n".join(log.splitlines()[-40:])
        detail = "; ".join(errors) if errors else f"no error lines; log tail: {tail}"
        module.fail_json(msg=f"Triton in container {p['container']} {why}. From its log: {detail}",
                         errors=errors, log_tail=tail, container=state or {})

    before = inspect()
    if before is None:
        module.fail_json(msg=f"container {p['container']} does not exist: nothing serves", container={})
    started = time.monotonic()
    deadline = started + p["timeout"]
    while True:
        now = inspect()
        why = "is gone" if now is None else tr.died(before, now)
        if why:
            fail(f"{why} before it was ready", now)
        try:
            if th.health_ready(base, timeout=5)[0]:  # False while it answers 503 as models load
                break
        except th.TritonHTTPError:  # not listening yet
            pass
        if time.monotonic() > deadline:
            fail(f"was not ready after {p['timeout']}s", now)
        time.sleep(1)
    seconds = round(time.monotonic() - started, 1)
    try:
        index = th.repository_index(base, timeout=30)[0]
    except th.TritonHTTPError as err:  # it died right after ready, or answered something else
        fail(f"was ready but its repository index could not be read ({err})", inspect())
    models = {entry.get("name"): entry.get("state", "UNKNOWN") for entry in index}
    missing = tr.not_ready(index, p["models"])
    if missing:
        fail(f"is ready but these models are not READY: {missing}", now)
    module.exit_json(changed=False, seconds=seconds, models=models, container=now)


if __name__ == "__main__":
    main()
