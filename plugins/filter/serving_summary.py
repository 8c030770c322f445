# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters serving_summary and serving_gate: AIPerf's export, summarized, and the acceptance gate over it."""

from __future__ import annotations

import json

from ansible.errors import AnsibleFilterError

from ansible_collections.trtllm.deploy.plugins.module_utils import serving_gate as sg

DOCUMENTATION = r"""
name: serving_summary
short_description: The summary of an AIPerf profile export (latencies in ms, throughputs per second, errors)
version_added: 0.4.0
author:
  - trtllm-deploy maintainers (@trtllm-deploy)
description:
  - Reads AIPerf's C(profile_export_aiperf.json) (a path on the controller, or the parsed dict) and returns
    C(ttft_p50_ms), C(ttft_p99_ms), C(itl_p50_ms), C(itl_p99_ms), C(latency_p50_ms), C(latency_p99_ms),
    C(output_tokens_per_s), C(requests_per_s), C(requests), C(errors) and C(complete).
  - The collection also has C(serving_gate) (summary, thresholds, previous, regression_limit), the list of
    problems of a run against the acceptance gate, each with its numbers.
options:
  _input:
    description: Path of the export on the controller, or the export as a dict.
    type: raw
    required: true
"""

EXAMPLES = r"""
summary: "{{ '/tmp/bench/c4/profile_export_aiperf.json' | trtllm.deploy.serving_summary }}"
problems: "{{ summary | trtllm.deploy.serving_gate({'ttft_p99_ms_max': 500, 'errors_max': 0}) }}"
"""

RETURN = r"""
_value:
  description: The summary.
  type: dict
"""


def serving_summary(export):
    try:
        if isinstance(export, str):
            with open(export) as handle:
                export = json.load(handle)
        return sg.summarize(export)
    except (OSError, ValueError) as err:
        raise AnsibleFilterError(f"serving_summary: {err}") from None


def serving_gate(summary, thresholds=None, previous=None, regression_limit=None):
    try:
        return sg.gate(dict(summary), dict(thresholds or {}), dict(previous) if previous else None,
                       None if regression_limit in (None, "") else float(regression_limit))
    except ValueError as err:
        raise AnsibleFilterError(f"serving_gate: {err}") from None


class FilterModule:
    def filters(self):
        return {"serving_summary": serving_summary, "serving_gate": serving_gate}
