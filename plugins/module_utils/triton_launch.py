# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the serving container starts: the server's command (one-shot runs: module_utils/docker_cli).

No Ansible imports. server_command() is the command tensorrtllm_backend r24.04's
scripts/launch_triton_server.py builds (get_cmd), run in the foreground as the
container's main process instead of in the background by the script.
"""

from __future__ import annotations

TRITONSERVER = "/opt/tritonserver/bin/tritonserver"


def server_command(world_size: int, model_repo: str, http_port: int, grpc_port: int, metrics_port: int,
                   tensorrt_llm_model_names: list[str] | None = None, tritonserver: str = TRITONSERVER,
                   extra_args: list[str] | None = None, cluster: dict | None = None) -> list[str]:
    """One MPMD mpirun: a tritonserver per rank. Ranks > 0 load only the TensorRT-LLM model(s).

    As r24.04's get_cmd: `mpirun --allow-run-as-root`, then per rank `-n 1 tritonserver
    --model-repository=R [ranks > 0: --model-control-mode=explicit --load-model=M ...]
    --grpc-port --http-port --metrics-port --disable-auto-complete-config
    --backend-config=python,shm-region-prefix-name=prefix{i}_ :`. Its `--log` (which adds
    --log-verbose=3 on rank 0) is left out: Docker's logging driver keeps the output.
    """
    if int(world_size) < 1:
        raise ValueError(f"world_size must be at least 1, got {world_size}")
    names = list(tensorrt_llm_model_names or ["tensorrt_llm"])
    options, exports = cluster_options(int(world_size), **cluster) if cluster else ([], [])
    argv = ["mpirun", "--allow-run-as-root"] + options
    for rank in range(int(world_size)):
        argv += ["-n", "1"] + exports + [tritonserver, f"--model-repository={model_repo}"]
        if rank != 0:
            argv += ["--model-control-mode=explicit"] + [f"--load-model={name}" for name in names]
            if cluster:  # NVIDIA's multi-node guides for 24.04: only rank 0 answers clients.
                argv += ["--allow-http=false", "--allow-grpc=false", "--allow-metrics=false"]
        argv += [f"--grpc-port={grpc_port}", f"--http-port={http_port}", f"--metrics-port={metrics_port}",
                 "--disable-auto-complete-config", f"--backend-config=python,shm-region-prefix-name=prefix{rank}_"]
        argv += list(extra_args or [])
        argv.append(":")
    return argv


def cluster_options(world_size: int, hosts: list[str], slots: int, ssh_port: int, key: str, known_hosts: str,
                    interface: str = "", env: list[str] | None = None, mpi_prefix: str = "") -> tuple[list, list]:
    """mpirun's options for one instance over several hosts, as (global options, each rank's options).

    Global: ranks by slot over `hosts` (rank 0 first, on the host running mpirun), Open MPI's ssh launcher on the
    members' own sshd (`ssh_port`, the cluster's key, their host keys pinned in `known_hosts`), MPI's traffic on
    `interface`. Each rank: `-x` for the environment remote ranks need (ssh sessions do not carry the
    container's), NCCL's interface among it. In an MPMD command line `-x` belongs to the app context it is in
    (Open MPI 4.1 gave rank 1 neither PATH nor LD_LIBRARY_PATH with them before the first context only), so
    every rank gets them."""
    if len(hosts) < 2:
        raise ValueError(f"a cluster has at least two hosts, got {hosts!r}")
    if int(slots) * len(hosts) != int(world_size):
        raise ValueError(f"{len(hosts)} hosts x {slots} GPUs is {len(hosts) * int(slots)} ranks, not the world size "
                         f"{world_size}")
    argv = ["--host", ",".join(f"{host}:{int(slots)}" for host in hosts),
            "--mca", "plm_rsh_agent", "ssh",
            "--mca", "plm_rsh_args", f"-p {int(ssh_port)} -i {key} -o UserKnownHostsFile={known_hosts} "
                                     "-o StrictHostKeyChecking=yes -o BatchMode=yes"]
    if mpi_prefix:
        argv += ["--prefix", mpi_prefix]
    exports = []
    if interface:
        argv += ["--mca", "btl_tcp_if_include", interface, "--mca", "oob_tcp_if_include", interface]
        exports += ["-x", f"NCCL_SOCKET_IFNAME={interface}"]
    else:
        # Docker's bridge has the same address on every host, and Open MPI's TCP transports would try it (btl:
        # only 127.0.0.1/8 is left out by default; oob: nothing): leave out loopback and Docker's bridges, as
        # NVIDIA's multi-node images do (the preflight has made sure one interface is left).
        argv += ["--mca", "btl_tcp_if_exclude", "lo,docker0", "--mca", "oob_tcp_if_exclude", "lo,docker0"]
        exports += ["-x", "NCCL_SOCKET_IFNAME=^docker,lo"]
    for name in ["PATH", "LD_LIBRARY_PATH"] + list(env or []):
        exports += ["-x", name]
    return argv, exports
