#!/usr/bin/python
# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: haproxy_state
short_description: Save HAProxy's servers' state before a reload, so a drained server stays drained
version_added: 0.4.0
description:
  - Writes HAProxy's answer to C(show servers state) to O(dest), the configuration's C(server-state-file), through
    a temporary file renamed into place. A configuration with C(load-server-state-from-file global) reads it when
    the reloaded HAProxy starts, so each server keeps its administrative state (a server in maintenance or drained
    for a rolling deploy stays so) instead of starting UP.
  - When HAProxy is not running (no socket yet, as at the first install), there is nothing to save and nothing
    changes.
author:
  - trtllm-deploy maintainers (@trtllm-deploy)
extends_documentation_fragment:
  - trtllm.deploy.haproxy
options:
  dest:
    description: The configuration's C(server-state-file).
    type: path
    required: true
attributes:
  check_mode:
    support: full
    description: Reads the state and says whether the file would change.
  diff_mode:
    support: none
    description: The file is HAProxy's own state dump.
  idempotent:
    support: full
    description: The same state already saved changes nothing.
"""

EXAMPLES = r"""
- name: Save the servers' state for the reload
  trtllm.deploy.haproxy_state:
    dest: /var/lib/haproxy/server-state
"""

RETURN = r"""
servers:
  description: Number of servers whose state was saved.
  returned: success
  type: int
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.trtllm.deploy.plugins.module_utils import haproxy_runtime as hr
from ansible_collections.trtllm.deploy.plugins.module_utils.paths import replace_file


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "socket": {"type": "path", "default": "/run/haproxy/admin.sock"},
            "dest": {"type": "path", "required": True},
        },
        supports_check_mode=True,
    )
    params = module.params
    try:
        state = hr.servers_state(params["socket"])
    except hr.HAProxyNotRunning as err:
        # Nothing to save, and the reload that follows starts HAProxy: a socket left by a crash must not stop it.
        module.exit_json(changed=False, servers=0, msg=f"{err}: HAProxy is not running, there is no state to save")
    except hr.HAProxyError as err:
        module.fail_json(msg=str(err))
    try:
        with open(params["dest"], encoding="utf-8") as handle:
            changed = handle.read() != state
    except OSError:
        changed = True
    if changed and not module.check_mode:
        replace_file(params["dest"], state)
        os.chmod(params["dest"], 0o600)
    servers = sum(1 for line in state.splitlines()[1:] if line.strip() and not line.startswith("#"))
    module.exit_json(changed=changed, servers=servers)


if __name__ == "__main__":
    main()
