"""The tritonserver-sim image under test: containers on the local Docker engine.

Every command runs inside the image; HTTP goes to the container's port 8000,
published on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

IMAGE = "trtllm-deploy/tritonserver-sim:latest"
REPO = Path(__file__).resolve().parents[2]
MAKE_REMOTES = REPO / "testbed" / "sim" / "make-remotes"
MODELS = ["ensemble", "postprocessing", "preprocessing", "tensorrt_llm", "tensorrt_llm_bls"]
SEED_REQUEST = {"text_input": "What is machine learning?", "max_tokens": 20, "bad_words": "", "stop_words": "",
                "pad_id": 2, "end_id": 2}
BUILD_FLAGS = [
    "--gpt_attention_plugin=float16", "--gemm_plugin=float16", "--remove_input_padding=enable",
    "--paged_kv_cache=enable", "--max_batch_size=256", "--max_input_len=2048", "--max_output_len=1024",
    "--max_num_tokens=1024", "--opt_num_tokens=1024", "--context_fmha=enable", "--use_paged_context_fmha=enable",
    "--context_fmha_fp32_acc=enable", "--multi_block_mode=enable",
]


# Run by the container's python3: its processes as JSON, read from /proc/PID/stat and cmdline.
PROCESSES = """
import json, os
found = []
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        stat = open(f"/proc/{pid}/stat").read()
        argv = open(f"/proc/{pid}/cmdline", "rb").read().split(bytes(1))[:-1]
    except OSError:
        continue
    fields = stat.rsplit(")", 1)[1].split()
    found.append({"pid": int(pid), "ppid": int(fields[1]), "state": fields[0],
                  "name": stat[stat.index("(") + 1:stat.rindex(")")],
                  "argv": [a.decode(errors="replace") for a in argv]})
