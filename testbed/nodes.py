#!/usr/bin/env python3
"""The prepared simulated GPU node: made once by the roles, started many times.

A bare node (testbed/tasks/node.yml) taken through playbooks/prepare.yml and the serving image's
pull (testbed/prepared-node.yml) is saved as two things: an image of its file system
(`docker commit`, trtllm-deploy/gpu-node-prepared:KEY) and a copy of its Docker storage
(.cache/prepared/KEY/docker: the node's /var/lib/docker is a volume, which a commit leaves out).
A node started with `prepared: true` runs that image over its own copy of that storage (the image
layers' files hard-linked, Docker's databases its own: link_tree), so it has Docker, the toolkit and
the serving image as if the roles had just installed them, and the roles, run on it, find nothing
to do there.

KEY is the sha256 of everything that made it: the roles and plugins the prepare stage runs, the
playbooks, the test bed's node recipe and inventory, and the ids of the images and the Debian
mirror it installs from. Any change to them makes a new key, so a prepared node is never stale;
an unchanged key costs a `docker image inspect`. Concurrent callers, of any checkout on the machine, wait for
one build (a lock).

    python3 testbed/nodes.py prepared            # build unless present; prints {"image", "storage", "key", "changed"}
    python3 testbed/nodes.py storage NODE        # NODE's copy of the prepared storage (fresh unless NODE exists)
    python3 testbed/nodes.py remove NODE...      # remove these nodes, with their storage
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTBED = Path(__file__).resolve().parent
REPO = TESTBED.parent
CACHE = REPO / ".cache"
PREPARED = CACHE / "prepared"
NODES = CACHE / "nodes"
REPOSITORY = "trtllm-deploy/gpu-node-prepared"
# Machine-wide, like the Docker engine and the names it holds: two checkouts on one machine (a CI clone beside a
# working tree) must not build the same key's node at once (one would remove the other's container mid-run).
LOCK = Path(tempfile.gettempdir()) / "trtllm-deploy-prepared-node.lock"
# What the prepare stage runs (the preflight reads the model through model_fetch) and what starts the node.
KEY_PATHS = [
    "roles/trtllm", "roles/model_fetch", "roles/nvidia_runtime", "roles/triton_container", "plugins",
    "playbooks/prepare.yml", "playbooks/preflight.yml", "ansible.cfg",
    "testbed/prepared-node.yml", "testbed/tasks/node.yml", "testbed/inventories/local", "testbed/nodes.py",
]
# Images the node is made of or pulls, by id: a rebuilt image is a new key.
KEY_IMAGES = ["trtllm-deploy/gpu-node:latest", "trtllm-deploy/tritonserver-sim:latest", "trtllm-deploy/probe:latest"]


def _hash_path(digest, path: Path) -> None:
    files = [path] if path.is_file() else sorted(
        p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for file in files:
        digest.update(str(file.relative_to(REPO)).encode() + b"\0" + file.read_bytes() + b"\0")


def image_id(ref: str) -> str:
    done = subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}}", ref], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"nodes.py: image {ref} is missing: run `make images` first")
    return done.stdout.strip()


def mirror_key() -> str:
    """The Debian mirror the node installs from (testbed/mirror.py names it by its package list's hash)."""
    mirrors = sorted(p.name for p in (CACHE / "debian-mirror").iterdir() if p.is_dir()) \
        if (CACHE / "debian-mirror").is_dir() else []
    return ",".join(mirrors)


def prepared_key() -> str:
    digest = hashlib.sha256()
    for rel in KEY_PATHS:
        _hash_path(digest, REPO / rel)
    for ref in KEY_IMAGES:
        digest.update(image_id(ref).encode() + b"\0")
    digest.update(mirror_key().encode())
    return digest.hexdigest()[:16]


def image_exists(ref: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", ref], capture_output=True).returncode == 0


def run(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=True, **kwargs)


def inner_docker_stopped(node: str, timeout: float = 60) -> None:
    """Stop the node's Docker engine cleanly (its storage must be consistent when copied)."""
    run(["docker", "exec", node, "/etc/init.d/docker", "stop"], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while subprocess.run(["docker", "exec", node, "pidof", "dockerd", "containerd"],
                         capture_output=True).returncode == 0:
        if time.monotonic() > deadline:
            raise SystemExit(f"nodes.py: the Docker engine of {node} did not stop within {timeout:.0f}s")
        time.sleep(0.5)


def storage_source(node: str) -> Path:
    """Where the node's /var/lib/docker volume lies on this machine."""
    mounts = json.loads(run(["docker", "inspect", "-f", "{{json .Mounts}}", node], capture_output=True,
                            text=True).stdout)
    return Path(next(m["Source"] for m in mounts if m["Destination"] == "/var/lib/docker"))


@contextlib.contextmanager
def staged(dest: Path):
    """A sibling directory to fill, renamed into place when the block ends without an error: an interrupted copy
    never looks complete."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        yield staging
        if dest.exists():
            shutil.rmtree(dest)
        staging.rename(dest)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def copy_tree(source: Path, dest: Path) -> None:
    """cp -a: ownership, modes, times, links, device nodes and the overlay xattrs."""
    with staged(dest) as staging:
        run(["cp", "-a", f"{source}/.", str(staging)])


def build(key: str) -> None:
    node = f"trtllm-prepare-{key[:12]}"
    subprocess.run(["docker", "rm", "-f", "-v", node], capture_output=True)
    with tempfile.TemporaryDirectory(prefix="prepared-node-") as tmp:
        inventory = Path(tmp)
        (inventory / "group_vars").symlink_to(TESTBED / "inventories" / "local" / "group_vars")
        (inventory / "hosts.yml").write_text(f"all:\n  children:\n    gpu_nodes:\n      hosts:\n        {node}:\n")
        env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
        try:
            started = time.monotonic()
            done = subprocess.run(["ansible-playbook", str(TESTBED / "prepared-node.yml"), "-i", str(inventory),
                                   "-e", f"prepared_node={node}"], cwd=REPO, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"nodes.py: preparing {node} failed:\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}")
            print(f"[nodes] {node} prepared by the roles in {time.monotonic() - started:.1f}s", file=sys.stderr)
            inner_docker_stopped(node)
            copy_tree(storage_source(node), PREPARED / key / "docker")
            run(["docker", "commit", "--change", f"LABEL org.trtllm-deploy.prepared={key}", node,
                 f"{REPOSITORY}:{key}"], stdout=subprocess.DEVNULL)
        finally:
            subprocess.run(["docker", "rm", "-f", "-v", node], capture_output=True)


def ensure_prepared() -> dict:
    key = prepared_key()
    ref = f"{REPOSITORY}:{key}"
    PREPARED.mkdir(parents=True, exist_ok=True)
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        changed = not (image_exists(ref) and (PREPARED / key / "docker").is_dir())
        if changed:
            started = time.monotonic()
            build(key)
            print(f"[nodes] {ref} built in {time.monotonic() - started:.1f}s", file=sys.stderr)
        # Older keys' storage: only the current one is kept.
        for old in PREPARED.iterdir():
            if old.is_dir() and old.name != key:
                shutil.rmtree(old, ignore_errors=True)
    return {"image": ref, "storage": str(PREPARED / key / "docker"), "key": key, "changed": changed}


def link_tree(source: Path, dest: Path) -> None:
    """A copy of a Docker storage directory in which the image layers' files are hard links to the source's:
    Docker never writes a layer's files once it is extracted (overlayfs mounts it as a read-only lower directory;
    a container's writes go to its own upper directory), so the nodes share them, and starting a node writes no
    800 MB. Every other file (Docker's databases, written in place) is a file of the node's own."""
    with staged(dest) as staging:
        run(["cp", "-a", "--link", f"{source}/.", str(staging)])
        for root, dirs, files in os.walk(staging):
            parts = Path(root).relative_to(staging).parts
            if len(parts) == 2 and parts[0] == "overlay2" and "diff" in dirs:
                dirs.remove("diff")  # a layer's files: shared
            for name in files:
                path = Path(root) / name
                info = path.lstat()
                if stat.S_ISREG(info.st_mode) and info.st_nlink > 1:
                    own = path.with_name(f".{name}.own")
                    shutil.copy2(path, own)
                    os.chown(own, info.st_uid, info.st_gid)
                    os.replace(own, path)


def node_storage(node: str, prepared: dict) -> tuple[Path, bool]:
    """NODE's copy of the prepared storage, made fresh unless the container NODE exists (it keeps its own)."""
    dest = NODES / node / "docker"
    if subprocess.run(["docker", "container", "inspect", node], capture_output=True).returncode == 0 and dest.is_dir():
        return dest, False
    link_tree(Path(prepared["storage"]), dest)
    return dest, True


def remove(nodes: list[str]) -> None:
    """Remove these nodes: their containers, with their Docker storage volumes or copies."""
    subprocess.run(["docker", "rm", "--force", "--volumes", *nodes], capture_output=True)
    for node in nodes:
        shutil.rmtree(NODES / node, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("prepared")
    sub.add_parser("key")
    storage = sub.add_parser("storage")
    storage.add_argument("node")
    rm = sub.add_parser("remove")
    rm.add_argument("nodes", nargs="+")
    args = parser.parse_args(argv)
    if args.command == "prepared":
        print(json.dumps(ensure_prepared()))
    elif args.command == "key":
        print(prepared_key())
    elif args.command == "storage":
        prepared = ensure_prepared()
        path, copied = node_storage(args.node, prepared)
        print(json.dumps({**prepared, "node_storage": str(path), "copied": copied}))
    else:
        remove(args.nodes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
