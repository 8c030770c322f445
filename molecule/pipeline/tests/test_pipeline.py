"""Real state of a node after site.yml: container, engine, configs, serving Triton."""

import hashlib
import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import testinfra.utils.ansible_runner

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from node_http import triton  # noqa: E402

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]
).get_hosts("gpu_nodes")

REPO = "/opt/trtllm/tensorrtllm_backend/triton_model_repo"
ENGINE = "/root/models/trt/Tiny-Llama-Sim-trt-engine"
CHECKPOINT = "/root/models/trt/Tiny-Llama-Sim-trt-ckpt"
MODEL = "/root/models/trt/Tiny-Llama-Sim"
# ../shared beside the checkout (TRTLLM_SHARED overrides), as testbed/sim/make-remotes reads it.
FIXTURES = Path(os.environ.get("TRTLLM_SHARED", Path(__file__).resolve().parents[3].parent / "shared")) \
    / "fixtures" / "tensorrtllm_backend-r24.04"
UPSTREAM_CODE = ["preprocessing/1/model.py", "postprocessing/1/model.py", "tensorrt_llm_bls/1/model.py",
                 "tensorrt_llm_bls/1/lib/decode.py", "tensorrt_llm_bls/1/lib/triton_decoder.py"]
# The model file each python backend stub in the server loads (its argv: model path, ..., backend dir).
STUBS = ("import glob\nfor p in glob.glob('/proc/[0-9]*/cmdline'):\n"
         "    try: a = [x.decode() for x in open(p, 'rb').read().split(bytes(1))]\n    except OSError: continue\n"
         "    if a and a[0].endswith('triton_python_backend_stub'):\n"
         "        print(a[1] if a[9] == 'DEFAULT' else a[9] + '/model.py')")
ENGINE_IN_CONTAINER = "/models/trt/Tiny-Llama-Sim-trt-engine"  # gpt_model_path: served where it was built
SEED_REQUEST = {"text_input": "What is machine learning?", "max_tokens": 20, "bad_words": "", "stop_words": "",
                "pad_id": 2, "end_id": 2}


def inspect(host):
    return json.loads(host.check_output("docker inspect triton_server"))[0]


def test_container_runs_with_the_workflows_options(host):
    state = inspect(host)
    config, hostconfig = state["Config"], state["HostConfig"]
    assert state["State"]["Running"]
    assert config["Image"] == "trtllm-deploy/tritonserver-sim:latest"
    assert hostconfig["NetworkMode"] == "host"
    assert hostconfig["ShmSize"] == 2 * 1024**3
    assert hostconfig["Runtime"] == "nvidia"
    assert {u["Name"]: u["Hard"] for u in hostconfig["Ulimits"]} == {"memlock": 8388608, "stack": 67108864}
    assert hostconfig["DeviceRequests"][0]["Count"] == -1
    assert hostconfig["DeviceRequests"][0]["Capabilities"] == [["gpu"]]
    assert sorted(b.removesuffix(":rw") for b in hostconfig["Binds"]) == sorted([
        "/opt/trtllm/tensorrtllm_backend:/tensorrtllm_backend", "/root/models:/models",
        "/opt/trtllm/tensorrt-demo:/root/tensorrt-demo"])


