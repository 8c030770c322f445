#!/usr/bin/env python3
"""The test bed's air-gapped site: a Debian mirror and an image registry for bare nodes.

A bare simulated node (image gpu-node) has no Docker, git or git-lfs: the roles
install them with `ansible.builtin.apt`, and the node's engine pulls the images the
roles run. Nodes cannot reach the internet, so, as on an air-gapped site:

debian    A signed Debian mirror with exactly the packages of testbed/mirror-packages
          and their dependency closure against the bare node image (Recommends
          included, as apt installs them), plus those of
          testbed/mirror-packages-serving-image against the serving image's root
          filesystem (what the roles install into images they build from it),
          downloaded once through this machine's apt and kept under
          .cache/debian-mirror/KEY, KEY a hash of the package lists and of the root
          filesystems. Nodes mount it read-only at /srv/debian-mirror (their apt
          source, testbed/images/gpu-node); image builds on a node reach it over HTTP
          (trtllm-testbed-debian, a static file server on this machine's bridge
          gateway, which nodes resolve as debian.testbed).
          It also holds standins/docker-ce_*.deb: Debian's docker.io repackaged under
          Docker CE's name and conflicts, for the "Docker CE already installed" case.
registry  Debian's docker-registry in a container (trtllm-testbed-registry) on this
          machine's engine, storage in .cache/registry, with the test-bed images
          pushed when their local image differs. Nodes use it as their Docker Hub
          mirror (`registry-mirrors` in the daemon.json the site provisions).

Both are idempotent: a second run checks and reuses. Prints a JSON object with what
nodes need: {"debian": MIRROR_DIR, "debian_http": "http://GATEWAY:PORT",
"registry": "http://GATEWAY:PORT", "changed": BOOL}.

    python3 testbed/mirror.py                 # both
    python3 testbed/mirror.py debian
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import ipaddress
import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import images  # noqa: E402  (the sibling script)

TESTBED = Path(__file__).resolve().parent
REPO = TESTBED.parent
PACKAGES = TESTBED / "mirror-packages"
IMAGE_PACKAGES = TESTBED / "mirror-packages-serving-image"
NODE_IMAGE = "gpu-node"
SERVING_IMAGE = "tritonserver-sim"
DEBIAN_HTTP = "trtllm-testbed-debian"
DEBIAN_HTTP_PORT = 5102
MIRRORS = REPO / ".cache" / "debian-mirror"
SUITE = "bookworm"
LAYOUT = "2"  # bump when the mirror's layout changes, so caches are rebuilt

REGISTRY = "trtllm-testbed-registry"
REGISTRY_PORT = 5000
REGISTRY_STORE = REPO / ".cache" / "registry"
SERVED_IMAGES = ("probe", "tritonserver-sim")
DEADLINE_S = 60
CHANGES: list[str] = []


def log(message: str) -> None:
    print(f"[mirror] {message}", file=sys.stderr, flush=True)


def run(*argv: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=True, **kwargs)


def output(*argv: str) -> str:
    return run(*argv, capture_output=True, text=True).stdout.strip()


@contextmanager
def locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


# --- Debian mirror -----------------------------------------------------------------


def debian_key(rootfs: str, serving_rootfs: str) -> str:
    digest = hashlib.sha256(LAYOUT.encode() + b"\0" + rootfs.encode() + b"\0" + serving_rootfs.encode() + b"\0")
    digest.update("\n".join(images.read_list(PACKAGES)).encode() + b"\0")
    digest.update("\n".join(images.read_list(IMAGE_PACKAGES)).encode())
    return digest.hexdigest()[:12]


def copy_from_image(image: str, paths: dict[str, Path]) -> None:
    container = output("docker", "create", image, "true")
    try:
        for source, target in paths.items():
            run("docker", "cp", f"{container}:{source}", str(target), stdout=subprocess.DEVNULL)
    finally:
        run("docker", "rm", container, stdout=subprocess.DEVNULL)


def download_closure(rootfs: str, work: Path, pool: Path, packages: Path = PACKAGES) -> None:
    """Download the packages and what apt would add to the installed set of the root filesystem."""
    for sub in ("state/lists/partial", "cache/archives/partial", "sources.list.d"):
        (work / sub).mkdir(parents=True, exist_ok=True)
    # The node's own package database and the apt sources its root filesystem was built from.
    copy_from_image(rootfs, {"/var/lib/dpkg/status": work / "status", "/etc/apt/sources.list": work / "sources.list"})
    apt = [
        "apt-get", "--quiet", "--quiet",
        "-o", f"Dir::Etc::SourceList={work / 'sources.list'}",
        "-o", f"Dir::Etc::SourceParts={work / 'sources.list.d'}",
        "-o", f"Dir::State={work / 'state'}",
        "-o", f"Dir::State::status={work / 'status'}",
        "-o", f"Dir::Cache={work / 'cache'}",
        "-o", "Debug::NoLocking=1",
        "-o", "APT::Sandbox::User=root",
        "-o", "APT::Install-Recommends=1",
    ]
    run(*apt, "update", stdout=subprocess.DEVNULL)
    run(*apt, "install", "--download-only", "--yes", *images.read_list(packages), stdout=subprocess.DEVNULL)
    pool.mkdir(parents=True, exist_ok=True)
    for deb in (work / "cache" / "archives").glob("*.deb"):
        if not (pool / deb.name).exists():
            shutil.move(str(deb), pool / deb.name)


def standin_docker_ce(pool: Path, work: Path, dest: Path) -> None:
    """Debian's docker.io under Docker CE's package name and conflicts (same files, init
    script and service name `docker`): an engine from another package than the role's."""
    (deb,) = pool.glob("docker.io_*.deb")
    tree = work / "docker-ce"
    run("dpkg-deb", "--raw-extract", str(deb), str(tree))
    control = {}
    for line in (tree / "DEBIAN" / "control").read_text().split("\n"):
        if line and not line.startswith(" "):
            field, value = line.split(":", 1)
            control[field] = value.strip()
    upstream = control["Version"].split("+", 1)[0]
    version = f"5:{upstream}~3-0~debian.12~{SUITE}"
    fields = {
        "Package": "docker-ce",
        "Version": version,
        "Architecture": control["Architecture"],
        "Maintainer": "trtllm-deploy test bed <bed@example.invalid>",
        "Installed-Size": control["Installed-Size"],
        "Pre-Depends": control["Pre-Depends"],
        "Depends": control["Depends"],
        "Recommends": control["Recommends"],
        "Conflicts": "docker (<< 1.5~), docker-engine, docker.io",
        "Replaces": "docker-engine",
        "Section": "admin",
        "Priority": "optional",
        "Description": "Stand-in for Docker CE on the trtllm-deploy test bed\n"
                       " Debian's docker.io engine under the name and conflicts of Docker's docker-ce\n"
                       " package, to test roles on hosts that already run Docker CE.",
    }
    (tree / "DEBIAN" / "control").write_text("".join(f"{k}: {v}\n" for k, v in fields.items()))
    dest.mkdir(parents=True)
    # gzip at level 1: the default xz takes minutes for a package of this size.
    run("dpkg-deb", "--root-owner-group", "-Zgzip", "-z1", "--build", str(tree),
        str(dest / f"docker-ce_{version.split(':', 1)[1]}_{control['Architecture']}.deb"), stdout=subprocess.DEVNULL)


