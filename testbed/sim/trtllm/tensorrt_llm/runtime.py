"""Running stand-in engines: one process per MPI rank, rank 0 leads.

Rank 0 drives generation and sums the partial results of the other tensor-parallel
ranks (the real runtime uses NCCL between GPUs). On one host it reaches them over a
Unix socket named after the MPI job. When the job's ranks span hosts it listens on
TCP on the address of the interface NCCL_SOCKET_IFNAME picks, and tells the others
that address through MPI itself (MPI_Bcast from rank 0, as TensorRT-LLM hands out
NCCL's unique id), so a rank on another host reaches it only when MPI and the
interface variables are right. Ranks > 0 only serve their shard, so, as with the
real backend, their Triton servers never finish loading and only rank 0 serves.
"""

from __future__ import annotations

import ctypes
import fcntl
import hashlib
import os
import socket
import struct
import threading
import time
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path

import numpy as np

from .engine import EngineError, read_config, read_rank
from .llama import Shard


def mpi_rank_and_size() -> tuple[int, int]:
    rank = int(os.environ.get("OMPI_COMM_WORLD_RANK", os.environ.get("PMI_RANK", "0")))
    size = int(os.environ.get("OMPI_COMM_WORLD_SIZE", os.environ.get("PMI_SIZE", "1")))
    return rank, size


def spans_hosts() -> bool:
    """Whether the MPI job has ranks on other hosts (Open MPI: fewer ranks here than in the world)."""
    _, size = mpi_rank_and_size()
    return int(os.environ.get("OMPI_COMM_WORLD_LOCAL_SIZE", size)) < size


def rendezvous(engine_dir: Path) -> tuple[str, bytes]:
    """A socket path and key shared by the ranks of one MPI job and no other job."""
    job = os.environ.get("PMIX_NAMESPACE") or os.environ.get("OMPI_MCA_ess_base_jobid")  # noqa: SIM112 or "single"
    digest = hashlib.sha256(f"{job}\0{engine_dir.resolve()}".encode()).hexdigest()
    return f"/tmp/trtllm-sim-{digest[:16]}.sock", digest.encode()


def interface_address(spec: str | None = None) -> str:
    """The IPv4 address of the interface NCCL would use: NCCL_SOCKET_IFNAME's prefixes (`^` excludes them,
    `=` matches names exactly), else the first interface that is neither lo nor docker*."""
    spec = os.environ.get("NCCL_SOCKET_IFNAME", "") if spec is None else spec
    exclude = spec.startswith("^")
    spec = spec.lstrip("^")
    exact = spec.startswith("=")
    prefixes = [p for p in spec.lstrip("=").split(",") if p] or (["lo", "docker"] if not spec else [])
    exclude = exclude or not spec

    def chosen(name: str) -> bool:
        hit = any(name == p if exact else name.startswith(p) for p in prefixes)
        return not hit if exclude else hit

    for _, name in socket.if_nameindex():
        if not chosen(name):
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:  # SIOCGIFADDR
                answer = fcntl.ioctl(probe.fileno(), 0x8915, struct.pack("256s", name[:15].encode()))
            except OSError:
                continue  # no IPv4 address
            return socket.inet_ntoa(answer[20:24])
    raise EngineError(f"no network interface matches NCCL_SOCKET_IFNAME={spec or '(unset)'!r}: "
                      f"this host has {', '.join(n for _, n in socket.if_nameindex())}")


class MPI:
    """The few calls of Open MPI's C API the stand-in needs, through ctypes (libmpi of the image's Open MPI)."""

    def __init__(self):
        self.lib = ctypes.CDLL("libmpi.so.40", mode=ctypes.RTLD_GLOBAL)
        if self.lib.MPI_Init(None, None) != 0:
            raise EngineError("MPI_Init failed")
        self.world = ctypes.c_void_p(ctypes.addressof(ctypes.c_char.in_dll(self.lib, "ompi_mpi_comm_world")))
        self.char = ctypes.c_void_p(ctypes.addressof(ctypes.c_char.in_dll(self.lib, "ompi_mpi_char")))

    def bcast_text(self, text: str = "", size: int = 256) -> str:
        buffer = ctypes.create_string_buffer(text.encode(), size)
        if self.lib.MPI_Bcast(buffer, size, self.char, 0, self.world) != 0:
            raise EngineError("MPI_Bcast failed")
        return buffer.value.decode()


def load_shard(engine_dir: Path, rank: int) -> tuple[dict, Shard]:
    config = read_config(engine_dir)
    check_all_reduce(config)
    return config, Shard(config["pretrained_config"], read_rank(engine_dir, rank))


def check_all_reduce(config: dict) -> None:
    """0.9.0's custom all-reduce (the plugin config's default) needs every tensor-parallel peer's CUDA IPC memory:
    each rank opens the others' handles (runtime/ipcUtils.cpp, IpcMemory, cudaIpcOpenMemHandle), which a process
    on another host cannot. The real rank fails while its model instance is created; so does this one."""
    mapping = config["pretrained_config"]["mapping"]
    custom = config.get("build_config", {}).get("plugin_config", {}).get("use_custom_all_reduce", True)
    if mapping["tp_size"] > 1 and custom and spans_hosts():
        raise EngineError(
            "CUDA runtime error in cudaIpcOpenMemHandle("
            "reinterpret_cast<void**>(&foreignBuffer), handles[nodeId], cudaIpcMemLazyEnablePeerAccess): "
            "invalid argument (/src/tensorrt_llm/cpp/tensorrt_llm/runtime/ipcUtils.cpp:90)")


