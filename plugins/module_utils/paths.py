# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Paths: translation through bind mounts (host <-> container); files and directories written whole or not at all."""

from __future__ import annotations

import os
import shutil


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


def replace_directory(staged: str, target: str) -> None:
    """Put the complete directory `staged` at `target` with renames: `target` is always whole, old or new."""
    parent, name = os.path.split(os.path.normpath(target))
    retired = os.path.join(parent, f".{name}.retired-{os.getpid()}")
    if os.path.lexists(target):
        os.rename(target, retired)
    os.rename(staged, target)
    shutil.rmtree(retired, ignore_errors=True)


def replace_file(path: str, text: str) -> None:
    """Write text to path whole or not at all: a sibling file renamed over the target."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    partial = os.path.join(directory, f".{os.path.basename(path)}.partial-{os.getpid()}")
    with open(partial, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(partial, path)
