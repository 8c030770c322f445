"""Structure counts of issue #29, each with its target.

1. Cross-host `hostvars` reads in roles/, playbooks/ and site.yml (*.yml, *.yaml, *.j2), and filters in
   plugins/filter whose code takes or reads `hostvars`: 0. `hostvars[inventory_hostname]` is the own host; the
   action plugin plugins/action/fleet_plan.py is the one reader of other hosts (Python, not scanned).
2. Cross-role includes (`include_role`/`import_role` in roles/A naming role B != A) that are not a documented
   entry point (`tasks_from: X` with X a key under `argument_specs:` of roles/B/meta/argument_specs.yml): 0; and
   no cycle in the graph of these includes plus `dependencies` of roles/*/meta/main.yml.
3. Ways product code (roles, playbooks, plugins/modules, plugins/module_utils) reaches Docker: at most 2 (the
   server's container and one-shot runs).
4. Repeated literals in YAML under roles/ and playbooks/: the manifest's name once (a vars file), Triton's
   loopback URL once.

Every counting function takes the repository root, so the same code counts another tree (an older commit).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]

MAX_DOCKER_MECHANISMS = 2  # the server's container and one-shot runs
COLLECTION = "trtllm.deploy."
DOC_STRINGS = {"DOCUMENTATION", "EXAMPLES", "RETURN"}
INCLUDE_KEYS = {p + k for p in ("", "ansible.builtin.", "ansible.legacy.") for k in ("include_role", "import_role")}
COMMAND_KEYS = {p + k for p in ("", "ansible.builtin.", "ansible.legacy.") for k in ("command", "shell")}
CROSS_HOST = re.compile(r"\bhostvars\b(?!\s*\[\s*inventory_hostname\s*\])")
MANIFEST = re.compile(re.escape("trtllm-deploy-manifest.json"))
LOOPBACK = re.compile(r"127\.0\.0\.1:\{\{-?\s*trtllm_http_port|['\"]http://127\.0\.0\.1:['\"]\s*~\s*trtllm_http_port")


# --- reading the tree -------------------------------------------------------------------------------------------

class _Map(dict):
    """A YAML mapping that knows its line."""
    line = 0


class _Loader(yaml.SafeLoader):
    pass


def _mapping(loader, node):
    mapping = _Map(loader.construct_mapping(node, deep=True))
    mapping.line = node.start_mark.line + 1
    return mapping


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def product_files(root: Path, suffixes=(".yml", ".yaml", ".j2"), dirs=("roles", "playbooks"), top=("site.yml",)):
    files = [path for d in dirs for path in sorted((root / d).rglob("*")) if path.suffix in suffixes and path.is_file()]
    return files + [root / name for name in top if (root / name).is_file()]


def code_lines(path: Path):
    """(line number, text) of a YAML or Jinja file without its comments (YAML full-line ones, Jinja {# #})."""
    text = re.sub(r"\{#.*?#\}", lambda m: "\n" * m.group().count("\n"), path.read_text(), flags=re.S)
    for number, line in enumerate(text.splitlines(), 1):
        if path.suffix != ".j2" and line.lstrip().startswith("#"):
            continue
        yield number, line


def mappings(path: Path):
    """Every mapping of a YAML file (tasks nested in block/rescue/always included), each with .line."""
    stack = list(yaml.load_all(path.read_text(), Loader=_Loader))
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            yield node
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def where(root: Path, path: Path, line: int) -> str:
    return f"{path.relative_to(root)}:{line}"


def place_key(place: str) -> tuple[str, int]:
    """Sorts "file:line ..." places by file, then by line as a number."""
    path, line = place.split(":")[:2]
    return path, int(line.split()[0])


def role_of(root: Path, path: Path) -> str | None:
    parts = path.relative_to(root).parts
    return parts[1] if parts[0] == "roles" and len(parts) > 2 else None


def python_code(path: Path):
    """(line, text) of a Python file's identifiers and strings, less DOCUMENTATION/EXAMPLES/RETURN and docstrings."""
    tree = ast.parse(path.read_text())
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) in DOC_STRINGS for t in node.targets):
            skip.update(id(child) for child in ast.walk(node.value))
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            skip.add(id(body[0].value))  # a docstring (or a bare expression: nothing to read there)
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        for text in (getattr(node, name, None) for name in ("id", "arg", "attr", "name")):
            if isinstance(text, str):
                yield node.lineno, text
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


