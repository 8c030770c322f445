"""The scenarios run Ansible with the project's pipelining and fact gathering: Molecule writes an ansible.cfg of its
own, so the base config (.config/molecule/config.yml) repeats those settings of ansible.cfg, and no scenario sets
its own (Molecule would replace the base's with it)."""

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
    scenarios = sorted((REPO / "molecule").glob("*/molecule.yml"))
    assert scenarios
    for scenario in scenarios:
        config = yaml.safe_load(scenario.read_text())
        provisioner, ansible = config.get("provisioner", {}), config.get("ansible", {})
        assert not {"config_options", "env"} & set(provisioner) and not {"cfg", "env"} & set(ansible), scenario
