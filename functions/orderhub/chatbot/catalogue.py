"""``POST /catalogue``: ManyChat Dynamic Block v2 ``cards`` from the ``products`` view.

* Products come from BigQuery at most every ``ttl`` seconds (``ProductCache``); between
  refreshes the bot is answered from memory. If a refresh fails, the last list is served
  (and the failure logged); with no list at all the bot gets a friendly text.
* Active products only, those with stock first, then by title; a search word (every word
  must appear in the title, type, vendor, tags, SKUs or option names) and a collection
  (Shopify's product webhooks carry no collections: the product type or a tag) narrow it.
* One card per product: image, title, price in the subtitle (Messenger's cards have no
  price field), ``action_url`` and a "View" button to the product page, and a "Buy now"
  cart link when in stock. Both links carry the contact id (``orderhub_contact``): a cart
  attribute survives checkout as the order's note attribute; a landing-page parameter
  survives as its ``landing_site`` (see ``orderhub.sources.shopify.chat_contact``).
* At most 10 cards, titles and subtitles of at most 80 characters; when there are more,
  a text with a ``dynamic_block_callback`` "More" button asks for the next page. The
  button carries its own token (``CALLBACK_HEADER``: an HMAC of exactly the page it asks
  for, under a key derived from the bot's secret), never the secret: ManyChat stores the
  buttons with the bot's messages, and a token opens that one catalogue page, nothing else.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote, urlencode

from orderhub import logs
from orderhub.errors import PoisonMessage, TransientError
from orderhub.money import format_money
from orderhub.sources.shopify import CONTACT_PARAMETER

MAX_CARDS = 10
TITLE_LIMIT = 80
SUBTITLE_LIMIT = 80
CAPTION_LIMIT = 20
TEXT_LIMIT = 640  # a text with buttons is Messenger's button template
MAX_QUERY = 100
ELLIPSIS = "…"
#: The header of the "More" button's callback: ``callback_token`` of the page it asks for.
CALLBACK_HEADER = "X-OrderHub-Callback"

#: The contact channels ManyChat runs, and how the catalogue answers each (ManyChat's
#: Dynamic Block docs): Instagram, WhatsApp and Telegram name the channel in
#: ``content.type`` and take url, flow and node buttons only; WhatsApp and Telegram take
#: no galleries (one text per product instead); Messenger takes everything.
CHANNELS = ("messenger", "instagram", "whatsapp", "telegram", "tiktok")
TYPED_CHANNELS = ("instagram", "whatsapp", "telegram")
PLAIN_CHANNELS = ("whatsapp", "telegram", "tiktok")
#: Messages a Dynamic Block answer may hold.
MAX_MESSAGES = 10
MORE_BY_SEARCH = "These are {n} of {of}. Write a word (a name, a colour) to narrow the list."

NOTHING_FOUND = "Nothing matches “{query}” right now. Try another word, or write to us here."
EMPTY_SHOP = "Our catalogue is being restocked. Write to us here and a manager will help."
UNAVAILABLE = "The catalogue cannot be shown this minute. Please try again shortly."


@dataclass(frozen=True)
class Variant:
    variant_id: str
    title: str | None
    sku: str | None
    price: Decimal | None
    stock: int | None  # None: not tracked

    @property
    def available(self) -> bool:
        return self.stock is None or self.stock > 0


@dataclass(frozen=True)
class Product:
    product_id: str
    title: str
    handle: str | None
    image_url: str | None
    product_type: str | None
    vendor: str | None
    status: str | None
    tags: tuple[str, ...]
    variants: tuple[Variant, ...]

    @property
    def active(self) -> bool:
        return (self.status or "active").lower() == "active"

    @property
    def in_stock(self) -> bool:
        return any(v.available for v in self.variants)

    def words(self) -> str:
        parts = [self.title, self.product_type, self.vendor, *self.tags]
        for v in self.variants:
            parts += [v.title, v.sku]
        return " ".join(p for p in parts if p).casefold()


@dataclass(frozen=True)
class Request:
    contact_id: str | None
    query: str
    collection: str
    page: int
    #: The contact's channel (``orderhub.sources.manychat.channel_of``): what the answer
    #: may hold. Not part of a "More" page's token (Messenger's only).
    channel: str = "messenger"


@dataclass(frozen=True)
class Links:
    """Where cards point and how "More" calls back."""

    store_url: str
    currency: str
    callback_url: str
    #: ``callback_key(secret)``: signs the "More" buttons' pages.
    callback_key: bytes


def callback_key(secret: str) -> bytes:
    """The key the "More" tokens are made with: derived from the bot's secret, which
    it does not reveal."""
    return hmac.new(secret.encode(), b"orderhub chatbot catalogue callback v1", "sha256").digest()


def callback_token(key: bytes, request: Request) -> str:
    """The token of one catalogue page: an HMAC of what it asks for, as ``parse_request``
    reads it back (contact, search, collection, page)."""
    canonical = json.dumps(
        [request.contact_id, request.query, request.collection, request.page],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()


def callback_valid(key: bytes, request: Request, token: str) -> bool:
    return hmac.compare_digest(callback_token(key, request).encode(), token.strip().encode())


def _decimal(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def products_from_rows(rows: Iterable[Mapping[str, Any]]) -> list[Product]:
    """Rows of the ``products`` view (one per variant) → one ``Product`` each."""
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(str(row["product_id"]), []).append(row)
    products = []
    for product_id, variants in grouped.items():
        first = variants[0]
        stock = [v.get("inventory_quantity") for v in variants]
        products.append(
            Product(
                product_id=product_id,
                title=str(first.get("title") or ""),
                handle=first.get("handle") or None,
                image_url=first.get("image_url") or None,
                product_type=first.get("product_type") or None,
                vendor=first.get("vendor") or None,
                status=first.get("status") or None,
                tags=tuple(first.get("tags") or ()),
                variants=tuple(
                    Variant(
                        variant_id=str(v.get("variant_id") or ""),
                        title=v.get("variant_title") or None,
                        sku=v.get("sku") or None,
                        price=_decimal(v.get("price")),
                        stock=None if s is None else int(s),
                    )
                    for v, s in zip(variants, stock, strict=True)
                    if v.get("variant_id")
                ),
            )
        )
    return products


class ProductCache:
    """The product list, loaded at most every ``ttl`` seconds; thread-safe.

    One caller refreshes while the others keep being served the previous list.
    """

    def __init__(
        self,
        load: Callable[[], list[Product]],
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._products: list[Product] | None = None
        self._loaded_at = float("-inf")
        self.loads = 0

    def get(self) -> list[Product]:
        products = self._products
        if products is not None and self._clock() - self._loaded_at < self._ttl:
            return products
        if products is not None and not self._lock.acquire(blocking=False):
            return products  # someone is refreshing: serve what we have meanwhile
        if products is None:
            self._lock.acquire()
        try:
            if self._products is not None and self._clock() - self._loaded_at < self._ttl:
                return self._products
            try:
                fresh = self._load()
            except TransientError as exc:
                if self._products is None:
                    raise
                logs.error("catalogue refresh failed; serving the previous list", error=str(exc))
                return self._products
            self._products, self._loaded_at = fresh, self._clock()
            self.loads += 1
            return fresh
        finally:
            self._lock.release()


def parse_request(body: bytes) -> Request:
    """What the bot asks for; ``PoisonMessage`` when the body cannot be read.

    Accepts the bot author's own body (``contact_id``/``subscriber_id``, ``q``/``query``/
    ``search``, ``collection``, ``page``), Full Contact Data (its ``id``) or both, and the
    "More" callback's payload.
    """
    if not body.strip():
        return Request(None, "", "", 1)
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PoisonMessage(f"body is not JSON ({exc.__class__.__name__})") from exc
    if not isinstance(payload, dict):
        raise PoisonMessage("body is not a JSON object")
    subscriber = payload.get("subscriber") if isinstance(payload.get("subscriber"), dict) else {}
    contact = next(
        (
            str(v).strip()
            for v in (
                payload.get("contact_id"),
                payload.get("subscriber_id"),
                payload.get("id"),
                (subscriber or {}).get("id"),
            )
            if v not in (None, "") and str(v).strip().isdigit()
        ),
        None,
    )
    query = next(
        (str(payload[k]) for k in ("q", "query", "search") if payload.get(k) not in (None, "")),
        "",
    )
    try:
        page = int(payload.get("page") or 1)
    except (TypeError, ValueError) as exc:
        raise PoisonMessage("page must be a whole number") from exc
    return Request(
        contact_id=contact,
        query=" ".join(query.split())[:MAX_QUERY],
        collection=" ".join(str(payload.get("collection") or "").split())[:MAX_QUERY],
        page=max(1, min(page, 1000)),
        channel=_channel(payload, subscriber or {}),
    )


def _channel(payload: Mapping[str, Any], subscriber: Mapping[str, Any]) -> str:
    """The contact's channel: the body's ``channel`` (the bot author's), else read from
    the Full Contact Data it carries (``whatsapp_phone``, ``ig_id``, ...), else Messenger."""
    from orderhub.sources import manychat

    stated = str(payload.get("channel") or "").strip().lower()
    if stated in CHANNELS:
        return stated
    return manychat.channel_of({**subscriber, **payload})


def select(products: Sequence[Product], query: str, collection: str) -> list[Product]:
    """Active products matching the search and collection, in stock first, then by title."""
    words = query.casefold().split()
    wanted = collection.casefold()
    found = [
        p
        for p in products
        if p.active
        and p.variants
        and all(w in p.words() for w in words)
        and (
            not wanted
            or (p.product_type or "").casefold() == wanted
            or any(t.casefold() == wanted for t in p.tags)
        )
    ]
    return sorted(found, key=lambda p: (not p.in_stock, p.title.casefold(), p.product_id))


def cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - len(ELLIPSIS)].rstrip() + ELLIPSIS


def _price(product: Product, currency: str) -> str | None:
    pool = [v for v in product.variants if v.available] or list(product.variants)
    prices = sorted({v.price for v in pool if v.price is not None})
    if not prices:
        return None
    text = format_money(prices[0], currency)
    return f"from {text}" if len(prices) > 1 else text


def _with_query(url: str, params: Mapping[str, str | None]) -> str:
    kept = {k: v for k, v in params.items() if v}
    return f"{url}?{urlencode(kept)}" if kept else url


def product_url(
    product: Product, variant: Variant | None, links: Links, contact: str | None
) -> str:
    """The product page, carrying the contact (``?orderhub_contact=``)."""
    if product.handle:
        base = f"{links.store_url}/products/{quote(product.handle, safe='')}"
        return _with_query(
            base,
            {
                "variant": variant.variant_id if variant else None,
                CONTACT_PARAMETER: contact,
                "utm_source": "manychat",
                "utm_medium": "chat",
            },
        )
    return _with_query(
        f"{links.store_url}/search",
        {"q": product.title, CONTACT_PARAMETER: contact, "utm_source": "manychat"},
    )


def cart_url(variant: Variant, links: Links, contact: str | None) -> str:
    """A cart permalink for one of the variant; the contact as a cart attribute, which
    Shopify carries into the order's ``note_attributes``."""
    return _with_query(
        f"{links.store_url}/cart/{quote(variant.variant_id, safe='')}:1",
        {f"attributes[{CONTACT_PARAMETER}]": contact},
    )


def card(product: Product, links: Links, contact: str | None) -> dict[str, Any]:
    variant = next((v for v in product.variants if v.available), None)
    price = _price(product, links.currency)
    stock = "in stock" if variant else "out of stock"
    subtitle = " · ".join(p for p in (price, stock) if p)
    view = product_url(product, variant or product.variants[0], links, contact)
    buttons: list[dict[str, Any]] = [
        {"type": "url", "caption": "View", "url": view, "webview_size": "full"}
    ]
    if variant is not None:
        buttons.append(
            {
                "type": "url",
                "caption": "Buy now",
                "url": cart_url(variant, links, contact),
                "webview_size": "full",
            }
        )
    element: dict[str, Any] = {
        "title": cut(product.title or "—", TITLE_LIMIT),
        "subtitle": cut(subtitle, SUBTITLE_LIMIT),
        "action_url": view,
        "buttons": buttons,
    }
    if product.image_url and product.image_url.startswith(("https://", "http://")):
        element["image_url"] = product.image_url
    return element


def _text(text: str, channel: str = "messenger") -> dict[str, Any]:
    return _answer([{"type": "text", "text": text}], channel)


def _answer(messages: list[dict[str, Any]], channel: str) -> dict[str, Any]:
    """A Dynamic Block v2 answer in the channel's format: Instagram, WhatsApp and Telegram
    answers name their channel in ``content.type``; Messenger's has none."""
    content: dict[str, Any] = {"messages": messages}
    if channel in TYPED_CHANNELS:
        content = {"type": channel, **content}
    return {"version": "v2", "content": content}


def _product_text(product: Product, links: Links, contact: str | None) -> dict[str, Any]:
    """One product as a text with its buttons, for channels that take no galleries."""
    element = card(product, links, contact)
    text = "\n".join(p for p in (element["title"], element["subtitle"]) if p)
    return {"type": "text", "text": cut(text, TEXT_LIMIT), "buttons": element["buttons"]}


def reply(products: Sequence[Product], request: Request, links: Links) -> dict[str, Any]:
    """The Dynamic Block answer for this request: a page of cards, or a friendly text,
    in the format the contact's channel takes (``CHANNEL_FORMATS``)."""
    found = select(products, request.query, request.collection)
    channel = request.channel
    if not found:
        if request.query or request.collection:
            asked = cut(request.query or request.collection, 60)
            return _text(NOTHING_FOUND.format(query=asked), channel)
        return _text(EMPTY_SHOP, channel)
    if channel != "messenger":
        return _typed_reply(found, request, links)
    pages = (len(found) + MAX_CARDS - 1) // MAX_CARDS
    page = min(request.page, pages)
    shown = found[(page - 1) * MAX_CARDS : page * MAX_CARDS]
    messages: list[dict[str, Any]] = [
        {
            "type": "cards",
            "image_aspect_ratio": "square",
            "elements": [card(p, links, request.contact_id) for p in shown],
        }
    ]
    if page < pages:
        first, last = (page - 1) * MAX_CARDS + 1, (page - 1) * MAX_CARDS + len(shown)
        payload: dict[str, Any] = {"page": page + 1}
        if request.query:
            payload["q"] = request.query
        if request.collection:
            payload["collection"] = request.collection
        if request.contact_id:
            payload["contact_id"] = request.contact_id
        asks = Request(request.contact_id, request.query, request.collection, page + 1)
        messages.append(
            {
                "type": "text",
                "text": cut(f"{first}–{last} of {len(found)}. Want to see more?", TEXT_LIMIT),
                "buttons": [
                    {
                        "type": "dynamic_block_callback",
                        "caption": "More",
                        "url": links.callback_url,
                        "method": "post",
                        "headers": {CALLBACK_HEADER: callback_token(links.callback_key, asks)},
                        "payload": payload,
                    }
                ],
            }
        )
    return {"version": "v2", "content": {"messages": messages}}


def _typed_reply(found: Sequence[Product], request: Request, links: Links) -> dict[str, Any]:
    """Instagram: a gallery; WhatsApp and Telegram, which take none: one text per product
    with its buttons. Their buttons are url, flow and node only, so no "More" callback:
    past the first page a text asks for a narrower search."""
    channel = request.channel
    if channel in PLAIN_CHANNELS:
        shown = found[: MAX_MESSAGES - 1]
        messages = [_product_text(p, links, request.contact_id) for p in shown]
    else:
        shown = found[:MAX_CARDS]
        elements = [card(p, links, request.contact_id) for p in shown]
        messages = [{"type": "cards", "image_aspect_ratio": "square", "elements": elements}]
    if len(found) > len(shown):
        messages.append(
            {"type": "text", "text": MORE_BY_SEARCH.format(n=len(shown), of=len(found))}
        )
    return _answer(messages, channel)


def unavailable(channel: str = "messenger") -> dict[str, Any]:
    return _text(UNAVAILABLE, channel)


class BigQueryProducts:
    """Loads the ``products`` view of one shop (one parameterised query)."""

    COLUMNS = (
        "product_id, title, handle, image_url, product_type, vendor, status, tags, "
        "variant_id, variant_title, sku, price, inventory_quantity"
    )

    def __init__(self, client: Any, dataset: str, shop: str, *, timeout: float = 20.0) -> None:
        self._client = client
        self._view = f"{client.project}.{dataset}.products"
        self._shop = shop
        self._timeout = timeout

    def __call__(self) -> list[Product]:
        from google.api_core import exceptions
        from google.cloud import bigquery

        sql = (
            f"SELECT {self.COLUMNS} FROM `{self._view}` "  # noqa: S608 (names are ours)
            "WHERE shop = @shop ORDER BY product_id, variant_id"
        )
        config = bigquery.QueryJobConfig(
            query_parameters=[bigquery.ScalarQueryParameter("shop", "STRING", self._shop)]
        )
        try:
            rows = self._client.query(sql, job_config=config).result(timeout=self._timeout)
            return products_from_rows(dict(row) for row in rows)
        except (exceptions.GoogleAPICallError, OSError, TimeoutError) as exc:
            raise TransientError(f"products unavailable: {exc.__class__.__name__}") from exc
