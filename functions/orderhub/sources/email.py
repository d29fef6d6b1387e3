"""Delivery-service order e-mails → canonical ``order.created`` events. Pure code, no I/O
beyond reading the rules files once.

Each delivery service is described by one declarative rules file in ``email_rules/``
(format: docs/email-rules.md): how to recognise its order mail (sender, subject) and
where each field sits (CSS selectors over the HTML and/or regular expressions over the
text). Adding a service is a new rules file and a sample e-mail; this module stays as it
is. The steps are:

* ``match``: which rules (if any) claim a mail. No match → the mail is not an order.
* ``extract``: the fields, line items and what is missing or inconsistent.
* ``order_event``: a complete extraction as the canonical order; an incomplete one is
  the caller's to quarantine (``Extraction.problems`` is the reason).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from orderhub.errors import ConfigError
from orderhub.event import Address, Event, LineItem, Money, Party, Raw, iso, make_event
from orderhub.event import version_of as _version_of
from orderhub.mime import PLAUSIBLE_YEARS, Mail

RULES_DIR = Path(__file__).with_name("email_rules")

#: Fields a rules file may extract, and whether each is money.
SCALAR_FIELDS = {
    "order_number": False,
    "order_time": False,
    "customer_name": False,
    "phone": False,
    "address": False,
    "city": False,
    "note": False,
    "currency": False,
    "subtotal": True,
    "delivery_fee": True,
    "discount": True,
    "total": True,
}
DEFAULT_REQUIRED = ("order_number", "total", "line_items")
#: Fields the customer writes (free text in the marketplace's app). Anything can be in
#: them, "Total: 0,01 EUR" included, so they are located first, in this order, and cut
#: out of the text (and HTML) every other field is then read from (docs/email-rules.md,
#: "Customer-written fields").
CUSTOMER_FIELDS = ("note", "address", "city", "customer_name")
#: Money fields: each is read from everything its spec matches, and quarantined when two
#: of those readings disagree.
MONEY_FIELDS = tuple(name for name, money in SCALAR_FIELDS.items() if money)
_SERVICE_RE = re.compile(r"^[a-z0-9_-]+$")

#: Currency signs and words as they appear in mail, longest first when matching.
CURRENCY_SIGNS = {
    "€": "EUR",
    "eur": "EUR",
    "euro": "EUR",
    "грн": "UAH",
    "₴": "UAH",
    "uah": "UAH",
    "$": "USD",
    "usd": "USD",
    "£": "GBP",
    "gbp": "GBP",
    "zł": "PLN",
    "pln": "PLN",
    "lei": "RON",
    "ron": "RON",
    "chf": "CHF",  # Swiss restaurants' mail: "CHF 12.50", "12,50 CHF", "CHF 1'234.50"
}
_SIGN_RE = re.compile(
    "|".join(re.escape(s) for s in sorted(CURRENCY_SIGNS, key=len, reverse=True)), re.IGNORECASE
)
_NUMBER_RE = re.compile(r"[-−–]?\s*\d[\d\s\u00a0\u202f.,']*")
_CENT = Decimal("0.01")
#: Whole-number digits an amount may have (BigQuery NUMERIC holds 29; no order needs 13).
MAX_AMOUNT_DIGITS = 12
#: Longest field value read (a mail can put a megabyte in a cell; nobody's name is that).
MAX_FIELD_CHARS = 2_000
#: Longest body (HTML or plain) the rules are run on; a bigger one is not read (an order
#: mail is tens of KB; parsing and selectors cost ~1 s per 100,000 HTML elements here).
MAX_BODY_CHARS = 500_000
#: Deepest HTML nesting read (order mail nests tables some 10-30 levels).
MAX_HTML_DEPTH = 256
#: Errors that reading a value from hostile text can raise: a problem, never a crash.
VALUE_ERRORS = (ValueError, ArithmeticError, OverflowError, RecursionError)


# ------------------------------------------------------------------ money and phones
class Unreadable(ValueError):
    """A value is present but cannot be read as what it should be."""


def parse_amount(text: str) -> Decimal:
    """The number in a money text, whatever the local separators.

    ``9,73`` and ``9.73`` are 9.73; ``1 234,50``, ``1.234,50`` and ``1,234.50`` are
    1234.50. The last separator followed by one or two digits is the decimal point;
    every other separator groups thousands. A leading minus (or dash) makes it negative.
    """
    found = _NUMBER_RE.search(text[:MAX_FIELD_CHARS])
    if found is None:
        raise Unreadable("no number where an amount should be")
    raw = found.group(0).strip()
    negative = raw[0] in "-−–"
    digits = re.sub(r"[\s\u00a0\u202f']", "", raw.lstrip("-−–")).rstrip(".,")
    last = max(digits.rfind(","), digits.rfind("."))
    if last >= 0 and 1 <= len(digits) - last - 1 <= 2:
        whole, fraction = digits[:last], digits[last + 1 :]
    else:
        whole, fraction = digits, ""
    whole = whole.replace(",", "").replace(".", "").lstrip("0")
    if len(whole) > MAX_AMOUNT_DIGITS:  # 30 digits would overflow quantize and NUMERIC
        raise Unreadable(f"not a plausible amount ({len(whole)} digits)")
    try:
        amount = Decimal(f"{whole or '0'}.{fraction or '0'}")
    except InvalidOperation as exc:  # the regex admits ASCII and other Unicode digits only
        raise Unreadable("not an amount") from exc
    return -amount if negative else amount


def currency_of(text: str) -> str | None:
    """The ISO code of the first currency sign or word in the text, if any."""
    found = _SIGN_RE.search(text)
    return CURRENCY_SIGNS[found.group(0).lower()] if found else None


def parse_money(text: str, default_currency: str | None = None) -> Money:
    """``9,73 €``, ``€9.73``, ``1 234,50 грн`` → ``{"amount": "1234.50", "currency": "UAH"}``."""
    currency = currency_of(text) or default_currency
    if not currency:
        raise Unreadable("no currency sign and no default currency")
    try:
        amount = parse_amount(text).quantize(_CENT, rounding=ROUND_HALF_UP)
    except ArithmeticError as exc:  # decimal.InvalidOperation and kin: a parse problem
        raise Unreadable(f"not a readable amount ({exc.__class__.__name__})") from exc
    return {"amount": str(amount), "currency": currency}


def parse_phone(text: str, region: str | None) -> str:
    """A phone number in E.164 (``+380671234567``); ``Unreadable`` if it is not a valid one.
    Read by ``orderhub.phones``: international, national (in ``region``) and ``00`` forms."""
    from orderhub import phones  # phonenumbers only once a mail has a phone (cold starts)

    try:
        return phones.to_e164(text[:MAX_FIELD_CHARS], region)
    except phones.InvalidPhone as exc:
        raise Unreadable(str(exc)) from exc


# ------------------------------------------------------------------------ rules
@dataclass(frozen=True)
class Rules:
    """One service's rules file, checked on load (see docs/email-rules.md)."""

    service: str
    path: str
    sender: Pattern
    subject: Pattern
    fields: Mapping[str, tuple[Mapping[str, Any], ...]]
    line_items: Mapping[str, Any]
    defaults: Mapping[str, str]
    required: tuple[str, ...]
    check_total: bool
    #: Require Gmail's DKIM/DMARC pass for the sender's domain (``match.authenticated``).
    authenticated: bool = True
    #: The service's own mail domains (``match.domains``); empty: any From domain.
    domains: tuple[str, ...] = ()
    #: One element (``css``) or one text section (``regex``: where each begins) per order,
    #: for a mail that can carry several orders (``orders``); empty: one order per mail.
    orders: Mapping[str, Any] = field(default_factory=dict)
    #: The service's layouts (``layouts``: languages, old and new templates), each a full
    #: set of rules; empty: the file is one layout. A mail is read by the first whose
    #: ``match`` fits and which reads it completely (else by the first that fits).
    layouts: tuple[Rules, ...] = ()
    #: This layout's name, and its own ``match``: ``subject`` and/or ``text`` (a regex
    #: searched in the mail as the rules see it); empty: every mail of the service fits.
    layout: str = ""
    layout_match: Mapping[str, Pattern] = field(default_factory=dict)

    @property
    def source(self) -> str:
        return f"email:{self.service}"

    def matches(self, mail: Mail) -> bool:
        return bool(self.sender.search(mail.sender) and self.subject.search(mail.subject))

    def fits(self, mail: Mail, text: str) -> bool:
        """Whether this layout's own ``match`` fits the mail (its subject and text)."""
        subject, body = self.layout_match.get("subject"), self.layout_match.get("text")
        return bool(
            (subject is None or subject.search(mail.subject))
            and (body is None or body.search(text))
        )


