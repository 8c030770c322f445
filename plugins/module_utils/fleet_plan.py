# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet's plan: one pure function of what every host published (its C(trtllm_host) fact) and of the
inventory's groups and membership variables.

No Ansible imports: the action plugin C(trtllm.deploy.fleet_plan) and the unit tests call C(make_plan) with plain
dicts. Roles read the plan and their own host only; this module is the one place that reads other hosts.
"""

from __future__ import annotations

from ansible_collections.trtllm.deploy.plugins.module_utils.transfer import plan_rounds

# The facts this module's action sets: the host's own, and the plan.
FACTS = ("trtllm_host", "trtllm_fleet_plan")
GPU_GROUP = "gpu_nodes"
BALANCER_GROUP = "load_balancers"

# The fact each host publishes, C(trtllm_host): every part is optional, added by the task that learns it
# (docs/architecture.md, "The host fact"). Field -> what it holds.
HOST_FACT = {
    "gpus": "count and compute_capabilities (role trtllm's preflight, from gpu_facts)",
    "endpoint": "address, http_port, grpc_port, metrics_port, container: where this host's Triton (or balancer) "
                "answers",
    "cluster": "layout (cluster preflight), image (the serving image's id), public_key (rank 0), host_key (members)",
    "engine": "key, current, reason (artifact_key), serving, forced, held: the engine this host needs",
}

# Inventory variables the plan reads for every host, whether or not it is in the run (so a cluster member
# left out by --limit still counts), with what an unset one means. An unset socket stays None: the role's
# default (load_balancer_socket) applies where it is used.
INVENTORY_INPUTS = {
    "trtllm_cluster": "",
    "load_balancer_socket": None,
    "load_balancer_backend_group": GPU_GROUP,
}

# The plan, C(trtllm_fleet_plan): field -> what it holds.
PLAN = {
    "hosts": "GPU host -> present, cluster, rank0, serves, endpoint",
    "clusters": "name -> members (inventory order, rank 0 first), leader, absent, addresses, layouts, images, "
                "public_key, host_keys",
    "engines": "hosts (host -> action, key, source, round, peer, files), transfers, rounds, builders; "
               "empty until every GPU host of the run published its engine",
    "engines_waiting_for": "the GPU hosts of the run that have not published their engine yet",
    "balancers": "balancer -> socket, backend_group, endpoint, backends ([name, address, http_port, grpc_port]), "
                 "unpublished",
    "batches": "the deploy roll's batches of GPU hosts (trtllm_serial), as Ansible's serial makes them",
    "split_clusters": "clusters whose members the roll's batches would split (refused by the cluster preflight)",
    "endpoints": "every endpoint a client or a monitor may reach: [host, kind, address, port]",
}


class PlanError(ValueError):
    pass


def make_plan(hosts: dict[str, dict], groups: dict[str, list], present: list[str], serial=None,
              play_hosts: list[str] | None = None) -> dict:
    """`hosts` maps each inventory host to {"fact": its trtllm_host or {}, "inventory": INVENTORY_INPUTS' values};
    `groups` is the inventory's groups; `present` the hosts of this run's batch (ansible_play_batch: every host of
    the play still in it, unless the play is rolling); `play_hosts` the play's hosts (ansible_play_hosts_all),
    which the roll's batches are made of."""
    gpu_hosts = [host for host in groups.get(GPU_GROUP, []) if host in hosts]
    balancers = [host for host in groups.get(BALANCER_GROUP, []) if host in hosts]
    present_set = set(present)

    def fact(host: str) -> dict:
        return hosts[host].get("fact") or {}

    def inventory(host: str, name: str):
        value = (hosts[host].get("inventory") or {}).get(name)
        return INVENTORY_INPUTS[name] if value is None else value

    clusters: dict[str, dict] = {}
    for host in gpu_hosts:
        name = str(inventory(host, "trtllm_cluster") or "")
        if name:
            clusters.setdefault(name, {"members": []})["members"].append(host)
    for entry in clusters.values():
        members = entry["members"]
        parts = {host: fact(host).get("cluster") or {} for host in members}
        entry.update(
            leader=members[0],
            absent=[host for host in members if host not in present_set],
            addresses=[(fact(host).get("endpoint") or {}).get("address") for host in members],
            layouts={host: parts[host].get("layout") if host in present_set else None for host in members},
            images={host: parts[host].get("image") for host in members},
            public_key=parts[members[0]].get("public_key"),
            host_keys={host: parts[host].get("host_key") for host in members[1:]},
        )

    plan_hosts = {}
    for host in gpu_hosts:
        name = str(inventory(host, "trtllm_cluster") or "")
        rank0 = not name or clusters[name]["leader"] == host
        plan_hosts[host] = {"present": host in present_set, "cluster": name, "rank0": rank0, "serves": rank0,
                            "endpoint": fact(host).get("endpoint")}

    plan_balancers = {}
    for balancer in balancers:
        group = str(inventory(balancer, "load_balancer_backend_group"))
        members = [host for host in groups.get(group, []) if host in plan_hosts]
        backends, unpublished = [], []
        for host in sorted(members):
            endpoint = plan_hosts[host]["endpoint"]
            if not endpoint:
                unpublished.append(host)
            elif plan_hosts[host]["serves"]:
                backends.append({"name": host, "address": endpoint["address"], "http_port": endpoint["http_port"],
                                 "grpc_port": endpoint.get("grpc_port")})
        plan_balancers[balancer] = {"socket": inventory(balancer, "load_balancer_socket"), "backend_group": group,
                                    "endpoint": fact(balancer).get("endpoint"), "backends": backends,
                                    "unpublished": unpublished}

    endpoints = []
    for host in gpu_hosts:
        endpoint = plan_hosts[host]["endpoint"]
        if endpoint:
            if plan_hosts[host]["serves"]:
                endpoints.append({"host": host, "kind": "triton", "address": endpoint["address"],
                                  "port": endpoint["http_port"]})
            if endpoint.get("metrics_port"):
                endpoints.append({"host": host, "kind": "triton_metrics", "address": endpoint["address"],
                                  "port": endpoint["metrics_port"]})
    for balancer, entry in plan_balancers.items():
        if entry["endpoint"]:
            endpoints.append({"host": balancer, "kind": "balancer", "address": entry["endpoint"]["address"],
                              "port": entry["endpoint"]["http_port"]})

    run_gpu_hosts = [host for host in present if host in plan_hosts]
    waiting = [host for host in run_gpu_hosts if not fact(host).get("engine")]
    engines = {}
    if run_gpu_hosts and not waiting:
        engines = engine_plan({host: fact(host)["engine"] for host in run_gpu_hosts})
    rolled = [host for host in (play_hosts or present) if host in plan_hosts]

    plan = {"hosts": plan_hosts, "clusters": clusters, "engines": engines, "engines_waiting_for": waiting,
            "balancers": plan_balancers, "batches": batches(rolled, serial), "endpoints": endpoints}
    plan["split_clusters"] = split_clusters(plan)
    return plan


def engine_plan(engines: dict[str, dict]) -> dict:
    """One builder per engine key, copies for the others. `engines` maps each host of the run (in play order) to
    its published engine: key, current, and optionally serving (its server runs), forced (engine_build_force)
    and held (the engine's files a cluster member holds, when not all of them).

    For each key, a host whose engine is current and whole is the source; otherwise one host builds, the first
    that is not serving (a serving builder must stop its server: conversion and trtllm-build need the GPUs'
    memory), else the first. Every other host whose engine is not current receives a copy, host to host in
    rounds (transfer.plan_rounds)."""
    by_key: dict[str, list[tuple[str, bool]]] = {}
    forced, serving = set(), set()
    for host, engine in engines.items():
        if not engine.get("key"):
            raise PlanError(f"{host} published no engine key: run trtllm.deploy.artifact_key (kind engine) there first")
        if _truthy(engine.get("forced", False)):
            forced.add(engine["key"])
        if _truthy(engine.get("serving", False)):
            serving.add(host)
        by_key.setdefault(engine["key"], []).append((host, _truthy(engine.get("current", False))))

    plan = {"hosts": {}, "transfers": [], "builders": {}}
    held = {host: list(engine.get("held") or []) for host, engine in engines.items()}
    for key, members in by_key.items():
        if key in forced:  # engine_build_force: this key is built again, once, and copied as usual
            members = [(host, False) for host, _ in members]
        needy = [host for host, ok in members if not ok]
        # A source must hold the whole engine: a cluster member that holds only its ranks serves no one.
        whole = [host for host, ok in members if ok and not held[host]]
        idle = [host for host, _ in members if host not in serving]
        source = whole[0] if whole else (idle or [members[0][0]])[0]
        build = bool(needy) and not whole
        if build:
            plan["builders"][key] = source
        receivers = [host for host in needy if host != source]
        for host, ok in members:
            action = "build" if build and host == source else "keep" if ok else "receive"
            plan["hosts"][host] = {"action": action, "key": key, "source": source, "round": None, "peer": None,
                                   "files": None}
        if receivers:
            plan["transfers"].append({"key": key, "source": source, "receivers": receivers,
                                      "files": {host: held[host] for host in receivers if held[host]}})
    plan["rounds"] = plan_rounds(plan["transfers"])
    for number, copies in enumerate(plan["rounds"], start=1):
        for copy in copies:
            plan["hosts"][copy["receiver"]].update(round=number, peer=copy["source"], files=copy["files"])
    return plan


def batches(hosts: list[str], serial=None) -> list[list[str]]:
    """The batches Ansible's `serial` makes of `hosts`: a number, a percentage (at least one host), or a list of
    them (the last repeated); None means all at once."""
    if not hosts:
        return []
    # Ansible's serial 0 (or none) is one batch of every host.
    sizes = serial if isinstance(serial, list) else [serial if serial not in (None, "", 0, "0") else "100%"]
    result, start, index = [], 0, 0
    while start < len(hosts):
        value = str(sizes[min(index, len(sizes) - 1)]).strip()
        size = max(int(float(value[:-1]) / 100.0 * len(hosts)) if value.endswith("%") else int(value), 1)
        result.append(hosts[start:start + size])
        start, index = start + size, index + 1
    return result


def split_clusters(plan: dict) -> list[str]:
    """Clusters whose members the roll's batches split: they deploy together or not at all."""
    where = {host: number for number, batch in enumerate(plan["batches"]) for host in batch}
    return sorted(name for name, entry in plan["clusters"].items()
                  if len({where.get(host) for host in entry["members"] if host in where}) > 1)


def _truthy(value) -> bool:
    return value is True or str(value).strip().lower() in ("true", "yes", "1")


__all__ = ["FACTS", "HOST_FACT", "INVENTORY_INPUTS", "PLAN", "PlanError", "make_plan", "engine_plan", "batches",
           "split_clusters"]
