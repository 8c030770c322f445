"""The Hugging Face Hub stand-in (testbed/hub) under the real huggingface_hub 0.22.2 client.

The client runs unchanged inside the tritonserver-sim image (its huggingface_hub is the
pinned 0.22.2) on the host network against the stand-in's 127.0.0.1 listener; one run
per scenario, a fresh Python process with HF_ENDPOINT and HF_TOKEN set as a node would.
The stand-in's own counters (/_testbed/stats) show what was served to whom.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker

IMAGE = "trtllm-deploy/tritonserver-sim:latest"
REPO = Path(__file__).resolve().parents[2]
START = REPO / "testbed" / "hub" / "start.py"
REPO_ID = "meta-llama/Meta-Llama-3-8B-Instruct"
CHUNK = 10 * 1024 * 1024  # huggingface_hub 0.22.2 DOWNLOAD_CHUNK_SIZE
SHARD2 = "model-00002-of-00002.safetensors"
# What a deployment downloads: the model, its index and configs, the tokenizer; not original/.
WANTED = ["config.json", "generation_config.json", "model-*.safetensors", "model.safetensors.index.json",
          "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"]
WANTED_FILES = {"config.json", "generation_config.json", "model-00001-of-00002.safetensors", SHARD2,
                "model.safetensors.index.json", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"}
EXTRA_FILES = {".gitattributes", "LICENSE", "README.md", "USE_POLICY.md", "original/consolidated.00.pth",
               "original/params.json", "original/tokenizer.model"}

PRELUDE = r'''
import hashlib, json, os, sys
from pathlib import Path
import huggingface_hub
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
REPO_ID = "meta-llama/Meta-Llama-3-8B-Instruct"
CACHE = os.environ["TEST_CACHE"]
result = {"version": huggingface_hub.__version__}

def error(fn, *args, **kwargs):
    """The exception fn raises, as data (None if it returns)."""
    try:
        fn(*args, **kwargs)
    except Exception as exc:
        response = getattr(exc, "response", None)
        return {"type": type(exc).__name__, "classes": [c.__name__ for c in type(exc).__mro__],
                "message": str(exc), "status": getattr(response, "status_code", None),
                "cause": type(exc.__cause__).__name__ if exc.__cause__ else None}
    return None

def files(root):
    root = Path(root)
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}
'''


class Client:
    """A container of the serving image on the host network: the real client, run per scenario."""

    def __init__(self, docker_client, hub: dict):
        self.hub = hub
        self.container = docker_client.containers.run(IMAGE, ["sleep", "infinity"], detach=True, remove=True,
                                                       network_mode="host")

    def run(self, code: str, token: str | None = "granted", cache: str | None = None, **env) -> dict:
        environment = {"HF_ENDPOINT": self.hub["local"], "HF_HOME": f"/tmp/hf-home-{uuid.uuid4().hex}",
                       "HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
                       "TEST_CACHE": cache or f"/tmp/cache-{uuid.uuid4().hex}", **env}
        if token == "granted":
            environment["HF_TOKEN"] = self.hub["token"]
        elif token == "not_granted":
            environment["HF_TOKEN"] = self.hub["token_not_granted"]
        elif token is not None:
            environment["HF_TOKEN"] = token
        script = PRELUDE + code + '\nprint("@@RESULT@@" + json.dumps(result))\n'
        code_, (out, err) = self.container.exec_run(["python3", "-c", script], environment=environment, demux=True)
        stdout, stderr = (out or b"").decode(errors="replace"), (err or b"").decode(errors="replace")
        if code_ != 0 or "@@RESULT@@" not in stdout:
            raise AssertionError(f"client exited {code_}:\n{stdout}\n{stderr}")
        result = json.loads(stdout.split("@@RESULT@@", 1)[1])
        assert result["version"] == "0.22.2"
        return result

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.container.stop(timeout=1)


def admin(hub: dict, method: str, path: str, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{hub['local']}/_testbed/{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@pytest.fixture(scope="module")
def hub() -> dict:
    started = subprocess.run([sys.executable, str(START)], capture_output=True, text=True)
    assert started.returncode == 0, started.stderr
    return json.loads(started.stdout)


@pytest.fixture(scope="module")
def client(docker_client, hub):
    client = Client(docker_client, hub)
    yield client
    client.stop()


LOCAL = "127.0.0.1"  # the tests' client runs on the host network: every node has an address of its own


def settled_stats(hub: dict, client: str | None = LOCAL, timeout: float = 15) -> dict:
    """The counters once every request the server has read is counted (a response's last bytes can reach the
    client just before its handler counts them); with `client`, only that address's (a simulated node of
    another test may download at the same time)."""
    deadline = time.monotonic() + timeout
    while (stats := admin(hub, "GET", "stats"))["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stats["in_flight"] == 0, f"requests still in flight after {timeout}s: {stats['in_flight']}"
    if client is None:
        return stats
    mine = stats["clients"].get(client, {"files": {}})
    return dict(stats, files={name: {"bytes": size} for name, size in mine["files"].items()},
                requests=[r for r in stats["requests"] if r["client"] == client], clients={client: mine})


@pytest.fixture
def stats(hub):
    """Counters from zero for this test (faults cleared too); call it to read them (this machine's requests
    only, or stats(client=ADDRESS))."""
    admin(hub, "POST", "reset", {"client": LOCAL})
    return lambda client=LOCAL: settled_stats(hub, client)


@pytest.fixture(scope="module")
def content(hub) -> dict:
    """The repository as the stand-in holds it (hub.json), for sizes and names."""
    return json.loads((Path(hub["content"]) / "hub.json").read_text())["repos"][REPO_ID]


def test_start_is_idempotent_and_says_what_it_serves(hub):
    again = subprocess.run([sys.executable, str(START)], capture_output=True, text=True, check=True)
    second = json.loads(again.stdout)
    assert second["changed"] is False and second["revisions"] == hub["revisions"]
    assert hub["endpoint"].startswith("http://") and hub["endpoint"].endswith(":5100")
    assert set(hub["revisions"]) == {"main", "other"} and hub["revisions"]["main"] != hub["revisions"]["other"]
    assert all(len(sha) == 40 and int(sha, 16) >= 0 for sha in hub["revisions"].values())
    health = admin(hub, "GET", "health")
    assert health["standin"] is True and health["repos"][REPO_ID] == hub["revisions"]


def test_snapshot_download_gets_exactly_the_wanted_files(client, hub, stats, content):
    result = client.run(f"""
