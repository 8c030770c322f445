"""The fleet's plan (module_utils/fleet_plan): clusters, engines, balancers, batches, endpoints."""

from __future__ import annotations

import pytest

from ansible_collections.trtllm.deploy.plugins.module_utils import fleet_plan as fp
from ansible_collections.trtllm.deploy.plugins.module_utils.fleet_plan import engine_plan


def engine_plan_of(hosts, engines):
    """The engine plan of `hosts` in play order, from each one's published engine."""
    return engine_plan({host: engines[host] for host in hosts})


def endpoint(address):
    return {"address": address, "http_port": 8000, "grpc_port": 8001, "metrics_port": 8002}


def host(fact=None, **inventory):
    return {"fact": fact or {}, "inventory": inventory}


def fact(key, current):
    return {"key": key, "current": current}


def test_plan_builds_once_per_key_on_the_first_host():
    hostvars = {"a1": fact("tp2", False), "h1": fact("tp1", False), "h2": fact("tp1", False), "h3": fact("tp1", False)}
    plan = engine_plan_of(["a1", "h1", "h2", "h3"], hostvars)
    assert plan["builders"] == {"tp2": "a1", "tp1": "h1"}
    assert {h: p["action"] for h, p in plan["hosts"].items()} == {"a1": "build", "h1": "build", "h2": "receive",
                                                                  "h3": "receive"}
    assert plan["transfers"] == [{"key": "tp1", "source": "h1", "receivers": ["h2", "h3"], "files": {}}]


def test_plan_copies_from_a_host_that_already_has_the_engine():
    hostvars = {"h1": fact("tp1", False), "h2": fact("tp1", True), "h3": fact("tp1", True)}
    plan = engine_plan_of(["h1", "h2", "h3"], hostvars)
    assert plan["builders"] == {}
    assert {h: p["action"] for h, p in plan["hosts"].items()} == {"h1": "receive", "h2": "keep", "h3": "keep"}
    assert plan["transfers"] == [{"key": "tp1", "source": "h2", "receivers": ["h1"], "files": {}}]
    assert engine_plan_of(["h2", "h3"], hostvars)["transfers"] == []


def test_plan_prefers_a_builder_that_is_not_serving():
    hostvars = {"h1": dict(fact("tp1", False), serving=True), "h2": fact("tp1", False),
                "h3": dict(fact("tp1", False), serving="true")}
    plan = engine_plan_of(["h1", "h2", "h3"], hostvars)
    assert plan["builders"] == {"tp1": "h2"}
    assert plan["transfers"] == [{"key": "tp1", "source": "h2", "receivers": ["h1", "h3"], "files": {}}]
    # Every host serving: the first builds (it stops its server for the build).
    everyone = {h: dict(v, serving=True) for h, v in hostvars.items()}
    assert engine_plan_of(["h1", "h2", "h3"], everyone)["builders"] == {"tp1": "h1"}


def test_plan_hands_a_key_on_from_every_host_that_has_it_in_rounds():
    hosts = [f"h{i}" for i in range(1, 9)]
    plan = engine_plan_of(hosts, {h: fact("tp1", False) for h in hosts})
    # h1 builds; 7 receivers in 3 rounds (1, then 2, then 4 senders); nobody sends twice in a round.
    assert [[(c["source"], c["receiver"]) for c in copies] for copies in plan["rounds"]] == [
        [("h1", "h2")], [("h1", "h3"), ("h2", "h4")], [("h1", "h5"), ("h2", "h6"), ("h3", "h7"), ("h4", "h8")]]
    assert {h: (p["round"], p["peer"]) for h, p in plan["hosts"].items() if p["action"] == "receive"} == {
        "h2": (1, "h1"), "h3": (2, "h1"), "h4": (2, "h2"), "h5": (3, "h1"), "h6": (3, "h2"), "h7": (3, "h3"),
        "h8": (3, "h4")}
    for copies in plan["rounds"]:
        senders = [c["source"] for c in copies]
        assert len(senders) == len(set(senders))


