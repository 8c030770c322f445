# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The modules that talk to HAProxy's runtime API (module_utils/haproxy_runtime).
    DOCUMENTATION = r"""
options:
  socket:
    description: Path of HAProxy's admin socket on the balancer host (the C(stats socket ... level admin) line).
    type: path
    default: /run/haproxy/admin.sock
notes:
  - Runs on the balancer host with its python3 and the standard library, through the collection's
    C(module_utils/haproxy_runtime), shared by M(trtllm.deploy.haproxy_server), M(trtllm.deploy.haproxy_info) and
    M(trtllm.deploy.haproxy_state).
"""
