"""The local git remotes the checkout role clones: real repositories, a submodule, LFS."""

from __future__ import annotations

import hashlib
import subprocess

import pytest
from conftest import MODELS, REPO

MAKE_REMOTES = REPO / "testbed" / "sim" / "make-remotes"


def git(cwd, *args) -> str:
    return subprocess.run(["git", "-c", "protocol.file.allow=always", *args], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def remotes(tmp_path_factory):
    dest = tmp_path_factory.mktemp("remotes")
    first = subprocess.run([MAKE_REMOTES, dest], check=True, capture_output=True, text=True).stdout
    second = subprocess.run([MAKE_REMOTES, dest], check=True, capture_output=True, text=True).stdout
    return dest, first, second


def test_same_sources_give_the_same_commits(remotes):
    _, first, second = remotes
    assert first == second and "r24.04=" in first and "v0.9.0=" in first


def test_seed_checkout_gets_the_submodule_and_lfs_objects(remotes, tmp_path):
    dest, _, _ = remotes
    git(tmp_path, "clone", "--quiet", str(dest / "tensorrtllm_backend.git"))
    work = tmp_path / "tensorrtllm_backend"
    git(work, "lfs", "install", "--local")
    git(work, "checkout", "--quiet", "-b", "r24.04", "-t", "origin/r24.04")
    git(work, "submodule", "update", "--init", "--recursive")
    assert git(work, "submodule", "status").split()[1:] == ["tensorrt_llm", "(v0.9.0)"]
    assert (work / "tensorrt_llm" / "examples" / "llama" / "convert_checkpoint.py").is_file()
    for path in ("scripts/launch_triton_server.py", "tools/fill_template.py",
                 *(f"all_models/inflight_batcher_llm/{m}/config.pbtxt" for m in MODELS)):
        assert (work / path).is_file(), path
    sample = work / "tools" / "dataset" / "lfs-sample.bin"
    assert "tools/dataset/lfs-sample.bin" in git(work, "lfs", "ls-files")
    expected = b"".join(hashlib.sha256(bytes([i])).digest() for i in range(256))
    assert sample.read_bytes() == expected, "the LFS object, not its pointer, is checked out"


def test_tensorrt_demo_is_filled_and_lacks_the_bls_lib(remotes, tmp_path):
    dest, _, _ = remotes
    git(tmp_path, "clone", "--quiet", str(dest / "tensorrt-demo.git"))
    repo = tmp_path / "tensorrt-demo" / "triton_model_repo"
    assert sorted(p.name for p in repo.iterdir()) == sorted(MODELS)
    assert (repo / "tensorrt_llm_bls" / "1" / "model.py").is_file()
    assert not (repo / "tensorrt_llm_bls" / "1" / "lib").exists()
    pre = (repo / "preprocessing" / "config.pbtxt").read_text()
    assert "max_batch_size: 256" in pre and '"/models/trt/Meta-Llama-3-8B-Instruct"' in pre
    assert "${tensorrt_llm_model_name}" in (repo / "tensorrt_llm_bls" / "config.pbtxt").read_text()
