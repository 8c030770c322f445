# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whole-file text writes for modules: through a temporary file beside the target and an atomic rename."""

from __future__ import annotations

import os
import tempfile


def write_atomically(module, path: str, text: str) -> None:
    """Write text to path (UTF-8, line ends as given) with module.atomic_move; no temporary file is left."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=f".{os.path.basename(path)}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        module.atomic_move(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
