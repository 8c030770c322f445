# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter triton_server_command: the serving container's command."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.trtllm.deploy.plugins.module_utils import triton_launch

DOCUMENTATION = r"""
name: triton_server_command
short_description: The serving container's command, r24.04's launch_triton_server.py command in the foreground
version_added: 0.2.0
author:
  - trtllm-deploy maintainers (@trtllm-deploy)
description:
  - One C(mpirun) with a C(tritonserver) per rank, the flags of tensorrtllm_backend r24.04's
    C(scripts/launch_triton_server.py) (ranks above 0 load only the TensorRT-LLM model), without its
    C(--log) (verbose logging); the container runs it as its main process, so Docker supervises it.
options:
  _input:
    description: World size (tp_size x pp_size), one rank per GPU.
    type: int
    required: true
  model_repo:
    description: The model repository inside the container.
    type: str
    required: true
  http_port:
    description: HTTP port of rank 0.
    type: int
    required: true
  grpc_port:
    description: gRPC port.
    type: int
    required: true
  metrics_port:
    description: Metrics port.
    type: int
    required: true
  tensorrt_llm_model_names:
    description: The TensorRT-LLM model(s) that ranks above 0 load.
    type: list
    elements: str
    default: [tensorrt_llm]
"""

EXAMPLES = r"""
command: "{{ 2 | trtllm.deploy.triton_server_command(model_repo='/tensorrtllm_backend/triton_model_repo',
           http_port=8000, grpc_port=8001, metrics_port=8002) }}"
"""

RETURN = r"""
_value:
  description: The argv list.
  type: list
  elements: str
"""


def triton_server_command(world_size, model_repo, http_port, grpc_port, metrics_port, tensorrt_llm_model_names=None,
                          cluster=None):
    try:
        return triton_launch.server_command(int(world_size), str(model_repo), int(http_port), int(grpc_port),
                                            int(metrics_port), tensorrt_llm_model_names,
                                            cluster=dict(cluster) if cluster else None)
    except (TypeError, ValueError) as err:
        raise AnsibleFilterError(f"triton_server_command: {err}") from None


class FilterModule:
    def filters(self):
        return {"triton_server_command": triton_server_command}