path = snapshot_download(REPO_ID, revision="main", cache_dir=CACHE, allow_patterns={WANTED!r}, resume_download=True)
result["path"] = path
result["files"] = files(path)
info = HfApi().model_info(REPO_ID, revision="main", files_metadata=True)
result["sha"] = info.sha
result["siblings"] = {{s.rfilename: {{"size": s.size, "blob_id": s.blob_id,
                                     "lfs": s.lfs and {{"sha256": s.lfs.sha256, "size": s.lfs.size}}}}
                       for s in info.siblings}}
""")
    main = hub["revisions"]["main"]
    assert result["path"].endswith(f"/snapshots/{main}") and result["sha"] == main
    assert set(result["files"]) == WANTED_FILES
    siblings = result["siblings"]
    assert set(siblings) == WANTED_FILES | EXTRA_FILES
    for name, digest in result["files"].items():
        assert siblings[name]["size"] == content["commits"][main]["files"][name]["size"]
        if siblings[name]["lfs"]:
            assert siblings[name]["lfs"] == {"sha256": digest, "size": siblings[name]["size"]}
    assert {n for n, s in siblings.items() if s["lfs"]} == {
        "model-00001-of-00002.safetensors", SHARD2, "original/consolidated.00.pth", "original/tokenizer.model"}
    served = stats()
    assert {name: f["bytes"] for name, f in served["files"].items()} == {
        name: siblings[name]["size"] for name in WANTED_FILES}
    # The LFS bodies came from the CDN host without the token; the Hub's answers all had it.
    lfs_gets = [r for r in served["requests"] if r["server"] == "cdn"]
    assert len(lfs_gets) == 2 and not any(r["auth"] for r in lfs_gets)
    assert all(r["auth"] for r in served["requests"] if r["server"] == "hub")


def test_a_json_pattern_also_takes_original_params(client):
    """0.22.2 matches allow_patterns with fnmatch on the whole path, where * crosses folders."""
    result = client.run(f"""
