#!/usr/bin/python
# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: trtllm_build
short_description: Build a TensorRT-LLM engine with trtllm-build, only when its inputs changed
version_added: 0.1.0
description:
  - Runs C(trtllm-build) with an argv list (no shell) made from the options, in the workflow's flag order.
  - Validates before running; the real tool only warns on a missing rank file and builds random weights.
  - Idempotent by content key. The engine directory gets the pipeline's manifest
    (C(trtllm-deploy-manifest.json), see M(trtllm.deploy.artifact_manifest)); an engine whose manifest names
    the key of O(artifact) and lists every file in place is kept.
  - Without O(artifact), the key is made of the checkpoint files' sha256, the resolved command line and
    the toolchain version.
  - Builds into a temporary sibling directory and renames it into place on success, so a killed
    build never leaves a directory that looks complete.
author:
  - trtllm-deploy maintainers (@trtllm-deploy)
options:
  checkpoint_dir:
    description: Converted TensorRT-LLM checkpoint (C(config.json) and C(rank<N>.safetensors)).
    type: path
    required: true
  output_dir:
    description: Engine directory to produce (C(config.json) and C(rank<N>.engine)).
    type: path
    required: true
  dtype:
    description: The checkpoint's dtype; plugins default to it.
    type: str
    choices: [float16, bfloat16, float32]
    default: float16
  gpt_attention_plugin:
    description: C(--gpt_attention_plugin); defaults to O(dtype).
    type: str
  gemm_plugin:
    description: C(--gemm_plugin); defaults to O(dtype).
    type: str
  remove_input_padding:
    description: C(--remove_input_padding).
    type: bool
    default: true
  paged_kv_cache:
    description: C(--paged_kv_cache).
    type: bool
    default: true
  tp_size:
    description: C(--tp_size); must match the checkpoint's mapping.
    type: int
  pp_size:
    description: C(--pp_size); must match the checkpoint's mapping.
    type: int
  max_batch_size:
    description: C(--max_batch_size).
    type: int
    default: 256
  max_input_len:
    description: C(--max_input_len).
    type: int
    default: 2048
  max_output_len:
    description: C(--max_output_len).
    type: int
    default: 1024
  max_num_tokens:
    description: C(--max_num_tokens).
    type: int
  opt_num_tokens:
    description: C(--opt_num_tokens).
    type: int
  chunked_context:
    description:
      - The workflow's chunked-prompt switch, C(--context_fmha=enable --use_paged_context_fmha=enable
        --context_fmha_fp32_acc=enable --multi_block_mode=enable).
    type: bool
    default: false
  custom_all_reduce:
    description:
      - C(--use_custom_all_reduce enable|disable); trtllm-build's default (enable) when unset.
      - An engine built with it holds an all-reduce workspace of CUDA IPC memory that every tensor-parallel rank
        opens on its peers; ranks on other hosts cannot open it, so an engine whose ranks span hosts must be built
        with V(false) (TensorRT-LLM 0.9.0 C(runtime/ipcUtils.cpp)).
    type: bool
  workers:
    description: C(--workers), ranks built in parallel.
    type: int
    default: 1
  extra_args:
    description: More arguments, appended as given.
    type: list
    elements: str
    default: []
  executable:
    description: Name or path of trtllm-build (inside the container with O(container)).
    type: str
    default: trtllm-build
  container:
    description:
      - Run C(trtllm-build) in a one-shot container of this spec (C(triton_container_spec); see
        M(trtllm.deploy.oneshot_container), whose way of running it is this one - C(module_utils/docker_cli)).
        Files are still read and renamed here; O(checkpoint_dir) and O(output_dir) must be under its mounts.
    type: dict
  container_name:
    description: The one-shot container's name; one of that name a killed run left is removed first.
    type: str
  toolchain:
    description:
      - The TensorRT-LLM version that builds (C(tensorrt_llm.__version__)), part of the key without O(artifact).
        Asked of C(python3 -c 'import tensorrt_llm; print(tensorrt_llm.__version__)') (in the container with
        O(container)) when not given.
    type: str
  artifact:
    description:
      - The engine's artifact (kind V(engine), key, inputs) from M(trtllm.deploy.artifact_key), recorded in the
        manifest. Its key decides whether the engine in place is kept.
    type: dict
  origin:
    description: The host that builds, recorded in the manifest.
    type: str
  force:
    description: Build even when the engine in place matches its inputs.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Says whether it would build and why, and builds nothing.
  diff_mode:
    support: none
    description: Engines are binary.
  idempotent:
    support: full
    description: An engine in place whose manifest names the key, with all its files, means nothing runs.
