# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter host_path: where a path inside the Triton container lives on the host."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.trtllm.deploy.plugins.module_utils.paths import translate

DOCUMENTATION = r"""
name: host_path
short_description: The host path of a path inside the container, through the container's mounts
version_added: 0.1.0
author:
  - trtllm-deploy maintainers (@trtllm-deploy)
description:
  - Uses the longest mount that holds the path; fails when none does.
options:
  _input:
    description: A path inside the container.
    type: str
    required: true
  mounts:
    description: Container directory to host directory (C(trtllm_mounts)).
    type: dict
    required: true
"""

EXAMPLES = r"""
engine_on_host: "{{ '/models/trt/engine' | trtllm.deploy.host_path(trtllm_mounts) }}"
"""

RETURN = r"""
_value:
  description: The host path.
  type: str
"""


def host_path(path, mounts):
    mapped = translate(str(path), dict(mounts))
    if mapped is None:
        raise AnsibleFilterError(f"{path} is under none of the container's mounts ({', '.join(sorted(mounts))})")
    return mapped


class FilterModule:
    def filters(self):
        return {"host_path": host_path}
