# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What can be known about an inventory on the controller, checked before any host is touched.

No Ansible imports: every function takes plain values (a host's variables after templating, the
roles' argument specs as dicts) and returns messages that name the variable and the bad value.
Used by the CLI (trtllm_deploy.validation, in-process) and the action plugin validate_inventory
(playbooks/validate.yml). The trtllm-build rules are engine_build.option_problems()'s, not a copy.
"""

from __future__ import annotations

import difflib
import functools
import re
from pathlib import Path

from ansible_collections.trtllm.deploy.plugins.module_utils import engine_build, fleet_plan

# Not kept by hand (issue #29): the variables come from the roles' argument specs (known_variables), the
# prefixes from the roles' names (prefixes) and the facts from what the roles' tasks set and register and the
# fleet plan's schema (published_facts).
SHARED_PREFIX = "trtllm_"
ROOT = Path(__file__).resolve().parents[2]
SET_FACT = ("set_fact", "ansible.builtin.set_fact", "ansible.legacy.set_fact")
NESTED = ("block", "rescue", "always", "tasks", "pre_tasks", "post_tasks", "handlers")

# Play keywords: templated before any host is chosen, so an inventory value is never seen.
PLAY_KEYWORDS = {"trtllm_serial": "--serial", "trtllm_max_fail_percentage": "--max-fail-percentage"}


def role_names(root: Path = ROOT) -> list[str]:
    return sorted(path.name for path in (root / "roles").iterdir() if (path / "meta" / "argument_specs.yml").is_file())


@functools.lru_cache(maxsize=4)
def prefixes(names: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """Prefixes of the collection's variables (a name with one of them must be a known variable): the shared
    one, each role's name, and a first word several roles share (triton_: triton_container, triton_server ...)."""
    names = role_names() if names is None else list(names)
    firsts = [name.split("_", 1)[0] for name in names]
    shared = {f"{first}_" for first in firsts if firsts.count(first) > 1}
    return tuple(sorted({SHARED_PREFIX} | shared | {f"{name}_" for name in names}))


def _tasks(items):
    for item in items or []:
        if isinstance(item, dict):
            yield item
            for key in NESTED:
                yield from _tasks(item.get(key))


@functools.lru_cache(maxsize=4)
def published_facts(root: Path = ROOT) -> dict[str, str]:
    """Fact -> who sets it: every name the roles' tasks set (set_fact) or register, and the fleet plan's facts."""
    import yaml

    found = {name: "module fleet_plan (docs/architecture.md)" for name in fleet_plan.FACTS}
    for path in sorted((root / "plugins" / "modules").glob("*.py")):  # facts a module returns (gpu_facts)
        for name in re.findall(r"ansible_facts=\{\"(\w+)\"", path.read_text()):
            found.setdefault(name, f"module {path.stem}")
    for path in sorted((root / "roles").glob("*/tasks/*.yml")) + sorted((root / "playbooks").glob("*.yml")):
        role = path.parent.parent.name if path.parent.name == "tasks" else None
        for task in _tasks(yaml.safe_load(path.read_text()) or []):
            names = [task.get("register")]
            for key in SET_FACT:
                if isinstance(task.get(key), dict):
                    names += [name for name in task[key] if name != "cacheable"]
            for name in filter(None, names):
                found.setdefault(str(name), f"role {role} (roles/{role}/tasks/{path.name})" if role
                                 else f"playbooks/{path.name}")
    return found


# The seed workflow's names (../shared/seed/llama-trtllm-triton-workflow.md) -> ours.
WORKFLOW_NAMES = {
    "model_type": "trtllm_model_type",
    "model_name": "trtllm_model_name",
    "model_dtype": "trtllm_dtype",
    "dtype": "trtllm_dtype",
    "model_tp_size": "trtllm_tp_size",
    "tp_size": "trtllm_tp_size",
    "model_pp_size": "trtllm_pp_size",
    "pp_size": "trtllm_pp_size",
    "world_size": "trtllm_world_size",
    "max_batch_size": "trtllm_max_batch_size",
    "max_input_len": "trtllm_max_input_len",
    "max_output_len": "trtllm_max_output_len",
    "max_num_tokens": "engine_build_max_num_tokens",
    "opt_num_tokens": "engine_build_opt_num_tokens",
    "models_dir": "trtllm_models_dir (container) or trtllm_models_host_dir (host)",
    "model_path": "trtllm_model_path",
    "trt_model_path": "trtllm_ckpt_path",
    "trt_engine_path": "trtllm_engine_path",
    "tensorrt_demo_dir": "trtllm_demo_dir",
    "tensorrtllm_backend_dir": "trtllm_backend_dir",
    "chunked_prompt_flags": "trtllm_chunked_context (true or false)",
    "model_repo": "trtllm_model_repo",
    "kv_cache_free_gpu_mem_fraction": "triton_model_repo_kv_cache_free_gpu_mem_fraction",
    "batch_scheduler_policy": "triton_model_repo_batch_scheduler_policy",
    "gpt_model_type": "triton_model_repo_batching_strategy",
    "decoupled": "triton_model_repo_decoupled",
    "enable_chunked_context": "triton_model_repo_enable_chunked_context",
    "gpt_model_path": "trtllm_engine_path",
    "tokenizer_dir": "trtllm_model_path",
    "http_port": "trtllm_http_port",
    "grpc_port": "trtllm_grpc_port",
    "metrics_port": "trtllm_metrics_port",
}

SECRET_NAME = re.compile(r"(password|passwd|token|api_key|apikey|secret)", re.IGNORECASE)
SECRET_VALUE = re.compile(r"^(hf_[A-Za-z0-9]{8,}|nvapi-[A-Za-z0-9_-]{8,})")
SECRET_HELP = ("set it from the environment, e.g. \"{{ lookup('ansible.builtin.env', 'NGC_API_KEY') }}\" with "
               "NGC_API_KEY exported or in trtllm-deploy --secret-file (mode 600), or encrypt it with "
               "ansible-vault encrypt_string")

HOST_PATHS = ("trtllm_workdir", "trtllm_backend_dir", "trtllm_demo_dir", "trtllm_models_host_dir")
CONTAINER_PATHS = ("trtllm_models_dir", "trtllm_model_repo", "trtllm_model_path", "trtllm_ckpt_path",
                   "trtllm_engine_path")
PORTS = ("trtllm_http_port", "trtllm_grpc_port", "trtllm_metrics_port")
IMAGES = ("triton_container_image", "nvidia_runtime_probe_image")
TRITON_MODELS = ("ensemble", "preprocessing", "postprocessing", "tensorrt_llm", "tensorrt_llm_bls")

# docker/distribution's reference grammar: [registry[:port]/]path[:tag][@digest], lower-case path.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?/)"
_TAG = r"(?::[\w][\w.-]{0,127})?(?:@sha256:[0-9a-f]{64})?"
IMAGE_REF = re.compile(rf"^{_DOMAIN}?{_COMPONENT}(?:/{_COMPONENT})*{_TAG}$")
CONTAINER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")  # Docker's rule
DIR_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
DRIVER_VERSION = re.compile(r"^\d{3}(\.\d{1,3}){1,2}$")  # 535.86, 550.90.07
PACKAGE_VERSION = re.compile(r"^\d+\.\d+\.\d+(?:[~.+][0-9A-Za-z.]+)?(?:-[0-9A-Za-z.~+]+)?$")  # 1.17.8-1, 1.17.0~rc.1-1
SERIAL = re.compile(r"^(\d+)(%?)$")


def known_variables(specs: dict[str, dict]) -> dict[str, str]:
    """Variable -> the role that declares it, from every role's argument specs (all entry points)."""
    known = {}
    for role, spec in specs.items():
        for entry in ((spec or {}).get("argument_specs") or {}).values():
            for name in (entry or {}).get("options") or {}:
                known.setdefault(name, role)
    return known


def closest(name: str, candidates) -> str | None:
    found = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.75)
    if not found and "_" in name:  # a wrong prefix: trtllm_max_bach_size vs the suffix of ours
        suffix = name.split("_", 1)[1]
        found = difflib.get_close_matches(suffix, [c.split("_", 1)[1] for c in candidates if "_" in c], n=1,
                                          cutoff=0.8)
        found = [c for c in candidates if "_" in c and c.split("_", 1)[1] == found[0]][:1] if found else []
    return found[0] if found else None