#: A compiled rules regex: RE2's (``search``, ``finditer``, ``groupindex``, ``groups``).
Pattern = Any


@functools.cache
def _re2_options() -> Any:
    import re2

    options = re2.Options()
    options.log_errors = False  # the ConfigError says it, once, with the file's name
    return options


def _pattern(spec: Any, where: str) -> Pattern:
    """A rules file's regex, compiled by RE2: matching takes time linear in the mail's
    length whatever the pattern, so no mail can make a rule backtrack for ever (RE2 has
    no look-around and no back-references; a pattern using them is refused here)."""
    import re2

    if not isinstance(spec, str) or not spec:
        raise ConfigError(f"{where} must be a non-empty regular expression")
    try:
        re.compile(spec)  # Python's syntax errors name the position
        return re2.compile(f"(?m){spec}", _re2_options())
    except (re.error, re2.error) as exc:
        detail = exc.args[0] if exc.args else exc
        detail = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else detail
        raise ConfigError(f"{where} is not a valid regular expression: {detail}") from exc


def _selector(spec: Any, where: str) -> Any:
    """A CSS selector compiled once (soupsieve), not at every mail."""
    import soupsieve

    if not isinstance(spec, str) or not spec:
        raise ConfigError(f"{where} must be a non-empty CSS selector")
    try:
        return soupsieve.compile(spec)
    except soupsieve.SelectorSyntaxError as exc:
        raise ConfigError(f"{where} is not a valid CSS selector: {exc}") from exc


def _specs(value: Any, where: str) -> tuple[Mapping[str, Any], ...]:
    items = value if isinstance(value, list) else [value]
    specs = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            item = {"regex": item}
        if not isinstance(item, dict) or not ({"css", "regex"} & item.keys()):
            raise ConfigError(f"{where}[{i}] needs css and/or regex")
        unknown = set(item) - {*_SPEC_KEYS, "default", "scope"}
        if unknown:
            raise ConfigError(f"{where}[{i}] has unknown keys {sorted(unknown)}")
        if item.get("scope", "order") not in ("order", "mail"):
            raise ConfigError(f"{where}[{i}].scope must be order or mail")
        if "within" in item and ("css" in item or "regex" not in item):
            raise ConfigError(f"{where}[{i}].within goes with a regex, not with css")
        item = _compiled(item, f"{where}[{i}]")
        specs.append(item)
    return tuple(specs)


#: The keys of a field spec (docs/email-rules.md, "Field specs").
_SPEC_KEYS = ("css", "regex", "attr", "format", "within", "after", "before")


