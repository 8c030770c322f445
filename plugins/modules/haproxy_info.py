#!/usr/bin/python
# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: haproxy_info
short_description: Read the state of every server of HAProxy backends through its runtime API
version_added: 0.3.0
description:
  - Asks HAProxy's runtime API on the balancer host (the C(stats socket) of its configuration) for C(show stat)
    and returns, for each backend asked, every server's status, requests in flight and last health check.
  - Reads only; used by C(trtllm-deploy status) and at the end of a deploy to show the fleet's endpoint.
author:
  - trtllm-deploy maintainers (@trtllm-deploy)
extends_documentation_fragment:
  - trtllm.deploy.haproxy
  - trtllm.deploy.read_only
options:
  backends:
    description: The backends (C(pxname)) to report.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Read the fleet's backends
  trtllm.deploy.haproxy_info:
    backends: [triton_http]
  register: balancer
"""

RETURN = r"""
backends:
  description: Per backend, per server (named by inventory host in the load_balancer role's configuration).
  returned: success
  type: dict
  sample:
    triton_http:
      gpu-1: {status: UP, active: 2, check: L7OK}
      gpu-2: {status: MAINT, active: 0, check: ""}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.trtllm.deploy.plugins.module_utils import haproxy_runtime as hr


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "socket": {"type": "path", "default": "/run/haproxy/admin.sock"},
            "backends": {"type": "list", "elements": "str", "required": True},
        },
        supports_check_mode=True,
    )
    backends = {}
    try:
        for backend in module.params["backends"]:
            servers = hr.backend_servers(module.params["socket"], backend)
            if servers is None:
                module.fail_json(msg=f"HAProxy at {module.params['socket']} has no backend {backend}: is its "
                                     "configuration the load_balancer role's?")
            backends[backend] = servers
    except hr.HAProxyError as err:
        module.fail_json(msg=str(err))
    module.exit_json(changed=False, backends=backends)


if __name__ == "__main__":
    main()
