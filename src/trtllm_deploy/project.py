"""Which copy of the collection trtllm.deploy the CLI runs: a checkout, or an installed copy in Ansible's
collections paths (a pip-installed CLI)."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

NAMESPACE, NAME = "trtllm", "deploy"
# Where this package is: an editable install's lies inside the checkout.
PACKAGE_DIR = Path(__file__).resolve().parent


class ProjectNotFound(Exception):
    """Neither a checkout nor an installed copy of the collection trtllm.deploy was found."""


@dataclass(frozen=True)
class Project:
    """The collection whose playbooks (playbooks/*.yml) and roles (roles/) the CLI runs.

    A checkout brings its own ansible.cfg and .collections; an installed copy
    (.../ansible_collections/trtllm/deploy) runs under the user's Ansible configuration, from the current
    directory, as `ansible-playbook trtllm.deploy.site` would."""

    root: Path
    checkout: bool
    # An installed copy outside the configured collections paths (TRTLLM_DEPLOY_PROJECT): its
    # ansible_collections parent, put first in the run's ANSIBLE_COLLECTIONS_PATH.
    collections_path: Path | None = None

    @property
    def cwd(self) -> Path:
        return self.root if self.checkout else Path.cwd()


def _galaxy_names(path: Path) -> tuple[str, str] | None:
    import yaml

    try:
        info = yaml.safe_load((path / "galaxy.yml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return None
    return (str(info.get("namespace")), str(info.get("name"))) if isinstance(info, dict) else None


def _manifest_names(path: Path) -> tuple[str, str] | None:
    try:
        info = json.loads((path / "MANIFEST.json").read_text()).get("collection_info") or {}
    except (OSError, ValueError, AttributeError):
        return None
    return str(info.get("namespace")), str(info.get("name"))


def is_checkout(path: Path) -> bool:
    """A source tree of trtllm.deploy: galaxy.yml naming it, and the playbooks."""
    return (path / "playbooks" / "site.yml").is_file() and _galaxy_names(path) == (NAMESPACE, NAME)


def is_installed_copy(path: Path) -> bool:
    """trtllm.deploy in a collections path: installed from the tarball (MANIFEST.json) or linked to a checkout."""
    return (path / "playbooks" / "site.yml").is_file() and (NAMESPACE, NAME) in (_manifest_names(path),
                                                                                 _galaxy_names(path))


def collections_paths() -> tuple[list[Path], str]:
    """Where Ansible looks for collections, in its order, and where that list came from: ANSIBLE_COLLECTIONS_PATH,
    or collections_path in the ansible.cfg Ansible reads from here (ANSIBLE_CONFIG, ./ansible.cfg,
    ~/.ansible.cfg, /etc/ansible/ansible.cfg), or Ansible's default; then Python's sys.path (where the `ansible`
    package keeps its bundled collections) unless collections_scan_sys_path is off."""
    from ansible.config.manager import ConfigManager

    config = ConfigManager()  # read now, from this environment and this directory
    # The default is a template of ANSIBLE_HOME, rendered as ansible.constants renders it.
    home = {"ANSIBLE_HOME": config.get_config_value("ANSIBLE_HOME")}
    paths = [Path(p).expanduser() for p in config.get_config_value("COLLECTIONS_PATHS", variables=home) or []]
    if os.environ.get("ANSIBLE_COLLECTIONS_PATH"):
        source = "ANSIBLE_COLLECTIONS_PATH"
    elif getattr(config, "_config_file", None):  # what ansible.constants publishes as CONFIG_FILE
        source = f"collections_path in {config._config_file}"
    else:
        source = "Ansible's default"
    if config.get_config_value("COLLECTIONS_SCAN_SYS_PATH"):
        paths += [Path(p) for p in sys.path if p and (Path(p) / "ansible_collections").is_dir()]
        source += " and sys.path"
    return paths, source


def _in_collections_path(base: Path) -> list[Path]:
    candidates = [base / "ansible_collections" / NAMESPACE / NAME]
    if base.name == "ansible_collections":  # Ansible takes the ansible_collections folder itself too
        candidates.append(base / NAMESPACE / NAME)
    return candidates


def _installed_layout(path: Path) -> Path | None:
    """The collections path of .../ansible_collections/trtllm/deploy, else None."""
    return path.parents[2] if path.parts[-3:] == ("ansible_collections", NAMESPACE, NAME) else None


def find_project() -> Project:
    """TRTLLM_DEPLOY_PROJECT; else the checkout this package lies in (an editable install); else a checkout at or
    above the current directory; else trtllm.deploy in Ansible's collections paths (a pip-installed CLI with the
    collection installed by ansible-galaxy). Raises ProjectNotFound naming where it looked."""
    configured = os.environ.get("TRTLLM_DEPLOY_PROJECT")
    if configured:
        root = Path(configured).expanduser().resolve()
        if not (root / "playbooks" / "site.yml").is_file():
            raise ProjectNotFound(
                f"TRTLLM_DEPLOY_PROJECT={configured} holds no playbooks/site.yml: point it at a checkout of "
                f"{NAMESPACE}.{NAME} or at an installed copy (.../ansible_collections/{NAMESPACE}/{NAME}), or unset it")
        if (root / "galaxy.yml").is_file():
            return Project(root, checkout=True)
        base = _installed_layout(root)
        if base is not None and base.resolve() in {p.resolve() for p in collections_paths()[0]}:
            base = None
        return Project(root, checkout=False, collections_path=base)
    for parent in PACKAGE_DIR.parents:
        if is_checkout(parent):
            return Project(parent, checkout=True)
    cwd = Path.cwd()
    for parent in (cwd, *cwd.parents):
        if is_checkout(parent):
            return Project(parent, checkout=True)
    paths, source = collections_paths()
    for base in paths:
        for candidate in _in_collections_path(base):
            if is_installed_copy(candidate):
                return Project(candidate, checkout=False)
    looked = ", ".join(str(p) for p in paths) or "none"
    raise ProjectNotFound(
        f"the collection {NAMESPACE}.{NAME} was not found. Looked for a checkout (galaxy.yml and playbooks/) around "
        f"{PACKAGE_DIR} and at or above {cwd}, and for ansible_collections/{NAMESPACE}/{NAME} in the collections "
        f"paths ({source}): {looked}. Install it: `ansible-galaxy collection build` in a checkout, then "
        f"`ansible-galaxy collection install {NAMESPACE}-{NAME}-<version>.tar.gz` (into ~/.ansible/collections, or "
        f"-p DIR with ANSIBLE_COLLECTIONS_PATH=DIR); or set TRTLLM_DEPLOY_PROJECT to a checkout or an installed copy")


def project_dir() -> Path:
    """The collection's root: a checkout, or .../ansible_collections/trtllm/deploy (see find_project)."""
    return find_project().root
