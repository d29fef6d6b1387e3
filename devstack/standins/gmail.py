"""A Gmail API stand-in: the four calls OrderHub makes, answered as Gmail documents them.

Run it with ``python -m devstack.standins.gmail --port N``; point the real
google-api-python-client at it with ``client_options={"api_endpoint": "http://host:N/"}``
and ``static_discovery=True`` (the paths are the discovery document's own,
``gmail/v1/users/{userId}/...``). Mailboxes live in memory, one per ``userId`` (``me``
is ``--mailbox``), so tests isolate themselves with their own addresses.

Gmail API (v1, REST reference):

* ``POST users/{userId}/watch`` → ``{historyId, expiration}`` (ms since epoch, +7 days).
* ``GET users/{userId}/profile`` → ``{emailAddress, messagesTotal, threadsTotal,
  historyId}`` (the mailbox's current history id).
* ``GET users/{userId}/history`` (``startHistoryId`` required, ``historyTypes`` repeated:
  ``messageAdded``, ``messageDeleted``, ``labelAdded``, ``labelRemoved``; ``labelId``,
  ``maxResults`` default 100 at most 500, ``pageToken``) → ``{history[], nextPageToken?,
  historyId}``: records after ``startHistoryId`` in ascending ``id``, each with
  ``messages[]`` and the lists of its types (``messagesAdded[{message}]``,
  ``labelsAdded[{message, labelIds}]``, ...); ``historyId`` is the mailbox's current one;
  **404** when ``startHistoryId`` is older than the history kept (``forget-history``).
* ``GET users/{userId}/messages`` (``labelIds``, ``q`` with ``newer_than:N[dmy]``,
  ``after:EPOCH_SECONDS`` and ``before:EPOCH_SECONDS``, ``includeSpamTrash`` default
  false, ``maxResults`` default 100 at most 500, ``pageToken``) →
  ``{messages[{id, threadId}], nextPageToken?, resultSizeEstimate}``, newest first.
* ``GET users/{userId}/messages/{id}`` (``format`` = full|raw|metadata|minimal, with
  ``metadataHeaders`` for ``metadata``): every format carries ``id``, ``threadId``,
  ``labelIds``, ``snippet``, ``historyId``, ``internalDate`` and ``sizeEstimate``; ``raw``
  adds the RFC 822 message in base64url; ``full`` the parsed MIME tree with each part's
  decoded body in base64url; ``metadata`` the top-level headers only (the body is never
  parsed, so a 30 MB mail costs nothing to describe).
* ``POST users/{userId}/messages/send`` with ``{"raw": base64url RFC 822}`` (the
  notifier's e-mail fallback) → ``{id, threadId, labelIds: ["SENT"]}``; the message is
  kept in the sender's mailbox under SENT, as Gmail does; 400 without a recipient.

Test and dev controls (not Gmail's): ``POST /_standin/users/{userId}/messages`` with an
``.eml`` as the body delivers it (to INBOX, or to the ``labelIds`` given, as a Gmail filter
would; ``internalDate`` in ms may be given) and answers ``{id, threadId, historyId}``;
``POST /_standin/users/{userId}/messages/{id}/modify`` with ``{addLabelIds,
removeLabelIds}`` moves it (recorded as ``labelAdded``/``labelRemoved`` history, as a
user's move from Spam to Inbox is);
``POST /_standin/users/{userId}/forget-history`` makes every earlier ``historyId`` too
old (404), as Gmail does after about a week; ``GET /_standin/users/{userId}/watch``
shows the last ``watch`` request; ``POST /_standin/users/{userId}/watch-lifetime`` with
``{"seconds": N}`` makes the next watch last N seconds (7 days otherwise), so it lapses.
"""

from __future__ import annotations