print(json.dumps(found))
"""

class Sim:
    """One container of the image, with /tensorrtllm_backend and /models mounted from the host."""

    def __init__(self, client, backend: Path, models: Path, env: dict | None = None):
        self.container = client.containers.run(
            # init: a process whose parent ended (launch_triton_server.py does not wait for mpirun) is reaped, as
            # under a real container's init, instead of staying a zombie of `sleep`.
            IMAGE, ["sleep", "infinity"], detach=True, remove=True, shm_size="2g", init=True,
            environment={"TRTLLM_SIM_ALLOW_NO_GPU": "1", **(env or {})},
            ulimits=[{"name": "stack", "soft": 67108864, "hard": 67108864}],
            volumes={str(backend): {"bind": "/tensorrtllm_backend", "mode": "ro"},
                     str(models): {"bind": "/models", "mode": "rw"}},
            ports={"8000/tcp": ("127.0.0.1", None)},
        )
        self.container.reload()
        self.port = int(self.container.ports["8000/tcp"][0]["HostPort"])

    def run(self, *argv: str, workdir: str = "/", check: bool = True) -> tuple[int, str]:
        code, output = self.container.exec_run(list(argv), workdir=workdir, demux=False)
        text = output.decode(errors="replace") if output else ""
        if check and code != 0:
            raise AssertionError(f"{' '.join(argv)} exited {code}:\n{text}")
        return code, text

    def launch(self, model_repo: str, world_size: int = 1) -> None:
        self.run("python3", "scripts/launch_triton_server.py", f"--world_size={world_size}",
                 f"--model_repo={model_repo}", "--log", "--log-file=/tmp/triton.log", workdir="/tensorrtllm_backend")

    def log_tail(self, lines: int = 40) -> str:
        return self.run("tail", "-n", str(lines), "/tmp/triton.log", check=False)[1]

    def http(self, method: str, path: str, body: dict | None = None, timeout: float = 60) -> tuple[int, str]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except (urllib.error.URLError, ConnectionError):
            return 0, ""

    # The deadlines of these polls only bound a failure: a loaded machine (make test runs two lanes side by side)
    # may take minutes to start five Python models, and a poll returns as soon as the server is there.
    def wait_ready(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.http("GET", "/v2/health/ready", timeout=2)[0] == 200:
                return
            time.sleep(0.5)
        raise AssertionError(f"Triton not ready after {timeout:.0f}s; log tail:\n{self.log_tail()}")

    def wait_loaded(self, timeout: float = 300) -> dict[str, dict]:
        """Poll the repository index until no model is still loading; return it by name."""
        deadline = time.monotonic() + timeout
        while True:
            status, body = self.http("POST", "/v2/repository/index", {}, timeout=2)
            index = {m["name"]: m for m in json.loads(body)} if status == 200 else {}
            if index and all(m.get("state") not in ("LOADING", None) for m in index.values()):
                return index
            if time.monotonic() > deadline:
                raise AssertionError(f"models still loading after {timeout:.0f}s: {index}\n{self.log_tail()}")
            time.sleep(0.5)

    def processes(self) -> list[dict]:
        """The container's processes from /proc (pid, ppid, state, name, argv), not from ps's cut columns."""
        return json.loads(self.run("python3", "-c", PROCESSES)[1])

    def alive(self, name: str) -> bool:
        """Whether a process of that name runs (a zombie has ended: only its parent has not read its status)."""
        return any(p["name"] == name and p["state"] != "Z" for p in self.processes())

    def wait_exit(self, timeout: float = 300) -> str:
        """Wait for a server that fails to load to exit, as Triton does by default; return its log."""
        deadline = time.monotonic() + timeout
        while self.alive("tritonserver"):
            if time.monotonic() > deadline:
                listed = "\n".join(json.dumps(p) for p in self.processes())
                raise AssertionError(f"tritonserver still running after {timeout:.0f}s:\n{self.log_tail()}\n{listed}")
            time.sleep(0.5)
        return self.run("cat", "/tmp/triton.log")[1]

    def generate(self, model: str = "ensemble", **overrides) -> dict:
        status, body = self.http("POST", f"/v2/models/{model}/generate", {**SEED_REQUEST, **overrides})
        assert status == 200, body
        return json.loads(body)

    def generate_stream(self, model: str = "ensemble", **overrides) -> list[dict]:
        status, body = self.http("POST", f"/v2/models/{model}/generate_stream",
                                 {**SEED_REQUEST, "stream": True, **overrides})
        assert status == 200, body
        return [json.loads(line[len("data: "):]) for line in body.splitlines() if line.startswith("data: ")]

    def stop(self) -> None:
        self.container.stop(timeout=2)


@pytest.fixture(scope="session")
def docker_client():
    import docker

    client = docker.from_env()
    try:
        client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"{IMAGE} is missing: run `make images` first")
    return client


def copy_files(source: Path, target: Path) -> None:
    """Copy a tree's files by their bytes only: the fixtures are read-only, the copies must not be."""
    for path in sorted(source.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            (target / path.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
            (target / path.relative_to(source)).write_bytes(path.read_bytes())


def git(cwd, *args: str) -> str:
    return subprocess.run(["git", "-c", "protocol.file.allow=always", *args], cwd=cwd, check=True,
                          capture_output=True, text=True, env=dict(os.environ, GIT_LFS_SKIP_SMUDGE="1")).stdout.strip()


@pytest.fixture(scope="session")
def remotes(tmp_path_factory, fixtures) -> Path:
    """The git remotes the pipeline clones (testbed/sim/make-remotes, upstream's models from ../shared)."""
    dest = tmp_path_factory.mktemp("remotes")
    subprocess.run([MAKE_REMOTES, "--fixtures", fixtures, dest], check=True, capture_output=True)
    return dest


@pytest.fixture(scope="session")
def backend(tmp_path_factory, remotes) -> Path:
    """tensorrtllm_backend as the workflow checks it out: branch r24.04 with its tensorrt_llm submodule."""
    checkout = tmp_path_factory.mktemp("checkout")
    git(checkout, "clone", "--quiet", "--recurse-submodules", "--branch", "r24.04",
        str(remotes / "tensorrtllm_backend.git"))
    return checkout / "tensorrtllm_backend"


@pytest.fixture(scope="session")
def demo(tmp_path_factory, remotes) -> Path:
    """tensorrt-demo as the workflow checks it out."""
    checkout = tmp_path_factory.mktemp("checkout")
    git(checkout, "clone", "--quiet", str(remotes / "tensorrt-demo.git"))
    return checkout / "tensorrt-demo"


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def sim_factory(docker_client, backend, models):
    started: list[Sim] = []

    def start(env: dict | None = None) -> Sim:
        sim = Sim(docker_client, backend, models, env)
        started.append(sim)
        return sim

    yield start
    for sim in started:
        with contextlib.suppress(Exception):  # already gone
            sim.stop()


@pytest.fixture(scope="session")
def built(sim_factory) -> Sim:
    """The seed's steps 1-2 in the image: tiny HF model, TP1 and TP2 checkpoints and engines under /models."""
    sim = sim_factory()
    sim.run("trtllm-sim-tiny-llama", "/models/tiny")
    for tp in (1, 2):
        sim.run("python3", "convert_checkpoint.py", "--model_dir=/models/tiny", "--dtype=float16",
                f"--tp_size={tp}", f"--output_dir=/models/ckpt-tp{tp}", "--workers=2",
                workdir="/tensorrtllm_backend/tensorrt_llm/examples/llama")
        sim.run("trtllm-build", f"--checkpoint_dir=/models/ckpt-tp{tp}", f"--output_dir=/models/engine-tp{tp}",
                f"--tp_size={tp}", *BUILD_FLAGS)
    sim.stop()
    return sim
