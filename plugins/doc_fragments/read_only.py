# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Attributes of a module that only reads (a module may override one, e.g. check_mode's description).
    DOCUMENTATION = r"""
attributes:
  check_mode:
    support: full
    description: Reads only; the same in check mode.
  diff_mode:
    support: none
    description: Nothing is changed, so there is nothing to show.
  idempotent:
    support: full
    description: Never reports a change.
"""

    # The modules that talk to Triton's HTTP endpoint (use with the main fragment: they only read, too).
    TRITON_HTTP = r"""
attributes:
  idempotent:
    support: full
    description: Never reports a change; asking a server changes nothing.
notes:
  - Runs on the host with its python3 and the standard library. The client is the collection's
    C(module_utils/triton_http), shared by M(trtllm.deploy.triton_ready), M(trtllm.deploy.triton_generate) and
    M(trtllm.deploy.triton_info); its errors name the method, the URL and the HTTP status with Triton's error
    text, or the socket error.
"""