class Leader:
    """Rank 0: holds its shard and connections to the other tensor-parallel ranks."""

    def __init__(self, engine_dir: Path, world_size: int, timeout: float = 300.0):
        self.config, self.shard = load_shard(engine_dir, 0)
        mapping = self.config["pretrained_config"]["mapping"]
        if mapping["world_size"] != world_size:
            raise EngineError(
                f"the engine in {engine_dir} was built for world_size {mapping['world_size']} "
                f"(tp_size {mapping['tp_size']} x pp_size {mapping['pp_size']}) but {world_size} MPI rank(s) run it; "
                f"launch with launch_triton_server.py --world_size {mapping['world_size']}")
        self.vocab_size = self.config["pretrained_config"]["vocab_size"]
        # Test-bed setting, not TensorRT-LLM's: every generated token takes this much longer, so a benchmark's
        # gate can be seen to fail on a server slowed on purpose.
        self.token_delay = float(os.environ.get("TRTLLM_SIM_TOKEN_DELAY_MS") or 0) / 1000
        self.peers: dict[int, Connection] = {}
        self.lock = threading.Lock()
        if world_size > 1:
            self._accept(engine_dir, world_size, timeout)

    def _accept(self, engine_dir: Path, world_size: int, timeout: float) -> None:
        address, key = rendezvous(engine_dir)
        if spans_hosts():
            listener = Listener((interface_address(), 0), family="AF_INET", authkey=key)
            host, port = listener.address
            MPI().bcast_text(f"{host}:{port}")
        else:
            if os.path.exists(address):
                os.unlink(address)
            listener = Listener(address, family="AF_UNIX", authkey=key)
        listener._listener._socket.settimeout(timeout)
        try:
            while len(self.peers) < world_size - 1:
                conn = listener.accept()
                rank = conn.recv()
                self.peers[rank] = conn
        except OSError as exc:
            raise EngineError(f"only {len(self.peers) + 1} of {world_size} ranks joined within {timeout:.0f}s") from exc
        finally:
            listener.close()

    def _parallel(self, op: str, layer: int, x: np.ndarray) -> list[np.ndarray]:
        """Run op on every tensor-parallel rank, this one included; results in rank order."""
        tp = self.config["pretrained_config"]["mapping"]["tp_size"]
        peers = [self.peers[r] for r in range(1, tp)]
        for conn in peers:
            conn.send((op, layer, x))
        own = self.shard.logits(x) if op == "logits" else getattr(self.shard, op)(layer, x)
        return [own] + [conn.recv() for conn in peers]

    def logits(self, ids: list[int]) -> np.ndarray:
        """Logits of the next token after ids (full forward; the stand-in keeps no KV cache)."""
        with self.lock:
            x = self.shard.embed(ids)
            for layer in range(self.shard.layers):
                x = x + sum(self._parallel("attention", layer, x))  # all-reduce
                x = x + sum(self._parallel("mlp", layer, x))
            parts = self._parallel("logits", 0, x[-1:])  # all-gather over the vocabulary
            return np.concatenate(parts, axis=-1)[0, : self.vocab_size]

    def close(self) -> None:
        for conn in self.peers.values():
            conn.close()


def serve_worker(engine_dir: Path, rank: int, timeout: float = 300.0) -> None:
    """Ranks > 0: serve this rank's shard to rank 0 until it goes away. Never returns early."""
    _, shard = load_shard(engine_dir, rank)
    address, key = rendezvous(engine_dir)
    family = "AF_UNIX"
    if spans_hosts():
        host, _, port = MPI().bcast_text().rpartition(":")
        address, family = (host, int(port)), "AF_INET"
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn = Client(address, family=family, authkey=key)
            break
        except (FileNotFoundError, ConnectionRefusedError):
            if time.monotonic() > deadline:
                raise EngineError(f"rank {rank}: rank 0 did not open {address} within {timeout:.0f}s") from None
            time.sleep(0.2)
    conn.send(rank)
    ops = {"attention": shard.attention, "mlp": shard.mlp, "logits": lambda _layer, x: shard.logits(x)}
    while True:
        try:
            op, layer, x = conn.recv()
        except EOFError:
            return
        conn.send(ops[op](layer, x))


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max()
    return shifted - np.log(np.exp(shifted).sum())


def generate(leader: Leader, ids: list[int], max_new_tokens: int, end_id: int | None = None,
             stop_words: list[list[int]] = (), bad_words: list[list[int]] = (), min_length: int = 0,
             top_k: int = 1, top_p: float = 0.0, temperature: float = 1.0, seed: int = 0):
    """Yield (token, log_prob) for each generated token; stop at end_id or a stop word (not yielded)."""
    rng = np.random.default_rng(seed)
    sequence = list(ids)
    banned = [w[0] for w in bad_words if len(w) == 1]
    for step in range(max_new_tokens):
        if leader.token_delay:
            time.sleep(leader.token_delay)
        logits = leader.logits(sequence).astype(np.float64)
        if banned:
            logits[banned] = -np.inf
        if end_id is not None and step < min_length and 0 <= end_id < logits.size:
            logits[end_id] = -np.inf
        logp = log_softmax(logits / max(temperature, 1e-6))
        if top_k <= 1 and top_p <= 0.0:
            token = int(np.argmax(logp))
        else:
            order = np.argsort(-logp)[: max(top_k, 1) if top_k > 0 else logp.size]
            probs = np.exp(logp[order])
            if 0.0 < top_p < 1.0:
                keep = np.cumsum(probs) - probs < top_p
                order, probs = order[keep], probs[keep]
            token = int(rng.choice(order, p=probs / probs.sum()))
        if end_id is not None and token == end_id:
            return
        sequence.append(token)
        yield token, float(logp[token])
        generated = sequence[len(ids):]
        if any(w and generated[-len(w):] == list(w) for w in stop_words):
            return