def test_plan_gives_a_cluster_member_only_its_files_and_takes_it_for_no_source():
    held = {"m0": ["config.json", "rank0.engine"], "m1": ["config.json", "rank1.engine"]}
    hostvars = {h: dict(fact("tp2", False), held=files) for h, files in held.items()}
    plan = engine_plan_of(["m0", "m1"], hostvars)
    assert plan["builders"] == {"tp2": "m0"}
    assert plan["rounds"] == [[{"key": "tp2", "source": "m0", "receiver": "m1",
                                "files": ["config.json", "rank1.engine"]}]]
    # m0 lost its engine; m1 holds only rank 1 of it: m1 cannot be the source, so m0 builds again.
    hostvars["m1"]["current"] = True
    again = engine_plan_of(["m0", "m1"], hostvars)
    assert again["builders"] == {"tp2": "m0"} and again["transfers"] == []
    # Both hold their ranks: nothing to do.
    hostvars["m0"] = {"key": "tp2", "current": True}
    assert engine_plan_of(["m0", "m1"], hostvars)["builders"] == {}
    assert {h: p["action"] for h, p in engine_plan_of(["m0", "m1"], hostvars)["hosts"].items()} == {
        "m0": "keep", "m1": "keep"}


def test_plan_names_a_host_without_a_key():
    with pytest.raises(fp.PlanError, match="h9 published no engine key"):
        engine_plan({"h9": {}})


def test_plan_rebuilds_a_current_engine_when_forced():
    hostvars = {"h1": dict(fact("tp1", True), forced=True), "h2": fact("tp1", True)}
    plan = engine_plan_of(["h1", "h2"], hostvars)
    assert plan["builders"] == {"tp1": "h1"} and plan["hosts"]["h2"]["action"] == "receive"
    assert engine_plan_of(["h2"], {"h2": fact("tp1", True)})["hosts"]["h2"]["action"] == "keep"


def test_a_cluster_is_its_members_in_inventory_order_with_rank_0_first_and_absent_ones_named():
    layout = {"tp_size": 2}
    hosts = {"gpu-b": host({"endpoint": endpoint("10.0.0.2"), "cluster": {"layout": layout, "host_key": "kb"}},
                           trtllm_cluster="c1"),
             "gpu-a": host({"endpoint": endpoint("10.0.0.1"), "cluster": {"layout": layout, "public_key": "ka"}},
                           trtllm_cluster="c1"),
             "gpu-c": host({"endpoint": endpoint("10.0.0.3")}, trtllm_cluster="c1"),
             "solo": host({"endpoint": endpoint("10.0.0.9")})}
    plan = fp.make_plan(hosts, {"gpu_nodes": ["gpu-a", "gpu-b", "gpu-c", "solo"]}, ["gpu-a", "gpu-b", "solo"])
    cluster = plan["clusters"]["c1"]
    assert cluster["members"] == ["gpu-a", "gpu-b", "gpu-c"] and cluster["leader"] == "gpu-a"
    assert cluster["absent"] == ["gpu-c"]  # left out by --limit: still a member
    assert cluster["addresses"] == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    assert cluster["layouts"] == {"gpu-a": {"tp_size": 2}, "gpu-b": {"tp_size": 2}, "gpu-c": None}
    assert cluster["public_key"] == "ka" and cluster["host_keys"] == {"gpu-b": "kb", "gpu-c": None}
    assert {name: (entry["rank0"], entry["serves"], entry["cluster"]) for name, entry in plan["hosts"].items()} == {
        "gpu-a": (True, True, "c1"), "gpu-b": (False, False, "c1"), "gpu-c": (False, False, "c1"),
        "solo": (True, True, "")}
    assert list(plan["clusters"]) == ["c1"]


