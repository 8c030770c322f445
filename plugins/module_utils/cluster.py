# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What stops a multi-node instance before anything changes: its members, their layouts, clocks and network.

No Ansible imports: the filter cluster_problems and the unit tests call it with plain dicts.
"""

from __future__ import annotations

AGREE = (("tp_size", "trtllm_tp_size"), ("pp_size", "trtllm_pp_size"), ("model", "trtllm_model_name"),
         ("engine", "trtllm_engine_path"), ("ssh_port", "trtllm_cluster_ssh_port"),
         ("interface", "trtllm_cluster_interface"), ("infiniband", "trtllm_cluster_infiniband"))


def interface_candidates(interfaces: dict) -> list[str]:
    """The interfaces MPI and NCCL could pick between hosts when trtllm_cluster_interface is empty: up, with an IPv4
    address, neither loopback nor a Docker bridge (which has the same address on every host; triton_launch leaves
    both out). `interfaces` maps a name to Ansible's network facts of it (active, ipv4)."""
    return sorted(name for name, fact in interfaces.items()
                  if (fact or {}).get("active") and (fact or {}).get("ipv4")
                  and name != "lo" and not name.startswith("docker"))


def _listing(values: dict) -> str:
    return ", ".join(f"{host}: {value}" for host, value in values.items())


def cluster_problems(members: list[str], layouts: dict[str, dict | None], reach: list[dict] | None = None,
                     max_clock_skew: int = 30, seen_from: str = "") -> list[str]:
    """Problems of one cluster. `layouts` maps each member to what it published (tp_size, pp_size, model, engine,
    ssh_port, gpus, clock) or None when it did not get that far (unreachable or failed); `reach` is this host's
    host_resources reach result towards the other members."""
    problems = []
    if len(members) < 2:
        return [f"a cluster spans at least two hosts; only {', '.join(members)} has this trtllm_cluster"]
    absent = [host for host in members if not layouts.get(host)]
    if absent:
        problems.append(f"{', '.join(absent)} did not answer the preflight (unreachable or failed): the instance "
                        "cannot start without every member")
    here = {host: layouts[host] for host in members if layouts.get(host)}
    for key, variable in AGREE:
        values = {host: layout.get(key) for host, layout in here.items()}
        if len({str(v) for v in values.values()}) > 1:
            problems.append(f"the members disagree on {variable} ({_listing(values)}); they run one instance")
    # The GPU arithmetic needs every member and one layout.
    one_layout = all(len({str(layout.get(k)) for layout in here.values()}) == 1 for k in ("tp_size", "pp_size"))
    if not absent and one_layout:
        gpus = {host: int(layout.get("gpus") or 0) for host, layout in here.items()}
        first = next(iter(here.values()))
        tp, pp = int(first["tp_size"]), int(first["pp_size"])
        if len(set(gpus.values())) > 1:
            problems.append(f"the members have different GPU counts ({_listing(gpus)}): each holds the same share of "
                            "the ranks")
        elif tp * pp != sum(gpus.values()):
            problems.append(f"tp_size {tp} x pp_size {pp} = {tp * pp} ranks, but the members have "
                            f"{sum(gpus.values())} GPUs ({_listing(gpus)}): tp_size x pp_size must equal the "
                            "members' GPUs")
    clocks = {host: int(layout["clock"]) for host, layout in here.items() if layout.get("clock") not in (None, "")}
    if len(clocks) > 1 and max(clocks.values()) - min(clocks.values()) > int(max_clock_skew):
        problems.append(f"the members' clocks differ by {max(clocks.values()) - min(clocks.values())} s "
                        f"(more than trtllm_cluster_max_clock_skew {max_clock_skew} s): set up NTP")
    problems += _network_problems(here)
    for target in reach or []:
        if target.get("state") == "unreachable":
            problems.append(f"{target.get('name', target['address'])} did not answer {seen_from or 'this host'} at "
                            f"{target['address']}:{target['port']} ({target.get('error')}): open TCP between the "
                            "members (the ssh port and the MPI/NCCL interface)")
    return problems


def _network_problems(here: dict[str, dict]) -> list[str]:
    """The interface MPI and NCCL use between the members, and InfiniBand."""
    problems = []
    for host, layout in here.items():
        interface, candidates = layout.get("interface") or "", list(layout.get("candidates") or [])
        if not interface and len(candidates) > 1:
            problems.append(f"{host} has {len(candidates)} interfaces MPI and NCCL could pick between the members "
                            f"({', '.join(candidates)}): set trtllm_cluster_interface to the one they share")
        elif interface and interface not in (layout.get("interfaces") or []):
            problems.append(f"{host} has no interface {interface} (trtllm_cluster_interface); it has "
                            f"{', '.join(layout.get('interfaces') or []) or 'none'}")
        ib_env = sorted(layout.get("ib_env") or [])
        if ib_env and not layout.get("infiniband"):
            problems.append(f"trtllm_cluster_env sets {', '.join(ib_env)} on {host} but trtllm_cluster_infiniband is "
                            "false: no InfiniBand device is mapped into the containers and NCCL falls back to "
                            "sockets without a word; set trtllm_cluster_infiniband: true or remove them")
        if layout.get("infiniband") and not layout.get("ib_devices"):
            problems.append(f"{host} has no /dev/infiniband, which trtllm_cluster_infiniband maps into its "
                            "containers: install the InfiniBand drivers (MOFED) or set trtllm_cluster_infiniband: "
                            "false")
    return problems