def _compiled(item: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A spec's regexes (``regex``, and the fence markers ``after``/``before``) and CSS
    selectors (``css``, ``within``) compiled once."""
    out = dict(item)
    for key in ("regex", "after", "before"):
        if key in out:
            out[key] = _pattern(out[key], f"{where}.{key}")
    for key in ("css", "within"):
        if key in out:
            out[key] = _selector(out[key], f"{where}.{key}")
    return out


def _domains(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(
        isinstance(d, str) and re.fullmatch(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+", d) for d in items
    ):
        raise ConfigError(f"{where} must be a list of domain names like partners.example.com")
    return tuple(d.lower() for d in items)


def _orders(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not ({"css", "regex"} & value.keys()):
        raise ConfigError(f"{where} needs css (one element per order) and/or regex")
    unknown = set(value) - {"css", "regex"}
    if unknown:
        raise ConfigError(f"{where} has unknown keys {sorted(unknown)}")
    orders: dict[str, Any] = {}
    if "css" in value:
        orders["css"] = _selector(value["css"], f"{where}.css")
    if "regex" in value:
        orders["regex"] = _pattern(value["regex"], f"{where}.regex")
    return orders


#: Keys a layout may set (each replaces the file's own; ``fields`` and ``defaults`` are
#: merged name by name).
_LAYOUT_KEYS = (
    "name",
    "match",
    "fields",
    "line_items",
    "orders",
    "required",
    "check_total",
    "defaults",
)


def load_rules(data: Mapping[str, Any], path: str = "<rules>") -> Rules:
    """Check one parsed rules document and compile its patterns; ``ConfigError`` if wrong.

    With ``layouts``, each layout is the file's own rules with the layout's keys over
    them; the rules returned are the first layout's, carrying every layout."""
    if "layouts" not in data:
        return _load_one(data, path)
    listed = data["layouts"]
    if not isinstance(listed, list) or not listed:
        raise ConfigError(f"{path}: layouts must be a non-empty list")
    layouts = []
    for i, layout in enumerate(listed):
        where = f"{path}: layouts[{i}]"
        if not isinstance(layout, dict):
            raise ConfigError(f"{where} must be a mapping")
        unknown = set(layout) - set(_LAYOUT_KEYS)
        if unknown:
            raise ConfigError(f"{where} has unknown keys {sorted(unknown)}")
        merged = {k: v for k, v in data.items() if k != "layouts"}
        for key in ("fields", "defaults"):
            merged[key] = {**(data.get(key) or {}), **(layout.get(key) or {})}
        merged.update(
            {
                k: layout[k]
                for k in _LAYOUT_KEYS
                if k in layout and k not in ("fields", "defaults", "name", "match")
            }
        )
        own = layout.get("match") or {}
        if not isinstance(own, dict) or set(own) - {"subject", "text"}:
            raise ConfigError(f"{where}.match takes subject and/or text (regexes)")
        name = str(layout.get("name") or f"layout {i + 1}")
        rules = _load_one(merged, f"{where} ({name})")
        patterns = {k: _pattern(v, f"{where}.match.{k}") for k, v in own.items()}
        layouts.append(replace(rules, path=path, layout=name, layout_match=patterns))
    return replace(layouts[0], layouts=tuple(layouts))


def _load_one(data: Mapping[str, Any], path: str) -> Rules:
    service = str(data.get("service") or "")
    if not _SERVICE_RE.match(service):
        raise ConfigError(f"{path}: service must match [a-z0-9_-]+, got {service!r}")
    match = data.get("match") or {}
    fields_in = data.get("fields") or {}
    unknown = set(fields_in) - set(SCALAR_FIELDS)
    if unknown:
        raise ConfigError(f"{path}: unknown fields {sorted(unknown)}")
    fields = {name: _specs(spec, f"{path}: fields.{name}") for name, spec in fields_in.items()}
    items = dict(data.get("line_items") or {})
    if not ({"css", "regex"} & items.keys()):
        raise ConfigError(f"{path}: line_items needs css (one element per line) and/or regex")
    for key in ("after", "before"):  # a fence for the text-only item regex
        if key in items:
            items[key] = _pattern(items[key], f"{path}: line_items.{key}")
    if "regex" in items:
        items["regex"] = _pattern(items["regex"], f"{path}: line_items.regex")
        missing = {"name", "price"} - set(items["regex"].groupindex)
        if missing:
            raise ConfigError(f"{path}: line_items.regex needs named groups {sorted(missing)}")
    if "css" in items:
        items["css"] = _selector(items["css"], f"{path}: line_items.css")
        for part in ("name", "quantity", "price"):
            if part in items:
                items[part] = _specs(items[part], f"{path}: line_items.{part}")
        if "name" not in items or "price" not in items:
            raise ConfigError(f"{path}: line_items with css needs name and price")
    if items.get("price_is", "unit") not in ("unit", "line_total"):
        raise ConfigError(f"{path}: line_items.price_is must be unit or line_total")
    defaults = {str(k): str(v) for k, v in (data.get("defaults") or {}).items()}
    if "timezone" in defaults:
        try:
            ZoneInfo(defaults["timezone"])
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"{path}: unknown timezone {defaults['timezone']!r}") from exc
    # The order's identity and total are needed whatever the file says: an order event
    # without them cannot be built.
    required = tuple(
        dict.fromkeys(("order_number", "total", *(data.get("required") or DEFAULT_REQUIRED)))
    )
    for name in required:
        if name != "line_items" and name not in SCALAR_FIELDS:
            raise ConfigError(f"{path}: required names unknown field {name!r}")
    return Rules(
        service=service,
        path=path,
        sender=_pattern(match.get("from"), f"{path}: match.from"),
        subject=_pattern(match.get("subject"), f"{path}: match.subject"),
        fields=fields,
        line_items=items,
        defaults=defaults,
        required=required,
        check_total=bool(data.get("check_total", True)),
        authenticated=bool(match.get("authenticated", True)),
        domains=_domains(match.get("domains"), f"{path}: match.domains"),
        orders=_orders(data.get("orders"), f"{path}: orders"),
    )


