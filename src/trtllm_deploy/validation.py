"""Controller-side validation, in-process through Ansible's own API: no host is contacted.

The inventory is read with Ansible's InventoryManager and VariableManager (the variables each host would
get, extra vars on top), templated with Ansible's Templar over the roles' defaults, and checked against:
the roles' argument specs (Ansible's ArgumentSpecValidator, the same code as validate_argument_spec), the
collection's variable names (unknown names, the workflow's names) and the rules of
plugins/module_utils/inventory_checks.py. Each message names the host, the variable, its value and where
it was set (file:line) when Ansible knows.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

YAML_SUFFIXES = (".yml", ".yaml", ".json", "")


@dataclass
class Findings:
    """Problems per host ("" for the inventory as a whole) and warnings."""

    problems: dict[str, list[str]] = field(default_factory=dict)
    warnings: dict[str, list[str]] = field(default_factory=dict)
    hosts: list[str] = field(default_factory=list)

    def add(self, host: str, message: str) -> None:
        self.problems.setdefault(host, []).append(message)

    def warn(self, host: str, message: str) -> None:
        self.warnings.setdefault(host, []).append(message)

    def lines(self) -> list[str]:
        """One line per message; a message several hosts share (a group's variable) names them all once."""
        hosts_of: dict[str, list[str]] = {}
        for host, messages in self.problems.items():
            for message in messages:
                hosts_of.setdefault(message, [])
                if host not in hosts_of[message]:
                    hosts_of[message].append(host)
        return [f"{', '.join(h for h in hosts if h) + ': ' if any(hosts) else ''}{message}"
                for message, hosts in hosts_of.items()]


class InventoryError(Exception):
    """The inventory cannot be read at all (missing, YAML error, no gpu_nodes)."""


_LOADER_READY = []


def _ansible(project: Path):
    """Import Ansible with the collection resolvable (the checkout's .collections, or ANSIBLE_COLLECTIONS_PATH)."""
    if _LOADER_READY:
        return
    from ansible.plugins.loader import init_plugin_loader

    paths = [p for p in os.environ.get("ANSIBLE_COLLECTIONS_PATH", "").split(os.pathsep) if p]
    paths.append(str(project / ".collections"))
    if project.parts[-3:] == ("ansible_collections", "trtllm", "deploy"):  # an installed copy: its collections path
        paths.append(str(project.parents[2]))
    init_plugin_loader(paths)
    _LOADER_READY.append(True)


def _origin(value) -> str | None:
    try:
        from ansible._internal._datatag._tags import Origin
    except ImportError:  # ansible-core < 2.19: no origins
        return None
    tag = Origin.get_tag(value)
    if tag is None or not tag.path:
        return None
    return f"{tag.path}:{tag.line_num}" if tag.line_num else str(tag.path)


def _plain(value):
    """Untagged built-in values (Ansible's tagged str/int subclasses print like their base type)."""
    if isinstance(value, bool) or value is None:
        return value
    for kind in (str, int, float):
        if isinstance(value, kind):
            return kind(value)
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _trusted(value):
    try:
        from ansible.template import trust_as_template
    except ImportError:  # ansible-core < 2.19 templates every string
        return value
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, dict):
        return {k: _trusted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_trusted(v) for v in value]
    return value


def _yaml_files(inventory: Path) -> list[Path]:
    if inventory.is_file():
        return [inventory] if inventory.suffix in (".yml", ".yaml", ".json") else []
    files = []
    for path in sorted(inventory.rglob("*")):
        if path.is_file() and path.suffix in YAML_SUFFIXES and not path.name.startswith("."):
            rel = path.relative_to(inventory).parts
            if path.suffix or rel[0] in ("group_vars", "host_vars"):
                files.append(path)
    return files


