# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One path translation through bind mounts, used both ways: host -> container and container -> host."""

from __future__ import annotations

import os


def translate(path: str, mounts: dict) -> str | None:
    """Map path through the longest matching mount {from_dir: to_dir}; None when no mount holds it."""
    path = os.path.normpath(path)
    best = None
    for source, target in mounts.items():
        source = os.path.normpath(source)
        inside = path == source or path.startswith(source.rstrip("/") + "/")
        if inside and (best is None or len(source) > len(best[0])):
            best = (source, os.path.normpath(target))
    return None if best is None else best[1] + path[len(best[0]):]
