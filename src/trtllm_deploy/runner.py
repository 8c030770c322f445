"""Every ansible-runner call of the CLI goes through run_stage(): one place for its arguments."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ansible_runner import Runner, RunnerConfig

from .progress import Progress
from .project import Project, collections_paths, find_project
from .secrets import scrub_tree

# Forwarded to Ansible besides ANSIBLE_* and the secrets; everything else stays out.
FORWARDED = ("PATH", "HOME", "USER", "LANG", "LC_ALL", "TERM", "TMPDIR", "SSH_AUTH_SOCK", "DOCKER_HOST",
             "VIRTUAL_ENV")
# Set by ansible-runner for its own callback plugin whatever the parent's environment holds.
RUNNER_KEYS = ("AWX_ISOLATED_DATA_DIR", "RUNNER_OMIT_EVENTS", "RUNNER_ONLY_FAILED_EVENTS")
@dataclass
class Stage:
    playbook: str
    inventories: list[str]
    limit: str | None = None
    tags: str | None = None
    extravars: dict = field(default_factory=dict)
    check: bool = False
    diff: bool = False


@dataclass
class RunResult:
    status: str
    rc: int
    cancelled: bool
    artifact_dir: Path
    progress: Progress
    seconds: float


def executables_dir() -> str:
    """Where this interpreter's console scripts are (ansible-playbook beside trtllm-deploy in a venv; pip's
    scheme directory otherwise, e.g. /usr/local/bin or ~/.local/bin for a system or --user install)."""
    for directory in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))):
        if (directory / "ansible-playbook").is_file():
            return str(directory)
    return str(Path(sys.executable).parent)


def forwarded_env(secrets: dict[str, str], environ: dict | None = None, project: Project | None = None
                  ) -> dict[str, str]:
    """The run's whole environment: ANSIBLE_*, FORWARDED and the secrets; a checkout's ansible.cfg and
    .collections unless set."""
    environ = os.environ if environ is None else environ
    project = find_project() if project is None else project
    env = {k: v for k, v in environ.items() if k.startswith("ANSIBLE_") or k in FORWARDED}
    # A venv's trtllm-deploy runs its own Ansible, activated or not.
    path = [p for p in env.get("PATH", os.defpath).split(os.pathsep) if p and p != executables_dir()]
    env["PATH"] = os.pathsep.join([executables_dir(), *path])
    if project.checkout:
        env.setdefault("ANSIBLE_CONFIG", str(project.root / "ansible.cfg"))
        env.setdefault("ANSIBLE_COLLECTIONS_PATH", str(project.root / ".collections"))
    elif project.collections_path is not None:
        # The copy named by TRTLLM_DEPLOY_PROJECT first, then what Ansible would search anyway.
        paths = [str(project.collections_path), *(str(p) for p in collections_paths()[0])]
        env["ANSIBLE_COLLECTIONS_PATH"] = os.pathsep.join(dict.fromkeys(paths))
    env["ANSIBLE_FORCE_COLOR"] = "0"
    env.update(secrets)
    return env


@contextlib.contextmanager
def secret_env(secrets: dict[str, str]):
    """The secrets in os.environ while the inventory is templated in-process (lookup('env', ...)), before any
    thread of a run starts; removed after."""
    saved = {name: os.environ.get(name) for name in secrets}
    os.environ.update(secrets)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def runner_env(prepared: dict[str, str], forwarded: dict[str, str], environ=None) -> dict[str, str]:
    """ansible-runner's prepared environment (RunnerConfig.prepare()) is os.environ, the envvars, and its own
    settings (callback plugin path, stdout callback, fact cache, artifact dir): keep the forwarded keys and
    runner's own, drop what came from os.environ alone."""
    environ = os.environ if environ is None else environ
    return {k: v for k, v in prepared.items() if k in forwarded or k in RUNNER_KEYS or environ.get(k) != v}