from huggingface_hub.utils import filter_repo_objects
names = [s.rfilename for s in HfApi().model_info(REPO_ID).siblings]
result["json"] = sorted(filter_repo_objects(names, allow_patterns=["*.json"]))
result["wanted"] = sorted(filter_repo_objects(names, allow_patterns={WANTED!r}))
""")
    assert "original/params.json" in result["json"]
    assert set(result["wanted"]) == WANTED_FILES


def test_regular_files_carry_their_git_blob_id(client, hub):
    result = client.run("""
from huggingface_hub import get_hf_file_metadata, hf_hub_url
for name in ("config.json", "model-00001-of-00002.safetensors"):
    meta = get_hf_file_metadata(hf_hub_url(REPO_ID, name))
    result[name] = {"etag": meta.etag, "commit": meta.commit_hash, "size": meta.size, "location": meta.location}
result["config"] = Path(hf_hub_download(REPO_ID, "config.json", cache_dir=CACHE)).read_bytes().hex()
""")
    config = bytes.fromhex(result["config"])
    regular, lfs = result["config.json"], result["model-00001-of-00002.safetensors"]
    assert regular["etag"] == git_blob_id(config) and regular["size"] == len(config)
    assert regular["location"] == f"{hub['local']}/{REPO_ID}/resolve/main/config.json"  # no redirect
    assert len(lfs["etag"]) == 64 and ":5101/repos/" in lfs["location"]  # sha256, redirected to the CDN
    assert regular["commit"] == lfs["commit"] == hub["revisions"]["main"]


def test_a_second_snapshot_download_downloads_nothing(client, hub, stats):
    cache = f"/tmp/cache-{uuid.uuid4().hex}"
    code = f'result["path"] = snapshot_download(REPO_ID, cache_dir=CACHE, allow_patterns={WANTED!r})'
    first = client.run(code, cache=cache)
    assert sum(f["bytes"] for f in stats()["files"].values()) > CHUNK
    admin(hub, "POST", "reset", {"client": LOCAL})
    second = client.run(code, cache=cache)
    served = stats()
    assert second["path"] == first["path"]
    assert served["files"] == {}
    assert [(r["method"], r["path"].split("?")[0]) for r in served["requests"]] == [
        ("GET", f"/api/models/{REPO_ID}/revision/main")]


def test_a_gated_repository_needs_a_token(client, hub):
    result = client.run("""
result["snapshot"] = error(snapshot_download, REPO_ID, cache_dir=CACHE)
result["file"] = error(hf_hub_download, REPO_ID, "config.json", cache_dir=CACHE)
result["info"] = error(HfApi().model_info, REPO_ID)
""", token=None)
    for case in (result["snapshot"], result["file"], result["info"]):
        assert case["type"] == "GatedRepoError" and case["status"] == 401, case
        assert f"Access to model {REPO_ID} is restricted. You must be authenticated" in case["message"]
        assert "RepositoryNotFoundError" in case["classes"]


def test_a_token_without_access_is_refused(client, hub):
    result = client.run("""
result["snapshot"] = error(snapshot_download, REPO_ID, cache_dir=CACHE)
result["file"] = error(hf_hub_download, REPO_ID, "tokenizer.json", cache_dir=CACHE)
""", token="not_granted")
    for case in (result["snapshot"], result["file"]):
        assert case["type"] == "GatedRepoError" and case["status"] == 403, case
        assert f"Access to model {REPO_ID} is restricted and you are not in the authorized list" in case["message"]
        assert f"Visit {hub['local']}/{REPO_ID} to ask for access" in case["message"]


def test_an_unknown_token_is_invalid_credentials(client):
    result = client.run("""
