# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The artifact options and notes shared by artifact_key and artifact_manifest.
    DOCUMENTATION = r"""
options:
  path:
    description:
      - The artifact's directory (the Hugging Face checkpoint, the converted checkpoint, the engine, or the
        model repository for V(served)). Its manifest is C(trtllm-deploy-manifest.json) in it.
    type: path
    required: true
notes:
  - A key is the sha256 of the artifact's kind and inputs; an input that is itself an artifact counts by its
    key, so a key is built from its inputs' keys (model -> checkpoint -> engine -> served).
  - The manifest holds kind, key, inputs (with the input artifacts' own inputs), origin, and every file's size
    and sha256. Every artifact of the pipeline uses this one format.
"""
