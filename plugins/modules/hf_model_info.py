#!/usr/bin/python
# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: hf_model_info
short_description: Read a Hugging Face Hub model's commit and files at a revision, changing nothing
version_added: 0.3.0
description:
  - Asks the Hub (or a mirror at O(endpoint)) for the commit a revision points at and the repository's files
    with their sizes and, for LFS files, their sha256, the numbers a download is checked against before it
    counts.
  - Keeps the files O(allow_patterns) selects and O(ignore_patterns) does not, and says which of them are
    weights (the files only the hosts that convert need).
  - Optionally returns the content of small files (O(read), e.g. C(config.json) for the preflight's shape
    and memory checks).
  - Fails with a message for a person when the repository is gated and no token or a refused token was given
    (naming C(HF_TOKEN) and the licence to accept), for an unknown repository or revision, and when the Hub
    does not answer after O(retries).
  - Runs with the host's python3 and its standard library; the token goes in the request's C(Authorization)
    header only.
author:
  - trtllm-deploy maintainers (@trtllm-deploy)
options:
  repo:
    description: Repository id, C(owner/name).
    type: str
    required: true
  revision:
    description: Branch, tag or commit id.
    type: str
    default: main
  endpoint:
    description: The Hub's URL, or a mirror's (what C(HF_ENDPOINT) is to C(huggingface_hub)).
    type: str
    default: https://huggingface.co
  token:
    description: A Hugging Face access token; needed for gated and private repositories.
    type: str
  allow_patterns:
    description: Shell-style patterns of the files to keep (matched against the whole path).
    type: list
    elements: str
    default: ["*"]
  ignore_patterns:
    description: Patterns of files to leave out even when allowed; a pattern ending in C(/) is a folder.
    type: list
    elements: str
    default: []
  read:
    description: Small files whose text to return in RV(contents).
    type: list
    elements: str
    default: []
  timeout:
    description: Seconds each request may take.
    type: float
    default: 30
  retries:
    description: Further attempts after a connection error, a timeout or a 5xx answer.
    type: int
    default: 3
extends_documentation_fragment:
  - trtllm.deploy.read_only
"""

EXAMPLES = r"""
- name: What revision main of Llama 3 is, and what a download must bring
  trtllm.deploy.hf_model_info:
    repo: meta-llama/Meta-Llama-3-8B-Instruct
    revision: main
    token: "{{ lookup('ansible.builtin.env', 'HF_TOKEN') }}"
    allow_patterns: ["*.json", "*.safetensors", "tokenizer*"]
    ignore_patterns: [original/]
    read: [config.json]
  register: llama
  no_log: true
"""

RETURN = r"""
commit:
  description: The commit id the revision points at.
  returned: success
  type: str
  sample: e1945c40cd546c78e41f1151f4db032b271faeaa
files:
  description: The selected files, by path, with size, LFS sha256 (null for a regular file) and git blob id.
  returned: success
  type: dict
  sample: {"model-00001-of-00004.safetensors": {"size": 4976698672, "sha256": "2d3a...", "blob_id": "a3c1..."}}
weights:
  description: The selected files that are weights (only the hosts that convert need them).
  returned: success
  type: list
  elements: str
bytes:
  description: Size of all selected files.
  returned: success
  type: int
weight_bytes:
  description: Size of the selected weights.
  returned: success
  type: int
contents:
  description: The text of each file of O(read).
  returned: success
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.trtllm.deploy.plugins.module_utils import hf_hub


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "repo": {"type": "str", "required": True},
            "revision": {"type": "str", "default": "main"},
            "endpoint": {"type": "str", "default": "https://huggingface.co"},
            "token": {"type": "str", "no_log": True},
            "allow_patterns": {"type": "list", "elements": "str", "default": ["*"]},
            "ignore_patterns": {"type": "list", "elements": "str", "default": []},
            "read": {"type": "list", "elements": "str", "default": []},
            "timeout": {"type": "float", "default": 30},
            "retries": {"type": "int", "default": 3},
        },
        supports_check_mode=True,
    )
    p = module.params
    if p["repo"].count("/") != 1 or not all(p["repo"].split("/")):
        module.fail_json(msg=f"repo {p['repo']!r} is not a repository id (owner/name)")
    try:
        info = hf_hub.model_info(p["endpoint"], p["repo"], p["revision"], p["token"] or None, p["timeout"],
                                 p["retries"])
        names = hf_hub.select(info["files"], p["allow_patterns"], p["ignore_patterns"])
        files = {name: info["files"][name] for name in names}
        contents = {name: hf_hub.read_file(p["endpoint"], p["repo"], info["commit"], name, p["token"] or None,
                                           p["timeout"], p["retries"]) for name in p["read"]}
    except (hf_hub.HubError, hf_hub.HubUnavailable) as err:
        module.fail_json(msg=str(err))
    weights = [name for name in names if hf_hub.is_weight(name)]
    module.exit_json(changed=False, commit=info["commit"], files=files, weights=weights,
                     bytes=sum(f["size"] or 0 for f in files.values()),
                     weight_bytes=sum(files[n]["size"] or 0 for n in weights), contents=contents)


if __name__ == "__main__":
    main()
