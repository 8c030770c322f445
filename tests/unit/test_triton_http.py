"""The one Triton HTTP client (module_utils/triton_http) against a loopback stub of Triton's endpoint."""

from __future__ import annotations

import threading

import pytest
from triton_stub import MODELS, REQUEST, refusing

from ansible_collections.trtllm.deploy.plugins.module_utils import triton_http as th


def test_generate_posts_json_and_returns_the_answer_and_its_time(triton):
    stub, base = triton
    answer, seconds = th.generate(th.model_url(base, "ensemble"), REQUEST, timeout=30)
    assert answer == {"model_name": "ensemble", "model_version": "1",
                      "text_output": "What is machine learning? Machine learning is"}
    assert seconds >= 0
    assert stub.requests == [("POST", "/v2/models/ensemble/generate", REQUEST)]


def test_health_and_repository_index(triton):
    stub, base = triton
    assert th.health_ready(base)[0] is True
    index, _ = th.repository_index(base)
    assert [entry["name"] for entry in index] == MODELS and {entry["state"] for entry in index} == {"READY"}
    stub.ready = False
    assert th.health_ready(base + "/")[0] is False  # 503 while models load is an answer, not an error
    assert ("POST", "/v2/repository/index", {}) in stub.requests


def test_a_400_names_the_url_the_status_and_tritons_error(triton):
    _, base = triton
    url = th.model_url(base, "ensemble")
    with pytest.raises(th.TritonHTTPError) as caught:
        th.generate(url, {"max_tokens": 20})
    err = caught.value
    assert (err.status, err.url) == (400, url)
    assert str(err) == (f"POST {url} answered HTTP 400: [request id: <id_unknown>] expected number of inputs between "
                        "2 and 13 but got 0 inputs for model 'ensemble'. Got input(s) [], but missing required "
                        "input(s) ['text_input','max_tokens']. Please provide all required input(s).")
    assert err.body.startswith('{"error": "[request id')


def test_an_unknown_model_is_a_404_with_tritons_words(triton):
    _, base = triton
    url = th.model_url(base, "nope")
    with pytest.raises(th.TritonHTTPError) as caught:
        th.generate(url, REQUEST)
    assert str(caught.value) == f"POST {url} answered HTTP 404: Request for unknown model: 'nope' is not found"


def test_an_answer_that_is_not_json_is_an_error_that_quotes_it(triton):
    _, base = triton
    with pytest.raises(th.TritonHTTPError, match=r"/not-json answered HTTP 200 with a body that is not JSON: "
                                                 r"<html>not triton</html>"):
        th.request_json("POST", base + "/not-json", {})


def test_connection_refused_names_the_url_and_the_socket_error():
    with refusing() as base:
        with pytest.raises(th.TritonHTTPError) as caught:
            th.health_ready(base)
        assert caught.value.status is None
        assert str(caught.value).startswith(f"GET {base}/v2/health/ready failed: ")
        assert "Connection refused" in str(caught.value)
        with pytest.raises(th.TritonHTTPError, match="Connection refused"):
            th.repository_index(base)


def test_a_server_that_does_not_answer_times_out(triton):
    _, base = triton
    with pytest.raises(th.TritonHTTPError) as caught:
        th.generate(base + "/hold/generate", REQUEST, timeout=0.5)
    assert str(caught.value) == f"POST {base}/hold/generate failed: no answer within 0.5s (timed out)"
    with pytest.raises(th.TritonHTTPError, match=r"GET .*/hold/v2/health/ready failed: no answer within 0.5s"):
        th.health_ready(base + "/hold", timeout=0.5)


def test_generate_stream_parses_each_data_event(triton):
    stub, base = triton
    events, seconds = th.generate_stream(th.model_url(base, "ensemble", "generate_stream"), dict(REQUEST, stream=True))
    assert [event["text_output"] for event in events] == stub.words
    assert all(event["stream"] is True for event in events) and seconds >= 0


def test_an_error_event_is_one_of_the_events(triton):
    stub, base = triton
    stub.stream_error = "Encountered an error in forward function: slice 0 exceeds buffer size 0"
    events, _ = th.generate_stream(th.model_url(base, "ensemble", "generate_stream"), REQUEST)
    assert events[-1] == {"error": stub.stream_error} and len(events) == len(stub.words) + 1


def test_a_stream_that_stops_sending_times_out(triton):
    _, base = triton
    url = th.model_url(base, "ensemble", "generate_stream")
    with pytest.raises(th.TritonHTTPError, match=r"failed: no answer within 0.5s \(timed out\)"):
        th.generate_stream(url, dict(REQUEST, hold=True), timeout=0.5)


@pytest.mark.parametrize("lines, events", [
    (["data: {\"a\": 1}\n", "\n", "data: {\"a\": 2}\n", "\n"], ['{"a": 1}', '{"a": 2}']),
    ([b"data: one\r\n", b"data: two\r\n", b"\r\n"], ["one\ntwo"]),  # data lines of one event, CRLF
    ([": keep-alive\n", "event: message\n", "id: 7\n", "data:x\n", "\n"], ["x"]),  # comments, fields, no space
    (["data: last without its blank line"], ["last without its blank line"]),
    (["\n", "\n"], []),
])
def test_parse_sse(lines, events):
    assert th.parse_sse(lines) == events


def test_generate_many_sends_them_at_once_and_reports_each(triton):
    stub, base = triton
    # Each request waits until all 8 have arrived: sent one after another, none would be answered.
    stub.barrier = threading.Barrier(8)
    results = th.generate_many(th.model_url(base, "ensemble"), REQUEST, 8, timeout=30)
    assert len(results) == 8
    assert all(r["error"] is None and r["text_output"].endswith("learning is") and r["seconds"] >= 0
               for r in results)


def test_generate_many_reports_failures_without_stopping_the_others(triton):
    _, base = triton
    assert th.generate_many(th.model_url(base, "ensemble"), REQUEST, 0) == []
    results = th.generate_many(th.model_url(base, "nope"), REQUEST, 3, timeout=30)
    assert [r["text_output"] for r in results] == ["", "", ""]
    assert all("answered HTTP 404: Request for unknown model" in r["error"] for r in results)


@pytest.mark.parametrize("body, text", [
    ('{"error": "in Triton\'s words"}', "in Triton's words"),
    ("", "(empty body)"),
    ("plain text", "plain text"),
    ("x" * 600, "x" * 500 + "..."),
    ('{"error": {"nested": true}}', '{"error": {"nested": true}}'),
])
def test_error_text(body, text):
    assert th.error_text(body) == text


def test_model_url():
    assert th.model_url("http://h:8000/", "ensemble") == "http://h:8000/v2/models/ensemble/generate"
    assert th.model_url("http://h:8000", "llama/versions/2", "generate_stream") == \
        "http://h:8000/v2/models/llama/versions/2/generate_stream"


def test_not_a_url_is_the_same_error():
    with pytest.raises(th.TritonHTTPError, match="^GET localhost:8000/v2/health/ready failed: unknown url type"):
        th.health_ready("localhost:8000")
