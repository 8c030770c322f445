"""The scenarios run Ansible as the project does: Molecule writes an ansible.cfg of its own, so the base config
(.config/molecule/config.yml) repeats ansible.cfg's settings that make a run cheap, and nothing else may differ."""

from __future__ import annotations

import configparser
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
BASE = REPO / ".config" / "molecule" / "config.yml"


def test_the_base_config_repeats_ansible_cfg_and_no_scenario_overrides_it():
    project = configparser.ConfigParser()
    project.read(REPO / "ansible.cfg")
    options = yaml.safe_load(BASE.read_text())["provisioner"]["config_options"]
    assert options, "the base config sets nothing"
    for section, values in options.items():
        for key, value in values.items():
            expected = project.get(section, key)
            assert str(value).lower() == expected.lower(), f"[{section}] {key}: {value} here, {expected} in ansible.cfg"
    for scenario in sorted((REPO / "molecule").glob("*/molecule.yml")):
        provisioner = yaml.safe_load(scenario.read_text()).get("provisioner", {})
        assert "config_options" not in provisioner, scenario
        assert "ANSIBLE_CONFIG" not in provisioner.get("env", {}), scenario