result["snapshot"] = error(snapshot_download, REPO_ID, cache_dir=CACHE)
result["file"] = error(hf_hub_download, REPO_ID, "config.json", cache_dir=CACHE)
""", token="hf_testbed_not_a_token")
    for case in (result["snapshot"], result["file"]):
        assert case["type"] == "RepositoryNotFoundError" and case["status"] == 401, case
        assert "Invalid credentials in Authorization header" in case["message"]


def test_unknown_repository_revision_and_file(client, hub):
    result = client.run("""
result["repo"] = error(snapshot_download, "meta-llama/No-Such-Model", cache_dir=CACHE)
result["repo_file"] = error(hf_hub_download, "meta-llama/No-Such-Model", "config.json", cache_dir=CACHE)
result["revision"] = error(snapshot_download, REPO_ID, revision="no-such-branch", cache_dir=CACHE)
result["revision_file"] = error(hf_hub_download, REPO_ID, "config.json", revision="v9", cache_dir=CACHE)
result["file"] = error(hf_hub_download, REPO_ID, "no-such-file.json", cache_dir=CACHE)
result["no_exist"] = sorted(str(p.relative_to(CACHE)) for p in Path(CACHE).rglob("no-such-file.json"))
""")
    for key in ("repo", "repo_file"):
        assert result[key]["type"] == "RepositoryNotFoundError" and result[key]["status"] == 404, result[key]
    for key in ("revision", "revision_file"):
        assert result[key]["type"] == "RevisionNotFoundError" and result[key]["status"] == 404, result[key]
    assert "Invalid rev id: no-such-branch" in result["revision"]["message"]
    assert result["file"]["type"] == "EntryNotFoundError" and result["file"]["status"] == 404
    # The 404 carries X-Repo-Commit, so the client remembers the file is absent at that commit.
    main = hub["revisions"]["main"]
    assert result["no_exist"] == [f"models--meta-llama--Meta-Llama-3-8B-Instruct/.no_exist/{main}/no-such-file.json"]
    anonymous = client.run('result["repo"] = error(HfApi().model_info, "meta-llama/No-Such-Model")', token=None)
    assert anonymous["repo"]["type"] == "RepositoryNotFoundError" and anonymous["repo"]["status"] == 401


def test_branches_and_commit_ids_resolve(client, hub, stats, content):
    main, other = hub["revisions"]["main"], hub["revisions"]["other"]
    cache = f"/tmp/cache-{uuid.uuid4().hex}"
    client.run(f'snapshot_download(REPO_ID, revision="main", cache_dir=CACHE, allow_patterns={WANTED!r})', cache=cache)
    admin(hub, "POST", "reset", {"client": LOCAL})
    result = client.run(f"""
api = HfApi()
result["by_prefix"] = api.model_info(REPO_ID, revision="{main[:7]}").sha
result["by_commit"] = api.model_info(REPO_ID, revision="{main}").sha
result["other_path"] = snapshot_download(REPO_ID, revision="other", cache_dir=CACHE, allow_patterns={WANTED!r})
result["other_config"] = json.loads(Path(result["other_path"], "config.json").read_text())
result["refs"] = {{p.name: p.read_text() for p in Path(CACHE).rglob("refs/*")}}
""", cache=cache)
    assert result["by_prefix"] == result["by_commit"] == main
    assert result["other_path"].endswith(f"/snapshots/{other}")
    assert result["other_config"]["torch_dtype"] == "bfloat16"
    assert result["refs"] == {"main": main, "other": other}
    # Only the changed file is fetched: the shards are the same blobs (same sha256 ETag).
    assert {name: f["bytes"] for name, f in stats()["files"].items()} == {
        "config.json": content["commits"][other]["files"]["config.json"]["size"]}


def test_a_dropped_download_resumes_where_the_saved_chunks_end(client, hub, stats, content):
    size = content["commits"][hub["revisions"]["main"]]["files"][SHARD2]["size"]
    assert size > CHUNK + 1024 * 1024, "the stand-in's second shard must span more than one download chunk"
    cut = CHUNK + 512 * 1024
    admin(hub, "POST", "faults", {"file": SHARD2, "action": "drop", "after_bytes": cut, "client": LOCAL})
    cache = f"/tmp/cache-{uuid.uuid4().hex}"
    code = f"""
