#!/usr/bin/env python3
"""Build the test-bed images locally, never pulling from a registry.

Each image is a folder under testbed/images/NAME:

  packages     Debian packages of the root filesystem (mmdebstrap, host apt sources)
  build-packages  optional Debian packages of a second root filesystem, passed to the
               Dockerfile as the build argument BUILDER for build stages that need
               tools the image itself must not carry
  wheels       optional pinned wheels (no dependency resolution: list them all),
               downloaded on the host and installed offline in the build
               (containers here cannot verify PyPI's TLS chain)
  sim-paths    optional paths under testbed/sim the image copies in
  Dockerfile   layers on top of the root filesystem; its context holds the image
               folder as ./, the listed testbed/sim paths under ./sim and the
               wheels as ./wheels

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


def rootfs_hash(name: str, packages: str = "packages") -> str:
    digest = hashlib.sha256((IMAGES / name / packages).read_bytes())
    return digest.hexdigest()[:12]


def sim_paths(name: str) -> list[str]:
    return read_list(IMAGES / name / "sim-paths")


def recipe_hash(name: str) -> str:
    digest = hashlib.sha256(rootfs_hash(name).encode())
    _hash_tree(digest, IMAGES / name)
    for rel in sim_paths(name):
        digest.update(rel.encode() + b"\0")
        source = SIM / rel
        if source.is_dir():
            _hash_tree(digest, source)
        else:
            digest.update(source.read_bytes())
    return digest.hexdigest()[:12]


def image_exists(ref: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", ref], capture_output=True).returncode == 0


def read_list(path: Path) -> list[str]:
    if not path.exists():
        return []
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def build_rootfs(name: str, packages_file: str = "packages", kind: str = "rootfs") -> str:
    ref = f"{REPOSITORY}/{name}-{kind}:{rootfs_hash(name, packages_file)}"
    if image_exists(ref):
        return ref
    packages = read_list(IMAGES / name / packages_file)
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
            sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
            "--python-version", "3.11", "--platform", "manylinux_2_35_x86_64",
            "--platform", "manylinux_2_17_x86_64", "--platform", "manylinux2014_x86_64",
            "--platform", "any", "--implementation", "cp", "-d", str(cache), *requirements,
        ],
        check=True,
    )
    wanted = {tuple(canonical(part) for part in line.split("==", 1)) for line in requirements}
    for wheel in cache.glob("*.whl"):
        if tuple(canonical(part) for part in wheel.name.split("-")[:2]) in wanted:
            shutil.copy2(wheel, dest / wheel.name)


def canonical(name: str) -> str:
    return name.lower().replace("-", "_").replace(".", "_")


def build(name: str) -> tuple[str, str]:
    """Build NAME unless its recipe hash exists; return (reference, what happened)."""
    ref = f"{REPOSITORY}/{name}:{recipe_hash(name)}"
    if image_exists(ref):
        subprocess.run(["docker", "tag", ref, f"{REPOSITORY}/{name}:latest"], check=True)
        return ref, "reused"
    rootfs = build_rootfs(name)
    build_args = ["--build-arg", f"ROOTFS={rootfs}"]
    if (IMAGES / name / "build-packages").exists():
        build_args += ["--build-arg", f"BUILDER={build_rootfs(name, 'build-packages', 'builder-rootfs')}"]
    with tempfile.TemporaryDirectory(prefix=f"ctx-{name}-") as tmp:
        context = Path(tmp)
        shutil.copytree(IMAGES / name, context, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("packages", "build-packages", "wheels", "sim-paths"))
        for rel in sim_paths(name):
            source, target = SIM / rel, context / "sim" / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(source, target)
        fetch_wheels(name, context / "wheels")
        subprocess.run(
            [
                "docker", "build", "--quiet", *build_args,
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