def load_rules_file(path: Path) -> Rules:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a rules file is a YAML mapping")
    return load_rules(data, str(path))


@functools.cache
def shipped_rules(directory: Path = RULES_DIR) -> tuple[Rules, ...]:
    """Every ``*.yaml`` rules file in the directory, loaded once per instance."""
    rules = tuple(load_rules_file(p) for p in sorted(directory.glob("*.yaml")))
    services = [r.service for r in rules]
    if len(set(services)) != len(services):
        raise ConfigError(f"{directory}: two rules files name the same service")
    return rules


def match(rules: Iterable[Rules], mail: Mail) -> Rules | None:
    """The first rules that recognise the mail (sender and subject), or None."""
    return next((r for r in rules if r.matches(mail)), None)


# --------------------------------------------------------------------- extraction
@dataclass
class Extraction:
    """What a rules file found in one order of a mail, and what it could not."""

    rules: Rules
    values: dict[str, Any] = field(default_factory=dict)
    line_items: list[LineItem] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    #: Which order of the mail this is (1-based) and how many it carries.
    block: int = 1
    blocks: int = 1
    #: Required fields (and ``line_items``) not found at all (not: found but unreadable).
    missing: list[str] = field(default_factory=list)
    #: "the layout of <service> changed (...)": a required field found in no order of
    #: the mail (set on a mail's last extraction; see ``extract_orders``).
    layout_changed: str | None = None

    @property
    def complete(self) -> bool:
        return not self.problems


class _Document:
    """A body once parsed: HTML tree (if any) and normalised text.

    ``text`` is what the rules' regexes see: the HTML's text with every block or cell
    on a line of its own (or the plain-text part), spaces collapsed.
    """

    def __init__(self, mail: Mail) -> None:
        from bs4 import BeautifulSoup, ParserRejectedMarkup

        html, plain = mail.html, mail.text
        if mail.unreadable:
            raise Unreadable(mail.unreadable)
        if len(html or plain or "") > MAX_BODY_CHARS:
            raise Unreadable(f"the mail's body is over {MAX_BODY_CHARS:,} characters")
        try:
            self.soup = BeautifulSoup(html, "html.parser") if html else None
        except ParserRejectedMarkup as exc:  # e.g. "<![" not followed by a name
            if not plain:
                raise Unreadable("the mail's HTML does not parse") from exc
            self.soup = None  # the plain-text part says the same: read that
        if self.soup is not None:
            _check_depth(self.soup)
            for hidden in self.soup(["style", "script", "head"]):
                hidden.decompose()
            self.text = _node_lines(self.soup)
        else:
            self.text = _clean_text(plain or "")


def _check_depth(soup: Any) -> None:
    """Refuse HTML nested deeper than any mail is laid out: CSS matching walks up from
    each candidate element, so its cost grows with depth times elements."""
    depth = {id(soup): 0}
    for node in soup.find_all(True):
        level = depth.get(id(node.parent), 0) + 1
        if level > MAX_HTML_DEPTH:
            raise Unreadable(f"the mail's HTML is nested over {MAX_HTML_DEPTH} levels deep")
        depth[id(node)] = level


def document_text(mail: Mail) -> str:
    """The mail as the rules' regexes see it (``scripts/email_rules_try --text``)."""
    return _Document(mail).text


def _node_lines(node: Any) -> str:
    """An element's text with every block or cell on a line of its own."""
    return _clean_text(str(node.get_text("\n")))