result["error"] = error(hf_hub_download, REPO_ID, "{SHARD2}", cache_dir=CACHE, resume_download=True)
result["partial"] = {{p.name: p.stat().st_size for p in Path(CACHE).rglob("*.incomplete")}}
"""
    first = client.run(code, cache=cache)
    assert first["error"]["type"] == "ChunkedEncodingError" and "IncompleteRead" in first["error"]["message"]
    # 0.22.2 writes whole 10 MiB chunks: the bytes after the last full chunk are lost with the connection.
    assert list(first["partial"].values()) == [CHUNK]
    before = stats()["files"][SHARD2]["bytes"]
    assert before == cut
    admin(hub, "POST", "reset", {"client": LOCAL})
    second = client.run(f"""
path = hf_hub_download(REPO_ID, "{SHARD2}", cache_dir=CACHE, resume_download=True)
result["sha256"] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
result["partial"] = [str(p) for p in Path(CACHE).rglob("*.incomplete")]
""", cache=cache)
    served = stats()
    expected = content["commits"][hub["revisions"]["main"]]["files"][SHARD2]["sha256"]
    assert second["sha256"] == expected and second["partial"] == []
    assert served["files"][SHARD2]["bytes"] == size - CHUNK < size
    assert [r["range"] for r in served["requests"] if r["server"] == "cdn"] == [f"bytes={CHUNK}-"]


def test_a_stalled_download_is_resumed_within_one_call(client, hub, stats, content):
    size = content["commits"][hub["revisions"]["main"]]["files"][SHARD2]["size"]
    admin(hub, "POST", "faults", {"file": SHARD2, "action": "stall", "after_bytes": CHUNK + 4096, "seconds": 4,
                                  "client": LOCAL})
    result = client.run(f"""
path = hf_hub_download(REPO_ID, "{SHARD2}", cache_dir=CACHE, resume_download=True)
result["sha256"] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
""", HF_HUB_DOWNLOAD_TIMEOUT="2")
    served = stats()
    assert result["sha256"] == content["commits"][hub["revisions"]["main"]]["files"][SHARD2]["sha256"]
    gets = sorted((r for r in served["requests"] if r["server"] == "cdn"), key=lambda r: r["t"])  # by start
    # The read timeout is a ConnectionError inside http_get, which retries from its saved chunks.
    assert [r["range"] for r in gets] == [None, f"bytes={CHUNK}-"]
    assert gets[1]["bytes"] == size - CHUNK


def test_server_errors_and_slow_files(client, hub, stats, content):
    size = content["commits"][hub["revisions"]["main"]]["files"]["tokenizer.json"]["size"]
    admin(hub, "POST", "faults", {"faults": [
        {"file": "config.json", "action": "error", "status": 503, "times": 1, "client": LOCAL},
        {"file": "tokenizer.json", "action": "slow", "bytes_per_s": size * 2, "client": LOCAL},
    ]})
    result = client.run("""
