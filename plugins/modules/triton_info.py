#!/usr/bin/python
# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: triton_info
short_description: What a Triton server serves, its readiness, repository index and optionally one answer
version_added: 0.3.0
description:
  - Asks Triton's HTTP endpoint O(url) whether it is ready (C(GET /v2/health/ready)) and for its repository
    index (C(POST /v2/repository/index)), and with O(body) sends one generate request to O(model).
  - Never fails because of the server; a server that is down, not ready or refusing the request is
    what this reports (RV(errors) says why for each request). When the server does not answer the readiness
    request at all (nothing listens, or it times out), the other requests are not sent.
author:
  - trtllm-deploy maintainers (@trtllm-deploy)
options:
  url:
    description: Base URL of Triton's HTTP endpoint, as seen from the host.
    type: str
    default: http://127.0.0.1:8000
  model:
    description: The model that gets the generate request (a name, or C(<name>/versions/<n>)).
    type: str
    default: ensemble
  body:
    description: The generate request, sent as JSON; none is sent when this is not given.
    type: dict
  timeout:
    description: Seconds each request may wait to connect and for each read.
    type: int
    default: 30
extends_documentation_fragment:
  - trtllm.deploy.read_only
  - trtllm.deploy.read_only.triton_http
"""

EXAMPLES = r"""
- name: Read what the node serves and whether it answers
  trtllm.deploy.triton_info:
    url: http://127.0.0.1:8000
    # Llama 3's ids (its generation_config.json); the workflow's 2 is Llama 2's.
    body: {text_input: "What is machine learning?", max_tokens: 8, bad_words: "",
           stop_words: ["<|end_of_text|>"], pad_id: 128009, end_id: 128009}
  register: served

- name: Show the models that are READY
  ansible.builtin.debug:
    msg: "{{ served.models | selectattr('state', 'eq', 'READY') | map(attribute='name') | list }}"
"""

RETURN = r"""
ready:
  description: Whether C(/v2/health/ready) answered 200.
  returned: always
  type: bool
models:
  description: The repository index as Triton sent it (empty when it could not be read).
  returned: always
  type: list
  elements: dict
  sample: [{name: ensemble, version: "1", state: READY}, {name: tensorrt_llm, version: "1", state: READY}]
generate_url:
  description: Where the generate request went.
  returned: when O(body) is given and the server answered the readiness request
  type: str
  sample: http://127.0.0.1:8000/v2/models/ensemble/generate
answer:
  description: The generate request's answer as Triton sent it; null when there was none.
  returned: always
  type: dict
text_output:
  description: The answer's C(text_output); empty when there was none.
  returned: always
  type: str
seconds:
  description: Wall time of the generate request.
  returned: when the generate request was answered
  type: float
errors:
  description:
    - Request (C(ready), C(index), C(generate)) to why it failed (method, URL, HTTP status and Triton's error,
      or the socket error).
  returned: always
  type: dict
  sample: {ready: "GET http://127.0.0.1:8000/v2/health/ready failed: [Errno 111] Connection refused"}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.trtllm.deploy.plugins.module_utils import triton_http as th


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "url": {"type": "str", "default": "http://127.0.0.1:8000"},
            "model": {"type": "str", "default": "ensemble"},
            "body": {"type": "dict"},
            "timeout": {"type": "int", "default": 30},
        },
        supports_check_mode=True,
    )
    p = module.params
    module.exit_json(changed=False, **info(p["url"], p["model"], p["body"], p["timeout"]))


def info(base: str, model: str, body: dict | None, timeout: int) -> dict:
    result = {"ready": False, "models": [], "answer": None, "text_output": "", "errors": {}}
    try:
        result["ready"] = th.health_ready(base, timeout)[0]
    except th.TritonHTTPError as err:  # nothing listens, or it hangs: the other requests would fail the same way
        result["errors"]["ready"] = str(err)
        return result
    try:
        result["models"] = th.repository_index(base, timeout)[0]
    except th.TritonHTTPError as err:
        result["errors"]["index"] = str(err)
    if body is not None:
        result["generate_url"] = th.model_url(base, model)
        try:
            answer, seconds = th.generate(result["generate_url"], body, timeout)
        except th.TritonHTTPError as err:
            result["errors"]["generate"] = str(err)
        else:
            text = answer.get("text_output", "")
            result.update(answer=answer, text_output=text if isinstance(text, str) else "", seconds=round(seconds, 3))
    return result


if __name__ == "__main__":
    main()
