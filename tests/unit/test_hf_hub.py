"""module_utils/hf_hub: the Hub's file selection and its refusals said for a person."""

from __future__ import annotations

import io
import urllib.error
from email.message import Message

import pytest

from ansible_collections.trtllm.deploy.plugins.module_utils import hf_hub

# The files of meta-llama/Meta-Llama-3-8B-Instruct's main branch (names only).
LLAMA3_FILES = [".gitattributes", "LICENSE", "README.md", "USE_POLICY.md", "config.json", "generation_config.json",
                "model-00001-of-00004.safetensors", "model-00002-of-00004.safetensors",
                "model-00003-of-00004.safetensors", "model-00004-of-00004.safetensors",
                "model.safetensors.index.json", "original/consolidated.00.pth", "original/params.json",
                "original/tokenizer.model", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"]
ALLOW, IGNORE = ["*.json", "*.safetensors", "tokenizer.model"], ["original/", "*.pth"]


def test_the_default_patterns_take_what_conversion_and_the_tokenizer_read():
    assert hf_hub.select(LLAMA3_FILES, ALLOW, IGNORE) == [
        "config.json", "generation_config.json", "model-00001-of-00004.safetensors",
        "model-00002-of-00004.safetensors", "model-00003-of-00004.safetensors", "model-00004-of-00004.safetensors",
        "model.safetensors.index.json", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"]
    assert [n for n in LLAMA3_FILES if hf_hub.is_weight(n)] == [
        "model-00001-of-00004.safetensors", "model-00002-of-00004.safetensors", "model-00003-of-00004.safetensors",
        "model-00004-of-00004.safetensors", "original/consolidated.00.pth"]


def refusal(code, error_code=""):
    headers = Message()
    if error_code:
        headers["X-Error-Code"] = error_code
    return urllib.error.HTTPError("http://hub/x", code, "refused", headers, io.BytesIO(b"Access denied"))


@pytest.mark.parametrize(("code", "error_code", "token", "says"), [
    (401, "GatedRepo", None, "no token was given: export HF_TOKEN"),
    (403, "GatedRepo", "hf_wrong", "refused the token in HF_TOKEN (403)"),
    (404, "RepoNotFound", None, "repository meta-llama/Nope not found"),
    (404, "RevisionNotFound", None, "has no revision 'v9'"),
])
def test_refusals_name_the_repository_and_what_to_do(monkeypatch, code, error_code, token, says):
    def refuse(request, timeout):
        raise refusal(code, error_code)

    monkeypatch.setattr(hf_hub._OPENER, "open", refuse)
    repo = "meta-llama/Nope" if error_code == "RepoNotFound" else "meta-llama/Meta-Llama-3-8B-Instruct"
    with pytest.raises(hf_hub.HubError) as err:
        hf_hub.model_info("http://hub", repo, "v9", token, retries=0)
    assert says in str(err.value) and repo in str(err.value)
    assert token is None or token not in str(err.value)


def test_a_hub_that_does_not_answer_is_retried_a_bounded_number_of_times(monkeypatch):
    calls = []

    def unreachable(request, timeout):
        calls.append(timeout)
        raise urllib.error.URLError("Connection refused")

    monkeypatch.setattr(hf_hub._OPENER, "open", unreachable)
    monkeypatch.setattr(hf_hub.time, "sleep", lambda seconds: None)
    with pytest.raises(hf_hub.HubUnavailable) as err:
        hf_hub.model_info("http://hub", "a/b", "main", None, timeout=7, retries=2)
    assert calls == [7, 7, 7] and "after 3 attempt(s)" in str(err.value) and "Connection refused" in str(err.value)
