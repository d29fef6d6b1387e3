"""Issue 21: the CRM app refuses a body of unknown length (411) or over its limit (413)
before reading a byte of it, signed in or not."""

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from orderhub.order_form import entry


class Unreadable:
    """A request body that fails the test if anything reads it."""

    def read(self, *args):
        raise AssertionError("the body was read")

    readline = readlines = read


def request(headers: dict[str, str], method: str = "POST") -> Request:
    environ = EnvironBuilder(path="/orders", method=method, headers=headers).get_environ()
    environ.pop("CONTENT_LENGTH", None)
    environ["wsgi.input"] = Unreadable()
    return Request(environ)


def test_a_chunked_body_gets_411_unread():
    response = entry.handle(request({"Transfer-Encoding": "chunked"}))

    assert response.status_code == 411


@pytest.mark.parametrize("coding", ["chunked", "gzip, chunked"])
def test_any_transfer_coding_without_content_length_gets_411_unread(coding):
    assert entry.handle(request({"Transfer-Encoding": coding})).status_code == 411


@pytest.mark.parametrize("length", [entry.MAX_BODY + 1, 300 << 20])
def test_a_body_over_the_limit_gets_413_unread(length):
    environ_request = request({})
    environ_request.environ["CONTENT_LENGTH"] = str(length)

    assert entry.handle(environ_request).status_code == 413
