#!/usr/bin/python
# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: haproxy_server
short_description: Drain a backend server of HAProxy before its host changes, and make it ready again
version_added: 0.3.0
description:
  - Talks to HAProxy's runtime API on the balancer host (the C(stats socket) of its configuration, level admin).
  - V(drained) sets the server to DRAIN (no new requests), waits until it has no request in flight, at most
    O(wait) seconds, then sets it to MAINT, so that HAProxy sends it nothing while its host restarts the server.
    A server already in MAINT is left as it is.
  - V(ready) takes the server out of MAINT or DRAIN and waits, at most O(wait) seconds, until HAProxy's own
    health check says UP.
  - Unlike community.general.haproxy, a server that is DOWN (its server crashed or has not started yet) is
    drained at once instead of waiting for a DRAIN status it never shows, and the module says how long it
    waited and how many requests were in flight.
author:
  - trtllm-deploy maintainers (@trtllm-deploy)
extends_documentation_fragment:
  - trtllm.deploy.haproxy
options:
  backend:
    description:
      - The backend (C(pxname)) that holds the server.
      - Omitted, every backend that holds a server of this name (the load_balancer role's HTTP backend and, when
        it has one, its gRPC backend). All are set to DRAIN first, then each is waited for.
    type: str
  server:
    description: The server's name in the backend (C(svname)); the load_balancer role names them by inventory host.
    type: str
    required: true
  state:
    description: What the server must be.
    type: str
    required: true
    choices: [drained, ready]
  wait:
    description: Seconds to wait for the requests in flight to end (V(drained)) or for the health check (V(ready)).
    type: int
    default: 300
  fail_on_timeout:
    description: Fail when the wait runs out; otherwise report it in RV(drained) or RV(up) and go on.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Reads the server's state and says whether it would change it; sets nothing and waits for nothing.
  diff_mode:
    support: none
    description: The change is the server's status, returned in RV(status_before) and RV(status).
  idempotent:
    support: full
    description: A server already in the wanted state is not changed.
"""

EXAMPLES = r"""
- name: Drain this host's server on every balancer before its Triton restarts
  trtllm.deploy.haproxy_server:
    backend: triton_http
    server: "{{ inventory_hostname }}"
    state: drained
    wait: 300
  delegate_to: "{{ item }}"
  loop: "{{ groups['load_balancers'] }}"

- name: Back into the balancer once the health gate passed
  trtllm.deploy.haproxy_server:
    backend: triton_http
    server: "{{ inventory_hostname }}"
    state: ready
    wait: 60
  delegate_to: "{{ item }}"
  loop: "{{ groups['load_balancers'] }}"
"""

RETURN = r"""
status_before:
  description: HAProxy's status of the server before the module ran (UP, DOWN, MAINT, DRAIN, with a check's progress).
  returned: success
  type: str
  sample: UP
status:
  description: HAProxy's status of the server when the module ended.
  returned: success
  type: str
  sample: MAINT
active_at_start:
  description: Requests in flight on the server when the drain began (HAProxy's C(scur)).
  returned: state is drained
  type: int
waited:
  description: Seconds spent waiting for the drain or the health check.
  returned: success
  type: float
drained:
  description: Whether the server had no request in flight when it was set to MAINT.
  returned: state is drained
  type: bool
up:
  description: Whether HAProxy's health check said UP within O(wait).
  returned: state is ready
  type: bool
backends:
  description: What happened in each backend, when the module handled several (O(backend) omitted).
  returned: success
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.trtllm.deploy.plugins.module_utils import haproxy_runtime as hr


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "socket": {"type": "path", "default": "/run/haproxy/admin.sock"},
            "backend": {"type": "str"},
            "server": {"type": "str", "required": True},
            "state": {"type": "str", "required": True, "choices": ["drained", "ready"]},
            "wait": {"type": "int", "default": 300},
            "fail_on_timeout": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    p = module.params
    try:
        backends = [p["backend"]] if p["backend"] else hr.backends_of(p["socket"], p["server"])
        before = {backend: hr.server_stats(p["socket"], backend, p["server"]) for backend in backends}
        missing = [backend for backend, stats in before.items() if stats is None] or ([] if backends else ["any"])
        if missing:
            module.fail_json(msg=f"HAProxy at {p['socket']} has no server {p['server']} in backend "
                                 f"{', '.join(missing)}: is this host in the balancer's configuration "
                                 "(role load_balancer)?")
        statuses = {backend: hr.base_status(stats["status"]) for backend, stats in before.items()}
        if p["state"] == "drained":
            changed = any(status != "MAINT" for status in statuses.values())
        else:
            changed = any(status in ("MAINT", "DRAIN") for status in statuses.values())
        first = before[backends[0]]["status"]
        if module.check_mode or not changed:
            module.exit_json(changed=changed, status_before=first, status=first, waited=0.0,
                             backends={b: {"status": s["status"]} for b, s in before.items()})
        results = {}
        if p["state"] == "drained":
            # No new requests anywhere first, so the waits overlap.
            for backend, status in statuses.items():
                if status not in ("MAINT", "DRAIN"):
                    hr.set_state(p["socket"], backend, p["server"], "drain")
            for backend in backends:
                results[backend] = hr.drain(p["socket"], backend, p["server"], p["wait"])
                results[backend]["status_before"] = before[backend]["status"]
        else:
            for backend in backends:
                results[backend] = hr.make_ready(p["socket"], backend, p["server"], p["wait"])
        for backend in backends:
            results[backend]["status"] = (hr.server_stats(p["socket"], backend, p["server"]) or {}).get("status", "")
    except hr.HAProxyError as err:
        module.fail_json(msg=str(err))
    result = dict(results[backends[0]], backends=results,
                  waited=max(r["waited"] for r in results.values()))
    if p["state"] == "drained":
        result.update(active_at_start=sum(r["active_at_start"] for r in results.values()),
                      drained=all(r["drained"] for r in results.values()))
        left = {b: r["active_left"] for b, r in results.items() if not r["drained"]}
        if p["fail_on_timeout"] and left:
            module.fail_json(msg=f"{p['server']} still had requests in flight after {p['wait']}s of draining "
                                 f"({', '.join(f'{n} in {b}' for b, n in left.items())}); it is left in DRAIN "
                                 "(no new requests)", changed=True, **result)
    else:
        result["up"] = all(r["up"] for r in results.values())
        down = {b: r["status"] for b, r in results.items() if not r["up"]}
        if p["fail_on_timeout"] and down:
            module.fail_json(msg=f"{p['server']} was taken out of maintenance but HAProxy's health check did not say "
                                 f"UP within {p['wait']}s ({', '.join(f'{b}: {s}' for b, s in down.items())})",
                             changed=True, **result)
    module.exit_json(changed=True, **result)


if __name__ == "__main__":
    main()