"""

EXAMPLES = r"""
- name: Build the workflow's Llama-3-8B engine with chunked prompts
  trtllm.deploy.trtllm_build:
    checkpoint_dir: /models/trt/Meta-Llama-3-8B-Instruct-trt-ckpt
    output_dir: /models/trt/Meta-Llama-3-8B-Instruct-trt-engine
    dtype: float16
    tp_size: 1
    max_batch_size: 256
    max_input_len: 2048
    max_output_len: 1024
    max_num_tokens: 1024
    opt_num_tokens: 1024
    chunked_context: true
"""

RETURN = r"""
argv:
  description: The trtllm-build command line (with the final output_dir; inside the container with O(container)).
  returned: always
  type: list
  elements: str
reason:
  description: Why it built or would build; null when the engine in place matched.
  returned: always
  type: str
  sample: "it was made for build_options.max_batch_size 256 -> 128"
key:
  description: The engine's content key.
  returned: success
  type: str
manifest:
  description: The manifest of the engine in place after the module ran (empty when there is none).
  returned: success
  type: dict
config:
  description: The engine's config.json (C(version), C(pretrained_config), C(build_config)).
  returned: when an engine is in place
  type: dict
mapping:
  description: The engine's tensor/pipeline parallel mapping.
  returned: when an engine is in place
  type: dict
  sample: {world_size: 2, tp_size: 2, pp_size: 1}
build_seconds:
  description: How long the build took.
  returned: when it built
  type: float
output_tail:
  description: The last lines of trtllm-build's output.
  returned: when it built or failed
  type: str