def test_a_balancer_gets_the_serving_hosts_of_its_backend_group_and_names_those_that_did_not_publish():
    hosts = {"gpu-a": host({"endpoint": endpoint("10.0.0.1")}, trtllm_cluster="c1"),
             "gpu-b": host({"endpoint": endpoint("10.0.0.2")}, trtllm_cluster="c1"),
             "gpu-c": host({"endpoint": endpoint("10.0.0.3")}),
             "gpu-d": host(),
             "lb1": host({"endpoint": {"address": "10.0.1.1", "http_port": 80}}),
             "lb2": host(load_balancer_socket="/run/lb2.sock", load_balancer_backend_group="pool")}
    groups = {"gpu_nodes": ["gpu-a", "gpu-b", "gpu-c", "gpu-d"], "pool": ["gpu-c"], "load_balancers": ["lb1", "lb2"]}
    plan = fp.make_plan(hosts, groups, ["gpu-a", "gpu-b", "gpu-c", "gpu-d"])
    lb1, lb2 = plan["balancers"]["lb1"], plan["balancers"]["lb2"]
    assert [b["name"] for b in lb1["backends"]] == ["gpu-a", "gpu-c"]  # gpu-b is rank 1 of c1: no endpoint
    assert lb1["backends"][0] == {"name": "gpu-a", "address": "10.0.0.1", "http_port": 8000, "grpc_port": 8001}
    assert lb1["unpublished"] == ["gpu-d"] and lb1["socket"] is None  # the role's default applies
    assert lb2 == {"socket": "/run/lb2.sock", "backend_group": "pool", "endpoint": None, "unpublished": [],
                   "backends": [{"name": "gpu-c", "address": "10.0.0.3", "http_port": 8000, "grpc_port": 8001}]}
    assert ("lb1", "balancer", "10.0.1.1", 80) in [(e["host"], e["kind"], e["address"], e["port"])
                                                   for e in plan["endpoints"]]
    assert [e["host"] for e in plan["endpoints"] if e["kind"] == "triton"] == ["gpu-a", "gpu-c"]


def test_engines_wait_for_every_host_of_the_run_and_name_those_that_did_not_publish():
    hosts = {name: host({"endpoint": endpoint(f"10.0.0.{i}")}) for i, name in enumerate(["h1", "h2", "h3"], 1)}
    groups = {"gpu_nodes": ["h1", "h2", "h3"]}
    waiting = fp.make_plan(hosts, groups, ["h1", "h2"])
    assert waiting["engines"] == {} and waiting["engines_waiting_for"] == ["h1", "h2"]
    for name in ("h1", "h2"):
        hosts[name]["fact"]["engine"] = {"key": "k", "current": name == "h2"}
    engines = fp.make_plan(hosts, groups, ["h1", "h2"])["engines"]  # h3 is not in the run
    assert engines["builders"] == {} and set(engines["hosts"]) == {"h1", "h2"}
    assert engines["hosts"]["h1"] == {"action": "receive", "key": "k", "source": "h2", "round": 1, "peer": "h2",
                                      "files": None}


@pytest.mark.parametrize("serial, sizes", [(None, [5]), ("100%", [5]), (0, [5]), (2, [2, 2, 1]), ("40%", [2, 2, 1]),
                                           ("10%", [1, 1, 1, 1, 1]), ([1, "50%"], [1, 2, 2]), ("1", [1] * 5)])
def test_the_rolls_batches_follow_ansibles_serial(serial, sizes):
    names = [f"h{i}" for i in range(5)]
    batches = fp.batches(names, serial)
    assert [len(batch) for batch in batches] == sizes and sum(batches, []) == names


def test_a_roll_that_splits_a_cluster_is_named_and_a_batch_leaves_the_others_absent():
    hosts = {name: host(trtllm_cluster="c1" if name in ("h1", "h2") else "") for name in ("h0", "h1", "h2")}
    groups = {"gpu_nodes": ["h0", "h1", "h2"]}
    every = ["h0", "h1", "h2"]
    assert fp.make_plan(hosts, groups, every, serial=2)["split_clusters"] == ["c1"]
    assert fp.make_plan(hosts, groups, every, serial=[1, 2])["split_clusters"] == []
    # The second batch of serial 2 is h2 alone: the batches are the play's, its member h1 is absent from it.
    batch = fp.make_plan(hosts, groups, ["h2"], serial=2, play_hosts=every)
    assert batch["batches"] == [["h0", "h1"], ["h2"]] and batch["clusters"]["c1"]["absent"] == ["h1"]


