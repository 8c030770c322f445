# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The options and notes shared by artifact_serve and artifact_fetch: one transfer, two ends.
    DOCUMENTATION = r"""
options:
  token:
    description:
      - The bearer token of this transfer, made for the run on the controller and given to both ends. The server
        answers no request without it.
    type: str
    required: true
notes:
  - Artifacts go host to host, never through the controller (an ansible-core C(fetch) under become reads a whole
    file into the controller's memory). The controller plans rounds (C(module_utils/transfer.plan_rounds)); in
    each, every host that holds the artifact serves it to one host that needs it, so N hosts get it in about
    log2(N + 1) rounds.
  - The server answers GET for the files of the artifact's manifest only, over plain HTTP on one address and
    port; it is not meant to cross an untrusted network. The client resumes a cut file with a Range request and
    checks each file's sha256 against the manifest as it arrives.
"""