"""

import json
import os
import shutil
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.trtllm.deploy.plugins.module_utils import artifact as af
from ansible_collections.trtllm.deploy.plugins.module_utils import docker_cli
from ansible_collections.trtllm.deploy.plugins.module_utils import engine_build as eb
from ansible_collections.trtllm.deploy.plugins.module_utils.executables import find_executable
from ansible_collections.trtllm.deploy.plugins.module_utils.paths import replace_directory, translate


def engine_config(output_dir: str) -> dict:
    try:
        with open(os.path.join(output_dir, "config.json"), encoding="utf-8") as handle:
            config = json.load(handle)
    except (OSError, json.JSONDecodeError):
        return {}
    mapping = (config.get("pretrained_config") or {}).get("mapping") or {}
    return {"config": config, "mapping": mapping}


def tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "checkpoint_dir": {"type": "path", "required": True},
            "output_dir": {"type": "path", "required": True},
            "dtype": {"type": "str", "choices": list(eb.DTYPES), "default": "float16"},
            "gpt_attention_plugin": {"type": "str"},
            "gemm_plugin": {"type": "str"},
            "remove_input_padding": {"type": "bool", "default": True},
            "paged_kv_cache": {"type": "bool", "default": True},
            "tp_size": {"type": "int"},
            "pp_size": {"type": "int"},
            "max_batch_size": {"type": "int", "default": 256},
            "max_input_len": {"type": "int", "default": 2048},
            "max_output_len": {"type": "int", "default": 1024},
            "max_num_tokens": {"type": "int", "no_log": False},
            "opt_num_tokens": {"type": "int", "no_log": False},
            "chunked_context": {"type": "bool", "default": False},
            "custom_all_reduce": {"type": "bool"},
            "workers": {"type": "int", "default": 1},
            "extra_args": {"type": "list", "elements": "str", "default": []},
            "executable": {"type": "str", "default": "trtllm-build"},
            "container": {"type": "dict"},
            "container_name": {"type": "str"},
            "toolchain": {"type": "str"},
            "artifact": {"type": "dict"},
            "origin": {"type": "str"},
            "force": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    options = dict(module.params)
    for plugin in ("gpt_attention_plugin", "gemm_plugin"):
        options[plugin] = options[plugin] or options["dtype"]
    output_dir = os.path.normpath(options["output_dir"])

    spec = options["container"]
    if spec:
        docker = docker_cli.DockerCLI(module)
        if not docker.path and module.check_mode:
            # A bare host in check mode: Docker comes with the run that changes things.
            module.exit_json(changed=True, reason="docker is not installed yet", argv=[],
                             key=(options["artifact"] or {}).get("key"), manifest={})
        docker.require()
        binary, mounts = options["executable"], docker_cli.path_map(spec)

        def inside(path: str) -> str:
            mapped = translate(path, mounts)
            if mapped is None:
                module.fail_json(msg=f"{path} is under none of the container's mounts "
                                 f"({', '.join(sorted(mounts)) or 'none'})")
            return mapped

        try:
            docker_cli.run_argv(spec, name=options["container_name"])
        except ValueError as err:
            module.fail_json(msg=f"container: {err}")

        def run(command: list[str]):
            done = docker.oneshot(spec, command, name=options["container_name"])
            return done["rc"], done["stdout"], done["stderr"]
    else:
        binary = find_executable(module, options["executable"])
        if not binary:
            module.fail_json(msg=f"{options['executable']} was not found (or is not executable): run this in the "
                             "TensorRT-LLM container or set executable")

        def inside(path: str) -> str:
            return path

        def run(command: list[str]):
            return module.run_command(command)
    in_options = dict(options, checkpoint_dir=inside(options["checkpoint_dir"]))
    if module.check_mode and not os.path.exists(os.path.join(options["checkpoint_dir"], "config.json")):
        module.exit_json(changed=True, reason="the checkpoint does not exist yet (it is converted first)",
                         argv=[], key=(options["artifact"] or {}).get("key"), manifest={})
    try:
        checkpoint = eb.read_checkpoint(options["checkpoint_dir"])
        for warning in eb.validate(options, checkpoint):
            module.warn(warning)
    except eb.BuildInputError as err:
        module.fail_json(msg=str(err))

    toolchain = options["toolchain"]
    if not toolchain:
        # trtllm-build 0.9.0 has no --version: ask the package, as the roles do (triton_container/tasks/toolchain.yml).
        probe = ["python3", "-c", "import tensorrt_llm; print(tensorrt_llm.__version__)"]
        rc, version_out, _ = run(probe)
        toolchain = version_out.strip().splitlines()[-1] if rc == 0 and version_out.strip() else "unknown"
    # The command inside the container; how the container is started is not part of the engine's inputs.
    argv = eb.build_argv(binary, in_options, output_dir=inside(output_dir))
    made = options["artifact"]
    if made is None:
        made = af.artifact("engine", {"files": eb.checkpoint_files(options["checkpoint_dir"], checkpoint["world_size"]),
                                      "command": eb.argv_options(argv), "toolchain": toolchain})
    elif not af.is_artifact(made) or made["kind"] != "engine":
        module.fail_json(msg="artifact must be an engine artifact (kind, key, inputs) from trtllm.deploy.artifact_key")
    reason = eb.needs_build(output_dir, made, checkpoint["world_size"], options["force"])
    result = {"argv": argv, "reason": reason, "key": made["key"]}
    if reason is None or module.check_mode:
        module.exit_json(changed=reason is not None, manifest=af.read_manifest(output_dir), **result,
                         **engine_config(output_dir))

    parent, name = os.path.split(output_dir)
    os.makedirs(parent, exist_ok=True)
    building = os.path.join(parent, f".{name}.building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    started = time.monotonic()
    rc, out, err = run(eb.build_argv(binary, in_options, output_dir=inside(building)))
    seconds = round(time.monotonic() - started, 1)
    output = tail(out + ("\n" + err if err else ""))
    lacking = eb.engine_files_missing(building, checkpoint["world_size"]) if rc == 0 else []
    if rc != 0 or lacking:
        shutil.rmtree(building, ignore_errors=True)
        why = f"exited with {rc}" if rc != 0 else f"did not write {', '.join(lacking)}"
        errors = [line.strip() for line in output.splitlines() if "rror" in line]
        last_error = f": {errors[-1]}" if errors else ""
        module.fail_json(msg=f"trtllm-build {why}; nothing was changed in {output_dir}{last_error}", rc=rc,
                         output_tail=output, **result)
    manifest = af.make_manifest(building, made, options["origin"])
    af.write_manifest(building, manifest)
    replace_directory(building, output_dir)
    module.exit_json(changed=True, build_seconds=seconds, output_tail=output, manifest=manifest, **result,
                     **engine_config(output_dir))


if __name__ == "__main__":
    main()