import argparse
import base64
import collections
import email
import email.parser
import email.policy
import json
import re
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_MAILBOX = "owner.shop@gmail.example"
WATCH_DAYS = 7
_STATUS = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}
_REASON = {400: "invalidArgument", 404: "notFound", 405: "methodNotAllowed"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


@dataclass
class StoredMessage:
    id: str
    raw: bytes
    labels: list[str]
    history_id: int
    internal_date: int  # ms
    snippet: str = ""


@dataclass
class Mailbox:
    address: str
    history_id: int = 1000
    oldest_history: int = 0  # startHistoryId below this → 404
    messages: list[StoredMessage] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    watch: dict[str, Any] | None = None
    watch_seconds: int = WATCH_DAYS * 86_400  # how long the next watch lasts


class ApiError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class GmailStandIn:
    """The mailboxes and the API logic, apart from HTTP (so it can be used directly)."""

    def __init__(self, default_mailbox: str = DEFAULT_MAILBOX) -> None:
        self.default = default_mailbox.lower()
        self.boxes: dict[str, Mailbox] = {}
        self.lock = threading.Lock()
        self._next_id = int(time.time() * 1000) << 8
        #: ``(message id, format)`` of the latest ``messages.get`` calls, for tests to see
        #: what was read.
        self.fetched: collections.deque[tuple[str, str]] = collections.deque(maxlen=100_000)

    def box(self, user: str) -> Mailbox:
        address = self.default if user == "me" else urllib.parse.unquote(user).lower()
        return self.boxes.setdefault(address, Mailbox(address))

    # ---------------------------------------------------------------- controls
    def deliver(
        self,
        user: str,
        raw: bytes,
        labels: list[str] | None = None,
        internal_date: int | None = None,
    ) -> dict[str, Any]:
        snippet = _snippet(email.message_from_bytes(raw, policy=email.policy.compat32))
        with self.lock:
            box = self.box(user)
            self._next_id += 1
            message_id = f"{self._next_id:016x}"
            box.history_id += 1
            stored = StoredMessage(
                message_id,
                raw,
                list(labels or ["INBOX", "UNREAD"]),
                box.history_id,
                internal_date if internal_date is not None else int(time.time() * 1000),
                snippet,
            )
            box.messages.append(stored)
            ref = {"id": message_id, "threadId": message_id}
            box.history.append(
                {
                    "id": str(box.history_id),
                    "messages": [ref],
                    "messagesAdded": [{"message": {**ref, "labelIds": list(stored.labels)}}],
                }
            )
            return {**ref, "historyId": str(box.history_id)}

    def modify(
        self, user: str, message_id: str, add: list[str], remove: list[str]
    ) -> dict[str, Any]:
        """``messages.modify``'s effect, with the history records Gmail writes for it."""
        with self.lock:
            box = self.box(user)
            stored = next((m for m in box.messages if m.id == message_id), None)
            if stored is None:
                raise ApiError(404, "Requested entity was not found.")
            added = [label for label in add if label not in stored.labels]
            removed = [label for label in remove if label in stored.labels]
            stored.labels = [x for x in stored.labels if x not in removed] + added
            ref = {"id": message_id, "threadId": message_id}
            for kind, changed in (("labelsRemoved", removed), ("labelsAdded", added)):
                if not changed:
                    continue
                box.history_id += 1
                stored.history_id = box.history_id
                box.history.append(
                    {
                        "id": str(box.history_id),
                        "messages": [ref],
                        kind: [
                            {
                                "message": {**ref, "labelIds": list(stored.labels)},
                                "labelIds": changed,
                            }
                        ],
                    }
                )
            return {**ref, "labelIds": list(stored.labels), "historyId": str(box.history_id)}

    def send(self, user: str, body: dict[str, Any]) -> dict[str, Any]:
        """``messages.send``: keep the message under SENT in the sender's mailbox."""
        try:
            raw = base64.urlsafe_b64decode(str(body.get("raw") or "") + "==")
        except ValueError as exc:
            raise ApiError(400, "Invalid raw message") from exc
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        if not parsed.get("To"):
            raise ApiError(400, "Invalid To header")
        sent = self.deliver(user, raw, ["SENT"])
        return {"id": sent["id"], "threadId": sent["threadId"], "labelIds": ["SENT"]}

    def watch_lifetime(self, user: str, seconds: int) -> dict[str, Any]:
        with self.lock:
            self.box(user).watch_seconds = seconds
            return {"watch_seconds": seconds}

    def forget_history(self, user: str) -> dict[str, Any]:
        with self.lock:
            box = self.box(user)
            box.oldest_history = box.history_id
            box.history = []
            return {"historyId": str(box.history_id)}

    # --------------------------------------------------------------------- API
    def watch(self, user: str, body: dict[str, Any]) -> dict[str, Any]:
        if not str(body.get("topicName", "")).startswith("projects/"):
            raise ApiError(400, "Invalid topicName")
        with self.lock:
            box = self.box(user)
            expiration = int(time.time() * 1000) + box.watch_seconds * 1000
            box.watch = {**body, "expiration": str(expiration)}
            return {"historyId": str(box.history_id), "expiration": str(expiration)}

    def profile(self, user: str) -> dict[str, Any]:
        with self.lock:
            box = self.box(user)
            return {
                "emailAddress": box.address,
                "messagesTotal": len(box.messages),
                "threadsTotal": len(box.messages),
                "historyId": str(box.history_id),
            }

    def list_history(self, user: str, query: dict[str, list[str]]) -> dict[str, Any]:
        start_text = _one(query, "startHistoryId")
        if not start_text or not start_text.isdigit():
            raise ApiError(400, "Invalid startHistoryId")
        start = int(start_text)
        label = _one(query, "labelId")
        types = query.get("historyTypes") or list(HISTORY_TYPES)
        unknown = set(types) - set(HISTORY_TYPES)
        if unknown:
            raise ApiError(400, f"Invalid historyTypes: {sorted(unknown)}")
        fields = [HISTORY_TYPES[t] for t in types]
        size = _page_size(query, 100, 500)
        offset = _offset(query)
        with self.lock:
            box = self.box(user)
            if start < box.oldest_history:
                raise ApiError(404, "Requested entity was not found.")
            records = []
            for record in box.history:
                if int(record["id"]) <= start:
                    continue
                kept = {k: v for k, v in record.items() if k in ("id", "messages") or k in fields}
                if len(kept) == 2:
                    continue  # none of the requested types
                if label and not any(
                    label in change["message"]["labelIds"]
                    for name in fields
                    for change in kept.get(name, [])
                ):
                    continue
                records.append(kept)
            page = records[offset : offset + size]
            answer: dict[str, Any] = {"historyId": str(box.history_id)}
            if page:
                answer["history"] = page
            if offset + size < len(records):
                answer["nextPageToken"] = str(offset + size)
            return answer

    def list_messages(self, user: str, query: dict[str, list[str]]) -> dict[str, Any]:
        labels = query.get("labelIds") or []
        after_ms, before_ms = _time_window(_one(query, "q") or "", int(time.time() * 1000))
        spam_trash = (_one(query, "includeSpamTrash") or "false").lower() == "true"
        size = _page_size(query, 100, 500)
        offset = _offset(query)
        with self.lock:
            box = self.box(user)
            found = [
                m
                for m in sorted(box.messages, key=lambda m: m.internal_date, reverse=True)
                if all(label in m.labels for label in labels)
                and (spam_trash or not {"SPAM", "TRASH"} & set(m.labels))
                and (after_ms is None or m.internal_date >= after_ms)
                and (before_ms is None or m.internal_date < before_ms)
            ]
        page = found[offset : offset + size]
        answer: dict[str, Any] = {"resultSizeEstimate": len(found)}
        if page:
            answer["messages"] = [{"id": m.id, "threadId": m.id} for m in page]
        if offset + size < len(found):
            answer["nextPageToken"] = str(offset + size)
        return answer

    def get_message(
        self, user: str, message_id: str, fmt: str, headers: list[str] | None = None
    ) -> dict[str, Any]:
        if fmt not in ("full", "raw", "metadata", "minimal"):
            raise ApiError(400, f"Invalid format: {fmt}")
        with self.lock:
            box = self.box(user)
            stored = next((m for m in box.messages if m.id == message_id), None)
            if stored is not None:
                labels = list(stored.labels)
        if stored is None:
            raise ApiError(404, "Requested entity was not found.")
        self.fetched.append((message_id, fmt))
        answer: dict[str, Any] = {
            "id": stored.id,
            "threadId": stored.id,
            "labelIds": labels,
            "snippet": stored.snippet,
            "historyId": str(stored.history_id),
            "internalDate": str(stored.internal_date),
            "sizeEstimate": len(stored.raw),
        }
        if fmt == "raw":
            answer["raw"] = b64url(stored.raw)
        elif fmt == "full":
            answer["payload"] = _part(
                email.message_from_bytes(stored.raw, policy=email.policy.compat32), ""
            )
        elif fmt == "metadata":
            top = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(
                stored.raw
            )
            wanted = {h.lower() for h in headers or []}
            answer["payload"] = {
                "mimeType": top.get_content_type(),
                "headers": [h for h in _headers(top) if not wanted or h["name"].lower() in wanted],
            }
        return answer


#: ``historyTypes`` values → the list each record carries for them.
HISTORY_TYPES = {
    "messageAdded": "messagesAdded",
    "messageDeleted": "messagesDeleted",
    "labelAdded": "labelsAdded",
    "labelRemoved": "labelsRemoved",
}


def _one(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _page_size(query: dict[str, list[str]], default: int, most: int) -> int:
    text = _one(query, "maxResults")
    if text is None:
        return default
    if not text.isdigit() or int(text) < 1:
        raise ApiError(400, "Invalid maxResults")
    return min(int(text), most)


def _offset(query: dict[str, list[str]]) -> int:
    token = _one(query, "pageToken")
    if token is None:
        return 0
    if not token.isdigit():
        raise ApiError(400, "Invalid pageToken")
    return int(token)


def _time_window(q: str, now_ms: int) -> tuple[int | None, int | None]:
    """``(after, before)`` in ms from Gmail's ``newer_than:N[dmy]``, ``after:EPOCH`` and
    ``before:EPOCH`` (seconds; Gmail reads a bare number as a Unix time); other search
    terms are refused."""
    after = before = None
    for term in q.split():
        newer = re.fullmatch(r"newer_than:(\d+)([dmy])", term)
        bound = re.fullmatch(r"(after|before):(\d+)", term)
        if newer:
            days = {"d": 1, "m": 31, "y": 366}[newer.group(2)] * int(newer.group(1))
            after = max(after or 0, now_ms - days * 86_400_000)
        elif bound and bound.group(1) == "after":
            after = max(after or 0, int(bound.group(2)) * 1000)
        elif bound:
            before = int(bound.group(2)) * 1000
        else:
            raise ApiError(
                400, "the stand-in understands only newer_than:N[dmy], after:EPOCH, before:EPOCH"
            )
    return after, before


def _headers(part: Message) -> list[dict[str, str]]:
    return [{"name": k, "value": str(v)} for k, v in part.items()]


def _part(part: Message, part_id: str) -> dict[str, Any]:
    node: dict[str, Any] = {
        "partId": part_id,
        "mimeType": part.get_content_type(),
        "filename": part.get_filename() or "",
        "headers": _headers(part),
    }
    if part.is_multipart():
        node["body"] = {"size": 0}
        children = part.get_payload()
        assert isinstance(children, list)
        prefix = f"{part_id}." if part_id else ""
        node["parts"] = [_part(child, f"{prefix}{i}") for i, child in enumerate(children)]
    else:
        data = part.get_payload(decode=True)
        data = data if isinstance(data, bytes) else b""
        node["body"] = {"size": len(data), "data": b64url(data)}
    return node


def _snippet(parsed: Message) -> str:
    for part in parsed.walk():
        if part.get_content_type() == "text/plain":
            data = part.get_payload(decode=True)
            if isinstance(data, bytes):
                text = data.decode(part.get_content_charset() or "utf-8", errors="replace")
                return " ".join(text.split())[:120]
    return ""


# ------------------------------------------------------------------------ HTTP
_API = re.compile(r"^/gmail/v1/users/(?P<user>[^/]+)/(?P<rest>.*)$")
_CONTROL = re.compile(r"^/_standin/users/(?P<user>[^/]+)/(?P<rest>.*)$")


def make_handler(state: GmailStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        #: headers and body go out as separate writes; without TCP_NODELAY, Nagle's
        #: algorithm and the client's delayed ACK add ~40 ms to every answer
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: the dev stack's logs hold only what matters

        def _send(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, error: ApiError) -> None:
            self._send(
                error.code,
                {
                    "error": {
                        "code": error.code,
                        "message": error.message,
                        "errors": [
                            {
                                "message": error.message,
                                "domain": "global",
                                "reason": _REASON.get(error.code, "failed"),
                            }
                        ],
                        "status": _STATUS.get(error.code, "UNKNOWN"),
                    }
                },
            )

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _route(self, method: str) -> None:
            url = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(url.query)
            try:
                if url.path == "/_standin/health":
                    self._send(200, {"ok": True})
                    return
                control = _CONTROL.match(url.path)
                if control:
                    self._send(200, self._control(method, control["user"], control["rest"], query))
                    return
                api = _API.match(url.path)
                if not api:
                    raise ApiError(404, "Not Found")
                self._send(200, self._api(method, api["user"], api["rest"], query))
            except ApiError as error:
                self._error(error)

        def _api(self, method: str, user: str, rest: str, query: dict[str, list[str]]) -> Any:
            if rest == "watch" and method == "POST":
                return state.watch(user, json.loads(self._body() or b"{}"))
            if rest == "messages/send" and method == "POST":
                return state.send(user, json.loads(self._body() or b"{}"))
            if rest == "history" and method == "GET":
                return state.list_history(user, query)
            if rest == "messages" and method == "GET":
                return state.list_messages(user, query)
            if rest.startswith("messages/") and method == "GET":
                fmt = _one(query, "format") or "full"
                wanted = query.get("metadataHeaders")
                return state.get_message(user, rest.split("/", 1)[1], fmt, wanted)
            if rest == "profile" and method == "GET":
                return state.profile(user)
            raise ApiError(404 if method == "GET" else 405, f"{method} {rest} is not served here")

        def _control(self, method: str, user: str, rest: str, query: dict[str, list[str]]) -> Any:
            if rest == "messages" and method == "POST":
                at = _one(query, "internalDate")
                return state.deliver(
                    user,
                    self._body(),
                    query.get("labelIds"),
                    int(at) if at and at.isdigit() else None,
                )
            modify = re.fullmatch(r"messages/([^/]+)/modify", rest)
            if modify and method == "POST":
                body = json.loads(self._body() or b"{}")
                return state.modify(
                    user,
                    modify.group(1),
                    list(body.get("addLabelIds") or []),
                    list(body.get("removeLabelIds") or []),
                )
            if rest == "watch-lifetime" and method == "POST":
                return state.watch_lifetime(user, int(json.loads(self._body())["seconds"]))
            if rest == "forget-history" and method == "POST":
                return state.forget_history(user)
            if rest == "watch" and method == "GET":
                watch = state.box(user).watch
                if watch is None:
                    raise ApiError(404, "no watch")
                return watch
            raise ApiError(404, "Not Found")

        def do_GET(self) -> None:
            self._route("GET")

        def do_POST(self) -> None:
            self._route("POST")

    return Handler


def serve(host: str, port: int, mailbox: str = DEFAULT_MAILBOX) -> ThreadingHTTPServer:
    """A started server (in a daemon thread); ``shutdown()`` stops it."""
    server = ThreadingHTTPServer((host, port), make_handler(GmailStandIn(mailbox)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# ----------------------------------------------------------- client side helpers
def _post(url: str, body: bytes = b"", content_type: str = "message/rfc822") -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": content_type}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return dict(json.loads(response.read()))


def deliver(
    api_url: str,
    user: str,
    raw: bytes,
    labels: list[str] | None = None,
    internal_date: int | None = None,
) -> dict[str, Any]:
    """Deliver raw RFC 822 bytes into the stand-in's mailbox ``user``; ``{id, historyId}``.

    ``labels`` (default INBOX, UNREAD) is where a Gmail filter would put it;
    ``internal_date`` (ms) when it arrived.
    """
    quoted = urllib.parse.quote(user, safe="@")
    params: list[tuple[str, str]] = [("labelIds", label) for label in labels or []]
    if internal_date is not None:
        params.append(("internalDate", str(internal_date)))
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    return _post(f"{api_url.rstrip('/')}/_standin/users/{quoted}/messages{query}", raw)


def modify(
    api_url: str, user: str, message_id: str, add: list[str], remove: list[str]
) -> dict[str, Any]:
    """Move a message between labels (e.g. from SPAM to INBOX), as the user would."""
    quoted = urllib.parse.quote(user, safe="@")
    body = json.dumps({"addLabelIds": add, "removeLabelIds": remove}).encode()
    return _post(
        f"{api_url.rstrip('/')}/_standin/users/{quoted}/messages/{message_id}/modify",
        body,
        "application/json",
    )


def forget_history(api_url: str, user: str) -> dict[str, Any]:
    quoted = urllib.parse.quote(user, safe="@")
    return _post(f"{api_url.rstrip('/')}/_standin/users/{quoted}/forget-history")


def watch_lifetime(api_url: str, user: str, seconds: int) -> dict[str, Any]:
    """The next ``watch`` of ``user`` lasts ``seconds`` (a watch that lapses in a test)."""
    quoted = urllib.parse.quote(user, safe="@")
    url = f"{api_url.rstrip('/')}/_standin/users/{quoted}/watch-lifetime"
    return _post(url, json.dumps({"seconds": seconds}).encode(), "application/json")


def watch_state(api_url: str, user: str) -> dict[str, Any] | None:
    quoted = urllib.parse.quote(user, safe="@")
    try:
        with urllib.request.urlopen(
            f"{api_url.rstrip('/')}/_standin/users/{quoted}/watch", timeout=10
        ) as response:
            return dict(json.loads(response.read()))
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mailbox", default=DEFAULT_MAILBOX, help="the account 'me' stands for")
    args = parser.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), make_handler(GmailStandIn(args.mailbox)))
    print(f"gmail stand-in on http://{args.host}:{args.port}/ (me = {args.mailbox})", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
