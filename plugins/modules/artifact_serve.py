#!/usr/bin/python
# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: artifact_serve
short_description: Serve a pipeline artifact's files to the hosts that need them, until told to stop
version_added: 0.4.0
description:
  - Serves the files listed in the manifest of the artifact in O(path) (and the manifest) over HTTP on
    O(bind):O(port) to holders of O(token), with byte ranges, so M(trtllm.deploy.artifact_fetch) on other hosts can
    download and resume them.
  - Meant to run with C(async) and C(poll 0). It ends when it gets C(POST /_stop) with the token, or after
    O(idle_timeout) seconds without a request.
  - Fails at once when the port is taken or a listed file is missing.
author:
  - trtllm-deploy maintainers (@trtllm-deploy)
extends_documentation_fragment:
  - trtllm.deploy.artifact
  - trtllm.deploy.transfer
options:
  bind:
    description: The address to listen on, one the receivers reach.
    type: str
    required: true
  port:
    description: The TCP port to listen on.
    type: int
    required: true
  idle_timeout:
    description: Seconds without a request after which the server ends by itself.
    type: int
    default: 600
attributes:
  check_mode:
    support: none
    description: A server in check mode would serve nothing.
  diff_mode:
    support: none
    description: Changes no file.
  idempotent:
    support: full
    description: Changes nothing on the host; it reports no change.
"""

EXAMPLES = r"""
- name: Serve the engine to this round's receivers
  trtllm.deploy.artifact_serve:
    path: /root/models/trt/Meta-Llama-3-8B-Instruct-trt-engine
    bind: 10.0.0.11
    port: 8095
    token: "{{ transfer_token }}"
  async: 3600
  poll: 0
  no_log: true
"""

RETURN = r"""
bytes:
  description: Bytes sent.
  returned: success
  type: int
seconds:
  description: How long it served.
  returned: success
  type: float
reason:
  description: Why it ended (C(stopped), or idle).
  returned: success
  type: str
"""


from ansible.module_utils.basic import AnsibleModule

from ansible_collections.trtllm.deploy.plugins.module_utils import artifact as af
from ansible_collections.trtllm.deploy.plugins.module_utils import transfer


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "bind": {"type": "str", "required": True},
            "port": {"type": "int", "required": True},
            "token": {"type": "str", "required": True, "no_log": True},
            "idle_timeout": {"type": "int", "default": 600},
        },
        supports_check_mode=False,
    )
    params = module.params
    manifest = af.read_manifest(params["path"])
    if not manifest:
        module.fail_json(msg=f"{params['path']} has no {af.MANIFEST}: nothing to serve")
    files = sorted(manifest["files"]) + [af.MANIFEST]
    try:
        result = transfer.serve(params["path"], files, params["bind"], params["port"], params["token"],
                                params["idle_timeout"])
    except transfer.TransferError as err:
        module.fail_json(msg=str(err))
    except OSError as err:
        module.fail_json(msg=f"cannot serve on {params['bind']}:{params['port']}: {err.strerror} "
                             f"(engine_build_transfer_port picks another port)")
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
