"""nvidia_runtime's Docker engine detection: an installed engine is kept, none is installed
only where there is none. The role's own expressions (vars/main.yml) are evaluated by
ansible-playbook over what dpkg-query and `dockerd --version` print on such hosts."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

DPKG_UNKNOWN = 1  # dpkg-query's exit status when some names were never installed

CASES = {
    # host: (dpkg-query lines, its rc, dockerd --version rc) -> (packages found, engine found)
    "bare": ([], DPKG_UNKNOWN, 2, [], False),
    "docker_ce": (["docker-ce installed"], DPKG_UNKNOWN, 0, ["docker-ce"], True),
    "docker_io": (["docker-ce not-installed", "docker.io installed"], DPKG_UNKNOWN, 0, ["docker.io"], True),
    "docker_io_removed": (["docker.io config-files"], DPKG_UNKNOWN, 2, [], False),
    "moby": (["moby-engine installed"], DPKG_UNKNOWN, 0, ["moby-engine"], True),
    "static_dockerd": ([], DPKG_UNKNOWN, 0, [], True),
    "half_installed": (["docker-ce half-configured"], DPKG_UNKNOWN, 2, [], False),
}

PLAYBOOK = """
- name: Evaluate the engine detection
  hosts: all
  connection: local
  gather_facts: false
  vars_files: [{vars_file}]
  tasks:
    - name: Write what the role decides
      ansible.builtin.copy:
        content: "{{{{ {{'installed': nvidia_runtime_docker_engine_installed,
                       'found': nvidia_runtime_docker_engine_found}} | to_json }}}}"
        dest: "{out}/{{{{ inventory_hostname }}}}.json"
        mode: "0644"
"""


@pytest.fixture(scope="module")
def decisions(repo, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("engine")
    inventory = {"all": {"hosts": {
        host: {
            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            "nvidia_runtime_docker_engine_query": {"stdout_lines": lines, "rc": rc},
            "nvidia_runtime_dockerd_probe": {"rc": dockerd_rc,
                                             "stdout": "Docker version 24.0.7" if dockerd_rc == 0 else ""},
        }
        for host, (lines, rc, dockerd_rc, _, _) in CASES.items()
    }}}
    (tmp / "hosts.json").write_text(json.dumps(inventory))
    (tmp / "play.yml").write_text(PLAYBOOK.format(vars_file=repo / "roles/nvidia_runtime/vars/main.yml", out=tmp))
    env = dict(os.environ, ANSIBLE_CONFIG=str(repo / "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=str(repo / ".collections"))
    subprocess.run(["ansible-playbook", "-i", str(tmp / "hosts.json"), str(tmp / "play.yml")],
                   check=True, capture_output=True, text=True, env=env)
    return {host: json.loads((tmp / f"{host}.json").read_text()) for host in CASES}


@pytest.mark.parametrize("host", CASES)
def test_an_installed_engine_is_kept_and_none_is_installed_only_where_there_is_none(decisions, host):
    *_, packages, found = CASES[host]
    assert decisions[host] == {"installed": packages, "found": found}


def test_defaults_name_docker_ce_moby_and_docker_io_as_engines(repo):
    import yaml

    defaults = yaml.safe_load((repo / "roles/nvidia_runtime/defaults/main.yml").read_text())
    assert {"docker-ce", "moby-engine", "docker.io"} <= set(defaults["nvidia_runtime_docker_engine_packages"])
    assert defaults["nvidia_runtime_docker_packages"] == ["docker.io"]
