"""Artifacts host to host (module_utils/transfer): the rounds, the file server and the checked, resumable download,
on loopback."""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import threading
import urllib.error
import urllib.request

import pytest

from ansible_collections.trtllm.deploy.plugins.module_utils import transfer

TOKEN = "t0ken-for-this-run"


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def start_server(root, files: list[str], idle_timeout: float) -> tuple[threading.Thread, dict]:
    """transfer.serve in a thread on a free loopback port; holder gets "server" once it listens, "result" at its end."""
    ready = threading.Event()
    holder = {}

    def on_ready(server):
        holder["server"] = server
        ready.set()

    thread = threading.Thread(target=lambda: holder.update(result=transfer.serve(
        str(root), files, "127.0.0.1", 0, TOKEN, idle_timeout=idle_timeout, ready=on_ready)), daemon=True)
    thread.start()
    assert ready.wait(10)
    return thread, holder


@pytest.fixture
def served(tmp_path):
    """A directory of two files served on a free loopback port; yields (base URL, {name: bytes}, server)."""
    root = tmp_path / "engine"
    root.mkdir()
    files = {"rank0.engine": os.urandom(3 * transfer.BLOCK + 123), "config.json": b'{"tp": 1}'}
    for name, data in files.items():
        (root / name).write_bytes(data)
    thread, holder = start_server(root, sorted(files), idle_timeout=30)
    base = f"http://127.0.0.1:{holder['server'].server_address[1]}"
    yield base, files, holder
    transfer.stop(base, TOKEN)
    thread.join(10)


def manifest(files: dict) -> dict:
    return {name: {"size": len(data), "sha256": digest(data)} for name, data in files.items()}


def test_a_download_gets_every_file_checked_and_a_second_keeps_them(served, tmp_path):
    base, files, _ = served
    dest = tmp_path / "incoming"
    first = transfer.fetch(base, TOKEN, str(dest), manifest(files))
    assert sorted(first["files"]) == sorted(files) and first["received"] == sum(map(len, files.values()))
    assert {p.name: p.read_bytes() for p in dest.iterdir()} == files
    second = transfer.fetch(base, TOKEN, str(dest), manifest(files))
    assert second == {"received": 0, "files": [], "kept": sorted(files)}


def test_a_cut_file_is_resumed_where_it_stopped(served, tmp_path):
    base, files, _ = served
    dest = tmp_path / "incoming"
    dest.mkdir()
    data = files["rank0.engine"]
    (dest / ("rank0.engine" + transfer.PART)).write_bytes(data[: transfer.BLOCK + 7])
    result = transfer.fetch(base, TOKEN, str(dest), {"rank0.engine": manifest(files)["rank0.engine"]})
    assert result["received"] == len(data) - transfer.BLOCK - 7
    assert (dest / "rank0.engine").read_bytes() == data and not (dest / "rank0.engine.part").exists()


def test_a_file_that_is_not_the_manifests_is_never_kept(served, tmp_path):
    base, files, _ = served
    dest = tmp_path / "incoming"
    wrong = dict(manifest(files), **{"config.json": {"size": len(files["config.json"]), "sha256": "0" * 64}})
    with pytest.raises(transfer.TransferError, match=r"config.json .* after 2 attempt\(s\).*sha256 [0-9a-f]{12}, "
                                                     r"the manifest says 000000000000"):
        transfer.fetch(base, TOKEN, str(dest), wrong, retries=1, sleep=lambda _: None)
    assert not (dest / "config.json").exists() and not (dest / "config.json.part").exists()


def test_the_server_answers_only_the_token_and_only_the_listed_files(served):
    base, _, _ = served
    def status(path, token):
        request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                return answer.status
        except urllib.error.HTTPError as err:
            return err.code
    assert status("/files/config.json", TOKEN) == 200
    assert status("/files/config.json", "wrong") == 403
    assert status("/files/config.json", "") == 403
    assert status("/files/../../etc/passwd", TOKEN) == 404
    assert status("/files/secret.txt", TOKEN) == 404
    assert status("/", TOKEN) == 404
    assert not transfer.stop(base, "wrong") and transfer.stop(base, TOKEN)


def test_a_range_is_served_as_asked():
    assert transfer.parse_range("bytes=10-", 100) == (10, 99)
    assert transfer.parse_range("bytes=10-19", 100) == (10, 19)
    assert transfer.parse_range("bytes=10-500", 100) == (10, 99)
    assert transfer.parse_range("bytes=100-", 100) is None
    assert transfer.parse_range("bytes=-5", 100) is None and transfer.parse_range("bytes=0-1,5-6", 100) is None