def _load_vault_secrets(loader) -> None:
    """The vault passwords ansible-playbook would use (ANSIBLE_VAULT_PASSWORD_FILE, vault identities), so
    encrypted inventories are read and checked as the run will read them; none given: they are skipped."""
    from ansible.cli import CLI
    from ansible.config.manager import ConfigManager
    from ansible.errors import AnsibleError
    from ansible.parsing.vault import VaultSecretsContext

    config = ConfigManager()  # read now: the environment may differ from when ansible.constants was imported
    password_file = config.get_config_value("DEFAULT_VAULT_PASSWORD_FILE")
    try:
        secrets = CLI.setup_vault_secrets(loader, vault_ids=config.get_config_value("DEFAULT_VAULT_IDENTITY_LIST"),
                                          vault_password_files=[password_file] if password_file else [],
                                          ask_vault_pass=False, auto_prompt=False, initialize_context=False)
    except AnsibleError as err:
        raise InventoryError(f"the vault password cannot be read: {err}") from None
    loader.set_vault_secrets(secrets)
    # Inline !vault values decrypt through the process-wide context, which Ansible lets be set once.
    context = VaultSecretsContext.current(optional=True)
    if context is None:
        VaultSecretsContext.initialize(VaultSecretsContext(secrets))
    else:
        context.secrets = secrets


def _check_yaml(inventories: list[Path], loader) -> None:
    """A YAML error anywhere in the inventory, with its file and line (Ansible would only warn and go on)."""
    from ansible.errors import AnsibleError
    from ansible.parsing.vault import AnsibleVaultError

    for inventory in inventories:
        for path in _yaml_files(inventory):
            if path.suffix == "" and path.parent.name not in ("group_vars", "host_vars"):
                continue
            try:
                loader.load_from_file(str(path))
            except AnsibleVaultError:
                continue  # an encrypted file without the vault password here: Ansible's run decrypts it
            except AnsibleError as err:
                text = " ".join(str(err).split())
                origin = getattr(err, "obj", None)
                where = str(origin) if origin is not None and str(origin).startswith(str(path)) else str(path)
                mark = getattr(err.__cause__, "problem_mark", None)
                if where == str(path) and mark is not None:
                    where = f"{path}:{mark.line + 1}:{mark.column + 1}"
                raise InventoryError(f"{where} (line:column) is not valid YAML: {text[:500]}") from None


def _vars_dirs_problems(inventories: list[Path], inventory, findings: Findings) -> None:
    """group_vars/NAME with no group NAME (and host_vars/NAME with no host): their variables reach no host."""
    groups = set(inventory.groups)
    hosts = {h.name for h in inventory.get_hosts("all")}
    for root in inventories:
        base = root if root.is_dir() else root.parent
        for kind, known in (("group_vars", groups), ("host_vars", hosts)):
            folder = base / kind
            if not folder.is_dir():
                continue
            for entry in sorted(folder.iterdir()):
                name = entry.stem if entry.is_file() else entry.name
                if name.startswith(".") or name in known:
                    continue
                what = "group" if kind == "group_vars" else "host"
                findings.add("", f"{entry} sets variables for {what} {name!r}, which the inventory does not have: "
                                 f"they reach no host (the {what}s are {', '.join(sorted(known)) or 'none'})")


def _subject(message: str) -> str:
    """The variable a check's message starts with ("trtllm_models[2] ..." -> trtllm_models)."""
    return re.split(r"[\s\[:]", message, maxsplit=1)[0]


def load_specs(project: Path, loader) -> tuple[dict, dict, dict]:
    """Every role's argument specs, defaults and vars, read as Ansible reads them (templates trusted)."""
    specs, defaults, role_vars = {}, {}, {}
    for role_dir in sorted(p for p in (project / "roles").iterdir() if p.is_dir()):
        def read(rel: str, directory=role_dir) -> dict:
            path = directory / rel
            return (loader.load_from_file(str(path), trusted_as_template=True) or {}) if path.is_file() else {}
        specs[role_dir.name] = _plain(read("meta/argument_specs.yml"))
        defaults[role_dir.name] = read("defaults/main.yml")
        role_vars[role_dir.name] = read("vars/main.yml")
    return specs, defaults, role_vars