def unknown_variable_problems(names, known: dict[str, str], internal: dict[str, str]) -> dict[str, str]:
    """Name -> why it is refused, for names that look like ours but are no variable of the collection.

    internal maps a computed name (a role's vars/main.yml or a published fact) to where it is set.
    """
    problems = {}
    for name in names:
        if name in known or name.startswith("ansible_"):
            continue
        if name in internal:
            problems[name] = (f"{name} is set by {internal[name]} at run time and an inventory value is overwritten; "
                              "set the variables it is made of instead")
            continue
        workflow = WORKFLOW_NAMES.get(name.lower())
        if workflow:
            problems[name] = f"{name} is the workflow's name; this collection reads it as {workflow}"
            continue
        ours = name.startswith(prefixes())
        guess = closest(name, known)
        if ours or (guess and difflib.SequenceMatcher(None, name, guess).ratio() >= 0.85):
            hint = f": did you mean {guess}?" if guess else " (see the roles' meta/argument_specs.yml)"
            problems[name] = f"{name} is not a variable of any role of trtllm.deploy{hint}"
    return problems


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def rolling_problems(values: dict, from_inventory: set[str]) -> list[str]:
    """trtllm_serial and trtllm_max_fail_percentage: valid values, and only from extra vars."""
    problems = []
    for name, flag in PLAY_KEYWORDS.items():
        if name in from_inventory:
            problems.append(f"{name} is set in the inventory ({values.get(name)!r}), where deploy.yml cannot see it "
                            f"(a play keyword is templated before hosts are chosen): pass -e {name}=... or "
                            f"trtllm-deploy deploy {flag} ...")
    if values.get("trtllm_serial") is not None:
        serial = str(values["trtllm_serial"]).strip()
        match = SERIAL.match(serial)
        if not match or int(match.group(1)) < 1 or (match.group(2) and int(match.group(1)) > 100):
            problems.append(f"trtllm_serial {values['trtllm_serial']!r} is not a host count >= 1 or a percentage "
                            "1%-100% (e.g. 1, 2 or 25%)")
    if values.get("trtllm_max_fail_percentage") is not None:
        percent = _int(values["trtllm_max_fail_percentage"])
        if percent is None or isinstance(values["trtllm_max_fail_percentage"], bool) or not 0 <= percent <= 100:
            problems.append(f"trtllm_max_fail_percentage {values['trtllm_max_fail_percentage']!r} is not a "
                            "percentage from 0 to 100")
    return problems


