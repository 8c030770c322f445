"""A bounded load client for the fleet's balancer: generate and generate_stream requests, alternately, at a fixed
concurrency, until the stop file appears (or max_requests / max_seconds). Runs on the balancer node with its
python3 and the standard library, against the balancer on loopback. Writes a JSON summary when it ends:
sent, failed, the first errors, the longest latency.

    python3 load_client.py URL CONCURRENCY MAX_REQUESTS MAX_SECONDS STOP_FILE OUT_FILE IDS_JSON [THINK_SECONDS]

IDS_JSON: the model's end_id, pad_id and stop_words (the side effect reads them from a GPU node). THINK_SECONDS:
each worker's pause between its requests (a load shape: the CPU stand-ins share this machine with the roll).
"""

import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request

url, concurrency, max_requests, max_seconds, stop_file, out_file, ids = sys.argv[1:8]
think = float(sys.argv[8]) if len(sys.argv) > 8 else 0.0
concurrency, max_requests, max_seconds = int(concurrency), int(max_requests), float(max_seconds)
BODY = json.dumps({"text_input": "What is machine learning?", "max_tokens": 20, "bad_words": "",
                   **json.loads(ids)}).encode()
lock = threading.Lock()
state = {"sent": 0, "failed": 0, "errors": [], "max_latency": 0.0, "generate": 0, "generate_stream": 0}
started = time.monotonic()


def stopped() -> bool:
    try:
        open(stop_file).close()
        return True
    except OSError:
        return time.monotonic() - started > max_seconds


def one(stream: bool) -> str | None:
    """None when the answer is complete, else what went wrong."""
    target = f"{url}/v2/models/ensemble/generate{'_stream' if stream else ''}"
    request = urllib.request.Request(target, data=BODY, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            text = answer.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        return f"HTTP {err.code}: {err.read()[:200].decode(errors='replace')}"
    except OSError as err:
        return f"{type(err).__name__}: {err}"
    if stream:
        events = [json.loads(line[5:]) for line in text.splitlines() if line.startswith("data:")]
        if not events or any("error" in e for e in events) or not any(e.get("text_output") for e in events):
            return f"stream without text: {text[:200]}"
    elif not json.loads(text).get("text_output"):
        return f"answer without text: {text[:200]}"
    return None


def worker() -> None:
    while True:
        with lock:
            if state["sent"] >= max_requests or stopped():
                return
            state["sent"] += 1
            stream = state["sent"] % 2 == 0
            state["generate_stream" if stream else "generate"] += 1
        begin = time.monotonic()
        problem = one(stream)
        latency = time.monotonic() - begin
        with lock:
            state["max_latency"] = max(state["max_latency"], latency)
            if problem:
                state["failed"] += 1
                if len(state["errors"]) < 20:
                    state["errors"].append(problem)
        time.sleep(think)


threads = [threading.Thread(target=worker) for _ in range(concurrency)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
state["seconds"] = round(time.monotonic() - started, 1)
state["max_latency"] = round(state["max_latency"], 3)
# Renamed into place: the summary appears complete or not at all.
with open(out_file + ".tmp", "w") as out:
    json.dump(state, out)
os.replace(out_file + ".tmp", out_file)