def validate(inventories: list[str], extravars: dict, limit: str | None, project: Path) -> Findings:
    """Check the inventory and extra vars on the controller; raise InventoryError when it cannot be read."""
    _ansible(project)
    from ansible.errors import AnsibleError
    from ansible.inventory.manager import InventoryManager
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
    from ansible.parsing.dataloader import DataLoader
    from ansible.parsing.vault import AnsibleVaultError
    from ansible.template import Templar
    from ansible.vars.manager import VariableManager

    from ansible_collections.trtllm.deploy.plugins.module_utils import inventory_checks as checks

    paths = [Path(i) for i in inventories]
    for path in paths:
        if not path.exists():
            raise InventoryError(f"inventory {path} does not exist")
    loader = DataLoader()
    _load_vault_secrets(loader)
    _check_yaml(paths, loader)
    try:
        inventory = InventoryManager(loader=loader, sources=[str(p) for p in paths])
    except AnsibleError as err:
        raise InventoryError(f"inventory does not parse: {err}") from None
    members = {h.name for h in inventory.get_hosts("gpu_nodes")}
    if not members:
        raise InventoryError(f"inventory {', '.join(inventories)} has no hosts in group gpu_nodes "
                             "(all.children.gpu_nodes.hosts, or groups under all.children.gpu_nodes.children)")
    manager = VariableManager(loader=loader, inventory=inventory)
    # What -e gives ansible-playbook: values trusted as templates, as the command line's are.
    manager._extra_vars = dict(manager.extra_vars, **{k: _trusted(v) for k, v in extravars.items()})

    findings = Findings()
    specs, defaults, role_vars = load_specs(project, loader)
    known = checks.known_variables(specs)
    internal = {name: f"role {role} (roles/{role}/vars/main.yml)" for role, names in role_vars.items()
                for name in names}
    internal.update({name: f"{where} (a fact)" for name, where in checks.published_facts(project).items()})
    # The shared role's values first, then every other role's (their names do not overlap: each has its prefix).
    roles = sorted(specs, key=lambda role: (role != "trtllm", role))
    merged_defaults = {}
    for role in roles:
        merged_defaults.update(defaults.get(role, {}))
    merged_defaults.update({k: v for role in roles for k, v in role_vars.get(role, {}).items()})

    _vars_dirs_problems(paths, inventory, findings)
    findings.problems.setdefault("", [])
    balancers = {h.name for h in inventory.get_hosts("load_balancers")}
    for problem in checks.fleet_problems({}, members, [h.name for h in inventory.get_hosts("all")
                                                       if h.name not in balancers]):
        findings.add("", problem)

    # Extra vars: names and the rolling settings, once for the run.
    for name, why in checks.unknown_variable_problems(extravars, known, internal).items():
        findings.add("", f"-e {name}={extravars[name]!r}: {why}")
    for problem in checks.rolling_problems(extravars, set()):
        findings.add("", f"-e: {problem}")

    selected = inventory.get_hosts(limit or "gpu_nodes")
    selected = [h for h in selected if h.name in members]
    if not selected:
        raise InventoryError(f"--limit {limit!r} matches no host of gpu_nodes")
    findings.hosts = [h.name for h in selected]
    typed_hosts = {}
    reported_inventory_names = set()
    for host in selected:
        raw = manager.get_vars(host=host, include_hostvars=False)
        origins = {name: _origin(value) for name, value in raw.items()}
        inventory_names = [n for n in raw if n not in extravars]

        def where(name: str, origins=origins) -> str:
            if name in extravars:
                return " (from -e)"
            return f" (set in {origins[name]})" if origins.get(name) else ""

        # Unknown names: said once per (name, file), not once per host.
        for name, why in checks.unknown_variable_problems(
                inventory_names, known, internal).items():
            key = (name, origins.get(name))
            if key not in reported_inventory_names:
                reported_inventory_names.add(key)
                findings.add(host.name, f"{why}{where(name)}")
        in_inventory = {n for n in checks.PLAY_KEYWORDS if n in raw and n not in extravars}
        for problem in checks.rolling_problems({n: raw[n] for n in in_inventory}, in_inventory):
            findings.add(host.name, problem)
        for problem in checks.secret_problems(
                {n: raw[n] for n in inventory_names if isinstance(raw[n], str)}, origins):
            findings.add(host.name, problem)

        # Template every variable the roles read, over the roles' defaults, as a play would.
        # Inventory files are trusted as templates in a playbook run; so they are here.
        trusted = {n: _trusted(v) for n, v in raw.items()}
        templar = Templar(loader=loader, variables={**merged_defaults, **trusted})
        values, template_errors = {}, []
        for name in known:
            if name not in raw and name not in merged_defaults:
                continue
            try:
                values[name] = _plain(templar.template(trusted.get(name, merged_defaults.get(name))))
            except AnsibleError as err:
                message = " ".join(str(err).split())[:400]
                if isinstance(err, AnsibleVaultError) or "vault" in message.lower():
                    findings.warn(host.name, f"{name}{where(name)} is vault-encrypted and no vault password was "
                                  "given here: not checked on the controller")
                    continue
                if re.search(r"'(ansible_\w+|hostvars|trtllm_gpus|groups)' is undefined", message):
                    findings.warn(host.name, f"{name}{where(name)} uses facts or other hosts' variables: "
                                  "not checked on the controller")
                    continue
                template_errors.append((name, f"{name}{where(name)} does not template: {message}"))
        # A derived default that fails only because of a variable the host set: name that one.
        own_errors = [message for name, message in template_errors if name in raw]
        for message in own_errors or [message for _, message in template_errors]:
            findings.add(host.name, message)
        if "ansible_host" in raw:
            values["ansible_host"] = _plain(raw["ansible_host"])

        # Argument specs, role by role, on the variables this host sets (defaults are the specs' own).
        typed = dict(values)
        failed = set()
        for role in roles:
            for entry_name, entry in ((specs.get(role) or {}).get("argument_specs") or {}).items():
                if entry_name != "main":
                    continue
                # A required option is one a playbook or a calling role passes (serving_bench_url), not the
                # inventory: only the types and choices of what the host sets are checked here.
                options = {n: {k: v for k, v in (o or {}).items() if k != "required"}
                           for n, o in (entry.get("options") or {}).items()}
                given = {n: values[n] for n in options if n in values and n in raw}
                result = ArgumentSpecValidator(options).validate(given)
                for error in result.errors:
                    message = error.msg if hasattr(error, "msg") else str(error)
                    culprit = next((n for n in sorted(given, key=len, reverse=True)
                                    if re.search(rf"(?<!\w){n}(?!\w)", message)), None)
                    shown = f"; value {given[culprit]!r}{where(culprit)}" if culprit in given else ""
                    findings.add(host.name, f"role {role}: {message}{shown}")
                    failed.add(culprit)
                # A `path` option comes back with ~ and $VARS expanded, but the roles read the variable as
                # written (validate_argument_spec does not write back): check what they will read.
                typed.update({n: given[n] if options[n].get("type") == "path" else v
                              for n, v in result.validated_parameters.items() if n in given})
        problems, warnings = checks.host_problems({n: v for n, v in typed.items() if n not in failed})
        # A derived default (trtllm_model_path ...) is wrong only because of a variable the host set: name that one.
        own = [p for p in problems if _subject(p) in raw or _subject(p) not in known]
        for problem in own or problems:
            name = _subject(problem)
            findings.add(host.name, problem + (where(name) if name in values else ""))
        for warning in warnings:
            findings.warn(host.name, warning)
        typed_hosts[host.name] = typed

    for problem in checks.fleet_problems(typed_hosts, members, members):
        findings.add("", problem)
    findings.problems = {host: messages for host, messages in findings.problems.items() if messages}
    return findings


def main_check(inventories, extravars, limit, project, stream=sys.stderr) -> int:  # pragma: no cover - helper
    findings = validate(inventories, extravars, limit, project)
    for line in findings.lines():
        print(line, file=stream)
    return 1 if findings.problems else 0