def _under(path: str, roots) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


def host_problems(values: dict) -> tuple[list[str], list[str]]:
    """Ranges, relations, paths, names, images and versions of one host's values (typed by the specs).

    Returns (problems, warnings). values holds the role defaults overlaid with the host's variables.
    """
    problems, warnings = [], []
    get = values.get

    for name in ("trtllm_tp_size", "trtllm_pp_size", "trtllm_max_batch_size", "trtllm_max_input_len",
                 "trtllm_max_output_len", "engine_build_workers", "checkpoint_convert_workers",
                 "nvidia_runtime_min_gpus", "smoke_test_concurrency", "smoke_test_timeout",
                 "triton_server_ready_timeout", "triton_model_repo_instance_count", "triton_server_log_max_files"):
        value = _int(get(name))
        if get(name) is not None and (value is None or value < 1):
            problems.append(f"{name} must be at least 1, got {get(name)!r}")
    for name in ("triton_server_stop_timeout", "triton_model_repo_max_queue_delay_microseconds"):
        value = _int(get(name))
        if get(name) is not None and (value is None or value < 0):
            problems.append(f"{name} must be 0 or more, got {get(name)!r}")
    tp, pp = _int(get("trtllm_tp_size")), _int(get("trtllm_pp_size"))
    if tp and pp and tp * pp > 8 and tp > 8:
        warnings.append(f"trtllm_tp_size {tp} spans more than one 8-GPU node; the roles deploy one node per host")

    fraction = get("triton_model_repo_kv_cache_free_gpu_mem_fraction")
    if fraction is not None:
        try:
            fraction_value = float(fraction)
        except (TypeError, ValueError):
            fraction_value = None
        if fraction_value is None or not 0 < fraction_value <= 1:
            problems.append(f"triton_model_repo_kv_cache_free_gpu_mem_fraction must be in (0, 1], got {fraction!r} "
                            "(a fraction of the GPU memory left after the weights, e.g. 0.9)")

    problems += _build_option_problems(values, warnings)

    # Ports: in range and distinct on the host.
    seen = {}
    for name in PORTS:
        port = _int(get(name))
        if get(name) is None:
            continue
        if port is None or not 1 <= port <= 65535:
            problems.append(f"{name} must be a port from 1 to 65535, got {get(name)!r}")
        elif port in seen:
            problems.append(f"{name} {port} is also {seen[port]}: Triton needs three distinct ports")
        else:
            seen[port] = name

    # Paths: absolute; container paths inside a mount of the server's container.
    mounts = get("trtllm_mounts") or {}
    if not isinstance(mounts, dict):
        problems.append(f"trtllm_mounts must map container directories to host directories, got {mounts!r}")
        mounts = {}
    for container_dir, host_dir in mounts.items():
        for path in (container_dir, host_dir):
            if not str(path).startswith("/"):
                problems.append(f"trtllm_mounts: {container_dir!r}: {host_dir!r}: both sides must be absolute paths")
                break
    for name in HOST_PATHS:
        path = get(name)
        if path is not None and not str(path).startswith("/"):
            problems.append(f"{name} must be an absolute host path, got {path!r}")
    for name in CONTAINER_PATHS:
        path = get(name)
        if path is None:
            continue
        path = str(path)
        if not path.startswith("/"):
            problems.append(f"{name} must be an absolute path inside the container, got {path!r}")
        elif mounts and not _under(path.rstrip("/") or "/", mounts):
            problems.append(f"{name} {path!r} is not inside a mount of the container ({', '.join(sorted(mounts))}): "
                            "what is written there is lost with the container")
        elif "/../" in path + "/" or "//" in path:
            problems.append(f"{name} {path!r} must be a plain path (no '..' or '//')")

    # Names.
    model_name = get("trtllm_model_name")
    if model_name is not None and (not DIR_NAME.match(str(model_name)) or str(model_name) in (".", "..")):
        problems.append(f"trtllm_model_name must be the model's directory name (letters, digits, '.', '_', '-'; "
                        f"no '/'), got {model_name!r}")
    model_type = get("trtllm_model_type")
    if model_type is not None and not DIR_NAME.match(str(model_type)):
        problems.append(f"trtllm_model_type must be a directory of TensorRT-LLM's examples/ (e.g. llama), "
                        f"got {model_type!r}")
    container = get("trtllm_container_name")
    if container is not None and not CONTAINER_NAME.match(str(container)):
        problems.append(f"trtllm_container_name must be a Docker container name ([a-zA-Z0-9][a-zA-Z0-9_.-]*), "
                        f"got {container!r}")
    models = get("trtllm_models")
    if isinstance(models, list):
        for index, model in enumerate(models):
            if model not in TRITON_MODELS:
                problems.append(f"trtllm_models[{index}] {model!r} is not a model of the repository "
                                f"({', '.join(TRITON_MODELS)})")
        if len(set(models)) != len(models):
            problems.append(f"trtllm_models lists a model twice: {models!r}")

    # Images and versions.
    for name in IMAGES:
        image = get(name)
        if image is not None and not IMAGE_REF.match(str(image)):
            problems.append(f"{name} {image!r} is not an image reference ([registry/]name[:tag][@sha256:digest], "
                            "lower-case name, no spaces)")
    driver = get("nvidia_runtime_driver_min_version")
    if driver is not None and not DRIVER_VERSION.match(str(driver)):
        problems.append(f"nvidia_runtime_driver_min_version must be a driver version like \"535.86\" (quoted, "
                        f"or YAML reads 535.860 as a number), got {driver!r}")
    toolkit = get("nvidia_runtime_toolkit_version")
    if toolkit not in (None, "") and not PACKAGE_VERSION.match(str(toolkit)):
        problems.append(f"nvidia_runtime_toolkit_version must be an apt version like \"1.17.8-1\" or empty, "
                        f"got {toolkit!r}")
    problems += pairing_problems(get("triton_container_image"), get("trtllm_repos_backend_version"))

    for name in ("nvidia_runtime_toolkit_repo_url", "nvidia_runtime_toolkit_repo_key_url", "smoke_test_url"):
        url = get(name)
        if url is not None and not re.match(r"^(https?|file)://\S+$", str(url)):
            problems.append(f"{name} must be an http(s):// or file:// URL, got {url!r}")
    return problems, warnings


