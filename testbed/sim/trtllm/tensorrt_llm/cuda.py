"""GPU memory for the stand-ins: what a process holds on a simulated GPU, and CUDA's refusal.

The simulated GPUs of a node have the memory of their model (the stand-in `nvidia-smi`
knows it). A process that would allocate device memory takes an Allocation: a file in
the node's ledger (`/run/nvidia-sim/claims`, bind-mounted into every GPU container by the
stand-in runtime hook) that names the GPU's UUID and the bytes, locked with flock(2) for
as long as the process lives. The kernel drops the lock when the process ends, also when
it is killed, so memory is released exactly as CUDA releases it. `nvidia-smi` counts the
locked files; an unlocked one is left over from a dead process and is removed.

An allocation larger than what is free fails as CUDA does: PyTorch's OutOfMemoryError text
for the Python tools (conversion, trtllm-build), TensorRT-LLM's CUDA error for the runtime.

How much each stand-in asks for (sizes of the model the checkpoint stands for):
  every process, per GPU it touches   CONTEXT_BYTES (CUDA context and cuBLAS workspace)
  convert_checkpoint.py               the Hugging Face weights, spread over the visible GPUs
                                      (0.9.0 preloads them with device_map="auto" unless --load_by_shard)
  trtllm-build, per rank              that rank's weights + BUILDER_WORKSPACE_BYTES (TensorRT's builder),
                                      on GPU rank % min(visible GPUs, --workers), as 0.9.0's build.py
  the tensorrtllm backend, per rank   that rank's weights + RUNTIME_BUFFER_BYTES, then the KV cache:
                                      kv_cache_free_gpu_mem_fraction of what is free after that
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import uuid


def ledger() -> str:
    return os.environ.get("NVIDIA_SIM_LEDGER", "/run/nvidia-sim/claims")

MIB = 1 << 20
GIB = 1 << 30
CONTEXT_BYTES = 512 * MIB
BUILDER_WORKSPACE_BYTES = 2 * GIB
RUNTIME_BUFFER_BYTES = 1 * GIB
DTYPE_BYTES = {"float16": 2, "bfloat16": 2, "float32": 4}


class OutOfMemory(Exception):
    """An allocation that the GPU cannot hold; str() is the message the real tool prints."""


def no_gpu_allowed() -> bool:
    """Test-bed switch for running the stand-ins in a container started without GPUs."""
    return os.environ.get("TRTLLM_SIM_ALLOW_NO_GPU") == "1"


def visible_gpus() -> list[dict]:
    """The GPUs this process sees, as cudaGetDeviceProperties + cudaMemGetInfo would report them."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    result = subprocess.run([smi, "--query-gpu=index,uuid,memory.total,memory.free", "--format=csv,noheader,nounits"],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        return []
    gpus = []
    for line in result.stdout.splitlines():
        index, gpu_uuid, total, free = (part.strip() for part in line.split(","))
        gpus.append({"index": int(index), "uuid": gpu_uuid, "total": int(total) * MIB, "free": int(free) * MIB})
    return gpus


def model_bytes(config: dict, dtype: str) -> int:
    """Weight bytes of the model a config stands for (`sim_stands_for.parameters`), else of its own shape."""
    stands_for = config.get("sim_stands_for") or {}
    parameters = stands_for.get("parameters")
    if parameters is None:
        hidden, layers = config["hidden_size"], config["num_hidden_layers"]
        inter, vocab = config["intermediate_size"], config["vocab_size"]
        heads = config["num_attention_heads"]
        kv = hidden * config.get("num_key_value_heads", heads) // heads
        parameters = 2 * vocab * hidden + layers * (2 * hidden * hidden + 2 * hidden * kv + 3 * hidden * inter)
    return int(parameters) * DTYPE_BYTES.get(dtype, 2)


def _gib(value: int) -> str:
    return f"{value / GIB:.2f} GiB"


def torch_oom(gpu: dict, wanted: int) -> str:
    # PyTorch 2.2's CUDACachingAllocator message (c10/cuda/CUDACachingAllocator.cpp).
    return (f"torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate {_gib(wanted)}. "
            f"GPU {gpu['index']} has a total capacity of {_gib(gpu['total'])} of which {_gib(gpu['free'])} is free. "
            f"Of the allocated memory 0 bytes is allocated by PyTorch, and 0 bytes is reserved by PyTorch but "
            f"unallocated.")


def tensorrt_oom(gpu: dict, wanted: int) -> str:
    # TensorRT's builder allocator, as trtllm-build prints it (the detail in parentheses is the stand-in's).
    return (f"[TRT] [E] 1: [defaultAllocator.cpp::allocate::20] Error Code 1: Cuda Runtime (out of memory) "
            f"(GPU {gpu['index']}: {_gib(wanted)} requested, {_gib(gpu['free'])} free of {_gib(gpu['total'])})")


def trtllm_oom(gpu: dict, wanted: int, where: str) -> str:
    # TensorRT-LLM 0.9.0's TLLM_CUDA_CHECK text (cpp/include/tensorrt_llm/common/cudaUtils.h).
    return (f"[TensorRT-LLM][ERROR] CUDA runtime error in {where}: out of memory "
            f"(GPU {gpu['index']}: {_gib(wanted)} requested, {_gib(gpu['free'])} free of {_gib(gpu['total'])})")


class Allocation:
    """Device memory held by this process until release() or until the process ends."""

    def __init__(self) -> None:
        self._files: list[tuple[int, str]] = []

    def add(self, gpu: dict, nbytes: int, what: str) -> None:
        os.makedirs(ledger(), exist_ok=True)
        name = f"{gpu['uuid']}-{uuid.uuid4().hex}"
        staging = os.path.join(ledger(), f".{name}")
        fd = os.open(staging, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, json.dumps({"uuid": gpu["uuid"], "bytes": nbytes, "what": what, "pid": os.getpid()}).encode())
        # Counted only once named *.claim, and already locked then: nvidia-smi never sees it unowned.
        final = os.path.join(ledger(), f"{name}.claim")
        os.rename(staging, final)
        self._files.append((fd, final))

    def release(self) -> None:
        for fd, path in self._files:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            os.close(fd)
        self._files.clear()


@contextlib.contextmanager
def _ledger_lock():
    """One allocation decision at a time on the node, so two processes cannot take the same free bytes."""
    os.makedirs(ledger(), exist_ok=True)
    fd = os.open(os.path.join(ledger(), ".lock"), os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def allocate(wanted: dict[int, int], what: str, style: str = "torch", where: str = "cudaMalloc",
             allocation: Allocation | None = None) -> Allocation:
    """Take `wanted` (GPU index -> bytes, context included) on the visible GPUs, all or nothing."""
    allocation = allocation or Allocation()
    with _ledger_lock():
        gpus = {g["index"]: g for g in visible_gpus()}
        for index, nbytes in sorted(wanted.items()):
            gpu = gpus.get(index)
            if gpu is None:
                raise OutOfMemory(f"CUDA error: invalid device ordinal (GPU {index}; {len(gpus)} visible)")
            if nbytes > gpu["free"]:
                raise OutOfMemory({"torch": torch_oom(gpu, nbytes), "tensorrt": tensorrt_oom(gpu, nbytes)}.get(
                    style) or trtllm_oom(gpu, nbytes, where))
        for index, nbytes in sorted(wanted.items()):
            allocation.add(gpus[index], nbytes, what)
    return allocation


def free_bytes(index: int) -> int:
    """cudaMemGetInfo's free bytes on visible GPU `index` (0 when it is not there)."""
    return next((g["free"] for g in visible_gpus() if g["index"] == index), 0)