def count_tasks(stage: Stage, env: dict[str, str], project: Project) -> int:
    """Static task count for done/total (tasks included at run time are not known in advance)."""
    playbook = shutil.which("ansible-playbook", path=env.get("PATH")) or "ansible-playbook"
    argv = [playbook, "--list-tasks",
            *sum((["-i", i] for i in stage.inventories), [])]
    if stage.limit:
        argv += ["--limit", stage.limit]
    if stage.tags:
        argv += ["--tags", stage.tags]
    argv.append(str(project.root / stage.playbook))
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=project.cwd)
    except OSError:
        return 1  # no ansible-playbook to ask: the run itself will say so
    return len([line for line in proc.stdout.splitlines() if re.match(r"^\s{6}\S", line)]) or 1


def runner_config(stage: Stage, project: Project, env: dict[str, str], private: Path, artifacts_root: Path,
                  ident: str, keep: int) -> RunnerConfig:
    """Every ansible-runner argument, in one place. The run's environment is exactly `env` (and runner's own
    keys): set on the prepared configuration, so os.environ is never touched while threads run."""
    cmdline = []
    if stage.check:
        cmdline.append("--check")
    if stage.diff:
        cmdline.append("--diff")
    for inventory in stage.inventories[1:]:
        cmdline += ["-i", inventory]
    config = RunnerConfig(
        private_data_dir=str(private),
        artifact_dir=str(artifacts_root),
        ident=ident,
        project_dir=str(project.cwd),  # the run's working directory
        playbook=str(project.root / stage.playbook),
        inventory=stage.inventories[0],
        limit=stage.limit,
        tags=stage.tags,
        extravars=stage.extravars or None,
        cmdline=" ".join(cmdline) or None,
        envvars=env,
        quiet=True,
        rotate_artifacts=keep,
        suppress_env_files=True,
    )
    config.prepare()
    config.env = runner_env(config.env, env)
    return config


def run_stage(stage: Stage, artifacts_root: Path, keep: int, secrets: dict[str, str], stream=None,
              live: bool | None = None, project: Project | None = None) -> RunResult:
    project = find_project() if project is None else project
    env = forwarded_env(secrets, project=project)
    artifacts_root.mkdir(parents=True, exist_ok=True)
    ident = time.strftime("%Y%m%dT%H%M%S") + f"-{Path(stage.playbook).stem}-{os.getpid()}"
    progress = Progress(count_tasks(stage, env, project), secrets, stream=stream, live=live)
    cancelled = {"flag": False}
    # Ctrl-C, and a closed terminal or a kill, cancel the run so ansible-playbook is not orphaned.
    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.getsignal(sig) for sig in handled}

    def on_sigint(signum, frame):
        cancelled["flag"] = True

    first_event = {"seen": False}

    def event_handler(event: dict) -> bool:
        # ansible-runner has written its environment (secrets included) to `command` by now.
        if not first_event["seen"]:
            first_event["seen"] = True
            scrub_tree(artifacts_root / ident, secrets)
        return progress(event)

    for sig in handled:
        signal.signal(sig, on_sigint)
    progress.start()
    started = time.monotonic()
    private = Path(tempfile.mkdtemp(prefix="trtllm-deploy-"))
    try:
        config = runner_config(stage, project, env, private, artifacts_root, ident, keep)
        runner = Runner(config, event_handler=event_handler, cancel_callback=lambda: cancelled["flag"])
        runner.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        progress.stop()
        scrub_tree(artifacts_root / ident, secrets)
        shutil.rmtree(private, ignore_errors=True)
    progress.finish(runner.stats)
    return RunResult(status=runner.status, rc=runner.rc if runner.rc is not None else 1,
                     cancelled=cancelled["flag"] or runner.status == "canceled",
                     artifact_dir=artifacts_root / ident, progress=progress, seconds=time.monotonic() - started)


def write_report(result: RunResult, command: str, inventories: list[str], exit_code: int) -> dict:
    report = {
        "command": command,
        "inventories": inventories,
        "status": result.status,
        "exit_code": exit_code,
        "seconds": round(result.seconds, 1),
        "artifacts": str(result.artifact_dir),
        "hosts": {name: state.summary() for name, state in sorted(result.progress.hosts.items())},
    }
    result.artifact_dir.mkdir(parents=True, exist_ok=True)
    (result.artifact_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report
