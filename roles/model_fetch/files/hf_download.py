# Runs inside a one-shot container of the serving image: python3 -c "$(this file)" REQUEST_JSON.
# Downloads the listed files of one commit with huggingface_hub (its cache keeps partial files, so every
# attempt resumes the last), hard-links them into the staging directory and prints one JSON line.
# The token comes from HF_TOKEN in the environment, which huggingface_hub reads itself; nothing here prints it.
import json
import os
import shutil
import sys
import time

from huggingface_hub import snapshot_download
from huggingface_hub.utils import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

request = json.loads(sys.argv[1])


def answer(code, **fields):
    print(json.dumps(fields))
    sys.exit(code)


snapshot, last = None, ""
for attempt in range(1, request["attempts"] + 1):
    try:
        snapshot = snapshot_download(request["repo"], revision=request["commit"], cache_dir=request["cache"],
                                     allow_patterns=request["files"], resume_download=True,
                                     max_workers=request["workers"])
        break
    except GatedRepoError as err:
        why = "the token in HF_TOKEN was refused" if os.environ.get("HF_TOKEN") else "no token was given"
        answer(3, error=f"{request['repo']} is gated: {why}; export HF_TOKEN (or --secret-file) of an account that "
                        f"accepted the licence on the model's page ({type(err).__name__})", attempts=attempt)
    except (RepositoryNotFoundError, RevisionNotFoundError) as err:
        answer(3, error=f"{request['repo']}@{request['commit']}: {type(err).__name__}", attempts=attempt)
    except HfHubHTTPError as err:
        status = getattr(err.response, "status_code", 0) or 0
        if 400 <= status < 500 and status != 429:
            answer(3, error=f"{request['repo']}: HTTP {status} ({type(err).__name__})", attempts=attempt)
        last = f"HTTP {status}: {type(err).__name__}"
    except (OSError, ValueError) as err:  # requests' connection errors and timeouts are OSErrors
        last = f"{type(err).__name__}: {str(err)[:300]}"
    if attempt < request["attempts"]:
        time.sleep(min(2 ** attempt, 30))
if snapshot is None:
    answer(4, error=f"the download did not finish after {request['attempts']} attempt(s): {last}",
           attempts=request["attempts"])

os.makedirs(request["staging"], exist_ok=True)
for name in request["files"]:
    source = os.path.realpath(os.path.join(snapshot, name))
    target = os.path.join(request["staging"], name)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    try:
        os.link(source, target)
    except OSError:  # another file system, or no hard links there
        shutil.copyfile(source, target)
answer(0, files=len(request["files"]), attempts=attempt)