# --- 1. hostvars --------------------------------------------------------------------------------------------------

def hostvars_reads(root: Path) -> list[str]:
    return [f"{where(root, path, number)}: {line.strip()}"
            for path in product_files(root) for number, line in code_lines(path) if CROSS_HOST.search(line)]


def hostvars_filters(root: Path) -> list[str]:
    return [str(path.relative_to(root)) for path in sorted((root / "plugins" / "filter").glob("*.py"))
            if any(re.search(r"\bhostvars\b", text) for _, text in python_code(path))]


# --- 2. cross-role includes ---------------------------------------------------------------------------------------

def entry_points(root: Path, role: str) -> set[str]:
    spec = root / "roles" / role / "meta" / "argument_specs.yml"
    return set((yaml.safe_load(spec.read_text()) or {}).get("argument_specs") or {}) if spec.is_file() else set()


def cross_role_includes(root: Path) -> list[tuple[str, str, str | None, str]]:
    """(role, included role, tasks_from or None, file:line) for every include of another role from roles/."""
    found = []
    for path in product_files(root, suffixes=(".yml", ".yaml"), dirs=("roles",), top=()):
        role = role_of(root, path)
        for task in mappings(path):
            for key in INCLUDE_KEYS & set(task):
                args = task[key] if isinstance(task[key], dict) else {"name": task[key]}
                target = str(args.get("name", "")).removeprefix(COLLECTION)
                # No tasks_from: the role's main entry point.
                tasks_from = str(args.get("tasks_from") or "main").removesuffix(".yml").removesuffix(".yaml")
                if target != role:
                    found.append((role, target, tasks_from, where(root, path, task.line)))
    return sorted(found, key=lambda include: place_key(include[3]))


def undocumented_includes(root: Path) -> list[str]:
    return [f"{place}: {role} includes {target} tasks_from: {tasks_from}"
            for role, target, tasks_from, place in cross_role_includes(root)
            if tasks_from not in entry_points(root, target)]


def role_graph(root: Path) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for role, target, _, _ in cross_role_includes(root):
        graph.setdefault(role, set()).add(target)
    for meta in sorted((root / "roles").glob("*/meta/main.yml")):
        for dependency in (yaml.safe_load(meta.read_text()) or {}).get("dependencies") or []:
            name = dependency if isinstance(dependency, str) else dependency.get("role") or dependency.get("name")
            graph.setdefault(meta.parent.parent.name, set()).add(str(name).removeprefix(COLLECTION))
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle as [A, B, ..., A], or []."""
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> list[str]:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt]
            if nxt not in state and (cycle := visit(nxt, path + [nxt])):
                return cycle
        state[node] = "done"
        return []

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [start])):
            return cycle
    return []


# --- 3. Docker ----------------------------------------------------------------------------------------------------

def _runs_docker(args) -> str | None:
    """What a command/shell task runs, when it is docker."""
    if isinstance(args, dict):
        args = args.get("argv", args.get("cmd", args.get("_raw_params")))
    if isinstance(args, list):
        args = " ".join(str(arg) for arg in args)
    if not isinstance(args, str):
        return None
    words = args.split()
    return " ".join(words[:2]) if words and Path(words[0].strip("'\"")).name == "docker" else None


SDK = "community.docker modules (Docker SDK)"
CLI = "the docker CLI through plugins/module_utils/docker_cli.py"
# The two ways (issue #29): community.docker for the server's container, images and reads; docker_cli for one-shot
# runs (module oneshot_container, trtllm_build) and the modules' reads of the server's container.
ALLOWED_DOCKER = {SDK, CLI}


def _task_docker(key, args) -> tuple[str, str] | None:
    """(mechanism, detail) of a task's module key and arguments, when it reaches Docker."""
    if str(key).startswith("community.docker.") or key == "docker_container":
        return SDK, str(key).rsplit(".", 1)[-1]
    if key in COMMAND_KEYS and (what := _runs_docker(args)):
        return "command/shell task running docker", what
    return None


