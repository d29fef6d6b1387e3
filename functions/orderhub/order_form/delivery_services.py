"""``/services`` (owners only): the delivery services' e-mail rules, kept as data.

=========  ======================  =================================================
GET        /services               the services (shipped files, stored rules), the mails
                                   to build from or try on
POST       /services               ``rules_yaml``: checked like a shipped file, then stored
                                   (a new version; ``gmail_ingest`` reads it within a
                                   minute); 422 with the line of the problem
POST       /services/try           ``rules_yaml`` and a mail (``mail`` upload, or
                                   ``raw_id`` of a stored one): every field and problem
GET/POST   /services/build         the builder: tap a line for a field, see the proposed
                                   spec's hits on the sample and the sender's last mails
=========  ======================  =================================================

Saving shows what the rules now read from the sender's stored mails and offers "read
again" (``/attention/<id>/replay``) for the quarantined ones. The work is in
``sources.stored_rules`` (store, checks), ``sources.rules_try`` (what rules read) and
``rules_builder`` (proposals).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from flask import Blueprint, Response, g, request

from orderhub import logs, mime
from orderhub.order_form import queries
from orderhub.order_form import rules_builder as builder
from orderhub.order_form.auth import login_required
from orderhub.order_form.pages import page
from orderhub.order_form.wiring import now, wiring
from orderhub.sources import email, rules_try, stored_rules

bp = Blueprint("services", __name__)
#: Largest .eml accepted as an upload.
MAX_UPLOAD_BYTES = 2_000_000


def _window() -> queries.Window:
    return queries.Window(now=now(), history_days=wiring().settings.history_days)


def _mails() -> list[tuple[dict[str, Any], mime.Mail]]:
    return builder.stored_mails(wiring().runner, _window().since)


def _quarantined() -> dict[str, dict[str, Any]]:
    """Quarantined items by ``raw_id`` (the newest for each)."""
    rows = wiring().runner(
        queries.QUARANTINE_SQL,
        [("since", "TIMESTAMP", _window().since), ("limit", "INT64", 100)],
    )
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row.get("raw_id"):
            found.setdefault(row["raw_id"], row)
    return found


def _listing() -> list[dict[str, Any]]:
    """Each service the rules know: its shipped file and/or its stored version."""
    stored = wiring().rules_store.load()
    services: dict[str, dict[str, Any]] = {}
    for rules in email.shipped_rules():
        services[rules.service] = {"service": rules.service, "shipped": True, "stored": None}
    for name, doc in stored.items():
        services.setdefault(name, {"service": name, "shipped": False})["stored"] = doc
    return [services[k] for k in sorted(services)]


def _index(status: int = 200, **context: Any) -> Response:
    mails = _mails()
    quarantined = _quarantined()
    samples = [
        {
            "raw_id": row["raw_id"],
            "sender": mail.sender,
            "subject": mail.subject,
            "at": row.get("received_at"),
            "quarantined": row["raw_id"] in quarantined,
        }
        for row, mail in mails[:50]
    ]
    context.setdefault("rules_yaml", "")
    return page("services.html", status, services=_listing(), samples=samples, **context)


@bp.get("/services")
@login_required(owner=True)
def services() -> Response:
    return _index()


def _parsed(text: str) -> tuple[email.Rules | None, stored_rules.RulesError | None]:
    try:
        return stored_rules.parse_yaml(text), None
    except stored_rules.RulesError as exc:
        return None, exc


@bp.post("/services")
@login_required(owner=True)
def save() -> Response:
    w = wiring()
    text = (request.form.get("rules_yaml") or "").replace("\r\n", "\n")
    rules, error = _parsed(text)
    if rules is None:
        return _index(422, rules_yaml=text, error=error)
    version = w.rules_store.save(rules.service, text, by=g.manager.id, now=now())
    logs.info("delivery service rules saved", manager=g.manager.id, service=rules.service)
    quarantined = _quarantined()
    read = [
        (row, found, quarantined.get(row["raw_id"]))
        for row, found in builder.read_all(
            rules, [(r, m) for r, m in _mails() if rules.matches(m)][: builder.RECENT]
        )
    ]
    return page("services_saved.html", 200, rules=rules, version=version, read=read)


def _sample() -> tuple[mime.Mail | None, str, str, str | None]:
    """The mail the request names: (mail, raw_id, upload as base64, problem)."""
    upload = request.files.get("mail")
    data: bytes | None = None
    encoded = request.form.get("eml_b64") or ""
    raw_id = request.values.get("raw_id") or ""
    if upload is not None and upload.filename:
        data = upload.read(MAX_UPLOAD_BYTES + 1)
        if len(data) > MAX_UPLOAD_BYTES:
            return None, "", "", f"The mail is over {MAX_UPLOAD_BYTES:,} bytes."
        encoded = base64.b64encode(data).decode("ascii")
    elif encoded:
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            return None, "", "", "The uploaded mail was garbled; upload it again."
    elif raw_id:
        row = queries.raw_event(wiring().runner, raw_id[:128], _window())
        if row is None or row.get("kind") != "gmail_message":
            return None, raw_id, "", "That mail is not among the stored mails."
        data = builder.raw_bytes(row)
    if data is None:
        return None, "", "", "Upload a mail (.eml) or pick one from the list."
    return mime.parse(data), raw_id if not encoded else "", encoded, None


@bp.post("/services/try")
@login_required(owner=True)
def try_rules() -> Response:
    text = (request.form.get("rules_yaml") or "").replace("\r\n", "\n")
    rules, error = _parsed(text)
    mail, _raw_id, _encoded, problem = _sample()
    if rules is None or mail is None:
        return _index(422, rules_yaml=text, error=error, mail_problem=problem)
    return page("services_try.html", 200, rules=rules, found=rules_try.read(rules, mail))


# ------------------------------------------------------------------ the builder
def _service_name(sender: str) -> str:
    domain = sender.rpartition("@")[2].lower().split(".")
    name = domain[-2] if len(domain) >= 2 else "service"
    return re.sub(r"[^a-z0-9_-]", "", name) or "service"


@bp.route("/services/build", methods=["GET", "POST"])
@login_required(owner=True)
def build() -> Response:
    w = wiring()
    mail, raw_id, encoded, problem = _sample()
    if mail is None:
        return _index(422, mail_problem=problem)
    try:
        lines = builder.mail_lines(mail)
    except ValueError as exc:
        return _index(422, mail_problem=f"The mail's body cannot be read: {exc}")
    texts = [line.text for line in lines]
    picks: dict[str, dict[str, str]] = {}
    for name in builder.FIELDS:
        value = request.form.get(f"pick.{name}")
        if value:
            try:
                spec = json.loads(value)
            except ValueError:
                continue
            if isinstance(spec, dict) and isinstance(spec.get("regex"), str):
                picks[name] = {"regex": spec["regex"]}
    items_value = request.form.get("pick.line_items")
    items = None
    if items_value:
        try:
            items = {"regex": str(json.loads(items_value)["regex"])}
        except (ValueError, KeyError, TypeError):
            items = None
    field = request.form.get("field") or ""
    tapped = request.form.get("line") or ""
    if field == "line_items" and tapped.isdigit():
        items = builder.propose_items(texts, int(tapped)) or items
    elif field in builder.FIELDS and tapped.isdigit():
        try:
            picks[field] = builder.propose(texts, int(tapped), field)
        except ValueError:
            pass
    service = re.sub(r"[^a-z0-9_-]", "", (request.form.get("service") or "").lower())
    service = service or _service_name(mail.sender)
    next_field = next((f for f in builder.FIELDS if f not in picks), "line_items")
    if field not in builder.LABELS or (tapped and field in picks):
        field = next_field
    total_line = next((t for t in texts if "money" in builder.kinds_of(t)), "")
    currency = email.currency_of(total_line) or "EUR"
    text = builder.best_draft(
        service=service,
        mail=mail,
        picks=picks,
        items=items,
        currency=currency,
        region=w.settings.default_country,
    )
    rules, error = _parsed(text)
    sample = rules_try.read(rules, mail) if rules is not None else None
    others = builder.same_sender(_mails(), mail.sender, skip=raw_id)
    recent = builder.read_all(rules, others) if rules is not None else []
    return page(
        "services_build.html",
        200,
        raw_id=raw_id,
        eml_b64=encoded,
        mail=mail,
        lines=lines,
        suggested=builder.suggested(lines, field),
        field=field,
        fields=builder.LABELS,
        labels=builder.LABELS,
        picks={
            k: json.dumps(v)
            for k, v in {**picks, **({"line_items": items} if items else {})}.items()
        },
        specs={**picks, **({"line_items": items} if items else {})},
        service=service,
        rules_yaml=text,
        error=error,
        sample=sample,
        recent=recent,
    )
