#!/usr/bin/env python3
"""Build the test-bed images locally, never pulling from a registry.

Each image is a folder under testbed/images/NAME:

  packages     Debian packages of the root filesystem (mmdebstrap, host apt sources)
  wheels       optional pip requirement lines, downloaded on the host and installed
               offline in the build (containers here cannot verify PyPI's TLS chain)
  Dockerfile   layers on top of the root filesystem; its context holds the image
               folder as ./, testbed/sim as ./sim and the wheels as ./wheels

Images are tagged trtllm-deploy/NAME:<recipe hash> and :latest. An image whose
recipe hash already exists is reused, so a second run costs a `docker image inspect`.

    python3 testbed/images.py build gpu-node probe
    python3 testbed/images.py tag gpu-node          # prints the hash tag
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTBED = Path(__file__).resolve().parent
REPO = TESTBED.parent
IMAGES = TESTBED / "images"
SIM = TESTBED / "sim"
WHEEL_CACHE = REPO / ".cache" / "wheels"
REPOSITORY = "trtllm-deploy"


def _hash_tree(digest: hashlib._Hash, root: Path) -> None:
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
        digest.update(b"x" if path.stat().st_mode & 0o111 else b"-")


def rootfs_hash(name: str) -> str:
    digest = hashlib.sha256((IMAGES / name / "packages").read_bytes())
    return digest.hexdigest()[:12]


def recipe_hash(name: str) -> str:
    digest = hashlib.sha256(rootfs_hash(name).encode())
    _hash_tree(digest, IMAGES / name)
    _hash_tree(digest, SIM)
    return digest.hexdigest()[:12]


def image_exists(ref: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", ref], capture_output=True).returncode == 0


def read_list(path: Path) -> list[str]:
    if not path.exists():
        return []
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def build_rootfs(name: str) -> str:
    ref = f"{REPOSITORY}/{name}-rootfs:{rootfs_hash(name)}"
    if image_exists(ref):
        return ref
    packages = read_list(IMAGES / name / "packages")
    with tempfile.TemporaryDirectory(prefix=f"rootfs-{name}-") as tmp:
        tarball = Path(tmp) / "rootfs.tar"
        subprocess.run(
            [
                "mmdebstrap", "--quiet", "--variant=minbase",
                "--dpkgopt=path-exclude=/usr/share/doc/*",
                "--dpkgopt=path-exclude=/usr/share/man/*",
                "--dpkgopt=path-exclude=/usr/share/locale/*",
                "--include=" + ",".join(packages),
                "bookworm", str(tarball),
            ],
            check=True,
        )
        subprocess.run(["docker", "import", str(tarball), ref], check=True, stdout=subprocess.DEVNULL)
    return ref


def fetch_wheels(name: str, dest: Path) -> None:
    requirements = read_list(IMAGES / name / "wheels")
    dest.mkdir(parents=True, exist_ok=True)
    if not requirements:
        return
    cache = WHEEL_CACHE / name
    cache.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:",
            "--python-version", "3.11", "--platform", "manylinux_2_35_x86_64",
            "--platform", "manylinux_2_17_x86_64", "--platform", "manylinux2014_x86_64",
            "--platform", "any", "--implementation", "cp", "-d", str(cache), *requirements,
        ],
        check=True,
    )
    for wheel in cache.glob("*.whl"):
        shutil.copy2(wheel, dest / wheel.name)


def build(name: str) -> tuple[str, str]:
    """Build NAME unless its recipe hash exists; return (reference, what happened)."""
    ref = f"{REPOSITORY}/{name}:{recipe_hash(name)}"
    if image_exists(ref):
        subprocess.run(["docker", "tag", ref, f"{REPOSITORY}/{name}:latest"], check=True)
        return ref, "reused"
    rootfs = build_rootfs(name)
    with tempfile.TemporaryDirectory(prefix=f"ctx-{name}-") as tmp:
        context = Path(tmp)
        shutil.copytree(IMAGES / name, context, dirs_exist_ok=True)
        shutil.copytree(SIM, context / "sim", ignore=shutil.ignore_patterns("__pycache__"))
        fetch_wheels(name, context / "wheels")
        subprocess.run(
            [
                "docker", "build", "--quiet", "--build-arg", f"ROOTFS={rootfs}",
                "--label", f"org.trtllm-deploy.recipe={ref.rsplit(':', 1)[1]}",
                "-t", ref, "-t", f"{REPOSITORY}/{name}:latest", str(context),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return ref, "built"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for command in ("build", "tag"):
        p = sub.add_parser(command)
        p.add_argument("names", nargs="+", choices=sorted(p.name for p in IMAGES.iterdir() if p.is_dir()))
    args = parser.parse_args(argv)
    for name in args.names:
        if args.command == "tag":
            print(f"{REPOSITORY}/{name}:{recipe_hash(name)}")
            continue
        started = time.monotonic()
        ref, what = build(name)
        print(f"[images] {ref} {what} in {time.monotonic() - started:.1f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
