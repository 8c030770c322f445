"""docs/architecture.md names every interface between the roles (issue #29).

What counts as a mention, in the doc's code spans (text between backticks):
- a field of HOST_FACT or PLAN (plugins/module_utils/fleet_plan.py): the field as a word of a code span, e.g.
  `gpus` or `trtllm_host.gpus`;
- a role entry point other than `main` (a key under `argument_specs:` of roles/<role>/meta/argument_specs.yml):
  the role's span followed by its `tasks_from` span, exactly "`<role>` `tasks_from: <name>`";
- a fact that roles/<A> sets with set_fact and another role's files (tasks, vars, defaults, handlers, templates)
  read: the fact's name as a word of a code span, e.g. `trtllm_endpoint` or `trtllm_endpoint.address`.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from test_structure import code_lines, mappings, product_files, role_of

from ansible_collections.trtllm.deploy.plugins.module_utils import fleet_plan

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "architecture.md"
SET_FACT = {"set_fact", "ansible.builtin.set_fact", "ansible.legacy.set_fact"}
SET_FACT_OPTIONS = {"cacheable"}


def code_words(text: str) -> set[str]:
    return {word for span in re.findall(r"`([^`\n]+)`", text) for word in re.findall(r"\w+", span)}


def entry_points(root: Path) -> list[tuple[str, str]]:
    found = []
    for spec in sorted((root / "roles").glob("*/meta/argument_specs.yml")):
        names = (yaml.safe_load(spec.read_text()) or {}).get("argument_specs") or {}
        found += [(spec.parent.parent.name, name) for name in names if name != "main"]
    return found


def cross_role_facts(root: Path) -> dict[str, list[str]]:
    """Fact -> the files of other roles that read it, for each fact a role sets with set_fact."""
    files = [path for path in product_files(root, dirs=("roles",), top=()) if "meta" not in path.parts]
    setters: dict[str, set[str]] = {}
    for path in files:
        if path.suffix == ".j2":
            continue
        for task in mappings(path):
            for key in SET_FACT & set(task):
                if isinstance(task[key], dict):
                    for fact in set(task[key]) - SET_FACT_OPTIONS:
                        setters.setdefault(str(fact), set()).add(role_of(root, path))
    text = {path: "\n".join(line for _, line in code_lines(path)) for path in files}
    readers = {}
    for fact, roles in sorted(setters.items()):
        others = [str(path.relative_to(root)) for path, body in text.items()
                  if role_of(root, path) not in roles and re.search(rf"\b{re.escape(fact)}\b", body)]
        if others:
            readers[fact] = others
    return readers


def test_the_doc_names_every_field_of_the_host_fact_and_the_plan():
    words = code_words(DOC.read_text())
    missing = [f"{name}.{field}" for name, fields in (("HOST_FACT", fleet_plan.HOST_FACT), ("PLAN", fleet_plan.PLAN))
               for field in fields if field not in words]
    assert not missing, f"{DOC.name} does not name these fields of plugins/module_utils/fleet_plan.py: {missing}"


def test_the_doc_names_every_role_entry_point():
    doc = DOC.read_text()
    missing = [f"`{role}` `tasks_from: {name}`" for role, name in entry_points(REPO)
               if f"`{role}` `tasks_from: {name}`" not in doc]
    assert not missing, f"{DOC.name} does not name these entry points (meta/argument_specs.yml): {missing}"


def test_the_doc_names_every_fact_another_role_reads():
    words = code_words(DOC.read_text())
    missing = {fact: readers for fact, readers in cross_role_facts(REPO).items() if fact not in words}
    assert not missing, f"{DOC.name} does not name these facts that other roles read (fact: readers): {missing}"