def fleet_of_50():
    """50 GPU hosts: 30 H100 (tp1), 16 A100 (tp2, two clusters of 2 and the rest alone at tp2), 4 L40S; two
    balancers over different groups; some engines current, some hosts serving."""
    hosts, groups = {}, {"gpu_nodes": [], "h100": [], "a100": [], "load_balancers": ["lb1", "lb2"]}
    for i in range(50):
        name = f"gpu{i:02d}"
        kind = "h100" if i < 30 else "a100" if i < 46 else "l40s"
        cluster = "ca" if i in (30, 31) else "cb" if i in (32, 33) else ""
        key = f"{kind}-{'tp2' if kind == 'a100' else 'tp1'}"
        fact = {"gpus": {"count": 8 if kind != "l40s" else 4, "compute_capabilities": [{"h100": "9.0", "a100": "8.0",
                                                                                          "l40s": "8.9"}[kind]]},
                "endpoint": endpoint(f"10.1.{i // 250}.{i % 250 + 1}"),
                "engine": {"key": key, "current": i % 7 == 3, "serving": i % 2 == 0,
                           "held": ["config.json", f"rank{i % 2}.engine"] if cluster else []}}
        if cluster:
            fact["cluster"] = {"layout": {"tp_size": 2}, "public_key": "k", "host_key": "h"}
        hosts[name] = host(fact, trtllm_cluster=cluster)
        groups["gpu_nodes"].append(name)
        groups.setdefault(kind, []).append(name)
    hosts["lb1"] = host({"endpoint": {"address": "10.2.0.1", "http_port": 80}}, load_balancer_backend_group="h100")
    hosts["lb2"] = host({"endpoint": {"address": "10.2.0.2", "http_port": 80}}, load_balancer_backend_group="a100")
    return hosts, groups


def test_a_fleet_of_50_mixed_hosts_two_clusters_and_two_balancers():
    hosts, groups = fleet_of_50()
    plan = fp.make_plan(hosts, groups, groups["gpu_nodes"], serial="20%")
    assert sorted(plan["clusters"]) == ["ca", "cb"]
    assert plan["clusters"]["ca"]["members"] == ["gpu30", "gpu31"] and plan["clusters"]["cb"]["leader"] == "gpu32"
    # H100s and A100s hold a current engine somewhere (gpu03, gpu38): copies only. No L40S does: the first one
    # that is not serving builds.
    assert plan["engines"]["builders"] == {"l40s-tp1": "gpu47"}
    actions = {name: entry["action"] for name, entry in plan["engines"]["hosts"].items()}
    assert actions["gpu03"] == "keep" and plan["engines"]["hosts"]["gpu00"]["source"] == "gpu03"
    for copies in plan["engines"]["rounds"]:  # nobody sends twice or receives twice in a round
        assert len({c["source"] for c in copies}) == len(copies) == len({c["receiver"] for c in copies})
    receivers = {name for name, action in actions.items() if action == "receive"}
    assert receivers == {c["receiver"] for copies in plan["engines"]["rounds"] for c in copies}
    # A cluster member receives only its ranks, and is never a source.
    sources = {c["source"] for copies in plan["engines"]["rounds"] for c in copies}
    assert not sources & {"gpu31", "gpu33"}
    assert [b["name"] for b in plan["balancers"]["lb1"]["backends"]] == [f"gpu{i:02d}" for i in range(30)]
    a100_serving = [f"gpu{i}" for i in (30, 32, *range(34, 46))]  # rank 1 of each cluster serves no one
    assert [b["name"] for b in plan["balancers"]["lb2"]["backends"]] == a100_serving
    assert [len(batch) for batch in plan["batches"]] == [10] * 5
    assert fp.split_clusters(plan) == []
    assert len([e for e in plan["endpoints"] if e["kind"] == "triton"]) == 48  # two rank-1 members serve no one