def docker_mechanisms(root: Path) -> dict[str, list[str]]:
    """Mechanism -> its places, "file:line detail"."""
    found: dict[str, list[str]] = {}
    for path in product_files(root, suffixes=(".yml", ".yaml")):
        for task in mappings(path):
            for mechanism, detail in filter(None, (_task_docker(key, value) for key, value in task.items())):
                found.setdefault(mechanism, []).append(f"{where(root, path, task.line)} {detail}".strip())
    python = [path for d in ("modules", "module_utils") for path in sorted((root / "plugins" / d).glob("*.py"))]
    for path in python:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(m == "docker" or m.startswith("docker.") for m in modules):
                found.setdefault("Python docker SDK", []).append(where(root, path, node.lineno))
            if _python_runs_docker(node):
                mechanism = CLI if path.name == "docker_cli.py" and path.parent.name == "module_utils" else \
                    "Python docker subprocess outside module_utils/docker_cli.py"
                found.setdefault(mechanism, []).append(where(root, path, node.lineno))
    return {mechanism: sorted(set(places), key=place_key) for mechanism, places in found.items()}


RUNNERS = {"run_command", "run", "Popen", "call", "check_call", "check_output", "get_bin_path", "find_executable"}


def _python_runs_docker(node) -> bool:
    if isinstance(node, ast.Call):
        name = getattr(node.func, "attr", getattr(node.func, "id", None))
        return name in RUNNERS and any("docker" in ast.unparse(arg) for arg in node.args)
    return (isinstance(node, ast.List) and bool(node.elts) and isinstance(node.elts[0], ast.Constant)
            and node.elts[0].value == "docker")


# --- 4. repeated literals -----------------------------------------------------------------------------------------

def literal_places(root: Path, pattern: re.Pattern) -> list[str]:
    return [f"{where(root, path, number)}: {line.strip()}"
            for path in product_files(root, suffixes=(".yml", ".yaml"), top=())
            for number, line in code_lines(path) if pattern.search(line)]


def counts(root: Path) -> dict:
    return {
        "1 hostvars (YAML/Jinja lines + filter files)": len(hostvars_reads(root)) + len(hostvars_filters(root)),
        "2 undocumented cross-role includes": len(undocumented_includes(root)),
        "2 cycle": " -> ".join(find_cycle(role_graph(root))) or "none",
        "3 docker mechanisms": len(docker_mechanisms(root)),
        "4 manifest name places": len(literal_places(root, MANIFEST)),
        "4 loopback URL places": len(literal_places(root, LOOPBACK)),
    }


# --- tests --------------------------------------------------------------------------------------------------------

def test_no_cross_host_hostvars_in_roles_and_playbooks():
    reads = hostvars_reads(REPO)
    assert not reads, "read other hosts through the fleet plan (action fleet_plan), not hostvars:\n" + "\n".join(reads)


def test_no_filter_reads_hostvars():
    filters = hostvars_filters(REPO)
    assert not filters, f"filters that take or read hostvars: {filters}"


def test_cross_role_includes_use_documented_entry_points():
    bad = undocumented_includes(REPO)
    assert not bad, "a cross-role include needs tasks_from: an entry point of the role's argument_specs:\n" + (
        "\n".join(bad))


def test_roles_include_and_depend_without_cycles():
    cycle = find_cycle(role_graph(REPO))
    assert not cycle, f"roles include or depend on each other in a cycle: {' -> '.join(cycle)}"


def test_at_most_two_ways_to_reach_docker():
    found = docker_mechanisms(REPO)
    report = "\n".join(f"{mechanism}:\n  " + "\n  ".join(places) for mechanism, places in sorted(found.items()))
    assert len(found) <= MAX_DOCKER_MECHANISMS and set(found) <= ALLOWED_DOCKER, \
        f"{len(found)} ways to reach Docker:\n{report}"


def test_the_manifest_name_is_written_once_in_a_vars_file():
    places = literal_places(REPO, MANIFEST)
    assert len(places) <= 1, "trtllm-deploy-manifest.json in more than one place:\n" + "\n".join(places)
    assert all(re.search(r"/(vars|defaults)/", place) for place in places), f"not in a vars file: {places}"


def test_the_loopback_url_is_written_once():
    places = literal_places(REPO, LOOPBACK)
    assert len(places) <= 1, "Triton's loopback URL in more than one place:\n" + "\n".join(places)
