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

The other direction (ManyChat calling us), as the bot's External Request and Dynamic
Block actions do, when ``CHATBOT_URL``, ``CHATBOT_SECRET_HEADER`` and ``CHATBOT_SECRET`` are
set:

* ``POST /_stand_in/subscribers`` ``{subscriber}``: add or update a contact of the bot
  (the API's fields); ``GET /fb/subscriber/getInfo?subscriber_id=`` answers it as the API;
* ``POST /_stand_in/external_request`` ``{"subscriber_id", "shape": "full_contact_data" |
  "api"}``: posts that contact to ``{CHATBOT_URL}/contacts`` with the secret header, as
  "Full Contact Data" (``custom_fields`` a map) or as the API's subscriber (a list), and
  returns ``{"status", "body"}`` of the answer;
* ``POST /_stand_in/dynamic_block`` ``{"subscriber_id", "q"?, "collection"?,
  "follow_more": N}``: asks ``{CHATBOT_URL}/catalogue`` as a Dynamic Block does, checks the
  answer with ``validate_dynamic_block`` (v2 format, Messenger's limits), follows up to N
  "More" callbacks as a tap would, and returns every page with its problems.

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


#: Dynamic Block v2 limits (manychat/dynamic_block_docs) and Messenger's generic template.
DB_MAX_MESSAGES, DB_MAX_ACTIONS, DB_MAX_QUICK_REPLIES = 10, 5, 11
CARDS_MAX, CARD_TEXT_LIMIT, CARD_BUTTONS = 10, 80, 3
MESSAGE_TYPES = {"text", "image", "video", "audio", "file", "cards", "list"}
BUTTON_TYPES = {"url", "call", "share", "flow", "node", "buy", "dynamic_block_callback"}
ACTIONS = {"add_tag", "remove_tag", "set_field_value", "unset_field_value"}
WEBVIEW_SIZES = {"full", "medium", "compact"}


def _local(url: str) -> bool:
    host = urlparse(url).hostname or ""
    return host in ("127.0.0.1", "localhost")


def _button_problems(where: str, button: Any) -> list[str]:
    if not isinstance(button, dict) or button.get("type") not in BUTTON_TYPES:
        return [f"{where}: unknown button type"]
    kind, problems = button["type"], []
    caption = button.get("caption")
    if kind != "share" and (not isinstance(caption, str) or not 0 < len(caption) <= CAPTION_LIMIT):
        problems.append(f"{where}: caption of 1 to {CAPTION_LIMIT} characters is required")
    if kind == "url":
        url = button.get("url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            problems.append(f"{where}: url must be an absolute http(s) URL")
        if button.get("webview_size") not in (None, *WEBVIEW_SIZES):
            problems.append(f"{where}: webview_size must be full, medium or compact")
    if kind == "dynamic_block_callback":
        url = button.get("url")
        # ManyChat calls back over HTTPS only; the local stack's function is plain HTTP.
        if not isinstance(url, str) or not (url.startswith("https://") or _local(url)):
            problems.append(f"{where}: dynamic_block_callback url must be HTTPS")
        if str(button.get("method", "post")).lower() not in ("get", "post"):
            problems.append(f"{where}: method must be get or post")
        for key in ("headers", "payload"):
            if button.get(key) is not None and not isinstance(button[key], dict):
                problems.append(f"{where}: {key} must be an object")
    if kind in ("flow", "node") and not button.get("target"):
        problems.append(f"{where}: target is required")
    if kind == "call" and not button.get("phone"):
        problems.append(f"{where}: phone is required")
    return problems


def _buttons_problems(where: str, buttons: Any) -> list[str]:
    if buttons is None:
        return []
    if not isinstance(buttons, list) or len(buttons) > CARD_BUTTONS:
        return [f"{where}.buttons: at most {CARD_BUTTONS}"]
    return [p for j, b in enumerate(buttons) for p in _button_problems(f"{where}.buttons[{j}]", b)]


def _cards_problems(where: str, message: dict[str, Any]) -> list[str]:
    elements = message.get("elements")
    if not isinstance(elements, list) or not 1 <= len(elements) <= CARDS_MAX:
        return [f"{where}.elements must hold 1 to {CARDS_MAX} cards"]
    problems = []
    if message.get("image_aspect_ratio") not in (None, "horizontal", "square"):
        problems.append(f"{where}.image_aspect_ratio must be horizontal or square")
    for k, element in enumerate(elements):
        at = f"{where}.elements[{k}]"
        if not isinstance(element, dict):
            problems.append(f"{at} must be an object")
            continue
        title = element.get("title")
        if not isinstance(title, str) or not 0 < len(title) <= CARD_TEXT_LIMIT:
            problems.append(f"{at}.title of 1 to {CARD_TEXT_LIMIT} characters is required")
        subtitle = element.get("subtitle")
        if subtitle is not None and (
            not isinstance(subtitle, str) or len(subtitle) > CARD_TEXT_LIMIT
        ):
            problems.append(f"{at}.subtitle is longer than {CARD_TEXT_LIMIT} characters")
        for key in ("image_url", "action_url"):
            value = element.get(key)
            if value is not None and (
                not isinstance(value, str) or not value.startswith(("https://", "http://"))
            ):
                problems.append(f"{at}.{key} must be an absolute http(s) URL")
        problems += _buttons_problems(at, element.get("buttons"))
    return problems


#: Channels whose Dynamic Block answer names its channel in ``content.type`` (ManyChat's
#: "Response Reference for Instagram, WhatsApp and Telegram Automation"); Messenger's has
#: no ``type``.
TYPED_CHANNELS = ("instagram", "whatsapp", "telegram")
#: The buttons those channels take.
TYPED_BUTTONS = ("url", "flow", "node")
#: Channels that take no galleries (``cards``) and no quick replies.
PLAIN_CHANNELS = ("whatsapp", "telegram")


def validate_dynamic_block(answer: Any, channel: str = "messenger") -> list[str]:
    """What ManyChat (and the contact's channel) would refuse in a Dynamic Block answer;
    empty if fine."""
    if not isinstance(answer, dict) or answer.get("version") != "v2":
        return ['answer must be an object with version "v2"']
    content = answer.get("content")
    if not isinstance(content, dict):
        return ["content is required"]
    messages = content.get("messages")
    if not isinstance(messages, list) or not 1 <= len(messages) <= DB_MAX_MESSAGES:
        return [f"content.messages must hold 1 to {DB_MAX_MESSAGES} messages"]
    problems = []
    kind = content.get("type")
    if channel in TYPED_CHANNELS and kind != channel:
        problems.append(f'content.type must be "{channel}" for a {channel} contact')
    elif channel not in TYPED_CHANNELS and kind is not None:
        problems.append(f"content.type {kind!r}: a {channel} answer has none")
    if channel in PLAIN_CHANNELS:
        if any(isinstance(m, dict) and m.get("type") == "cards" for m in messages):
            problems.append(f"{channel} takes no galleries (cards)")
        if content.get("quick_replies"):
            problems.append(f"{channel} takes no quick_replies")
    if channel in TYPED_CHANNELS:  # "url, flow and node buttons can be used" there
        for i, message in enumerate(messages):
            rows = (
                [message, *list(message.get("elements") or [])] if isinstance(message, dict) else []
            )
            for row in rows:
                for button in (row.get("buttons") or []) if isinstance(row, dict) else []:
                    if isinstance(button, dict) and button.get("type") not in TYPED_BUTTONS:
                        problems.append(
                            f"messages[{i}]: a {button.get('type')} button is not for {channel}"
                        )
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict) or message.get("type") not in MESSAGE_TYPES:
            problems.append(f"{where}: unknown message type")
            continue
        if message["type"] == "text":
            text, buttons = message.get("text"), message.get("buttons")
            limit = BUTTON_TEXT_LIMIT if buttons else TEXT_LIMIT
            if not isinstance(text, str) or not 0 < len(text) <= limit:
                problems.append(f"{where}.text of 1 to {limit} characters is required")
            problems += _buttons_problems(where, buttons)
        elif message["type"] == "cards":
            problems += _cards_problems(where, message)
    actions = content.get("actions") or []
    if not isinstance(actions, list) or len(actions) > DB_MAX_ACTIONS:
        problems.append(f"content.actions: at most {DB_MAX_ACTIONS}")
    elif any(not isinstance(a, dict) or a.get("action") not in ACTIONS for a in actions):
        problems.append("content.actions: unknown action")
    replies = content.get("quick_replies") or []
    if not isinstance(replies, list) or len(replies) > DB_MAX_QUICK_REPLIES:
        problems.append(f"content.quick_replies: at most {DB_MAX_QUICK_REPLIES}")
    return problems


def full_contact_data(subscriber: dict[str, Any]) -> dict[str, Any]:
    """A stored (API-shaped) subscriber as the "Full Contact Data" variable renders it."""
    rendered = {k: v for k, v in subscriber.items() if k not in ("custom_fields", "tags")}
    for key in ("id", "page_id"):
        if str(rendered.get(key, "")).isdigit():
            rendered[key] = int(rendered[key])  # the variable renders ids as numbers
    rendered["key"] = f"user:{subscriber['id']}"
    rendered["custom_fields"] = {
        f["name"]: f.get("value") for f in subscriber.get("custom_fields") or []
    }
    return rendered


class Chatbot:
    """Where the bot's External Requests and Dynamic Blocks go (our ``chatbot`` function)."""

    def __init__(self, url: str, header: str, secret: str) -> None:
        self.url, self.header, self.secret = url.rstrip("/"), header, secret

    def post(self, url: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        import urllib.error
        import urllib.request

        sent = {"Content-Type": "application/json", **(headers or {self.header: self.secret})}
        request = urllib.request.Request(
            url, data=json.dumps(body).encode(), headers=sent, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            return status, json.loads(raw or b"null")
        except ValueError:
            return status, raw.decode("utf-8", "replace")


class State:
    def __init__(self, token: str, chatbot: Chatbot | None = None) -> None:
        self.token = token
        self.chatbot = chatbot
        self.lock = threading.Lock()
        self.received: list[dict[str, Any]] = []
        self.scripts: dict[str, deque[str]] = defaultdict(deque)
        self.subscribers: dict[str, dict[str, Any]] = {}

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
            elif url.path == "/fb/subscriber/getInfo":
                if self.headers.get("Authorization") != f"Bearer {state.token}":
                    self._answer(401, {"status": "error", "message": "Wrong API token"})
                    return
                wanted_id = (parse_qs(url.query).get("subscriber_id") or [""])[0]
                with state.lock:
                    found = state.subscribers.get(wanted_id)
                if found is None:
                    self._answer(400, {"status": "error", "message": "Subscriber does not exist"})
                else:
                    self._answer(200, {"status": "success", "data": found})
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
            elif path in ("/_stand_in/subscribers", "/_stand_in/external_request"):
                self._subscribers(path, body)
            elif path == "/_stand_in/dynamic_block":
                self._dynamic_block(body)
            elif path == "/_stand_in/reset":
                with state.lock:
                    state.received.clear()
                    state.scripts.clear()
                self._answer(200, {"status": "success"})
            else:
                self._answer(404, {"status": "error", "message": "Not found"})

        def _subscribers(self, path: str, body: Any) -> None:
            if not isinstance(body, dict):
                self._answer(400, {"error": "a JSON object is required"})
                return
            if path == "/_stand_in/subscribers":
                if not str(body.get("id", "")).isdigit():
                    self._answer(400, {"error": "id must be the numeric subscriber id"})
                    return
                with state.lock:
                    state.subscribers[str(body["id"])] = body
                self._answer(200, {"status": "success"})
                return
            with state.lock:
                subscriber = state.subscribers.get(str(body.get("subscriber_id")))
            if state.chatbot is None or subscriber is None:
                self._answer(400, {"error": "no CHATBOT_URL, or no such subscriber"})
                return
            shape = body.get("shape", "full_contact_data")
            sent = full_contact_data(subscriber) if shape == "full_contact_data" else subscriber
            status, answer = state.chatbot.post(state.chatbot.url + "/contacts", sent)
            self._answer(200, {"status": status, "body": answer})

        def _dynamic_block(self, body: Any) -> None:
            if state.chatbot is None or not isinstance(body, dict):
                self._answer(400, {"error": "no CHATBOT_URL, or the body is not an object"})
                return
            asked = {k: body[k] for k in ("subscriber_id", "q", "collection") if k in body}
            if "subscriber_id" in asked:
                asked["contact_id"] = str(asked.pop("subscriber_id"))
            pages = []
            status, answer = state.chatbot.post(state.chatbot.url + "/catalogue", asked)
            for _ in range(int(body.get("follow_more", 0)) + 1):
                pages.append(
                    {"status": status, "answer": answer, "problems": validate_dynamic_block(answer)}
                )
                more = _more_button(answer)
                if status != 200 or more is None or len(pages) > int(body.get("follow_more", 0)):
                    break
                # A tap on "More": ManyChat sends the button's payload with its headers.
                status, answer = state.chatbot.post(
                    more["url"], more.get("payload") or {}, more.get("headers") or {}
                )
            self._answer(200, {"pages": pages})

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


def _more_button(answer: Any) -> dict[str, Any] | None:
    """The first dynamic_block_callback button of an answer (the "More" of a catalogue)."""
    if not isinstance(answer, dict):
        return None
    for message in (answer.get("content") or {}).get("messages") or []:
        for button in message.get("buttons") or [] if isinstance(message, dict) else []:
            if isinstance(button, dict) and button.get("type") == "dynamic_block_callback":
                return button
    return None


def serve(
    port: int, token: str, host: str = "127.0.0.1", chatbot: Chatbot | None = None
) -> ThreadingHTTPServer:
    return ThreadingHTTPServer((host, port), make_handler(State(token, chatbot)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    token = os.environ.get("MANYCHAT_TOKEN", "")
    if not token:
        raise SystemExit("MANYCHAT_TOKEN must be set")
    chatbot = None
    if os.environ.get("CHATBOT_URL") and os.environ.get("CHATBOT_SECRET"):
        chatbot = Chatbot(
            os.environ["CHATBOT_URL"],
            os.environ.get("CHATBOT_SECRET_HEADER") or "X-OrderHub-Secret",
            os.environ["CHATBOT_SECRET"],
        )
    server = serve(args.port, token, args.host, chatbot)
    print(f"manychat stand-in on http://{args.host}:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
