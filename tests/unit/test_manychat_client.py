"""ManyChat answers sorted by kind, and the per-instance rate limit."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from orderhub.sinks.manychat import ManyChatClient, SendFailed, TokenBucket

MESSAGES = [{"type": "text", "text": "hi"}]


class FakeResponse:
    def __init__(self, status: int, body: Any) -> None:
        self.status_code, self._body = status, body

    def json(self) -> Any:
        if self._body is None:
            raise ValueError("no JSON")
        return self._body


class FakeSession:
    """Answers from a list; remembers what was posted."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.posts: list[dict[str, Any]] = []

    def post(self, url: str, **kwargs: Any) -> FakeResponse:
        self.posts.append({"url": url, **kwargs})
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def client(session: FakeSession) -> ManyChatClient:
    return ManyChatClient(
        base_url="https://mc.example/", token="tok", session=session, bucket=TokenBucket(1000)
    )


def test_success_posts_the_documented_request():
    session = FakeSession(FakeResponse(200, {"status": "success"}))
    outcome = client(session).send_content("123", MESSAGES, "ACCOUNT_UPDATE")
    assert outcome.sent
    post = session.posts[0]
    assert post["url"] == "https://mc.example/fb/sending/sendContent"
    assert post["headers"]["Authorization"] == "Bearer tok"
    assert post["json"] == {
        "subscriber_id": 123,
        "data": {"version": "v2", "content": {"messages": MESSAGES}},
        "message_tag": "ACCOUNT_UPDATE",
    }
    assert post["timeout"]  # never wait forever


def test_no_tag_means_no_message_tag_field():
    session = FakeSession(FakeResponse(200, {"status": "success"}))
    client(session).send_content("123", MESSAGES, None)
    assert "message_tag" not in session.posts[0]["json"]


def test_outside_24h_window_is_a_permanent_failure_with_its_code():
    body = {"status": "error", "code": 3011, "message": "Content can't be sent ..."}
    outcome = client(FakeSession(FakeResponse(400, body))).send_content("1", MESSAGES, None)
    assert not outcome.sent
    assert outcome.code == 3011
    assert outcome.http_status == 400


def test_validation_error_is_permanent_with_the_reasons():
    body = {
        "status": "error",
        "message": "Validation error",
        "details": {"messages": [{"message": "subscriber_id is required"}]},
    }
    outcome = client(FakeSession(FakeResponse(400, body))).send_content("1", MESSAGES, None)
    assert not outcome.sent and outcome.code is None
    assert "subscriber_id is required" in (outcome.reason or "")


@pytest.mark.parametrize("status", [429, 500, 502, 503, 401])
def test_retryable_answers_raise(status: int):
    with pytest.raises(SendFailed) as caught:
        client(FakeSession(FakeResponse(status, None))).send_content("1", MESSAGES, None)
    assert caught.value.http_status == status


@pytest.mark.parametrize("error", [requests.Timeout("slow"), requests.ConnectionError("down")])
def test_timeouts_and_refused_connections_raise(error: Exception):
    with pytest.raises(SendFailed):
        client(FakeSession(error)).send_content("1", MESSAGES, None)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_token_bucket_holds_a_burst_to_25_per_second():
    clock = FakeClock()
    bucket = TokenBucket(25, clock=clock, sleep=clock.sleep)
    waits = [bucket.acquire() for _ in range(75)]
    assert waits[:25] == [0.0] * 25  # the first second's worth goes at once
    assert all(w > 0 for w in waits[25:])
    # 75 sends take (75 - 25) / 25 = 2 s of (fake) time: never faster than 25/s.
    assert clock.now == pytest.approx(2.0)
