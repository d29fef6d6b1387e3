"""A ManyChat stand-in: ``POST /fb/sending/sendContent`` answered as ManyChat documents.

What it checks, like ManyChat: ``Authorization: Bearer <token>`` (else 401), a JSON body
``{subscriber_id: integer, data: {version: "v2", content: {messages: [...]}},
message_tag?}``, 1 to 10 messages, text messages of at most 2,000 characters (640 when
they carry buttons, Messenger's button template), at most 3 ``url`` buttons with a
``caption`` of at most 20 characters and a ``url``; ``message_tag`` one of Messenger's.
A malformed body gets ManyChat's validation error (400, ``details.messages``).

What it offers the tests and the operator:

* ``GET /_stand_in/received[?subscriber_id=...]``: every sendContent call, in order,
  with the body and the answer's status (``delivered`` true for the 200s);
* ``POST /_stand_in/script`` ``{"subscriber_id": "123", "answer": "429"|"500"|"3011",
  "times": N}``: the next N calls for that subscriber get that answer (``times: 0``
  clears what is left of its script);
* ``POST /_stand_in/reset``: forget calls and scripts.

Run: ``python -m devstack.standins.manychat --port P`` with ``MANYCHAT_TOKEN`` set.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
from collections import defaultdict, deque
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

SEND_PATH = "/fb/sending/sendContent"
TAGS = {"ACCOUNT_UPDATE", "POST_PURCHASE_UPDATE", "CONFIRMED_EVENT_UPDATE", "HUMAN_AGENT"}
TEXT_LIMIT, BUTTON_TEXT_LIMIT, MAX_BUTTONS, CAPTION_LIMIT, MAX_MESSAGES = 2000, 640, 3, 20, 10
SCRIPTABLE = {"429", "500", "3011"}


def validate(body: Any) -> list[str]:
    """ManyChat's validation messages for a sendContent body (empty when it is fine)."""
    if not isinstance(body, dict):
        return ["Request body must be a JSON object"]
    problems = []
    if not isinstance(body.get("subscriber_id"), int) or isinstance(body["subscriber_id"], bool):
        problems.append("subscriber_id is required and must be an integer")
    tag = body.get("message_tag")
    if tag is not None and tag not in TAGS:
        problems.append(f"message_tag {tag!r} is not supported")
    data = body.get("data")
    if not isinstance(data, dict) or data.get("version") != "v2":
        return [*problems, 'data is required and must have version "v2"']
    messages = (data.get("content") or {}).get("messages")
    if not isinstance(messages, list) or not 1 <= len(messages) <= MAX_MESSAGES:
        return [*problems, f"data.content.messages must hold 1 to {MAX_MESSAGES} messages"]
    for i, message in enumerate(messages):
        problems += _message_problems(i, message)
    return problems


def _message_problems(i: int, message: Any) -> list[str]:
    if not isinstance(message, dict) or message.get("type") != "text":
        return [f"messages[{i}]: only text messages are accepted by this stand-in"]
    text, buttons = message.get("text"), message.get("buttons") or []
    problems = []
    if not isinstance(text, str) or not text:
        problems.append(f"messages[{i}].text is required")
    elif len(text) > (BUTTON_TEXT_LIMIT if buttons else TEXT_LIMIT):
        limit = BUTTON_TEXT_LIMIT if buttons else TEXT_LIMIT
        problems.append(f"messages[{i}].text is longer than {limit} characters")
    if not isinstance(buttons, list) or len(buttons) > MAX_BUTTONS:
        problems.append(f"messages[{i}].buttons: at most {MAX_BUTTONS}")
        return problems
    for j, button in enumerate(buttons):
        ok = (
            isinstance(button, dict)
            and button.get("type") == "url"
            and isinstance(button.get("caption"), str)
            and 0 < len(button["caption"]) <= CAPTION_LIMIT
            and isinstance(button.get("url"), str)
            and button["url"].startswith(("http://", "https://"))
        )
        if not ok:
            problems.append(f"messages[{i}].buttons[{j}] must be a url button with a caption")
    return problems


