"""cluster_problems: what stops a multi-node instance before anything changes."""

from __future__ import annotations

from ansible_collections.trtllm.deploy.plugins.filter.cluster_problems import cluster_problems

MEMBERS = ["gpu-a", "gpu-b"]


def layout(**changes):
    base = {"tp_size": 2, "pp_size": 1, "model": "Llama", "engine": "/models/e", "ssh_port": 2233, "gpus": 1,
            "clock": 1_000_000}
    return dict(base, **changes)


def hostvars(**layouts):
    return {host: {"trtllm_cluster_layout": value} for host, value in layouts.items()}


def test_two_one_gpu_hosts_at_tp2_make_a_cluster():
    assert cluster_problems(MEMBERS, hostvars(**{"gpu-a": layout(), "gpu-b": layout()}), MEMBERS) == []


def test_ranks_must_equal_the_members_gpus_with_as_many_on_each():
    assert cluster_problems(MEMBERS, hostvars(**{"gpu-a": layout(), "gpu-b": layout(gpus=2)}), MEMBERS) == [
        "the members have different GPU counts (gpu-a: 1, gpu-b: 2): each holds the same share of the ranks"]
    assert cluster_problems(MEMBERS, hostvars(**{"gpu-a": layout(gpus=2), "gpu-b": layout(gpus=2)}), MEMBERS) == [
        "tp_size 2 x pp_size 1 = 2 ranks, but the members have 4 GPUs (gpu-a: 2, gpu-b: 2): tp_size x pp_size must "
        "equal the members' GPUs"]


def test_members_must_agree_on_the_layout_and_a_lone_member_is_no_cluster():
    problems = cluster_problems(MEMBERS, hostvars(**{"gpu-a": layout(), "gpu-b": layout(tp_size=4, ssh_port=22)}),
                                MEMBERS)
    assert problems == ["the members disagree on trtllm_tp_size (gpu-a: 2, gpu-b: 4); they run one instance",
                        "the members disagree on trtllm_cluster_ssh_port (gpu-a: 2233, gpu-b: 22); they run one "
                        "instance"]
    assert cluster_problems(["gpu-a"], hostvars(**{"gpu-a": layout()}), ["gpu-a"]) == [
        "a cluster spans at least two hosts; only gpu-a has this trtllm_cluster"]


def test_a_member_out_of_the_play_or_unanswering_on_the_network_is_named():
    assert cluster_problems(MEMBERS, hostvars(**{"gpu-a": layout(), "gpu-b": layout()}), ["gpu-a"]) == [
        "gpu-b did not answer the preflight (unreachable or failed): the instance cannot start without every member"]
    reach = [{"name": "gpu-b", "address": "10.0.0.2", "port": 2233, "state": "unreachable", "error": "timed out"}]
    assert cluster_problems(MEMBERS, hostvars(**{"gpu-a": layout(), "gpu-b": layout()}), MEMBERS, reach,
                            seen_from="gpu-a") == [
        "gpu-b did not answer gpu-a at 10.0.0.2:2233 (timed out): open TCP between the members (the ssh port and the "
        "MPI/NCCL interface)"]
    refused = [dict(reach[0], state="refused", error=None)]
    assert cluster_problems(MEMBERS, hostvars(**{"gpu-a": layout(), "gpu-b": layout()}), MEMBERS, refused) == [], \
        "a refusal is an answer: sshd is not running yet on a host that was never deployed"


def test_clocks_further_apart_than_the_limit_are_refused():
    layouts = hostvars(**{"gpu-a": layout(), "gpu-b": layout(clock=1_000_045)})
    assert cluster_problems(MEMBERS, layouts, MEMBERS) == [
        "the members' clocks differ by 45 s (more than trtllm_cluster_max_clock_skew 30 s): set up NTP"]
    assert cluster_problems(MEMBERS, layouts, MEMBERS, max_clock_skew=60) == []
