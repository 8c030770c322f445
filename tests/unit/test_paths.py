"""Path translation through the container's mounts, both ways."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.trtllm.deploy.plugins.filter.paths import host_path
from ansible_collections.trtllm.deploy.plugins.module_utils.paths import translate

MOUNTS = {"/tensorrtllm_backend": "/opt/trtllm/tensorrtllm_backend", "/models": "/root/models",
          "/models/trt/special": "/data/special"}


@pytest.mark.parametrize("path, expected", [
    ("/models/trt/Llama-trt-engine", "/root/models/trt/Llama-trt-engine"),
    ("/models", "/root/models"),
    ("/models/trt/special/x", "/data/special/x"),  # the longest mount wins
    ("/tensorrtllm_backend/triton_log.txt", "/opt/trtllm/tensorrtllm_backend/triton_log.txt"),
    ("/modelsX/a", None),  # a prefix of a name is not a mount
])
def test_translate(path, expected):
    assert translate(path, MOUNTS) == expected


def test_round_trip():
    inverse = {v: k for k, v in MOUNTS.items()}
    assert translate(translate("/models/trt/a", MOUNTS), inverse) == "/models/trt/a"


def test_host_path_refuses_a_path_outside_the_mounts():
    with pytest.raises(AnsibleFilterError, match="/etc/x is under none of the container's mounts"):
        host_path("/etc/x", MOUNTS)