def _clean_text(text: str) -> str:
    lines = (" ".join(line.replace("\u00a0", " ").split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def _node_text(node: Any) -> str:
    return " ".join(str(node.get_text(" ")).replace("\u00a0", " ").split())


@dataclass
class _Scope:
    """Where one order's fields are looked for: an HTML element (or None) and its text.

    ``cuts``: text of customer-written fields already read, which every other field's
    text has removed (``text`` already has them removed)."""

    node: Any
    text: str
    cuts: tuple[str, ...] = ()

    def clean(self, text: str) -> str:
        """A text of this scope with the customer-written parts cut out."""
        for cut in self.cuts:
            text = text.replace(cut, "\n").replace(" ".join(cut.split()), " ")
        return text


def _fenced(spec: Mapping[str, Any], text: str) -> str | None:
    """The part of the text between the spec's ``after`` and ``before`` markers (from the
    end of the first ``after`` match to the next ``before`` match); None when ``after``
    is given and absent: the field is not where the rules say it must be."""
    if "after" in spec:
        start = spec["after"].search(text)
        if start is None:
            return None
        text = text[start.end() :]
    if "before" in spec:
        end = spec["before"].search(text)
        if end is not None:
            text = text[: end.start()]
    return text


@dataclass
class _Hit:
    """One value a spec found: the value, the element it came from (``css``) and the
    regex's whole match (what is cut out when the field is customer-written)."""

    value: str
    node: Any = None
    matched: str | None = None


def _hits(spec: Mapping[str, Any], scope: _Scope, *, every: bool) -> list[_Hit]:
    """What one spec finds in a scope: the first value, or (``every``) all of them."""
    sources: list[tuple[str, Any]]  # (text, element it is the text of)
    if "css" in spec or "within" in spec:
        if scope.node is None:
            return []
        selector = spec.get("css") or spec["within"]
        nodes = selector.select(scope.node) if every else [selector.select_one(scope.node)]
        sources = []
        for node in nodes:
            if node is None:
                continue
            if "within" in spec:
                text = _node_lines(node)
            elif "attr" in spec:
                value = node.get(spec["attr"])
                text = " ".join(value) if isinstance(value, list) else str(value or "")
            else:
                text = _node_text(node)
            sources.append((scope.clean(text), node))
    else:
        sources = [(scope.text, None)]
    found: list[_Hit] = []
    for text, node in sources:
        region = _fenced(spec, text)
        if region is None:
            continue
        if "regex" in spec:
            matches = spec["regex"].finditer(region) if every else [spec["regex"].search(region)]
            for hit in matches:
                if hit is None:
                    continue
                value = (hit.group(1) if hit.re.groups else hit.group(0)) or ""
                if value.strip():
                    owner = node if "css" in spec else None  # the field's own element
                    found.append(_Hit(value.strip(), owner, hit.group(0)))
                    if not every:
                        return found
        elif region.strip():
            found.append(_Hit(region.strip(), node))
            if not every:
                return found
    return found


def _innermost(nodes: list[Any]) -> list[Any]:
    """The matches that contain no other match.

    Real marketplace mail lays itself out in nested tables, so ``table.basket tr`` (or
    an order-block selector) also matches the outer layout rows that merely wrap the
    real ones; such a wrapper would read as one more item holding all the others.
    """
    wrappers: set[int] = set()  # every ancestor of a match (each marked once: linear)
    for node in nodes:
        parent = node.parent
        while parent is not None and id(parent) not in wrappers:
            wrappers.add(id(parent))
            parent = parent.parent
    return [n for n in nodes if id(n) not in wrappers]


def _values(spec: Mapping[str, Any], scope: _Scope) -> list[str]:
    """Every value one spec finds in a scope (to tell one order number from several, and
    one total from two that disagree)."""
    return [hit.value for hit in _hits(spec, scope, every=True)]


def _apply(spec: Mapping[str, Any], scope: _Scope) -> _Hit | None:
    """One field spec against a scope: the first value it finds."""
    found = _hits(spec, scope, every=False)
    return found[0] if found else None


def _located(
    specs: Iterable[Mapping[str, Any]], scope: _Scope, mail: _Scope | None = None
) -> tuple[_Hit, Mapping[str, Any]] | None:
    """The first alternative that finds a value, with the spec that found it.

    A spec with ``scope: mail`` is looked for in the whole mail rather than in the one
    order's block (a customer named once above two orders, say).
    """
    specs = tuple(specs)
    for spec in specs:
        where = mail if mail is not None and spec.get("scope") == "mail" else scope
        hit = _apply(spec, where)
        if hit is not None:
            return hit, spec
    return next(((_Hit(str(s["default"])), s) for s in specs if "default" in s), None)


def _found(
    specs: Iterable[Mapping[str, Any]], scope: _Scope, mail: _Scope | None = None
) -> tuple[str, Mapping[str, Any]] | None:
    located = _located(specs, scope, mail)
    return (located[0].value, located[1]) if located else None


def _first(specs: Iterable[Mapping[str, Any]], scope: _Scope) -> str | None:
    hit = _found(specs, scope)
    return hit[0] if hit else None


def _order_time(text: str, spec: Mapping[str, Any], defaults: Mapping[str, str]) -> datetime:
    fmt = spec.get("format")
    try:
        moment = datetime.strptime(text, fmt) if fmt else datetime.fromisoformat(text)
    except ValueError as exc:
        raise Unreadable(f"does not match {fmt or 'ISO 8601'}") from exc
    if moment.year not in PLAUSIBLE_YEARS:  # typos or attacks; some cannot be converted
        raise Unreadable(f"{moment.year} is not a plausible year for an order")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(defaults.get("timezone", "UTC")))
    return moment


def _quantity(text: str | None) -> int:
    if text is None:
        return 1
    found = re.search(r"\d+", text)
    if found is None:
        raise Unreadable("quantity is not a number")
    if len(found.group(0)) > 6:  # and int() of thousands of digits would raise, not read
        raise Unreadable("quantity is not a plausible number")
    return int(found.group(0))


def _line(
    name: str | None, quantity: str | None, price: str | None, rules: Rules, currency: str
) -> LineItem:
    if not name or not price:
        raise Unreadable("a line item lacks its name or price")
    if len(name) > MAX_FIELD_CHARS:
        raise Unreadable(f"a line item's name is over {MAX_FIELD_CHARS} characters")
    qty = _quantity(quantity)
    money = parse_money(price, currency)
    amount = Decimal(money["amount"])
    if rules.line_items.get("price_is") == "line_total" and qty > 0:
        amount = (amount / qty).quantize(_CENT, rounding=ROUND_HALF_UP)
    return {
        "title": name,
        "quantity": qty,
        "unit_price": {"amount": str(amount), "currency": money["currency"]},
        "total_discount": {"amount": "0.00", "currency": money["currency"]},
    }


def _lines(rules: Rules, scope: _Scope, currency: str) -> list[LineItem]:
    """Line items from CSS rows in the HTML; else from the regex over the text."""
    spec = rules.line_items
    lines: list[LineItem] = []
    if "css" in spec and scope.node is not None:
        for row in _innermost(spec["css"].select(scope.node)):
            row_scope = _Scope(row, _node_text(row))
            lines.append(
                _line(
                    _first(spec["name"], row_scope),
                    _first(spec.get("quantity", ()), row_scope),
                    _first(spec["price"], row_scope),
                    rules,
                    currency,
                )
            )
    if not lines and "regex" in spec:
        for found in spec["regex"].finditer(_fenced(spec, scope.text) or ""):
            parts = found.groupdict()
            lines.append(
                _line(parts.get("name"), parts.get("quantity"), parts.get("price"), rules, currency)
            )
    return lines


def _within(domain: str, parent: str) -> bool:
    """``domain`` is ``parent`` or one of its subdomains."""
    return domain == parent or domain.endswith("." + parent)


def _aligned(signer: str, author: str) -> bool:
    """DMARC's relaxed alignment, approximated without the public-suffix list: the same
    domain, or one a subdomain of the other, where a parent has at least two labels
    (a pass "for ``example``" or "for ``com``" aligns with nothing)."""
    return (_within(author, signer) and "." in signer) or (
        _within(signer, author) and "." in author
    )


def vouched_for(sender: str, domains: frozenset[str]) -> bool:
    """Whether one of the domains Gmail vouched for is aligned with the sender's domain."""
    author = sender.rpartition("@")[2].lower()
    return bool(author) and any(_aligned(d, author) for d in domains)


def authentication_problem(rules: Rules, mail: Mail) -> str | None:
    """Why the mail may not be the service's own, or None when Gmail vouches for it.

    Needed: a DMARC pass for the From domain itself, or a DKIM pass by a domain aligned
    with it (``mime.Verdict`` reads only those from Gmail's own header); and, when the
    rules name the service's ``match.domains``, a From domain among them.
    """
    author = mail.sender.rpartition("@")[2].lower()
    if rules.domains and not any(_within(author, d) for d in rules.domains):
        return f"sender: {author or 'no address'} is not one of the service's domains"
    verdict = mail.verdict
    if author and (author in verdict.dmarc or vouched_for(mail.sender, verdict.dkim)):
        return None
    # Forwarded by the owner's other Gmail mailbox, its DKIM broken on the way: Gmail's
    # verdict at that mailbox, carried in Gmail's own ARC set (docs/gmail.md, forwarding).
    earlier = verdict.forwarded
    if author and earlier and (author in earlier.dmarc or vouched_for(mail.sender, earlier.dkim)):
        return None
    why = verdict.problem or f"no DMARC pass and no aligned DKIM pass; Gmail says: {verdict.says()}"
    return f"sender: Gmail did not authenticate the sender's domain ({why})"


def extract_orders(rules: Rules, mail: Mail) -> list[Extraction]:
    """One extraction per order the mail carries; problems listed rather than raised.

    Rules with an ``orders`` selector read each order from its own block (an element,
    or a section of the text) and nothing else, so no order can take another's total.
    Without one, or when it finds no block, the mail is one order; one showing several
    different order numbers then gets that problem (it is quarantined, never read as one
    order holding them all). Rules with ``layouts`` read the mail with the first layout
    whose ``match`` fits and which reads it completely, else with the first that fits.

    When a required field is found in none of the mail's orders (and Gmail vouches for
    the sender), the service's layout has changed: the last extraction carries
    ``layout_changed`` and says so among its problems.
    """
    # Anyone can write a marketplace's address into From; only Gmail's own verdict
    # tells a real order from a forged "paid" one. Kept for a person to look at.
    forged = authentication_problem(rules, mail) if rules.authenticated else None
    try:
        doc = _Document(mail)
    except VALUE_ERRORS as exc:  # a body too big, or nested too deep, to read
        return [Extraction(rules, problems=[p for p in (forged, f"body: {exc}") if p])]
    if not rules.layouts:
        return _read_mail(rules, doc, forged)
    fitting = [layout for layout in rules.layouts if layout.fits(mail, doc.text)]
    if not fitting:
        names = ", ".join(layout.layout for layout in rules.layouts)
        change = f"the layout of {rules.service} changed (no layout fits: {names})"
        result = Extraction(rules, problems=[p for p in (forged, change) if p])
        result.layout_changed = None if forged else change
        return [result]
    first: list[Extraction] | None = None
    for layout in fitting:
        results = _read_mail(layout, doc, forged)
        if all(r.complete for r in results):
            return results
        first = first or results
    assert first is not None
    return first


def _read_mail(rules: Rules, doc: _Document, forged: str | None) -> list[Extraction]:
    """Every order of one parsed mail, by one layout's rules."""
    whole = _Scope(doc.soup, doc.text)
    try:
        scopes = (_order_scopes(rules, doc) if rules.orders else []) or [whole]
    except VALUE_ERRORS as exc:  # selectors over HTML nested too deep
        return [Extraction(rules, problems=[p for p in (forged, f"body: {exc}") if p])]
    results = []
    for index, scope in enumerate(scopes, start=1):
        try:
            result = _extract_one(rules, scope, whole if scope is not whole else None)
        except VALUE_ERRORS as exc:  # e.g. selectors over HTML nested too deep
            result = Extraction(rules, problems=[f"body: {exc.__class__.__name__}: {exc}"])
        result.block, result.blocks = index, len(scopes)
        if forged:
            result.problems.insert(0, forged)
        if len(scopes) > 1:
            result.problems = [f"order {index} of {len(scopes)}: {p}" for p in result.problems]
        results.append(result)
    lost = [name for name in rules.required if all(name in r.missing for r in results)]
    if lost and not forged:  # a mail not from the service says nothing of its layout
        change = f"the layout of {rules.service} changed (field {', '.join(lost)} no longer found)"
        results[-1].problems.append(change)
        results[-1].layout_changed = change
    return results


def extract(rules: Rules, mail: Mail) -> Extraction:
    """The mail as one order: ``extract_orders``'s first (and, without an ``orders``
    selector, only) extraction."""
    return extract_orders(rules, mail)[0]


def _order_scopes(rules: Rules, doc: _Document) -> list[_Scope]:
    """Each order's block: in an HTML mail the elements matching ``orders.css``
    (innermost ones, so layout tables wrapping them do not count); else (a text-only
    mail, or rules with no ``orders.css``) the sections of the text the rules see, each
    starting where ``orders.regex`` matches. A section has no element:
    its fields are read by their regexes. None found: the caller reads the mail as one
    order."""
    if doc.soup is not None and "css" in rules.orders:
        nodes = _innermost(rules.orders["css"].select(doc.soup))
        return [_Scope(node, _node_lines(node)) for node in nodes]
    # The text the rules see, HTML mail's too: an order that is a run of sibling table
    # rows has no element of its own, but its text begins where the regex matches.
    if "regex" in rules.orders:
        starts = [found.start() for found in rules.orders["regex"].finditer(doc.text)]
        ends = [*starts[1:], len(doc.text)]
        return [_Scope(None, doc.text[a:b]) for a, b in zip(starts, ends, strict=True)]
    return []


def _several_orders(spec: Mapping[str, Any], scope: _Scope) -> str | None:
    """A problem when the order-number spec finds several different numbers."""
    numbers = list(dict.fromkeys(_values(spec, scope)))
    if len(numbers) < 2:
        return None
    shown = ", ".join(numbers[:5]) + (", ..." if len(numbers) > 5 else "")
    return (
        f"order_number: the mail carries several orders ({shown}); an orders selector "
        "in the rules reads each one (docs/email-rules.md)"
    )


def _extract_one(rules: Rules, scope: _Scope, mail: _Scope | None) -> Extraction:
    """Every field of one order, read from its scope (``mail``: the whole mail, for
    ``scope: mail`` specs when the mail carries several orders)."""
    detached: list[tuple[Any, Any, int]] = []
    try:
        return _read_order(rules, scope, mail, detached)
    finally:  # the customer-written elements back where they were, last out first in
        for node, parent, index in reversed(detached):
            parent.insert(index, node)


def _read_order(
    rules: Rules, scope: _Scope, mail: _Scope | None, detached: list[tuple[Any, Any, int]]
) -> Extraction:
    result = Extraction(rules)
    found: dict[str, str] = {}
    spec_of: dict[str, Mapping[str, Any]] = {}
    # What the customer wrote is read first and cut out of the text (and the HTML) that
    # every other field is read from: a note saying "Total: 0,01 EUR" is a note.
    for name in CUSTOMER_FIELDS:
        located = _located(rules.fields.get(name, ()), scope, mail)
        if located is None:
            continue
        hit, spec_of[name] = located
        found[name] = hit.value
        if mail is not None and spec_of[name].get("scope") == "mail":
            mail = _cut(mail, hit, detached)
        else:
            scope = _cut(scope, hit, detached)
    for name, specs in rules.fields.items():
        if name in CUSTOMER_FIELDS:
            continue
        located = _located(specs, scope, mail)
        if located is not None:
            found[name], spec_of[name] = located[0].value, located[1]
    if "order_number" in spec_of:
        spec = spec_of["order_number"]
        where = mail if mail is not None and spec.get("scope") == "mail" else scope
        several = _several_orders(spec, where)
        if several:
            result.problems.append(several)
    stated = found.get("currency", "")
    currency = (
        (stated.upper() if re.fullmatch(r"[A-Za-z]{3}", stated) else currency_of(stated))
        or currency_of(found.get("total", "")[:MAX_FIELD_CHARS])
        or rules.defaults.get("currency")
    )
    if not currency:
        result.problems.append("currency: none in the mail and no default in the rules")
        currency = ""
    result.values["currency"] = currency
    for name, text in found.items():
        if name == "currency":
            continue
        try:
            if len(text) > MAX_FIELD_CHARS:
                raise Unreadable(f"over {MAX_FIELD_CHARS} characters")
            if SCALAR_FIELDS[name]:
                money = parse_money(text, currency)
                if name == "discount":  # shown as "-2,00 €" or "2,00 €": always a reduction
                    money = {"amount": str(abs(Decimal(money["amount"]))), "currency": currency}
                result.values[name] = money
            elif name == "phone":
                result.values[name] = parse_phone(text, rules.defaults.get("phone_region"))
            elif name == "order_time":
                result.values[name] = _order_time(text, spec_of[name], rules.defaults)
            else:
                result.values[name] = text
        except VALUE_ERRORS as exc:  # Unreadable, and decimal/date arithmetic on hostile text
            result.problems.append(f"{name}: {exc}")
    try:
        result.line_items = _lines(rules, scope, currency)
    except VALUE_ERRORS as exc:
        result.problems.append(f"line_items: {exc}")
    for name in MONEY_FIELDS:
        if name in result.values:
            spec = spec_of[name]
            where = mail if mail is not None and spec.get("scope") == "mail" else scope
            disagree = _readings_disagree(_values(spec, where), currency)
            if disagree:
                result.problems.append(f"{name}: {disagree}")
    currencies = {v["currency"] for v in result.values.values() if isinstance(v, dict)}
    currencies |= {li["unit_price"]["currency"] for li in result.line_items}
    if currency and currencies - {currency}:
        result.problems.append(
            f"currency: amounts in {', '.join(sorted(currencies | {currency}))} in one order"
        )
    unreadable = {p.split(":", 1)[0] for p in result.problems}
    missing = [
        name
        for name in rules.required
        if name not in unreadable
        and (not result.line_items if name == "line_items" else name not in result.values)
    ]
    result.missing = missing
    if missing:
        result.problems.insert(0, f"missing {', '.join(missing)}")
    if rules.check_total and not result.problems and "total" in result.values:
        items = _items_total(result.line_items).quantize(_CENT)
        if "subtotal" in result.values and items != Decimal(result.values["subtotal"]["amount"]):
            result.problems.append(
                f"subtotal {result.values['subtotal']['amount']} is not the items' sum {items}"
            )
        expected = _expected_total(result)
        if expected != Decimal(result.values["total"]["amount"]):
            result.problems.append(
                f"total {result.values['total']['amount']} is not items + fees - discount "
                f"= {expected}"
            )
    return result


def _cut(scope: _Scope, hit: _Hit, detached: list[tuple[Any, Any, int]]) -> _Scope:
    """The scope without a customer-written field: its element taken out of the HTML
    (put back by the caller once the order is read: the tree is the mail's, shared by its
    orders), and the text it matched cut out of the text."""
    cuts = (*scope.cuts, hit.matched) if hit.matched and hit.node is None else scope.cuts
    node = hit.node
    if node is not None and scope.node is not None and node is not scope.node and node.parent:
        detached.append((node, node.parent, node.parent.index(node)))
        node.extract()
        return _Scope(scope.node, _Scope(None, "", cuts).clean(_node_lines(scope.node)), cuts)
    return _Scope(scope.node, _Scope(None, "", cuts).clean(scope.text), cuts)


def _readings_disagree(texts: Iterable[str], currency: str) -> str | None:
    """A problem when the texts a money spec finds are different amounts: the mail shows
    one total, a second one was written into it by someone else."""
    amounts: list[str] = []
    for text in texts:
        try:
            amount = parse_money(text, currency or None)["amount"]
        except VALUE_ERRORS:
            continue
        if amount not in amounts:
            amounts.append(amount)
    if len(amounts) < 2:
        return None
    return (
        f"the mail shows different amounts ({', '.join(amounts[:5])}); is one written "
        "into a customer's note? (docs/email-rules.md)"
    )


def _amount(values: Mapping[str, Any], name: str) -> Decimal:
    money = values.get(name)
    return Decimal(money["amount"]) if money else Decimal("0")


def _items_total(lines: Iterable[LineItem]) -> Decimal:
    return sum((Decimal(li["unit_price"]["amount"]) * li["quantity"] for li in lines), Decimal(0))


def _expected_total(result: Extraction) -> Decimal:
    subtotal = (
        _amount(result.values, "subtotal")
        if "subtotal" in result.values
        else _items_total(result.line_items)
    )
    return subtotal + _amount(result.values, "delivery_fee") - _amount(result.values, "discount")


# ------------------------------------------------------------------ the canonical order
def order_time(extraction: Extraction, mail: Mail, fallback: datetime) -> datetime:
    """The order's time: from the mail's body, else its Date header, else ``fallback``."""
    value = extraction.values.get("order_time")
    if isinstance(value, datetime):
        return value
    return mail.date or fallback


def order_entity(extraction: Extraction, moment: datetime) -> dict[str, Any]:
    """A complete extraction as the canonical order (the shape of shopify.order_entity)."""
    values, rules = extraction.values, extraction.rules
    currency = str(values["currency"])

    def money(name: str) -> Money:
        found: Money | None = values.get(name)
        return found or {"amount": "0.00", "currency": currency}

    subtotal: Money = money("subtotal")
    if "subtotal" not in values:
        items = _items_total(extraction.line_items).quantize(_CENT)
        subtotal = {"amount": str(items), "currency": currency}
    phone = values.get("phone")
    name = values.get("customer_name")
    number = str(values["order_number"])
    lines: list[LineItem] = [
        {
            "line_id": str(i),
            "product_id": None,
            "variant_id": None,
            "sku": None,
            "variant_title": None,
            **line,
        }
        for i, line in enumerate(extraction.line_items, start=1)
    ]
    customer: Party = {"id": None, "name": name, "email": None, "phone": phone}
    address: Address | None = None
    if values.get("address"):
        address = {
            "name": name,
            "company": None,
            "address1": values["address"],
            "address2": None,
            "city": values.get("city"),
            "province": None,
            "zip": None,
            "country": None,
            "country_code": rules.defaults.get("country_code"),
            "phone": phone,
        }
    return {
        "order_id": number,
        "name": f"{rules.defaults.get('order_name_prefix', '#')}{number}",
        "number": number,
        "created_at": iso(moment),
        "updated_at": iso(moment),
        "financial_status": rules.defaults.get("financial_status"),
        "fulfillment_status": None,
        "cancelled_at": None,
        "cancel_reason": None,
        "closed_at": None,
        "currency": currency,
        "presentment_currency": currency,
        "subtotal": subtotal,
        "tax": {"amount": "0.00", "currency": currency},
        "discounts": money("discount"),
        "shipping": money("delivery_fee"),
        "total": values["total"],
        "total_presentment": values["total"],
        "customer": customer,
        "shipping_address": address,
        "line_items": lines,
        "note": values.get("note"),
        "tags": ["email", rules.service],
        "attribution": {
            "channel": "email",
            "source_name": rules.service,
            "landing_site": None,
            "referring_site": None,
        },
        "external_ref": number,
        "manager": None,
    }


def order_event(extraction: Extraction, mail: Mail, *, shop: str, raw: Raw, at: datetime) -> Event:
    """The ``order.created`` event of a complete extraction.

    Its id comes from (source, shop, order number, order time): the same order mailed
    twice, or seen twice through overlapping history, is the same event.
    """
    moment = order_time(extraction, mail, at)
    entity = order_entity(extraction, moment)
    return make_event(
        event_type="order.created",
        source=extraction.rules.source,
        shop=shop,
        occurred_at=moment,
        version=_version_of(moment),
        entity_id=entity["order_id"],
        entity=entity,
        raw=raw,
    )
