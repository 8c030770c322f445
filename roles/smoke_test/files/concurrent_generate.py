# Send one JSON request N times at once; print [{seconds, text_output, error}] as JSON.
# argv: url body count timeout. Standard library only: it runs with the node's python3.
import json
import sys
import threading
import time
import urllib.request

url, body, count, timeout = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3]), float(sys.argv[4])
results = [None] * count


def send(index):
    started = time.monotonic()
    try:
        request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.load(response)
        results[index] = {"seconds": time.monotonic() - started, "text_output": answer.get("text_output", ""),
                          "error": None}
    except Exception as exc:  # every failure is reported, none stops the others
        results[index] = {"seconds": time.monotonic() - started, "text_output": "", "error": str(exc)}


threads = [threading.Thread(target=send, args=(i,)) for i in range(count)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
json.dump(results, sys.stdout)