import time
result["first"] = error(hf_hub_download, REPO_ID, "config.json", cache_dir=CACHE)
result["second"] = Path(hf_hub_download(REPO_ID, "config.json", cache_dir=CACHE)).name
began = time.monotonic()
hf_hub_download(REPO_ID, "tokenizer.json", cache_dir=CACHE)
result["slow_s"] = time.monotonic() - began
""")
    assert result["first"]["type"] == "HfHubHTTPError" and result["first"]["status"] == 503
    assert result["second"] == "config.json"
    assert result["slow_s"] >= 0.4  # half a second at twice the file's size per second
    faults = admin(hub, "GET", "faults")["faults"]
    assert [f["fired"] for f in faults] == [1, 1]


def test_stdlib_http_reads_metadata_and_files(hub, stats, content):
    """What a module without huggingface_hub does: urllib with a bearer token."""
    auth = {"Authorization": f"Bearer {hub['token']}"}

    def get(path, headers=None):
        request = urllib.request.Request(f"{hub['local']}{path}", headers={**auth, **(headers or {})})
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read(), response.url

    status, _, body, _ = get(f"/api/models/{REPO_ID}/revision/main?blobs=true")
    info = json.loads(body)
    assert status == 200 and info["sha"] == hub["revisions"]["main"]
    by_name = {s["rfilename"]: s for s in info["siblings"]}
    assert by_name[SHARD2]["lfs"]["size"] == by_name[SHARD2]["size"]
    assert "lfs" not in by_name["config.json"] and by_name["config.json"]["blobId"]
    status, headers, body, _ = get(f"/{REPO_ID}/resolve/main/config.json")
    assert status == 200 and headers["X-Repo-Commit"] == hub["revisions"]["main"]
    assert headers["ETag"] == f'"{git_blob_id(body)}"'
    status, headers, body, url = get(f"/{REPO_ID}/resolve/main/{SHARD2}", {"Range": "bytes=100-199"})
    assert status == 206 and headers["Content-Range"] == f"bytes 100-199/{by_name[SHARD2]['size']}" and len(body) == 100
    assert ":5101/repos/" in url  # urllib followed the redirect to the CDN host
    # urllib sends the token on to the CDN host (requests drops it): visible in the counters.
    assert [r["auth"] for r in stats()["requests"] if r["server"] == "cdn"] == [True]
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{hub['local']}/{REPO_ID}/resolve/main/config.json", timeout=10)
    assert refused.value.code == 401 and refused.value.headers["X-Error-Code"] == "GatedRepo"


def test_the_cdn_refuses_unsigned_urls(hub, content):
    sha256 = content["commits"][hub["revisions"]["main"]]["files"][SHARD2]["sha256"]
    cdn = hub["local"].replace(":5100", ":5101")
    for query, code in (("", "MissingKey"), ("?Expires=9999999999&Signature=00&Key-Pair-Id=K", "AccessDenied")):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{cdn}/repos/x/{sha256}{query}", timeout=10)
        assert refused.value.code == 403 and f"<Code>{code}</Code>" in refused.value.read().decode()


def test_counters_tell_hosts_apart(docker_client, hub, stats):
    """A second host on the Docker bridge (as a node reaches the hub) fetches only small files."""
    code = ("from huggingface_hub import hf_hub_download\n"
            "for name in ('config.json', 'tokenizer.json', 'tokenizer_config.json'):\n"
            "    hf_hub_download('meta-llama/Meta-Llama-3-8B-Instruct', name, cache_dir='/tmp/c')\n")
    container = docker_client.containers.run(IMAGE, ["sleep", "infinity"], detach=True, environment={
        "HF_ENDPOINT": hub["endpoint"], "HF_TOKEN": hub["token"], "HF_HUB_DISABLE_PROGRESS_BARS": "1"})
    try:
        container.reload()
        address = container.attrs["NetworkSettings"]["IPAddress"]
        # From zero: Docker hands out addresses again, and the hub counts by address since it started.
        admin(hub, "POST", "reset", {"client": address})
        code_, output = container.exec_run(["python3", "-c", code])
        assert code_ == 0, output.decode(errors="replace")[-2000:]
    finally:
        container.remove(force=True)
    host = stats(client=address)["clients"][address]
    assert address not in ("127.0.0.1", hub["endpoint"].split("//")[1].split(":")[0])
    assert sorted(host["files"]) == ["config.json", "tokenizer.json", "tokenizer_config.json"]
    assert host["bytes"] < 64 * 1024


@pytest.mark.parametrize(("header", "expected"), [
    ("bytes=0-", (0, 99)), ("bytes=10-19", (10, 19)), ("bytes=90-200", (90, 99)), ("bytes=-10", (90, 99)),
    ("bytes=100-", "unsatisfiable"), ("bytes=-0", "unsatisfiable"),
    ("bytes=0-1,5-6", None), ("items=0-1", None), ("bytes=5-1", None), ("bytes=x-", None),
])
def test_range_header_parsing(header, expected):
    spec = importlib.util.spec_from_file_location("hub_standin_server", START.parent / "server.py")
    server = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(server)
    assert server.parse_range(header, 100) == expected
