#!/usr/bin/python
# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: artifact_fetch
short_description: Download a pipeline artifact from a host that serves it, resuming and checking every file
version_added: 0.4.0
description:
  - Downloads the artifact's manifest from O(url) (a M(trtllm.deploy.artifact_serve) on another host), then the
    files it lists (all, or O(files)) into O(path), a staging directory, each checked against the manifest's size
    and sha256 as it arrives. A file cut off is resumed where it stopped (HTTP Range), up to O(retries) times.
  - A file already in O(path) with the manifest's size and sha256 is kept, so a second run downloads only what is
    missing. A file that does not match is removed, never kept.
  - Put the result in place with M(trtllm.deploy.artifact_manifest) (O(path) as its C(src)).
author:
  - trtllm-deploy maintainers (@trtllm-deploy)
extends_documentation_fragment:
  - trtllm.deploy.artifact
  - trtllm.deploy.transfer
options:
  url:
    description: Where the artifact is served, C(http://ADDRESS:PORT).
    type: str
    required: true
  key:
    description: The key the artifact must have; a manifest with another key fails the module before any file is
      downloaded.
    type: str
    required: true
  files:
    description: Only these files of the manifest (a cluster member's ranks and C(config.json)); all when unset.
    type: list
    elements: str
  retries:
    description: Further attempts of a file after a failed one, each resuming where the last stopped.
    type: int
    default: 3
  timeout:
    description: Seconds a connection may stay silent.
    type: int
    default: 60
attributes:
  check_mode:
    support: full
    description: Downloads nothing; says it would.
  diff_mode:
    support: none
    description: The artifact's files are binary.
  idempotent:
    support: full
    description: Files already there and equal to the manifest's are kept; nothing is downloaded.
"""

EXAMPLES = r"""
- name: Receive the engine from this round's source
  trtllm.deploy.artifact_fetch:
    url: http://10.0.0.11:8095
    token: "{{ transfer_token }}"
    key: "{{ engine_key }}"
    path: /root/models/trt/.Meta-Llama-3-8B-Instruct-trt-engine.incoming
  no_log: true
"""

RETURN = r"""
received:
  description: Bytes downloaded by this run.
  returned: success
  type: int
files:
  description: Files downloaded by this run.
  returned: success
  type: list
  elements: str
kept:
  description: Files that were already there and equal to the manifest's.
  returned: success
  type: list
  elements: str
"""

import http.client
import json
import os
import urllib.error
import urllib.request

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.trtllm.deploy.plugins.module_utils import artifact as af
from ansible_collections.trtllm.deploy.plugins.module_utils import transfer


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "url": {"type": "str", "required": True},
            "token": {"type": "str", "required": True, "no_log": True},
            "key": {"type": "str", "required": True, "no_log": False},
            "files": {"type": "list", "elements": "str"},
            "retries": {"type": "int", "default": 3},
            "timeout": {"type": "int", "default": 60},
        },
        supports_check_mode=True,
    )
    params = module.params
    url, path = params["url"].rstrip("/"), params["path"]
    if module.check_mode:
        module.exit_json(changed=True, received=0, files=[], kept=[],
                         msg=f"would download the artifact {params['key'][:12]} from {url} into {path}")
    request = urllib.request.Request(f"{url}/files/{af.MANIFEST}",
                                     headers={"Authorization": f"Bearer {params['token']}"})
    try:
        with urllib.request.urlopen(request, timeout=params["timeout"]) as answer:
            manifest_text = answer.read().decode()
    except urllib.error.HTTPError as err:
        module.fail_json(msg=f"{url} refused the manifest: HTTP {err.code}")
    except (urllib.error.URLError, OSError) as err:
        module.fail_json(msg=f"{url} did not answer: {getattr(err, 'reason', err)}")
    try:
        manifest = json.loads(manifest_text)
        if manifest.get("key") != params["key"]:
            module.fail_json(msg=f"{url} serves the artifact {str(manifest.get('key'))[:12]}, "
                                 f"this host needs {params['key'][:12]}")
        files = transfer.manifest_files(manifest_text, params["files"])
        result = transfer.fetch(url, params["token"], path, files, params["retries"], params["timeout"])
    except (transfer.TransferError, ValueError, KeyError, AttributeError, http.client.HTTPException) as err:
        module.fail_json(msg=f"{url}: {err}")
    # The manifest last: a staging directory with it is complete.
    af.write_manifest(path, manifest)
    os.chmod(os.path.join(path, af.MANIFEST), 0o644)
    module.exit_json(changed=bool(result["files"]), **result)


if __name__ == "__main__":
    main()
