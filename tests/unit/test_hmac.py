"""Shopify's webhook HMAC, checked against vectors from Shopify's and others' test suites."""

import pytest

from orderhub.shopify_webhook.receive import signature, verify
from tests.conftest import load_json

VECTORS = load_json("shopify/hmac_test_vectors.json")["webhook"]


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["source"].split()[0])
def test_signature_matches_published_vector(vector):
    body = vector["raw_body"].encode()
    assert signature(vector["secret"], body) == vector["expected_header"]
    assert verify(vector["secret"], body, vector["expected_header"])


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["source"].split()[0])
def test_any_change_breaks_the_signature(vector):
    body = vector["raw_body"].encode()
    assert not verify(vector["secret"], body + b" ", vector["expected_header"])
    assert not verify(vector["secret"] + "x", body, vector["expected_header"])
    assert not verify(vector["secret"], body, vector["expected_header"][:-2] + "A=")
    assert not verify(vector["secret"], body, None)
    assert not verify(vector["secret"], body, "")


def test_oauth_query_vectors_are_a_different_scheme():
    """The hex OAuth-query HMACs must never be accepted as a webhook signature."""
    for vector in load_json("shopify/hmac_test_vectors.json")["oauth_query"]:
        params = "&".join(f"{k}={v}" for k, v in sorted(vector["params"].items()))
        assert not verify(vector["secret"], params.encode(), vector["expected_hmac_hex"])
