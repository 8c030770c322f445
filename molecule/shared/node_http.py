"""Ask a node's Triton over HTTP from inside the node, with its python3: the roles install no curl."""

import json

_REQUEST = (
    "python3 -c 'import sys, urllib.request; body = sys.argv[2].encode() or None; "
    "answer = urllib.request.urlopen(urllib.request.Request(sys.argv[1], data=body), timeout=60); "
    "sys.stdout.write(answer.read().decode())' %s %s"
)


def triton(host, path: str, body=None, port: int = 8000):
    """The JSON answer of GET (no body) or POST (body) http://127.0.0.1:PORT/PATH on the node; fails on HTTP errors."""
    text = host.check_output(_REQUEST, f"http://127.0.0.1:{port}{path}", "" if body is None else json.dumps(body))
    return json.loads(text) if text.strip() else None
