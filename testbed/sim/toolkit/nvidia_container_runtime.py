#!/usr/bin/env python3
"""Stand-in for `nvidia-container-runtime`: runc, plus the NVIDIA prestart hook
added to the OCI spec of containers that ask for GPUs through
NVIDIA_VISIBLE_DEVICES, as the real runtime does for `--runtime=nvidia`."""

from __future__ import annotations

import json
import os
import sys

HOOK = "/usr/bin/nvidia-container-runtime-hook"


def bundle_of(args: list[str]) -> str:
    for i, arg in enumerate(args):
        if arg in ("--bundle", "-b"):
            return args[i + 1]
        if arg.startswith("--bundle="):
            return arg.split("=", 1)[1]
    return os.getcwd()


def add_hook(bundle: str) -> None:
    path = os.path.join(bundle, "config.json")
    with open(path, encoding="utf-8") as handle:
        spec = json.load(handle)
    env = spec.get("process", {}).get("env", [])
    if not any(e.startswith("NVIDIA_VISIBLE_DEVICES=") for e in env):
        return
    prestart = spec.setdefault("hooks", {}).setdefault("prestart", [])
    if any(h.get("path") == HOOK for h in prestart):
        return
    prestart.append({"path": HOOK, "args": ["nvidia-container-runtime-hook", "prestart"]})
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(spec, handle)


def main() -> None:
    args = sys.argv[1:]
    if "create" in args:
        add_hook(bundle_of(args[args.index("create"):]))
    os.execvp("runc", ["runc", *args])


if __name__ == "__main__":
    main()
