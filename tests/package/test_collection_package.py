"""The built collection is the product and nothing of the test bed.

`ansible-galaxy collection build` ships no test-bed file; the tarball, installed with
`ansible-galaxy collection install` into an empty collections path, is what Ansible resolves
from a directory outside the checkout, and `ansible-playbook trtllm.deploy.site` from there
serves the model on a simulated node of this test's own.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
NODE = "trtllm-node-package"
TESTBED_VARS = REPO / "testbed" / "inventories" / "local" / "group_vars"
REQUEST = {"text_input": "What is machine learning?", "max_tokens": 8, "bad_words": "", "stop_words": "",
           "pad_id": 2, "end_id": 2}

# What galaxy.yml's build_ignore keeps out: the test bed, development tooling of a checkout,
# and the CLI (a Python package of its own). Dot files and folders are matched separately.
TEST_BED_DIRS = ("testbed", "tests", "molecule", "benchmarks", "artifacts", "src", "build", "inventories/local")
TEST_BED_FILES = {"Makefile", "ansible.cfg", "requirements-dev.txt", "pyproject.toml"}
# Everything at the tarball's top level and under inventories/: a new entry there is a decision.
PRODUCT_TOP = {"MANIFEST.json", "FILES.json", "README.md", "COPYING", "CHANGELOG.md", "requirements.txt", "meta",
               "roles", "plugins", "playbooks", "docs", "inventories", "site.yml"}
SAMPLE_INVENTORIES = {"a100", "fleet", "multinode"}
PRODUCT_FILES = {"MANIFEST.json", "FILES.json", "README.md", "COPYING", "CHANGELOG.md", "requirements.txt",
                 "meta/runtime.yml", "meta/execution-environment.yml", "site.yml", "playbooks/site.yml",
                 "inventories/a100/hosts.yml", "inventories/fleet/hosts.yml", "inventories/multinode/hosts.yml"}
# A user's configuration: nothing in it points at the checkout.
USER_CFG = """[defaults]
host_key_checking = False
interpreter_python = auto_silent
retry_files_enabled = False
gathering = smart

[connection]
pipelining = True
"""
RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.MULTILINE)


def run(argv: list, env: dict, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def outside_env() -> dict:
    """This environment without anything that points Ansible or Python at the checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_") and k != "PYTHONPATH"}
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    return env


def product_paths() -> set[str]:
    """What the tarball must hold besides PRODUCT_FILES: every role, module, filter and playbook."""
    paths = {f"roles/{role.name}/meta/main.yml" for role in (REPO / "roles").iterdir() if role.is_dir()}
    for kind in ("modules", "module_utils", "filter"):
        paths |= {f"plugins/{kind}/{p.name}" for p in (REPO / "plugins" / kind).glob("*.py")}
    return paths | {f"playbooks/{p.name}" for p in (REPO / "playbooks").glob("*.yml")}


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("package")
    assert not root.resolve().is_relative_to(REPO), "the work directory must be outside the checkout"
    return root


@pytest.fixture(scope="module")
def tarball(work) -> Path:
    out = work / "dist"
    out.mkdir()
    built = run([BIN / "ansible-galaxy", "collection", "build", REPO, "--output-path", out], outside_env(), out)
    assert built.returncode == 0, built.stdout + built.stderr
    (path,) = out.glob("trtllm-deploy-*.tar.gz")
    return path


@pytest.fixture(scope="module")
def installed(work, tarball) -> dict:
    """The tarball installed into an empty path; the environment that sees only it (and the
    `ansible` package's collections for community.docker and community.general)."""
    collections = work / "collections"
    collections.mkdir()
    env = outside_env()
    done = run([BIN / "ansible-galaxy", "collection", "install", tarball, "-p", collections, "--no-deps"], env, work)
    assert done.returncode == 0, done.stdout + done.stderr
    probe = run([sys.executable, "-c", "import ansible_collections.community.docker as m; print(list(m.__path__)[0])"],
                env, work)
    assert probe.returncode == 0, probe.stderr
    bundled = Path(probe.stdout.strip()).parents[2]
    assert not bundled.resolve().is_relative_to(REPO / ".collections")
    (work / "ansible.cfg").write_text(USER_CFG)
    (work / "roles").mkdir()
    env.update(ANSIBLE_CONFIG=str(work / "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=f"{collections}{os.pathsep}{bundled}",
               ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="False",
               ANSIBLE_ROLES_PATH=str(work / "roles"),
               ANSIBLE_LOCAL_TEMP=str(work / ".ansible-tmp"))
    return {"env": env, "path": collections / "ansible_collections" / "trtllm" / "deploy"}


@pytest.fixture(scope="module")
def node() -> Iterator[tuple[str, int]]:
    """A fresh prepared simulated node with the git mirrors; (name, loopback port of its 8000)."""
    remove = [sys.executable, str(REPO / "testbed" / "nodes.py"), "remove", NODE]
    subprocess.run(remove, capture_output=True)
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=str(REPO / ".collections"))
    try:
        started = run([BIN / "ansible-playbook", REPO / "tests" / "package" / "node.yml", "-e", f"package_node={NODE}"],
                      env, REPO, timeout=600)
        assert started.returncode == 0, started.stdout[-3000:] + started.stderr[-2000:]
        port = subprocess.run(["docker", "port", NODE, "8000/tcp"], capture_output=True, text=True, check=True)
        yield NODE, int(port.stdout.split()[0].rsplit(":", 1)[1])
    finally:
        subprocess.run(remove, capture_output=True)


