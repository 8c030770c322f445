"""The local git remotes the checkout role clones: real repositories, a submodule, LFS, upstream's models."""

from __future__ import annotations

import hashlib
import subprocess

import pytest
from conftest import MAKE_REMOTES, MODELS

BACKEND = "tensorrtllm_backend-r24.04"
PYTHON_MODELS = ("preprocessing", "postprocessing", "tensorrt_llm_bls")


def git(cwd, *args) -> str:
    return subprocess.run(["git", "-c", "protocol.file.allow=always", *args], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout.strip()


def files_of(root) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".git" not in p.relative_to(root).parts}


@pytest.fixture(scope="module")
def made_twice(tmp_path_factory, fixtures):
    """Two runs into one destination; the default fixtures path (../shared beside the checkout) is used."""
    dest = tmp_path_factory.mktemp("remotes")
    first = subprocess.run([MAKE_REMOTES, dest], check=True, capture_output=True, text=True).stdout
    second = subprocess.run([MAKE_REMOTES, "--fixtures", fixtures, dest], check=True, capture_output=True,
                            text=True).stdout
    return dest, first, second


def test_same_sources_give_the_same_commits(made_twice):
    _, first, second = made_twice
    assert first == second and "r24.04=" in first and "v0.9.0=" in first


def test_missing_fixtures_are_named(tmp_path):
    done = subprocess.run([MAKE_REMOTES, "--fixtures", tmp_path / "nowhere", tmp_path / "git"], capture_output=True,
                          text=True)
    assert done.returncode != 0 and f"{tmp_path}/nowhere/{BACKEND}/LICENSE" in done.stderr
    assert not (tmp_path / "git").exists()


def test_r24_04_carries_upstream_models_unchanged_and_their_license(backend, fixtures):
    models = backend / "all_models" / "inflight_batcher_llm"
    for model in MODELS:
        assert (models / model / "config.pbtxt").read_bytes() == \
            (fixtures / BACKEND / model / "config.pbtxt").read_bytes()
    for model in PYTHON_MODELS:
        assert files_of(models / model / "1") == files_of(fixtures / BACKEND / model / "1"), model
    assert files_of(models / "ensemble" / "1") == {".tmp": b""}  # as upstream keeps its empty version folders
    assert files_of(models / "tensorrt_llm" / "1") == {".gitkeep": b""}
    assert (backend / "LICENSE").read_bytes() == (fixtures / BACKEND / "LICENSE").read_bytes()


def test_seed_checkout_gets_the_submodule_and_lfs_objects(made_twice, tmp_path):
    dest, _, _ = made_twice
    git(tmp_path, "clone", "--quiet", str(dest / "tensorrtllm_backend.git"))
    work = tmp_path / "tensorrtllm_backend"
    git(work, "lfs", "install", "--local")
    git(work, "checkout", "--quiet", "-b", "r24.04", "-t", "origin/r24.04")
    git(work, "submodule", "update", "--init", "--recursive")
    assert git(work, "submodule", "status").split()[1:] == ["tensorrt_llm", "(v0.9.0)"]
    assert (work / "tensorrt_llm" / "examples" / "llama" / "convert_checkpoint.py").is_file()
    assert (work / "tensorrt_llm" / "3rdparty" / "json" / "README.md").is_file(), "nested submodules, as upstream"
    for path in ("scripts/launch_triton_server.py", "tools/fill_template.py",
                 *(f"all_models/inflight_batcher_llm/{m}/config.pbtxt" for m in MODELS)):
        assert (work / path).is_file(), path
    # As upstream: the backend has no LFS file, TensorRT-LLM keeps its static libraries in LFS.
    assert git(work, "lfs", "ls-files") == ""
    library = "cpp/tensorrt_llm/batch_manager/x86_64-linux-gnu/libtensorrt_llm_batch_manager_static.a"
    assert library in git(work / "tensorrt_llm", "lfs", "ls-files")
    expected = b"".join(hashlib.sha256(bytes([i])).digest() for i in range(256))
    assert (work / "tensorrt_llm" / library).read_bytes() == expected, "the LFS object, not its pointer, is checked out"


def test_tensorrt_demo_is_filled_and_lacks_the_bls_lib(demo, fixtures):
    repo = demo / "triton_model_repo"
    assert sorted(p.name for p in repo.iterdir()) == sorted(MODELS)
    for model in MODELS:
        assert (repo / model / "config.pbtxt").read_bytes() == \
            (fixtures / "tensorrt-demo" / model / "config.pbtxt").read_bytes()
    for model in PYTHON_MODELS:  # the same model.py files as r24.04
        code = (fixtures / BACKEND / model / "1" / "model.py").read_bytes()
        assert files_of(repo / model / "1") == {"model.py": code}, model
    assert not (repo / "tensorrt_llm_bls" / "1" / "lib").exists()
    assert (demo / "LICENSE.tensorrtllm_backend").read_bytes() == (fixtures / BACKEND / "LICENSE").read_bytes()
    pre = (repo / "preprocessing" / "config.pbtxt").read_text()
    assert "max_batch_size: 256" in pre and '"/models/trt/Meta-Llama-3-8B-Instruct"' in pre
    assert "${tensorrt_llm_model_name}" in (repo / "tensorrt_llm_bls" / "config.pbtxt").read_text()
