#!/usr/bin/python
# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: triton_generate
short_description: Send generate requests to a Triton model, one alone, several at once and a streamed one, timed
version_added: 0.3.0
description:
  - Sends O(body) to a model's C(generate) endpoint O(url) once and times it, then O(concurrency) times at
    once (a thread each) and times every request, then, with O(stream), once to the model's
    C(generate_stream) endpoint, collecting the server-sent events.
  - Fails when the first request fails (an HTTP status other than 200, an answer that is not JSON, a socket
    error or timeout), with a message naming the URL and Triton's error text; nothing more is sent then.
  - The concurrent and streamed requests' failures do not fail the module; they are returned
    (RV(concurrent), RV(stream_error)) for the caller to judge.
author:
  - trtllm-deploy maintainers (@trtllm-deploy)
options:
  url:
    description:
      - The model's C(generate) endpoint, C(<base>/v2/models/<model>/generate).
      - The stream goes to the same URL with C(_stream) appended, Triton's C(generate_stream) endpoint.
    type: str
    default: http://127.0.0.1:8000/v2/models/ensemble/generate
  body:
    description: The request, sent as JSON (for the TensorRT-LLM models C(text_input), C(max_tokens) and the rest).
    type: dict
    required: true
  concurrency:
    description: Requests sent at the same time after the first one; V(0) sends none.
    type: int
    default: 0
  stream:
    description: Also send O(body) with C(stream) set to true to C(generate_stream) (the models must be decoupled).
    type: bool
    default: false
  timeout:
    description:
      - Seconds each request may wait to connect and for each read; a stream may take longer in all while
        its events keep coming.
    type: int
    default: 120
attributes:
  check_mode:
    support: full
    description: Inference changes nothing on the server, so the requests are sent in check mode too.
notes:
  - O(timeout) is a socket timeout, as in M(ansible.builtin.uri), not a deadline for a whole request.
extends_documentation_fragment:
  - trtllm.deploy.read_only
  - trtllm.deploy.read_only.triton_http
"""

EXAMPLES = r"""
- name: The workflow's request, then 20 at once and a streamed one
  trtllm.deploy.triton_generate:
    url: http://127.0.0.1:8000/v2/models/ensemble/generate
    # Llama 3's ids (its generation_config.json); the workflow's 2 is Llama 2's.
    body: {text_input: "What is machine learning?", max_tokens: 20, bad_words: "",
           stop_words: ["<|end_of_text|>"], pad_id: 128009, end_id: 128009}
    concurrency: 20
    stream: true
  register: smoke

- name: Check every concurrent answer has text
  ansible.builtin.assert:
    that: smoke.concurrent | map(attribute='text_output') | map('trim') | select | list | length == 20
    fail_msg: "{{ smoke.concurrent_errors }}"

- name: Ask the BLS model once
  trtllm.deploy.triton_generate:
    url: http://127.0.0.1:8000/v2/models/tensorrt_llm_bls/generate
    body: {text_input: "What is machine learning?", max_tokens: 8}
    timeout: 30
"""

RETURN = r"""
url:
  description: The generate endpoint the requests went to.
  returned: always
  type: str
  sample: http://127.0.0.1:8000/v2/models/ensemble/generate
answer:
  description: The first request's answer as Triton sent it.
  returned: success
  type: dict
  sample: {model_name: ensemble, model_version: "1", text_output: "What is machine learning? ..."}
text_output:
  description: The first answer's C(text_output) (empty when it has none).
  returned: success
  type: str
seconds:
  description: Wall time of the first request, from connecting to the last byte, in seconds.
  returned: success
  type: float
  sample: 0.042
concurrent:
  description: One entry per concurrent request, in the order sent.
  returned: success
  type: list
  elements: dict
  contains:
    seconds:
      description: Wall time of the request.
      type: float
    text_output:
      description: The answer's C(text_output); empty on failure.
      type: str
    error:
      description:
        - Why the request failed (method, URL, HTTP status and Triton's error, or the socket error); null on
          success.
      type: str
concurrent_seconds:
  description: The concurrent requests' wall times, in the order sent.
  returned: success
  type: list
  elements: float
concurrent_max_seconds:
  description: The longest concurrent request (0 when none was sent).
  returned: success
  type: float
concurrent_errors:
  description: The distinct errors of the concurrent requests.
  returned: success
  type: list
  elements: str
stream_events:
  description: The C(data) of each server-sent event, parsed, in order; an error event is one of them.
  returned: success and O(stream)
  type: list
  elements: dict
  sample: [{model_name: ensemble, text_output: " Machine"}, {model_name: ensemble, text_output: " learning"}]
stream_seconds:
  description: Wall time of the streamed request, to its last event.
  returned: success and O(stream)
  type: float
stream_error:
  description: Why the stream failed (the request's error, or the first error event's text); null when it did not.
  returned: success and O(stream)
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.trtllm.deploy.plugins.module_utils import triton_http as th


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "url": {"type": "str", "default": "http://127.0.0.1:8000/v2/models/ensemble/generate"},
            "body": {"type": "dict", "required": True},
            "concurrency": {"type": "int", "default": 0},
            "stream": {"type": "bool", "default": False},
            "timeout": {"type": "int", "default": 120},
        },
        supports_check_mode=True,
    )
    p = module.params
    if p["stream"] and not p["url"].rstrip("/").endswith("/generate"):
        module.fail_json(msg=f"stream needs url to be a model's generate endpoint (.../v2/models/<model>/generate) "
                             f"to find its generate_stream beside it, got {p['url']}", url=p["url"])
    try:
        result = smoke(p["url"].rstrip("/"), p["body"], p["concurrency"], p["stream"], p["timeout"])
    except th.TritonHTTPError as err:
        module.fail_json(msg=f"No answer to the generate request: {err}", url=p["url"], status=err.status)
    module.exit_json(changed=False, url=p["url"], **result)


def smoke(url: str, body: dict, concurrency: int, stream: bool, timeout: int) -> dict:
    """The first request (its failure raises), then the concurrent ones, then the stream."""
    answer, seconds = th.generate(url, body, timeout)
    text = answer.get("text_output", "")
    burst = th.generate_many(url, body, concurrency, timeout)
    times = [round(entry["seconds"], 3) for entry in burst]
    result = {
        "answer": answer, "text_output": text if isinstance(text, str) else "", "seconds": round(seconds, 3),
        "concurrent": [dict(entry, seconds=round(entry["seconds"], 3)) for entry in burst],
        "concurrent_seconds": times, "concurrent_max_seconds": max(times, default=0.0),
        "concurrent_errors": sorted({entry["error"] for entry in burst if entry["error"]}),
    }
    if stream:
        result.update(streamed(url + "_stream", body, timeout))
    return result


def streamed(url: str, body: dict, timeout: int) -> dict:
    try:
        events, seconds = th.generate_stream(url, dict(body, stream=True), timeout)
    except th.TritonHTTPError as err:
        return {"stream_events": [], "stream_seconds": None, "stream_error": str(err)}
    errors = [event["error"] for event in events if isinstance(event, dict) and event.get("error")]
    return {"stream_events": events, "stream_seconds": round(seconds, 3),
            "stream_error": f"POST {url} sent an error event: {errors[0]}" if errors else None}


if __name__ == "__main__":
    main()