def _build_option_problems(values: dict, warnings: list[str]) -> list[str]:
    """The engine's limits, through engine_build.option_problems() (trtllm-build 0.9.0's rules, one copy)."""
    get = values.get
    names = {"max_batch_size": "trtllm_max_batch_size", "max_input_len": "trtllm_max_input_len",
             "max_output_len": "trtllm_max_output_len", "max_num_tokens": "engine_build_max_num_tokens",
             "opt_num_tokens": "engine_build_opt_num_tokens", "workers": "engine_build_workers",
             "tp_size": "trtllm_tp_size", "pp_size": "trtllm_pp_size"}
    options = {"dtype": get("trtllm_dtype") or "float16", "remove_input_padding": True,
               "chunked_context": bool(get("trtllm_chunked_context", True))}
    for option, variable in names.items():
        value = _int(get(variable))
        if value is None:
            return []  # a type the argument spec refuses, or unset: nothing to relate
        options[option] = value
    found, cautions = engine_build.option_problems(options)
    warnings += [_our_names(w, names) for w in cautions]
    return [_our_names("; ".join(found), names)] if found else []


def _our_names(message: str, names: dict[str, str]) -> str:
    """trtllm-build's option names in engine_build's message -> the variables that set them."""
    for option, variable in sorted(names.items(), key=lambda item: -len(item[0])):
        message = re.sub(rf"(?<![\w]){option}(?![\w])", variable, message)
    return message.replace("chunked_context", "trtllm_chunked_context")


