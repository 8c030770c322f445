#!/usr/bin/env python3
"""Stand-in for `nvidia-container-runtime-hook`, the OCI prestart hook.

dockerd registers its `nvidia` GPU driver when this executable is on its PATH and
runs it as `nvidia-container-runtime-hook prestart` for every `--gpus` container,
with the OCI state (id, pid, bundle) on stdin. The real hook mounts the driver's
libraries and `nvidia-smi` into the container; this one copies the stand-in
`nvidia-smi` and a config naming the GPUs in NVIDIA_VISIBLE_DEVICES into the
container's root filesystem, bind-mounts the node's GPU memory ledger into it (so
what the container's processes hold shows on the node's GPUs, as device memory is
shared by every process on a real GPU), and fails like the real one when no driver
is loaded.

The mount is made inside the container's mount namespace before its root is switched
(runc runs prestart hooks then), as libnvidia-container mounts the driver's files.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

NODE_CONFIG = "/etc/nvidia-sim/config.json"
SMI = "/usr/bin/nvidia-smi"
LEDGER = "/run/nvidia-sim/claims"


def main() -> int:
    if sys.argv[1:2] != ["prestart"]:
        return 0
    state = json.load(sys.stdin)
    bundle = state["bundle"]
    with open(os.path.join(bundle, "config.json"), encoding="utf-8") as handle:
        spec = json.load(handle)
    env = dict(e.split("=", 1) for e in spec.get("process", {}).get("env", []) if "=" in e)
    visible = env.get("NVIDIA_VISIBLE_DEVICES")
    if visible is None:
        return 0
    try:
        with open(NODE_CONFIG, encoding="utf-8") as handle:
            node = json.load(handle)
    except FileNotFoundError:
        node = {}
    if node.get("driver", "loaded") != "loaded" or not os.path.exists(SMI):
        print("nvidia-container-cli: initialization error: nvml error: driver not loaded", file=sys.stderr)
        return 1
    root = spec["root"]["path"]
    if not os.path.isabs(root):
        root = os.path.join(bundle, root)
    os.makedirs(os.path.join(root, "usr/bin"), exist_ok=True)
    shutil.copy2(SMI, os.path.join(root, "usr/bin/nvidia-smi"))
    os.makedirs(os.path.join(root, "etc/nvidia-sim"), exist_ok=True)
    with open(os.path.join(root, "etc/nvidia-sim/config.json"), "w", encoding="utf-8") as handle:
        json.dump(dict(node, visible=visible), handle)
    os.makedirs(LEDGER, exist_ok=True)
    target = os.path.join(root, LEDGER.lstrip("/"))
    os.makedirs(target, exist_ok=True)
    mount = subprocess.run(["nsenter", f"--target={state['pid']}", "--mount", "--", "mount", "--bind", LEDGER, target],
                           capture_output=True, text=True, check=False)
    if mount.returncode != 0:
        print(f"nvidia-container-cli: mount error: {mount.stderr.strip()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