INDEX_AND_SIGN = r"""
set -eu
cd /mirror
arch=$(dpkg --print-architecture)
dir=dists/$SUITE/main/binary-$arch
mkdir -p "$dir"
apt-ftparchive packages pool > "$dir/Packages"
gzip -9kn "$dir/Packages"
apt-ftparchive -o APT::FTPArchive::Release::Origin=trtllm-deploy-testbed \
  -o APT::FTPArchive::Release::Label=trtllm-deploy-testbed \
  -o APT::FTPArchive::Release::Suite=$SUITE -o APT::FTPArchive::Release::Codename=$SUITE \
  -o APT::FTPArchive::Release::Architectures=$arch -o APT::FTPArchive::Release::Components=main \
  release "dists/$SUITE" > /tmp/Release
mv /tmp/Release "dists/$SUITE/Release"
export GNUPGHOME=$(mktemp -d)
gpg --batch --quiet --passphrase '' \
  --quick-gen-key 'trtllm-deploy test-bed Debian mirror <bed@example.invalid>' rsa3072 sign never
gpg --batch --armor --export > mirror-key.asc
gpg --batch --yes -abs -o "dists/$SUITE/Release.gpg" "dists/$SUITE/Release"
gpg --batch --yes --clearsign -o "dists/$SUITE/InRelease" "dists/$SUITE/Release"
"""