def pairing_problems(image, backend_version) -> list[str]:
    """The serving image's release (24.04) and tensorrtllm_backend's branch (r24.04) must be the same."""
    if image is None or backend_version is None:
        return []
    tag = re.search(r":(\d{2}\.\d{2})-trtllm", str(image))
    branch = re.match(r"^(?:origin/)?r?(\d{2}\.\d{2})$", str(backend_version))
    if tag and branch and tag.group(1) != branch.group(1):
        return [f"triton_container_image {image!r} is release {tag.group(1)} but trtllm_repos_backend_version is "
                f"{backend_version!r}: the model repository's configs must come from branch r{tag.group(1)} "
                "(the backend and its configs change between releases)"]
    return []


def secret_problems(raw: dict, origins: dict[str, str]) -> list[str]:
    """Secrets written in plain text in the inventory (raw values, before templating; vaulted values pass)."""
    problems = []
    for name, value in raw.items():
        if not isinstance(value, str) or not value or "{{" in value or "{%" in value:
            continue
        if name.startswith(prefixes()) and SECRET_NAME.search(name) or SECRET_VALUE.match(value):
            where = f" in {origins[name]}" if origins.get(name) else " in the inventory"
            problems.append(f"{name} is a secret written in plain text{where}: {SECRET_HELP}")
    return problems


def fleet_problems(hosts: dict[str, dict], members: set[str], all_hosts) -> list[str]:
    """Across hosts: every host in gpu_nodes, no two hosts at one address sharing a port or the container."""
    problems = []
    for name in sorted(set(all_hosts) - set(members)):
        problems.append(f"host {name} is in the inventory but not in group gpu_nodes: the playbooks run only on "
                        "gpu_nodes and load_balancers (put it under all.children.gpu_nodes, or in a group that is a "
                        "child of it; a balancer under all.children.load_balancers)")
    by_address = {}
    for name, values in sorted(hosts.items()):
        address = str(values.get("ansible_host") or name)
        by_address.setdefault(address, []).append(name)
    for address, names in by_address.items():
        for index, first in enumerate(names):
            for second in names[index + 1:]:
                a, b = hosts[first], hosts[second]
                ports = sorted({_int(a.get(p)) for p in PORTS} & {_int(b.get(p)) for p in PORTS} - {None})
                clash = []
                if ports:
                    clash.append(f"port(s) {', '.join(map(str, ports))}")
                if a.get("trtllm_container_name") == b.get("trtllm_container_name"):
                    clash.append(f"container name {a.get('trtllm_container_name')!r}")
                if clash:
                    problems.append(f"hosts {first} and {second} are both at address {address} and share "
                                    f"{' and '.join(clash)}: give one its own address (ansible_host), or its own "
                                    "trtllm_*_port values and trtllm_container_name")
    return problems
