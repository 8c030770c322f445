# Copyright: trtllm-deploy contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a host asks the Hugging Face Hub before it downloads: a revision's commit and files (size, LFS
sha256), and a small file's content. Standard library only, so it runs with the host's python3.

The downloads themselves are the real huggingface_hub client's (role model_fetch); this reads the same
public API: GET {endpoint}/api/models/{repo}/revision/{revision}?blobs=true (siblings with size and lfs.sha256)
and GET {endpoint}/{repo}/resolve/{commit}/{file}; errors carry X-Error-Code (GatedRepo, RepoNotFound,
RevisionNotFound, EntryNotFound) as huggingface_hub's hf_raise_for_status reads them."""

from __future__ import annotations

import fnmatch
import json
import time
import urllib.error
import urllib.parse
import urllib.request

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pth", ".pt", ".gguf")
USER_AGENT = "trtllm-deploy (model_fetch)"


class HubError(Exception):
    """A refusal that retrying does not fix (gated, no such repository or revision), said for a person."""


class HubUnavailable(Exception):
    """The Hub did not answer (connection, timeout, 5xx) after the retries."""


def _explain(err: urllib.error.HTTPError, repo: str, revision: str, has_token: bool, what: str) -> str:
    code = err.headers.get("X-Error-Code", "") if err.headers else ""
    message = err.headers.get("X-Error-Message", "") if err.headers else ""
    try:
        body = err.read().decode(errors="replace")[:300]
    except OSError:
        body = ""
    detail = message or body.strip()
    if code == "RepoNotFound":
        why = "the token cannot see it" if has_token else "no token was given: export HF_TOKEN"
        return (f"repository {repo} not found (or it is private or gated and {why}): check model_fetch_hf_repo "
                f"({detail})")
    if code == "GatedRepo" or err.code in (401, 403):
        if not has_token:
            return (f"{repo} is gated and no token was given: export HF_TOKEN (a read token of an account that "
                    f"accepted the model's licence on https://huggingface.co/{repo}) or put it in --secret-file "
                    f"({err.code}: {detail})")
        return (f"{repo} refused the token in HF_TOKEN ({err.code}): check the token, and accept the model's "
                f"licence on https://huggingface.co/{repo} with the token's account ({detail})")
    if code == "RevisionNotFound":
        return f"{repo} has no revision {revision!r} ({detail})"
    if code == "EntryNotFound":
        return f"{repo} at {revision!r} has no file {what} ({detail})"
    if err.code == 404:
        return f"repository {repo} not found: check model_fetch_hf_repo ({detail})"
    return f"{what}: HTTP {err.code} {detail}"


class _KeepTokenHome(urllib.request.HTTPRedirectHandler):
    """Follow a redirect (an LFS file's goes to a CDN) without the token, as requests does for another host."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and urllib.parse.urlsplit(newurl).netloc != urllib.parse.urlsplit(req.full_url).netloc:
            new.remove_header("Authorization")
        return new


_OPENER = urllib.request.build_opener(_KeepTokenHome)


def _get(url: str, token: str | None, timeout: float, retries: int, repo: str, revision: str, what: str) -> bytes:
    headers = {"User-Agent": USER_AGENT}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    last = ""
    for attempt in range(retries + 1):
        try:
            with _OPENER.open(urllib.request.Request(url, headers=headers), timeout=timeout) as answer:
                return answer.read()
        except urllib.error.HTTPError as err:
            if err.code < 500 and err.code != 429:
                raise HubError(_explain(err, repo, revision, bool(token), what)) from None
            last = f"HTTP {err.code}"
        except (urllib.error.URLError, OSError) as err:
            last = str(getattr(err, "reason", err))
        if attempt < retries:
            time.sleep(min(2 ** attempt, 10))
    raise HubUnavailable(f"{url.split('?')[0]} did not answer after {retries + 1} attempt(s) "
                         f"({timeout:g} s timeout each): {last}")


def select(names, allow: list[str], ignore: list[str]) -> list[str]:
    """The names that match an allow pattern and no ignore pattern (fnmatch on the whole path, a pattern
    ending in / taken as the folder's contents), as huggingface_hub's filter_repo_objects does."""
    def fixed(patterns):
        return [p + "*" if p.endswith("/") else p for p in patterns]
    allow, ignore = fixed(allow), fixed(ignore)
    return sorted(n for n in names if (not allow or any(fnmatch.fnmatch(n, p) for p in allow))
                  and not any(fnmatch.fnmatch(n, p) for p in ignore))


def model_info(endpoint: str, repo: str, revision: str, token: str | None, timeout: float = 30,
               retries: int = 3) -> dict:
    """{commit, files: {name: {size, sha256 or None, blob_id}}} of the repository at a revision."""
    url = (f"{endpoint.rstrip('/')}/api/models/{repo}/revision/{urllib.parse.quote(revision, safe='')}"
           "?blobs=true")
    info = json.loads(_get(url, token, timeout, retries, repo, revision, "the model's information"))
    files = {}
    for sibling in info.get("siblings") or []:
        lfs = sibling.get("lfs") or {}
        files[sibling["rfilename"]] = {"size": sibling.get("size", lfs.get("size")), "sha256": lfs.get("sha256"),
                                       "blob_id": sibling.get("blobId")}
    return {"commit": info.get("sha"), "files": files}


def read_file(endpoint: str, repo: str, commit: str, name: str, token: str | None, timeout: float = 30,
              retries: int = 3) -> str:
    url = f"{endpoint.rstrip('/')}/{repo}/resolve/{commit}/{urllib.parse.quote(name)}"
    return _get(url, token, timeout, retries, repo, commit, name).decode()


def is_weight(name: str) -> bool:
    return name.endswith(WEIGHT_SUFFIXES)