def prune_mirrors(keep: Path) -> None:
    """Remove earlier mirrors that no test-bed node mounts any more."""
    nodes = output("docker", "ps", "--all", "--quiet", "--filter", "label=org.trtllm-deploy.testbed=node").split()
    mounted = set()
    if nodes:
        mounted = set(output("docker", "inspect", "--format", "{{range .Mounts}}{{.Source}}\n{{end}}", *nodes).split())
    for old in MIRRORS.iterdir():
        if old.is_dir() and not old.name.startswith(".") and old != keep and str(old) not in mounted:
            shutil.rmtree(old)
            log(f"removed the earlier mirror {old.relative_to(REPO)}")


def build_debian() -> Path:
    rootfs = images.build_rootfs(NODE_IMAGE)
    serving_rootfs = images.build_rootfs(SERVING_IMAGE)
    key = debian_key(rootfs, serving_rootfs)
    mirror = MIRRORS / key
    done = mirror / "dists" / SUITE / "InRelease"
    if done.exists():
        log(f"Debian mirror {mirror.relative_to(REPO)} reused")
        return mirror
    with locked(MIRRORS / ".lock"):
        if done.exists():
            return mirror
        started = time.monotonic()
        builder = images.build_rootfs(NODE_IMAGE, "build-packages", "builder-rootfs")
        staging = MIRRORS / f".{key}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        work = MIRRORS / f".{key}.work"
        shutil.rmtree(work, ignore_errors=True)
        try:
            download_closure(rootfs, work, staging / "pool" / "main")
            shutil.rmtree(work)
            download_closure(serving_rootfs, work, staging / "pool" / "main", IMAGE_PACKAGES)
            log(f"downloaded the closure in {time.monotonic() - started:.1f}s")
            standin_docker_ce(staging / "pool" / "main", work, staging / "standins")
            log(f"made the docker-ce stand-in at {time.monotonic() - started:.1f}s")
            run("docker", "run", "--rm", "--network", "none", "-e", f"SUITE={SUITE}",
                "-v", f"{staging}:/mirror", builder, "sh", "-c", INDEX_AND_SIGN)
            log(f"indexed and signed at {time.monotonic() - started:.1f}s")
            staging.rename(mirror)
        finally:
            shutil.rmtree(work, ignore_errors=True)
            shutil.rmtree(staging, ignore_errors=True)
        count = len(list((mirror / "pool" / "main").glob("*.deb")))
        size = sum(p.stat().st_size for p in (mirror / "pool").rglob("*.deb")) / 2**20
        prune_mirrors(mirror)
        CHANGES.append(f"built {mirror}")
        log(f"Debian mirror {mirror.relative_to(REPO)} built: {count} packages, {size:.0f} MiB,"
            f" in {time.monotonic() - started:.1f}s")
    return mirror


# --- image registry ----------------------------------------------------------------


def bridge_gateway() -> str:
    """The default bridge's gateway. A fresh dockerd may list the subnet without a gateway
    (seen on Debian's docker.io 20.10 before any container ran); Docker then uses the subnet's
    first address, which is what docker0 carries."""
    config = json.loads(output("docker", "network", "inspect", "bridge", "--format", "{{json (index .IPAM.Config 0)}}"))
    return config.get("Gateway") or str(next(ipaddress.ip_network(config["Subnet"]).hosts()))


def registry_answers() -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{REGISTRY_PORT}/v2/", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def ensure_registry(gateway: str) -> None:
    image = images.build("registry")[0]
    state = subprocess.run(["docker", "inspect", "--format", "{{.Config.Image}} {{.State.Running}}", REGISTRY],
                           capture_output=True, text=True)
    if state.returncode == 0 and state.stdout.split() != [image, "true"]:
        run("docker", "rm", "--force", REGISTRY, stdout=subprocess.DEVNULL)
    if state.returncode != 0 or state.stdout.split() != [image, "true"]:
        REGISTRY_STORE.mkdir(parents=True, exist_ok=True)
        run("docker", "run", "--detach", "--name", REGISTRY, "--restart", "unless-stopped",
            "--label", "org.trtllm-deploy.testbed=registry",
            "--publish", f"127.0.0.1:{REGISTRY_PORT}:5000", "--publish", f"{gateway}:{REGISTRY_PORT}:5000",
            "--volume", f"{REGISTRY_STORE}:/var/lib/docker-registry", image, stdout=subprocess.DEVNULL)
        CHANGES.append(f"started {REGISTRY}")
        log(f"registry {REGISTRY} started from {image}")
    deadline = time.monotonic() + DEADLINE_S
    while not registry_answers():
        if time.monotonic() > deadline:
            logs = subprocess.run(["docker", "logs", "--tail", "20", REGISTRY], capture_output=True, text=True)
            raise SystemExit(f"registry {REGISTRY} did not answer within {DEADLINE_S}s:\n{logs.stdout}{logs.stderr}")
        time.sleep(0.2)