def test_the_tarball_holds_the_product_and_no_test_bed_file(tarball):
    with tarfile.open(tarball) as tar:
        members = {m.name.rstrip("/") for m in tar.getmembers()}
    test_bed = sorted(m for m in members
                      if m.split("/")[0].startswith(".") or m in TEST_BED_FILES
                      or any(m == d or m.startswith(d + "/") for d in TEST_BED_DIRS)
                      or "__pycache__" in m.split("/") or m.endswith(".pyc"))
    assert test_bed == []
    assert sorted({m.split("/")[0] for m in members} - PRODUCT_TOP) == []
    assert {m.split("/")[1] for m in members if m.startswith("inventories/")} == SAMPLE_INVENTORIES
    assert sorted((PRODUCT_FILES | product_paths()) - members) == []
    assert len(members) > len(PRODUCT_FILES)


def test_ansible_resolves_the_installed_copy(installed, work):
    env, path = installed["env"], installed["path"]
    listed = run([BIN / "ansible-galaxy", "collection", "list", "trtllm.deploy", "--format", "json"], env, work)
    assert listed.returncode == 0, listed.stderr
    version = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]
    assert json.loads(listed.stdout) == {str(path.parents[1]): {"trtllm.deploy": {"version": version}}}
    doc = run([BIN / "ansible-doc", "-j", "trtllm.deploy.trtllm_build"], env, work)
    assert doc.returncode == 0, doc.stderr
    assert json.loads(doc.stdout)["trtllm.deploy.trtllm_build"]["doc"]["filename"] == \
        str(path / "plugins" / "modules" / "trtllm_build.py")
    assert not (path / "testbed").exists() and not (path / "tests").exists()
    assert (path / "requirements.txt").is_file() and (path / "playbooks" / "site.yml").is_file()


def test_site_by_fqcn_serves_a_simulated_node(installed, node, work):
    name, port = node
    inventory = work / "inventory"
    shutil.copytree(TESTBED_VARS, inventory / "group_vars")
    (inventory / "hosts.yml").write_text(json.dumps({"all": {"children": {"gpu_nodes": {"hosts": {name: None}}}}}))
    argv = [BIN / "ansible-playbook", "trtllm.deploy.site", "-i", inventory]

    first = run(argv, installed["env"], work, timeout=900)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    recap = {m[0]: tuple(int(n) for n in m[1:]) for m in RECAP.findall(first.stdout)}
    assert list(recap) == [name] and recap[name][2:] == (0, 0) and recap[name][1] > 0, recap

    answer = generate(port)
    assert isinstance(answer.get("text_output"), str) and answer["text_output"].strip(), answer

    second = run(argv, installed["env"], work, timeout=900)
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-2000:]
    recap = {m[0]: tuple(int(n) for n in m[1:]) for m in RECAP.findall(second.stdout)}
    assert recap[name][1:] == (0, 0, 0), recap


def test_the_cli_outside_a_checkout_validates_with_the_installed_collection(installed, work):
    """The CLI's package laid out as a wheel installs it (site-packages/trtllm_deploy, no checkout around it), run
    from a directory outside the checkout: it finds the installed collection and runs its validate playbook."""
    site = work / "site-packages"
    shutil.copytree(REPO / "src" / "trtllm_deploy", site / "trtllm_deploy",
                    ignore=shutil.ignore_patterns("__pycache__"))
    inventory = work / "cli-inventory"
    shutil.copytree(installed["path"] / "inventories" / "a100", inventory)
    env = dict(installed["env"], PYTHONPATH=str(site))
    argv = [sys.executable, "-m", "trtllm_deploy", "validate", "-i", inventory, "--plain",
            "--artifacts", work / "cli-artifacts"]

    where = "from trtllm_deploy import project; print(project.__file__, project.project_dir())"
    found = run([sys.executable, "-c", where], env, work)
    assert found.stdout.split() == [str(site / "trtllm_deploy" / "project.py"), str(installed["path"])], found.stderr
    ok = run(argv, env, work, timeout=300)
    assert ok.returncode == 0 and "validate: ok" in ok.stdout, ok.stdout[-2000:] + ok.stderr[-2000:]
    bad = run([*argv, "-e", "trtllm_tp_size=0"], env, work, timeout=300)
    assert bad.returncode == 4 and "trtllm_tp_size must be at least 1, got 0" in bad.stderr, bad.stderr[-2000:]
    missing = run(argv, dict(env, ANSIBLE_COLLECTIONS_PATH=str(work / "no-collections")), work)
    assert missing.returncode == 4, missing.stdout + missing.stderr
    assert "ansible-galaxy collection install" in missing.stderr and str(work / "no-collections") in missing.stderr
    assert "Traceback" not in ok.stderr + bad.stderr + missing.stderr


def generate(port: int, within: float = 60) -> dict:
    """The workflow's generate request on the node's published port, retried until `within` seconds."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v2/models/ensemble/generate",
                                     data=json.dumps(REQUEST).encode(), headers={"Content-Type": "application/json"})
    deadline = time.monotonic() + within
    while True:
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as err:
            raise AssertionError(f"HTTP {err.code} from 127.0.0.1:{port}: {err.read()[:2000]!r}") from err
        except (urllib.error.URLError, ConnectionError) as err:
            if time.monotonic() > deadline:
                raise AssertionError(f"no answer from 127.0.0.1:{port} within {within}s: {err}") from err
            time.sleep(0.5)
