# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's one way to Docker's CLI: one-shot runs of the serving image and reads of a container.

Everything else reaches Docker through community.docker's modules (the server's container, images). Pure
argv building (run_argv) has no Ansible imports; DockerCLI runs through an AnsibleModule's run_command.
"""

from __future__ import annotations

import json
import re
import time

# What a container of the serving image is made of (role triton_container's triton_container_spec).
SPEC_KEYS = ("image", "network_mode", "shm_size", "ulimits", "runtime", "gpus", "env", "mounts")
PULL = ("never", "missing")
# docker run's answer when the name is taken: a container a killed run left.
NAME_IN_USE = re.compile(r"Conflict\. The container name .* is already in use")
NO_IMAGE = re.compile(r"No such image|pull access denied|manifest unknown|not found: manifest", re.IGNORECASE)


def run_argv(spec: dict, command: list[str] | None = None, name: str | None = None, workdir: str | None = None,
             pass_env: list[str] | None = None, pull: str = "never") -> list[str]:
    """`docker run --rm ... IMAGE COMMAND`: the serving container's options (network, shm, ulimits, runtime,
    GPUs, environment, mounts) for a command that runs once and is removed. `pass_env` names variables the
    container takes from the docker command's own environment (`--env NAME`), so a secret stays out of argv."""
    if not spec.get("image"):
        raise ValueError("the container spec has no image")
    if pull not in PULL:
        raise ValueError(f"pull {pull!r} is not one of {', '.join(PULL)}")
    argv = ["docker", "run", "--rm", f"--pull={pull}"]
    if name:
        argv += ["--name", name]
    if spec.get("network_mode"):
        argv += ["--network", spec["network_mode"]]
    if spec.get("shm_size"):
        argv += ["--shm-size", str(spec["shm_size"])]
    for ulimit in spec.get("ulimits") or []:
        parts = str(ulimit).split(":")
        if len(parts) not in (2, 3) or not all(parts):
            raise ValueError(f"ulimit {ulimit!r} is not name:soft[:hard]")
        argv += ["--ulimit", f"{parts[0]}={parts[1]}:{parts[-1]}"]
    if spec.get("runtime"):
        argv += ["--runtime", spec["runtime"]]
    gpus = str(spec.get("gpus", "all"))
    if gpus not in ("", "none", "0"):
        argv += ["--gpus", gpus]
    for key, value in sorted((spec.get("env") or {}).items()):
        argv += ["--env", f"{key}={value}"]
    for key in pass_env or []:
        argv += ["--env", str(key)]
    for container_dir, host_dir in sorted((spec.get("mounts") or {}).items()):
        argv += ["--volume", f"{host_dir}:{container_dir}"]
    if workdir:
        argv += ["--workdir", workdir]
    return argv + [spec["image"]] + [str(part) for part in command or []]


def path_map(spec: dict) -> dict[str, str]:
    """Host directory -> container directory of the spec's mounts."""
    return {host: container for container, host in (spec.get("mounts") or {}).items()}


def tail(text: str, lines: int) -> str:
    return "\n".join(text.splitlines()[-lines:]) if lines > 0 else ""


class DockerCLI:
    """Docker's CLI on the managed host, through `module.run_command` (no shell)."""

    def __init__(self, module, executable: str = "docker"):
        self.module = module
        self.executable = executable
        self.path = module.get_bin_path(executable) if "/" not in executable else executable

    def require(self) -> str:
        if not self.path:
            self.module.fail_json(msg=f"{self.executable} was not found on this host: Docker is installed by role "
                                  "nvidia_runtime")
        return self.path

    def _run(self, args: list[str], **kwargs):
        return self.module.run_command([self.require()] + args, **kwargs)

    def inspect_container(self, name: str) -> dict | None:
        """docker inspect's object of the container, or None when there is none (or no Docker)."""
        if not self.path:
            return None
        rc, out, _ = self._run(["inspect", "--type", "container", name])
        return json.loads(out)[0] if rc == 0 else None

    def runtimes(self) -> dict | None:
        """The engine's runtimes by name (docker info), or None when the engine does not answer."""
        if not self.path:
            return None
        rc, out, _ = self._run(["info", "--format", "{{json .Runtimes}}"])
        return json.loads(out) if rc == 0 and out.strip() else None

    def logs(self, name: str, lines: int) -> str:
        """The last `lines` lines of the container's stdout and stderr (docker logs replays each on its own)."""
        _, out, err = self._run(["logs", "--tail", str(lines), name])
        return out + err

    def remove(self, name: str) -> bool:
        """Remove the container, running or not; True when there was one."""
        rc, _, _ = self._run(["rm", "--force", name])
        return rc == 0

    def oneshot(self, spec: dict, command: list[str], name: str | None = None, workdir: str | None = None,
                pass_env: list[str] | None = None, pull: str = "never") -> dict:
        """Run `command` once in a container of `spec`, removed when it ends. A container of the same name that a
        killed run left (it may hold the GPUs) is removed and the run tried again once. Returns rc, stdout,
        stderr, argv, seconds and removed_leftover."""
        argv = run_argv(spec, command, name=name, workdir=workdir, pass_env=pass_env, pull=pull)
        argv[0] = self.require()
        started = time.monotonic()
        rc, out, err = self.module.run_command(argv)
        removed = False
        if rc != 0 and name and NAME_IN_USE.search(err or ""):
            removed = self.remove(name)
            rc, out, err = self.module.run_command(argv)
        return {"rc": rc, "stdout": out, "stderr": err, "argv": argv, "seconds": round(time.monotonic() - started, 1),
                "removed_leftover": removed,
                "image_missing": rc != 0 and pull == "never" and bool(NO_IMAGE.search(err or ""))}