def served_config_digest(repository: str) -> str | None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{REGISTRY_PORT}/v2/{repository}/manifests/latest",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)["config"]["digest"]
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise


def push_images() -> None:
    for name in SERVED_IMAGES:
        repository = f"{images.REPOSITORY}/{name}"
        local = output("docker", "image", "inspect", "--format", "{{.Id}}", f"{repository}:latest")
        if served_config_digest(repository) == local:
            log(f"registry has {repository}:latest ({local[7:19]})")
            continue
        started = time.monotonic()
        target = f"127.0.0.1:{REGISTRY_PORT}/{repository}:latest"
        run("docker", "tag", f"{repository}:latest", target)
        try:
            run("docker", "push", "--quiet", target, stdout=subprocess.DEVNULL)
        finally:
            run("docker", "image", "rm", target, stdout=subprocess.DEVNULL)
        CHANGES.append(f"pushed {repository}")
        log(f"pushed {repository}:latest ({local[7:19]}) in {time.monotonic() - started:.1f}s")


def build_registry() -> str:
    gateway = bridge_gateway()
    with locked(REGISTRY_STORE.parent / "registry.lock"):
        ensure_registry(gateway)
        push_images()
    return f"http://{gateway}:{REGISTRY_PORT}"


def ensure_debian_http(mirror: Path) -> str:
    """The mirror over HTTP on the bridge gateway (image builds on a node cannot mount it)."""
    gateway = bridge_gateway()
    image = images.build(NODE_IMAGE)[0]
    wanted = f"{image} {mirror} true"
    state = subprocess.run(["docker", "inspect", "--format",
                            '{{.Config.Image}} {{index .Config.Labels "org.trtllm-deploy.mirror"}} {{.State.Running}}',
                            DEBIAN_HTTP], capture_output=True, text=True)
    if state.returncode == 0 and state.stdout.strip() != wanted:
        run("docker", "rm", "--force", DEBIAN_HTTP, stdout=subprocess.DEVNULL)
    if state.returncode != 0 or state.stdout.strip() != wanted:
        run("docker", "run", "--detach", "--name", DEBIAN_HTTP, "--restart", "unless-stopped",
            "--label", "org.trtllm-deploy.testbed=debian", "--label", f"org.trtllm-deploy.mirror={mirror}",
            "--publish", f"127.0.0.1:{DEBIAN_HTTP_PORT}:8000", "--publish", f"{gateway}:{DEBIAN_HTTP_PORT}:8000",
            "--volume", f"{mirror}:/srv/debian-mirror:ro", "--entrypoint", "python3", image,
            "-m", "http.server", "--directory", "/srv/debian-mirror", "8000", stdout=subprocess.DEVNULL)
        CHANGES.append(f"started {DEBIAN_HTTP}")
    deadline = time.monotonic() + DEADLINE_S
    url = f"http://127.0.0.1:{DEBIAN_HTTP_PORT}/dists/{SUITE}/InRelease"
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    break
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{DEBIAN_HTTP} did not serve {url} within {DEADLINE_S}s")
        time.sleep(0.2)
    return f"http://{gateway}:{DEBIAN_HTTP_PORT}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("parts", nargs="*", metavar="{debian,registry}", help="what to make ready (default: both)")
    args = parser.parse_args(argv)
    unknown = set(args.parts) - {"debian", "registry"}
    if unknown:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    result = {}
    for part in args.parts or ["debian", "registry"]:
        started = time.monotonic()
        if part == "debian":
            mirror = build_debian()
            # Suites run in two lanes: one caller at a time checks or starts the HTTP server.
            with locked(MIRRORS / "http.lock"):
                result.update(debian=str(mirror), debian_http=ensure_debian_http(mirror))
        else:
            result[part] = build_registry()
        log(f"{part} ready in {time.monotonic() - started:.1f}s")
    result["changed"] = bool(CHANGES)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
