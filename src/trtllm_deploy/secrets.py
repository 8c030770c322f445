"""Secrets (HF token, registry credentials): read from the environment or a file, masked everywhere."""

from __future__ import annotations

import os
from pathlib import Path

# Names the playbooks read with lookup('env', ...); nothing else is treated as a secret.
SECRET_NAMES = ("HF_TOKEN", "NGC_API_KEY", "TRTLLM_REGISTRY_PASSWORD")
MASK = "********"


class SecretError(Exception):
    pass


def load(secret_file: str | None = None, environ: dict | None = None) -> dict[str, str]:
    """The secrets to forward: from the environment, then KEY=VALUE lines of secret_file (0600)."""
    environ = os.environ if environ is None else environ
    secrets = {name: environ[name] for name in SECRET_NAMES if environ.get(name)}
    if secret_file:
        path = Path(secret_file)
        if not path.is_file():
            raise SecretError(f"secret file {path} does not exist")
        if path.stat().st_mode & 0o077:
            raise SecretError(f"secret file {path} is readable by others: chmod 600 it")
        for number, line in enumerate(path.read_text().splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, sep, value = line.partition("=")
            if not sep or name.strip() not in SECRET_NAMES:
                raise SecretError(f"{path}:{number}: expected NAME=VALUE with NAME one of {', '.join(SECRET_NAMES)}")
            secrets[name.strip()] = value.strip()
    return secrets


def mask(text: str, secrets: dict[str, str]) -> str:
    for value in secrets.values():
        if value:
            text = text.replace(value, MASK)
    return text


def scrub_tree(root: Path, secrets: dict[str, str]) -> int:
    """Replace secret values in every file under root (ansible-runner records its environment)."""
    values = [v.encode() for v in secrets.values() if v]
    if not values or not root.exists():
        return 0
    scrubbed = 0
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        clean = data
        for value in values:
            clean = clean.replace(value, MASK.encode())
        if clean != data:
            path.write_bytes(clean)
            scrubbed += 1
    return scrubbed
