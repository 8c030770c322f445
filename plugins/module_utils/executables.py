# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Find a program the way the modules document: a path is used as given, a name is looked up on PATH."""

from __future__ import annotations

import os


def find_executable(module, name: str) -> str | None:
    if "/" in name:
        return name if os.access(name, os.X_OK) else None
    return module.get_bin_path(name)