def test_the_server_is_the_containers_supervised_main_process(host):
    state = inspect(host)
    cmd, hostconfig = state["Config"]["Cmd"], state["HostConfig"]
    # r24.04's launch_triton_server.py command for world size 1, in the foreground, without --log.
    assert cmd == ["mpirun", "--allow-run-as-root", "-n", "1", "/opt/tritonserver/bin/tritonserver",
                   "--model-repository=/tensorrtllm_backend/triton_model_repo", "--grpc-port=8001", "--http-port=8000",
                   "--metrics-port=8002", "--disable-auto-complete-config",
                   "--backend-config=python,shm-region-prefix-name=prefix0_", ":"]
    assert hostconfig["RestartPolicy"]["Name"] == "unless-stopped" and hostconfig["Init"] is True
    assert hostconfig["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "100m", "max-file": "3"}}
    assert state["RestartCount"] == 0
    # Triton and the TensorRT-LLM runtime write to the container's output, which Docker keeps.
    logs = host.run("docker logs triton_server").stderr + host.run("docker logs triton_server").stdout
    assert "[TensorRT-LLM][INFO] engine /models/trt/Tiny-Llama-Sim-trt-engine" in logs
    assert "batch_scheduler_policy=max_utilization, chunked context on" in logs
    assert "--log-verbose" not in " ".join(cmd)
    # Only the server: no conversion or build container is left.
    assert host.check_output("docker ps -a --format '{{.Names}}'").split() == ["triton_server"]


def test_the_server_holds_the_gpu_memory_of_a_llama3_8b(host):
    used = int(host.check_output("nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits"))
    # Weights (~15.3 GiB) plus 0.9 of what is then free for the KV cache: ~74.6 GB of 80, as in the workflow.
    assert 70000 < used < 81559


def test_checkout_is_r24_04_with_submodule_and_lfs(host):
    backend = "/opt/trtllm/tensorrtllm_backend"
    assert host.check_output(f"git -C {backend} rev-parse --abbrev-ref HEAD") in ("r24.04", "HEAD")
    assert host.file(f"{backend}/tensorrt_llm/examples/llama/convert_checkpoint.py").exists
    # As upstream, the LFS files are TensorRT-LLM's (its C++ runtime's static libraries), checked out.
    assert host.check_output(f"git -C {backend} lfs ls-files") == ""
    listed = host.check_output(f"git -C {backend}/tensorrt_llm lfs ls-files")
    assert " * cpp/tensorrt_llm/batch_manager/" in listed and " - " not in listed
    assert host.file(f"{backend}/tensorrt_llm/3rdparty/json/README.md").exists, "nested submodules cloned"
    assert host.check_output(f"git -C {backend} rev-parse --is-shallow-repository") == "false"


def test_each_artifact_has_its_manifest_and_key_chain(host):
    engine = json.loads(host.file(f"{ENGINE}/trtllm-deploy-manifest.json").content_string)
    checkpoint = json.loads(host.file(f"{CHECKPOINT}/trtllm-deploy-manifest.json").content_string)
    assert (engine["kind"], checkpoint["kind"]) == ("engine", "checkpoint")
    assert engine["inputs"]["toolchain"] == checkpoint["inputs"]["toolchain"] == "0.9.0"
    assert engine["inputs"]["build_options"]["chunked_context"] is True
    # Each key is made from its inputs' keys: the engine names the checkpoint's, the checkpoint the model's.
    assert engine["inputs"]["checkpoint"]["key"] == checkpoint["key"] and len(checkpoint["key"]) == 64
    assert checkpoint["inputs"]["model"]["kind"] == "model"
    model_files = checkpoint["inputs"]["model"]["inputs"]["files"]
    assert "config.json" in model_files and any(name.endswith(".safetensors") for name in model_files)
    assert not any(name.startswith("tokenizer") for name in model_files), "the tokenizer is no input of the key"
    assert sorted(checkpoint["files"]) == ["config.json", "rank0.safetensors"]
    for name, entry in checkpoint["files"].items():
        assert host.file(f"{CHECKPOINT}/{name}").sha256sum == entry["sha256"], name
    # The server's container carries the served configuration's key, made from the engine's.
    labels = json.loads(host.check_output("docker inspect --format '{{json .Config.Labels}}' triton_server"))
    served = json.loads(labels["org.trtllm-deploy.served"])
    assert served["kind"] == "served" and len(served["key"]) == 64 and served["inputs"]["engine"] == engine["key"]
    files = set(served["inputs"]["files"])
    assert {f"{m}/config.pbtxt" for m in ("ensemble", "postprocessing", "preprocessing", "tensorrt_llm",
                                          "tensorrt_llm_bls")} <= files
    assert {"preprocessing/1/model.py", "tensorrt_llm_bls/1/lib/decode.py"} <= files, "the models' code too"
    build = json.loads(host.file(f"{ENGINE}/config.json").content_string)["build_config"]
    assert (build["max_batch_size"], build["max_input_len"], build["max_output_len"]) == (256, 2048, 1024)


def test_the_model_came_from_the_hub_at_its_commit_and_only_what_conversion_needs(host):
    # What the stand-in Hub says of the repository at main (testbed/hub/start.py prints it).
    hub = json.loads(subprocess.run([sys.executable, str(Path(__file__).resolve().parents[3] / "testbed" / "hub"
                                                         / "start.py")], capture_output=True, text=True,
                                    check=True).stdout)
    request = urllib.request.Request(f"{hub['local']}/api/models/{hub['repo']}/revision/main?blobs=true",
                                     headers={"Authorization": f"Bearer {hub['token']}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        info = json.load(answer)
    siblings = {s["rfilename"]: s for s in info["siblings"]}
    manifest = json.loads(host.file(f"{MODEL}/trtllm-deploy-manifest.json").content_string)
    assert manifest["kind"] == "model" and manifest["origin"] == f"hf:{hub['repo']}@{info['sha']}"
    # Safetensors, configs and tokenizer files; none of original/, the licence texts or .gitattributes.
    wanted = sorted(n for n in siblings if n.endswith((".json", ".safetensors")) and "/" not in n)
    assert sorted(manifest["files"]) == wanted and not host.file(f"{MODEL}/original").exists
    for name, entry in manifest["files"].items():
        assert entry["size"] == siblings[name]["size"] == host.file(f"{MODEL}/{name}").size, name
        if "lfs" in siblings[name]:
            assert entry["sha256"] == siblings[name]["lfs"]["sha256"] == host.file(f"{MODEL}/{name}").sha256sum


def test_the_engine_is_written_once(host):
    # Served where it was built: the model repository's version directory holds no copy.
    assert host.file(f"{REPO}/tensorrt_llm/1").is_directory
    assert host.file(f"{REPO}/tensorrt_llm/1").listdir() in ([], [".gitkeep"])


def test_five_configs_carry_the_workflows_values(host):
    text = {m: host.file(f"{REPO}/{m}/config.pbtxt").content_string
            for m in ("ensemble", "preprocessing", "postprocessing", "tensorrt_llm", "tensorrt_llm_bls")}
    assert all("max_batch_size: 256" in t for t in text.values())
    assert all('"/models/trt/Tiny-Llama-Sim"' in text[m] for m in ("preprocessing", "postprocessing"))
    llm = text["tensorrt_llm"]
    for value in ('"inflight_fused_batching"', '"max_utilization"', '"0.9"', f'"{ENGINE_IN_CONTAINER}"'):
        assert value in llm
    # tensorrt-demo's config writes each parameter over several lines, as upstream's templates do.
    assert re.search(r'key:\s*"enable_chunked_context"\s*value:\s*\{\s*string_value:\s*"true"\s*\}', llm)
    assert "decoupled: true" in llm and "decoupled: true" in text["tensorrt_llm_bls"]
    assert '"tensorrt_llm"' in text["tensorrt_llm_bls"]
    assert host.file(f"{REPO}/tensorrt_llm_bls/1/lib/triton_decoder.py").exists


def test_triton_is_ready_and_answers(host):
    triton(host, "/v2/health/ready")
    index = triton(host, "/v2/repository/index", {})
    assert {m["name"]: m["state"] for m in index} == dict.fromkeys(
        ["ensemble", "postprocessing", "preprocessing", "tensorrt_llm", "tensorrt_llm_bls"], "READY")
    answer = triton(host, "/v2/models/ensemble/generate", SEED_REQUEST)
    assert answer["text_output"].strip() and len(answer["output_log_probs"]) == 20


def test_served_python_models_are_upstreams_own(host):
    for rel in UPSTREAM_CODE:
        assert host.check_output(f"sha256sum {REPO}/{rel}").split()[0] == \
            hashlib.sha256((FIXTURES / rel).read_bytes()).hexdigest(), rel
    stubs = sorted(host.check_output("docker exec triton_server python3 -c %s", STUBS).split())
    assert stubs == sorted([f"/tensorrtllm_backend/triton_model_repo/{m}/1/model.py"
                            for m in ("preprocessing", "postprocessing", "tensorrt_llm_bls")]
                           + ["/opt/tritonserver/backends/tensorrtllm/model.py"])


def end_id_of_the_model(host) -> int:
    tokenizer = json.loads(host.file(f"{MODEL}/tokenizer_config.json").content_string)
    return next(int(i) for i, t in tokenizer["added_tokens_decoder"].items() if t["content"] == tokenizer["eos_token"])


def test_the_answer_ends_at_the_models_end_id_and_runs_on_with_the_workflows(host):
    end_id = end_id_of_the_model(host)
    generation = json.loads(host.file(f"{MODEL}/generation_config.json").content_string)
    assert end_id != 2 and end_id in generation["eos_token_id"]
    own = triton(host, "/v2/models/ensemble/generate", dict(SEED_REQUEST, end_id=end_id, pad_id=end_id))
    workflow = triton(host, "/v2/models/ensemble/generate", SEED_REQUEST)
    assert 0 < len(own["output_log_probs"]) < SEED_REQUEST["max_tokens"]
    assert len(workflow["output_log_probs"]) == SEED_REQUEST["max_tokens"]


def smoke_test(tmp_path, *extra: str) -> subprocess.CompletedProcess:
    """`trtllm-deploy deploy --tags verify` over the scenario's inventory: the smoke test alone."""
    command = [str(Path(sys.executable).parent / "trtllm-deploy"), "deploy", "-i",
               str(Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent), "--tags", "verify", "--plain",
               "--artifacts", str(tmp_path), "-e", "smoke_test_concurrency=1", *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def test_the_smoke_test_sends_the_models_end_id_and_sees_the_answer_end(host, tmp_path):
    done = smoke_test(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(next(tmp_path.glob("*/report.json")).read_text())
    smoke = report["hosts"]["trtllm-mol-pipeline"]
    assert smoke["smoke_end_id"] == end_id_of_the_model(host)
    generated, limit = map(int, smoke["smoke_tokens"].split("/"))
    assert 0 < generated < limit == 20


def test_the_smoke_test_fails_when_the_answer_runs_to_max_tokens(tmp_path):
    """The workflow's end_id 2 (Llama 2's) is not the stand-in's: the answer runs on and smoke_test_require_end
    fails the host with the numbers."""
    done = smoke_test(tmp_path, "-e", f"smoke_test_request={json.dumps(SEED_REQUEST)}")
    assert done.returncode == 2, done.stdout + done.stderr
    said = " ".join((done.stdout + done.stderr).split())
    assert "ran to max_tokens (20 of 20 tokens) without ending at end id 2" in said


def test_bench_measures_the_node_with_aiperf_and_its_gate_fails_a_limit_it_misses(tmp_path):
    """`trtllm-deploy bench`: AIPerf over a sweep, the table, report.json and the PNG; an output-throughput floor
    no CPU stand-in reaches fails the gate (exit 2) with the numbers. The numbers are the stand-in's."""
    gate = {"errors_max": 0, "output_tokens_per_s_min": 1000000}
    command = [str(Path(sys.executable).parent / "trtllm-deploy"), "bench", "-i",
               str(Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent), "--concurrency", "1,2", "--requests", "8",
               "--plain", "--artifacts", str(tmp_path), "-e", f"serving_bench_gate={json.dumps(gate)}",
               "-e", f"serving_bench_history_dir={tmp_path / 'history'}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert done.returncode == 2, done.stdout + done.stderr
    bench = json.loads(next(tmp_path.glob("*/report.json")).read_text())["hosts"]["trtllm-mol-pipeline"]["bench"]
    assert sorted(bench["sweep"]) == ["1", "2"]
    for summary in bench["sweep"].values():
        assert summary["errors"] == 0 and summary["output_tokens_per_s"] > 0 and summary["ttft_p50_ms"] > 0
    assert any(p.startswith("output_tokens_per_s ") and p.endswith("is below output_tokens_per_s_min 1e+06")
               for p in bench["problems"]), bench["problems"]
    assert Path(bench["plot"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith("trtllm-mol-pipeline ")]
    assert [row[2] for row in rows] == ["1", "2"], done.stdout


def test_bls_answers_like_the_ensemble(host):
    assert triton(host, "/v2/models/tensorrt_llm_bls/generate", SEED_REQUEST)["text_output"] == \
        triton(host, "/v2/models/ensemble/generate", SEED_REQUEST)["text_output"]
