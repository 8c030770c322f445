"""The stand-in GPUs' memory: held by live processes, released when they die, refused as CUDA refuses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from conftest import REPO

SIM = REPO / "testbed" / "sim"
MIB = 1 << 20


@pytest.fixture
def node(tmp_path, monkeypatch):
    """One simulated H100 node: nvidia-smi on PATH, its config and ledger under tmp_path."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    smi = bindir / "nvidia-smi"
    smi.write_text(f"#!/bin/sh\nexec {sys.executable} {SIM / 'nvidia_smi.py'} \"$@\"\n")
    smi.chmod(0o755)
    config = tmp_path / "nvidia-sim.json"
    config.write_text(json.dumps({"profile": "h100-80gb-hbm3", "count": 2}))
    env = {"PATH": f"{bindir}:{os.environ['PATH']}", "NVIDIA_SIM_CONFIG": str(config),
           "NVIDIA_SIM_LEDGER": str(tmp_path / "claims"), "PYTHONPATH": str(SIM / "trtllm")}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def used_mib() -> list[int]:
    out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                         capture_output=True, text=True, check=True).stdout
    return [int(v) for v in out.split()]


HOLDER = """
import sys
from tensorrt_llm import cuda
cuda.allocate({0: 10 * cuda.GIB}, "holder")
print("held", flush=True)
sys.stdin.read()
"""


def test_memory_is_held_while_the_process_lives_and_freed_when_it_is_killed(node):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert used_mib() == [10240, 0]
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert used_mib() == [0, 0]


def test_an_allocation_beyond_what_is_free_fails_as_pytorch_says_and_takes_nothing(node):
    sys.path.insert(0, node["PYTHONPATH"])
    from tensorrt_llm import cuda

    held = cuda.allocate({0: 70 * cuda.GIB, 1: 1 * cuda.GIB}, "server")
    with pytest.raises(cuda.OutOfMemory, match=r"^torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to "
                                                r"allocate 16.00 GiB. GPU 0 has a total capacity of 79.\d\d GiB"):
        cuda.allocate({0: 16 * cuda.GIB, 1: 16 * cuda.GIB}, "conversion")
    assert used_mib() == [70 * 1024, 1024], "all or nothing: GPU 1 got nothing either"
    held.release()
    assert used_mib() == [0, 0]


def test_the_server_sized_like_the_workflows_llama3_8b_leaves_no_room_for_a_conversion(node):
    """The workflow's node shows 74665 MiB of 81920 in use while serving; a conversion then needs ~16 GB."""
    sys.path.insert(0, node["PYTHONPATH"])
    from tensorrt_llm import cuda

    config = {"sim_stands_for": {"parameters": 8030261248}}
    weights = cuda.model_bytes(config, "float16")
    held = cuda.allocate({0: weights + cuda.RUNTIME_BUFFER_BYTES + cuda.CONTEXT_BYTES}, "engine", style="trtllm")
    cuda.allocate({0: int(cuda.free_bytes(0) * 0.9)}, "kv cache", style="trtllm", allocation=held)
    assert 70000 < used_mib()[0] < 80000
    with pytest.raises(cuda.OutOfMemory, match="CUDA out of memory"):
        cuda.allocate({0: weights + cuda.CONTEXT_BYTES}, "convert_checkpoint.py")
    held.release()


def test_a_stale_claim_of_a_dead_process_is_dropped(node, tmp_path):
    claims = tmp_path / "claims"
    claims.mkdir()
    (claims / "GPU-dead-1.claim").write_text(json.dumps({"uuid": "any", "bytes": 5 * MIB}))
    assert used_mib() == [0, 0]
    assert not (claims / "GPU-dead-1.claim").exists()