def test_an_idle_server_ends_by_itself(tmp_path):
    (tmp_path / "f").write_bytes(b"x")
    result = transfer.serve(str(tmp_path), ["f"], "127.0.0.1", 0, TOKEN, idle_timeout=0.5)
    assert result["reason"].startswith("idle for")
    assert result["bytes"] == 0


def test_a_server_refuses_to_start_without_its_files(tmp_path):
    with pytest.raises(transfer.TransferError, match="lacks rank1.engine"):
        transfer.serve(str(tmp_path), ["rank1.engine"], "127.0.0.1", 0, TOKEN, idle_timeout=1)


def test_manifest_files_are_all_or_the_named_ones():
    text = json.dumps({"files": {"a": {"size": 1, "sha256": "x"}, "b": {"size": 2, "sha256": "y"}}})
    assert sorted(transfer.manifest_files(text)) == ["a", "b"]
    assert transfer.manifest_files(text, ["b"]) == {"b": {"size": 2, "sha256": "y"}}
    with pytest.raises(transfer.TransferError, match="lists no c"):
        transfer.manifest_files(text, ["c"])


def test_rounds_double_the_holders_and_subset_receivers_hold_nothing_for_others():
    rounds = transfer.plan_rounds([
        {"key": "k1", "source": "a", "receivers": ["b", "c", "d"]},
        {"key": "k2", "source": "m0", "receivers": ["m1"], "files": {"m1": ["config.json", "rank1.engine"]}},
    ])
    assert [[(c["key"], c["source"], c["receiver"]) for c in r] for r in rounds] == [
        [("k1", "a", "b"), ("k2", "m0", "m1")], [("k1", "a", "c"), ("k1", "b", "d")]]
    assert rounds[0][1]["files"] == ["config.json", "rank1.engine"] and rounds[1][0]["files"] is None
    assert transfer.plan_rounds([]) == []


def test_a_connection_closed_early_keeps_what_came_and_the_next_attempt_resumes(tmp_path):
    """A sender that dies mid-file closes the connection cleanly: the short read is kept and resumed by Range."""
    data = os.urandom(2 * transfer.BLOCK + 5)
    cut = transfer.BLOCK + 3
    starts = []
    listener = socket.create_server(("127.0.0.1", 0))

    def answer_twice():
        for attempt in range(2):
            conn, _ = listener.accept()
            with conn:
                request = b""
                while b"\r\n\r\n" not in request:
                    request += conn.recv(4096)
                wanted = re.search(rb"Range: bytes=(\d+)-", request)
                start = int(wanted[1]) if wanted else 0
                starts.append(start)
                body = data[start:]
                head = b"HTTP/1.1 206 Partial Content\r\n" if wanted else b"HTTP/1.1 200 OK\r\n"
                head += b"Content-Length: %d\r\nConnection: close\r\n" % len(body)
                if wanted:
                    head += b"Content-Range: bytes %d-%d/%d\r\n" % (start, len(data) - 1, len(data))
                conn.sendall(head + b"\r\n" + (body[:cut] if attempt == 0 else body))

    thread = threading.Thread(target=answer_twice, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{listener.getsockname()[1]}"
    transfer.fetch(base, TOKEN, str(tmp_path / "in"), {"f": {"size": len(data), "sha256": digest(data)}},
                   sleep=lambda _: None)
    thread.join(10)
    listener.close()
    assert starts == [0, cut]
    assert (tmp_path / "in" / "f").read_bytes() == data


@pytest.mark.parametrize("name", ["../escape", "/etc/cron.d/x", "a/../../b", "a//b", ""])
def test_a_manifest_name_outside_the_directory_is_refused(name, tmp_path):
    listed = {name: {"size": 1, "sha256": "0" * 64}}
    with pytest.raises(transfer.TransferError, match="not a file name inside"):
        transfer.manifest_files(json.dumps({"files": listed}))
    with pytest.raises(transfer.TransferError, match="not a file name inside"):
        transfer.fetch("http://127.0.0.1:9", TOKEN, str(tmp_path / "in"), listed)
    assert not (tmp_path / "escape").exists()


def test_a_request_without_the_token_does_not_keep_the_server_alive(tmp_path):
    (tmp_path / "f").write_bytes(b"x")
    thread, holder = start_server(tmp_path, ["f"], idle_timeout=1.5)
    url = f"http://127.0.0.1:{holder['server'].server_address[1]}/files/f"
    # Knock without the token every 0.3 s for at most 10 s: the server still ends after 1.5 s idle.
    for _ in range(33):
        thread.join(0.3)
        if not thread.is_alive():
            break
        try:
            urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": "Bearer wrong"}), timeout=5)
        except urllib.error.HTTPError as refused:
            assert refused.code == 403
        except OSError:
            pass  # it ended between the check and the request
    assert not thread.is_alive(), "requests without the token kept the server alive"
    assert holder["result"]["reason"].startswith("idle")
