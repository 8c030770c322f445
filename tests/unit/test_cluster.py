"""cluster_problems: what stops a multi-node instance before anything changes."""

from __future__ import annotations

from ansible_collections.trtllm.deploy.plugins.filter.cluster_problems import cluster_interfaces, cluster_problems

MEMBERS = ["gpu-a", "gpu-b"]


def layout(**changes):
    base = {"tp_size": 2, "pp_size": 1, "model": "Llama", "engine": "/models/e", "ssh_port": 2233, "gpus": 1,
            "clock": 1_000_000}
    return dict(base, **changes)


def planned(members, **layouts):
    """The cluster's entry of the fleet's plan: a member out of the run (`members` absent from it) has no layout."""
    return {"members": list(layouts), "layouts": {host: value if host in members else None
                                                  for host, value in layouts.items()}}


def test_two_one_gpu_hosts_at_tp2_make_a_cluster():
    assert cluster_problems(planned(MEMBERS, **{"gpu-a": layout(), "gpu-b": layout()})) == []


def test_ranks_must_equal_the_members_gpus_with_as_many_on_each():
    assert cluster_problems(planned(MEMBERS, **{"gpu-a": layout(), "gpu-b": layout(gpus=2)})) == [
        "the members have different GPU counts (gpu-a: 1, gpu-b: 2): each holds the same share of the ranks"]
    assert cluster_problems(planned(MEMBERS, **{"gpu-a": layout(gpus=2), "gpu-b": layout(gpus=2)})) == [
        "tp_size 2 x pp_size 1 = 2 ranks, but the members have 4 GPUs (gpu-a: 2, gpu-b: 2): tp_size x pp_size must "
        "equal the members' GPUs"]


def test_members_must_agree_on_the_layout_and_a_lone_member_is_no_cluster():
    problems = cluster_problems(planned(MEMBERS, **{"gpu-a": layout(), "gpu-b": layout(tp_size=4, ssh_port=22)}))
    assert problems == ["the members disagree on trtllm_tp_size (gpu-a: 2, gpu-b: 4); they run one instance",
                        "the members disagree on trtllm_cluster_ssh_port (gpu-a: 2233, gpu-b: 22); they run one "
                        "instance"]
    assert cluster_problems(planned(["gpu-a"], **{"gpu-a": layout()})) == [
        "a cluster spans at least two hosts; only gpu-a has this trtllm_cluster"]


def test_a_member_out_of_the_play_or_unanswering_on_the_network_is_named():
    assert cluster_problems(planned(["gpu-a"], **{"gpu-a": layout(), "gpu-b": layout()})) == [
        "gpu-b did not answer the preflight (unreachable or failed): the instance cannot start without every member"]
    reach = [{"name": "gpu-b", "address": "10.0.0.2", "port": 2233, "state": "unreachable", "error": "timed out"}]
    assert cluster_problems(planned(MEMBERS, **{"gpu-a": layout(), "gpu-b": layout()}), reach,
                            seen_from="gpu-a") == [
        "gpu-b did not answer gpu-a at 10.0.0.2:2233 (timed out): open TCP between the members (the ssh port and the "
        "MPI/NCCL interface)"]
    refused = [dict(reach[0], state="refused", error=None)]
    assert cluster_problems(planned(MEMBERS, **{"gpu-a": layout(), "gpu-b": layout()}), refused) == [], \
        "a refusal is an answer: sshd is not running yet on a host that was never deployed"


def test_clocks_further_apart_than_the_limit_are_refused():
    layouts = planned(MEMBERS, **{"gpu-a": layout(), "gpu-b": layout(clock=1_000_045)})
    assert cluster_problems(layouts) == [
        "the members' clocks differ by 45 s (more than trtllm_cluster_max_clock_skew 30 s): set up NTP"]
    assert cluster_problems(layouts, max_clock_skew=60) == []


NETWORK = {"interfaces": ["lo", "eth0", "docker0", "ib0", "veth1a2b", "eth1"],
           "lo": {"active": True, "ipv4": {"address": "127.0.0.1"}},
           "eth0": {"active": True, "ipv4": {"address": "10.0.0.1"}},
           "docker0": {"active": True, "ipv4": {"address": "172.17.0.1"}},
           "ib0": {"active": True, "ipv4": {"address": "192.168.0.1"}},
           "veth1a2b": {"active": True},  # no IPv4: the host end of a container's link
           "eth1": {"active": False, "ipv4": {"address": "10.1.0.1"}}}


def test_the_candidate_interfaces_are_up_with_ipv4_and_neither_loopback_nor_docker():
    assert cluster_interfaces(NETWORK) == ["eth0", "ib0"]
    assert cluster_interfaces({"interfaces": ["lo", "eth0", "docker0"], **{k: NETWORK[k] for k in ("lo", "eth0",
                                                                                                    "docker0")}}) == [
        "eth0"]


def test_mpi_and_nccl_need_one_interface_between_the_members():
    one = layout(interface="", interfaces=["docker0", "eth0", "lo"], candidates=["eth0"])
    assert cluster_problems(planned(MEMBERS, **{"gpu-a": one, "gpu-b": one})) == []
    two = layout(interface="", interfaces=["eth0", "ib0", "lo"], candidates=["eth0", "ib0"])
    assert cluster_problems(planned(MEMBERS, **{"gpu-a": one, "gpu-b": two})) == [
        "gpu-b has 2 interfaces MPI and NCCL could pick between the members (eth0, ib0): set trtllm_cluster_interface "
        "to the one they share"]
    named = dict(two, interface="ib0")
    assert cluster_problems(planned(MEMBERS, **{"gpu-a": named, "gpu-b": named})) == []
    assert cluster_problems(planned(MEMBERS, **{"gpu-a": named, "gpu-b": dict(one, interface="ib0")})) == [
        "gpu-b has no interface ib0 (trtllm_cluster_interface); it has docker0, eth0, lo"]


def test_nccl_ib_variables_need_infiniband_mapped_and_infiniband_needs_the_devices():
    ib_env = layout(ib_env=["NCCL_IB_HCA"], infiniband=False)
    assert cluster_problems(planned(MEMBERS, **{"gpu-a": ib_env, "gpu-b": ib_env}))[0] == (
        "trtllm_cluster_env sets NCCL_IB_HCA on gpu-a but trtllm_cluster_infiniband is false: no InfiniBand device "
        "is mapped into the containers and NCCL falls back to sockets without a word; set trtllm_cluster_infiniband: "
        "true or remove them")
    mapped = dict(ib_env, infiniband=True, ib_devices=True)
    assert cluster_problems(planned(MEMBERS, **{"gpu-a": mapped, "gpu-b": mapped})) == []
    assert cluster_problems(planned(MEMBERS, **{"gpu-a": mapped, "gpu-b": dict(mapped, ib_devices=False)})) == [
        "gpu-b has no /dev/infiniband, which trtllm_cluster_infiniband maps into its containers: install the "
        "InfiniBand drivers (MOFED) or set trtllm_cluster_infiniband: false"]
