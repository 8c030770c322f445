#!/usr/bin/python
# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gpu_facts
short_description: Gather the NVIDIA GPUs of a host as facts
version_added: 0.1.0
description:
  - Runs C(nvidia-smi --query-gpu=index,uuid,name,memory.total,memory.free,driver_version,compute_cap
    --format=csv,noheader,nounits) and C(nvidia-smi -q -x) and sets the fact C(trtllm_gpus).
  - Fails with a message that says what to fix when C(nvidia-smi) is missing, the driver does not
    answer, or no GPU is found.
  - Changes nothing on the host.
author:
  - trtllm-deploy maintainers (@trtllm-deploy)
options:
  executable:
    description:
      - Path or name of C(nvidia-smi). A name is looked up on C(PATH).
    type: str
    default: nvidia-smi
  require_gpus:
    description:
      - Fail when the driver answers but lists no GPU.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Read-only; runs the same in check mode.
  diff_mode:
    support: none
    description: Changes nothing, so there is nothing to diff.
  facts:
    support: full
    description: Sets C(trtllm_gpus).
  idempotent:
    support: full
    description: Read-only.
extends_documentation_fragment: []
notes:
  - MIG mode and the CUDA version come from the XML report; drivers too old to print them leave them null.
"""

EXAMPLES = r"""
- name: Gather GPU facts
  trtllm.deploy.gpu_facts:

- name: Require an 80 GB class GPU
  ansible.builtin.assert:
    that: trtllm_gpus.memory_per_gpu_min_mib | int >= 80000
    fail_msg: "this model needs 80 GB GPUs, {{ inventory_hostname }} has {{ trtllm_gpus.names }}"

- name: Use an nvidia-smi outside PATH
  trtllm.deploy.gpu_facts:
    executable: /usr/local/nvidia/bin/nvidia-smi
"""

RETURN = r"""
ansible_facts:
  description: Facts set by the module.
  returned: success
  type: dict
  contains:
    trtllm_gpus:
      description: The host's GPUs and what deployments decide on.
      returned: success
      type: dict
      contains:
        count:
          description: Number of GPUs the driver lists.
          type: int
          sample: 8
        gpus:
          description: One entry per GPU.
          type: list
          elements: dict
          sample:
            - index: 0
              uuid: GPU-03cd9d4b-89b9-2683-728e-cb6cc0faf384
              name: NVIDIA H100 80GB HBM3
              memory_total_mib: 81559
              memory_free_mib: 81079
              driver_version: 580.159.04
              compute_capability: "9.0"
              sm: sm_90
              architecture: Hopper
              mig_mode: Disabled
        names:
          description: The distinct GPU model names.
          type: list
          elements: str
          sample: [NVIDIA H100 80GB HBM3]
        homogeneous:
          description: Whether every GPU is the same model.
          type: bool
          sample: true
        memory_total_mib:
          description: Memory of all GPUs together, in MiB.
          type: int
          sample: 652472
        memory_per_gpu_min_mib:
          description: Memory of the smallest GPU, in MiB.
          type: int
          sample: 81559
        driver_version:
          description: The kernel driver's version.
          type: str
          sample: 580.159.04
        cuda_version:
          description: Highest CUDA version the driver supports.
          type: str
          sample: "13.0"
        compute_capability:
          description: The lowest compute capability among the GPUs.
          type: str
          sample: "9.0"
        compute_capabilities:
          description: The distinct compute capabilities, lowest first.
          type: list
          elements: str
          sample: ["9.0"]
        architecture:
          description: Architecture name of GPU 0.
          type: str
          sample: Hopper
        mig_enabled:
          description: Whether any GPU runs in MIG mode.
          type: bool
          sample: false
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.trtllm.deploy.plugins.module_utils.executables import find_executable
from ansible_collections.trtllm.deploy.plugins.module_utils.gpu import (
    QUERY_ARGS,
    XML_ARGS,
    GpuQueryError,
    explain_failure,
    parse_query_csv,
    parse_smi_xml,
    summarize,
)


def gather(module: AnsibleModule) -> dict:
    executable = module.params["executable"]
    binary = find_executable(module, executable)
    if not binary:
        module.fail_json(
            msg=f"{executable} was not found (or is not executable): the NVIDIA driver is not installed on this host "
            "(install the driver package for the GPU, e.g. nvidia-driver-550, and reboot)."
        )
    rc, out, err = module.run_command([binary, *QUERY_ARGS])
    if rc != 0:
        module.fail_json(msg=explain_failure(rc, out, err), rc=rc, stdout=out, stderr=err)
    try:
        gpus = parse_query_csv(out)
        rc, xml_out, xml_err = module.run_command([binary, *XML_ARGS])
        details = parse_smi_xml(xml_out) if rc == 0 else {}
    except GpuQueryError as err:
        module.fail_json(msg=f"could not read nvidia-smi's answer: {err}", stdout=out)
    if not gpus and module.params["require_gpus"]:
        module.fail_json(msg="the NVIDIA driver answers but lists no GPU: check the PCI devices and MIG set-up.")
    return summarize(gpus, details)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "executable": {"type": "str", "default": "nvidia-smi"},
            "require_gpus": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    module.exit_json(changed=False, ansible_facts={"trtllm_gpus": gather(module)})


if __name__ == "__main__":
    main()
