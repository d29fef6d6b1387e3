"""The Web Push stand-in is as strict as a push service (RFC 8030/8291/8292): pywebpush's
real request is accepted and decrypts to what was sent; a missing TTL, a bad or foreign
VAPID token, a plain body, an unsubscribed endpoint are refused as real services refuse."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from devstack.standins.webpush import PushStandIn, new_vapid_keys


@pytest.fixture
def service() -> Iterator[PushStandIn]:
    standin = PushStandIn().start()
    yield standin
    standin.stop()


def _push(sub: dict[str, Any], private: str, **kw: Any) -> Any:
    from pywebpush import webpush

    return webpush(
        sub,
        data=kw.pop("data", "hello"),
        vapid_private_key=private,
        vapid_claims=kw.pop("claims", {"sub": "mailto:a@b.example"}),
        ttl=60,
        **kw,
    )


def test_pywebpush_is_accepted_and_the_phone_reads_the_text(service: PushStandIn) -> None:
    private, public = new_vapid_keys()
    sub = service.subscribe(public)
    assert _push(sub, private, data=json.dumps({"title": "New order"})).status_code == 201
    (got,) = service.received
    assert json.loads(got["payload"]) == {"title": "New order"} and got["ttl"] == 60


def test_a_token_for_another_audience_or_expired_is_refused(service: PushStandIn) -> None:
    from pywebpush import WebPushException

    private, public = new_vapid_keys()
    sub = service.subscribe(public)
    for claims in (
        {"sub": "mailto:a@b.example", "aud": "https://fcm.googleapis.com"},
        {"sub": "mailto:a@b.example", "exp": int(time.time()) + 3 * 86400},
    ):
        with pytest.raises(WebPushException) as refused:
            _push(sub, private, claims=claims)
        assert refused.value.response.status_code == 401, claims
    other_private, _ = new_vapid_keys()
    with pytest.raises(WebPushException) as foreign:
        _push(sub, other_private)  # signed with a key the subscription was not made with
    assert foreign.value.response.status_code == 403
    assert service.received == []


def test_no_ttl_a_plain_body_and_an_unsubscribed_phone_are_refused(service: PushStandIn) -> None:
    from py_vapid import Vapid

    private, public = new_vapid_keys()
    sub = service.subscribe(public)
    headers = Vapid.from_string(private).sign(
        {"sub": "mailto:a@b.example", "aud": service.url, "exp": int(time.time()) + 600}
    )
    no_ttl = requests.post(sub["endpoint"], data=b"x", headers=headers, timeout=5)
    assert no_ttl.status_code == 400 and "TTL" in no_ttl.json()["error"]
    plain = requests.post(
        sub["endpoint"], data=b"not encrypted", headers={**headers, "TTL": "60"}, timeout=5
    )
    assert plain.status_code == 400
    unsigned = requests.post(sub["endpoint"], data=b"", headers={"TTL": "60"}, timeout=5)
    assert unsigned.status_code == 401
    service.unsubscribe(sub["endpoint"])
    from pywebpush import WebPushException

    with pytest.raises(WebPushException) as gone:
        _push(sub, private)
    assert gone.value.response.status_code == 410
