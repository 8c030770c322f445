"""triton_generate and triton_info through Ansible, against the loopback stub of Triton's endpoint."""

from __future__ import annotations

from triton_stub import MODELS, REQUEST, refusing


def test_generate_first_then_concurrent_then_streamed(adhoc, triton):
    stub, base = triton
    url = f"{base}/v2/models/ensemble/generate"
    rc, result = adhoc("trtllm.deploy.triton_generate",
                       {"url": url, "body": REQUEST, "concurrency": 4, "stream": True, "timeout": 30}, check=True)
    assert rc == 0, result
    assert result["changed"] is False
    assert result["text_output"] == "What is machine learning? Machine learning is"
    assert result["answer"]["model_name"] == "ensemble" and result["seconds"] >= 0
    assert len(result["concurrent"]) == 4 and result["concurrent_errors"] == []
    assert all(entry["text_output"] == result["text_output"] for entry in result["concurrent"])
    assert result["concurrent_max_seconds"] == max(result["concurrent_seconds"])
    assert [event["text_output"] for event in result["stream_events"]] == stub.words
    assert result["stream_error"] is None
    # The first alone, then the burst, then the stream with stream: true.
    assert [path for _, path, _ in stub.requests] == ["/v2/models/ensemble/generate"] * 5 + [
        "/v2/models/ensemble/generate_stream"]
    assert stub.requests[-1][2] == dict(REQUEST, stream=True)


def test_a_refused_first_request_fails_with_tritons_error_and_sends_no_more(adhoc, triton):
    stub, base = triton
    url = f"{base}/v2/models/nope/generate"
    rc, result = adhoc("trtllm.deploy.triton_generate", {"url": url, "body": REQUEST, "concurrency": 3})
    assert rc != 0 and result["failed"] is True
    assert result["msg"] == (f"No answer to the generate request: POST {url} answered HTTP 404: "
                             "Request for unknown model: 'nope' is not found")
    assert result["status"] == 404 and len(stub.requests) == 1


def test_a_stream_error_event_is_returned_not_raised(adhoc, triton):
    stub, base = triton
    stub.stream_error = "Encountered an error in forward function"
    rc, result = adhoc("trtllm.deploy.triton_generate",
                       {"url": f"{base}/v2/models/ensemble/generate", "body": REQUEST, "stream": True})
    assert rc == 0, result
    assert result["concurrent"] == [] and result["concurrent_max_seconds"] == 0
    assert result["stream_error"].endswith("/generate_stream sent an error event: Encountered an error in forward "
                                           "function")


def test_stream_needs_a_generate_url(adhoc):
    rc, result = adhoc("trtllm.deploy.triton_generate",
                       {"url": "http://127.0.0.1:1/v2/repository/index", "body": REQUEST, "stream": True})
    assert rc != 0 and "stream needs url to be a model's generate endpoint" in result["msg"]


def test_info_reads_readiness_index_and_one_answer(adhoc, triton):
    _, base = triton
    rc, result = adhoc("trtllm.deploy.triton_info", {"url": base, "body": REQUEST}, check=True)
    assert rc == 0, result
    assert result["changed"] is False and result["ready"] is True and result["errors"] == {}
    assert [entry["name"] for entry in result["models"] if entry["state"] == "READY"] == MODELS
    assert result["generate_url"] == f"{base}/v2/models/ensemble/generate"
    assert result["text_output"].startswith("What is machine learning?")


def test_info_reports_what_failed_without_failing(adhoc, triton):
    stub, base = triton
    stub.ready = False
    rc, result = adhoc("trtllm.deploy.triton_info", {"url": base, "model": "nope", "body": REQUEST})
    assert rc == 0, result
    assert result["ready"] is False and len(result["models"]) == len(MODELS)
    assert result["answer"] is None and result["text_output"] == ""
    assert result["errors"] == {"generate": f"POST {base}/v2/models/nope/generate answered HTTP 404: "
                                            "Request for unknown model: 'nope' is not found"}


def test_info_on_a_server_that_is_down(adhoc):
    with refusing() as base:
        rc, result = adhoc("trtllm.deploy.triton_info", {"url": base, "body": REQUEST})
    assert rc == 0, result
    assert result["ready"] is False and result["models"] == [] and result["text_output"] == ""
    assert list(result["errors"]) == ["ready"] and "Connection refused" in result["errors"]["ready"]