class State:
    def __init__(self, token: str) -> None:
        self.token = token
        self.lock = threading.Lock()
        self.received: list[dict[str, Any]] = []
        self.scripts: dict[str, deque[str]] = defaultdict(deque)

    def next_scripted(self, subscriber: str) -> str | None:
        with self.lock:
            queue = self.scripts.get(subscriber)
            return queue.popleft() if queue else None


def make_handler(state: State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: bodies carry names and phones."""

        def _answer(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                return json.loads(raw or b"null")
            except ValueError:
                return None

        def do_GET(self) -> None:
            url = urlparse(self.path)
            if url.path == "/_stand_in/received":
                wanted = parse_qs(url.query).get("subscriber_id")
                with state.lock:
                    calls = [
                        c for c in state.received if not wanted or c["subscriber_id"] in wanted
                    ]
                self._answer(200, calls)
            elif url.path == "/":
                self._answer(200, {"stand_in": "manychat"})
            else:
                self._answer(404, {"status": "error", "message": "Not found"})

        def do_POST(self) -> None:
            path = urlparse(self.path).path
            body = self._body()
            if path == SEND_PATH:
                self._send_content(body)
            elif path == "/_stand_in/script":
                self._script(body)
            elif path == "/_stand_in/reset":
                with state.lock:
                    state.received.clear()
                    state.scripts.clear()
                self._answer(200, {"status": "success"})
            else:
                self._answer(404, {"status": "error", "message": "Not found"})

        def _script(self, body: Any) -> None:
            if not isinstance(body, dict) or str(body.get("answer")) not in SCRIPTABLE:
                self._answer(400, {"error": f"answer must be one of {sorted(SCRIPTABLE)}"})
                return
            times = int(body.get("times", 1))
            with state.lock:
                queue = state.scripts[str(body.get("subscriber_id"))]
                if times == 0:  # "the fix": answer normally again from now on
                    queue.clear()
                queue.extend([str(body["answer"])] * times)
            self._answer(200, {"status": "success", "scripted": times})

        def _send_content(self, body: Any) -> None:
            if self.headers.get("Authorization") != f"Bearer {state.token}":
                self._answer(401, {"status": "error", "message": "Wrong API token"})
                return
            problems = validate(body)
            subscriber = str(body.get("subscriber_id")) if isinstance(body, dict) else ""
            if problems:
                status, answer = (
                    400,
                    {
                        "status": "error",
                        "message": "Validation error",
                        "details": {"messages": [{"message": p} for p in problems]},
                    },
                )
            else:
                scripted = state.next_scripted(subscriber)
                status, answer = _scripted_answer(scripted)
            with state.lock:
                state.received.append(
                    {
                        "subscriber_id": subscriber,
                        "body": body,
                        "status": status,
                        "code": answer.get("code"),
                        "delivered": status == 200,
                        "at": datetime.now(UTC).isoformat(),
                    }
                )
            self._answer(status, answer)

    return Handler


def _scripted_answer(scripted: str | None) -> tuple[int, dict[str, Any]]:
    if scripted == "429":
        return 429, {"status": "error", "message": "Too Many Requests"}
    if scripted == "500":
        return 500, {"status": "error", "message": "Internal Server Error"}
    if scripted == "3011":
        return 400, {
            "status": "error",
            "code": 3011,
            "message": "Content can't be sent to subscriber without message tag. "
            "Subscriber's last interaction was over 24h ago.",
        }
    return 200, {"status": "success"}


def serve(port: int, token: str, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    return ThreadingHTTPServer((host, port), make_handler(State(token)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    token = os.environ.get("MANYCHAT_TOKEN", "")
    if not token:
        raise SystemExit("MANYCHAT_TOKEN must be set")
    server = serve(args.port, token, args.host)
    print(f"manychat stand-in on http://{args.host}:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
