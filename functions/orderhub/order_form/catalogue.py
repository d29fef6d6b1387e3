"""The product picker's search over the CRM's ``products`` view (BigQuery).

Every value the manager types travels as a query parameter; the only text put into the
SQL is the view's name, which comes from settings, never from a request.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from orderhub.errors import TransientError

MAX_RESULTS = 20

SEARCH_SQL = """
SELECT product_id, variant_id, sku, title, variant_title, CAST(price AS STRING) AS price
FROM `{view}`
WHERE shop = @shop
  AND LOWER(COALESCE(status, 'active')) = 'active'
  AND (
    @needle = ''
    OR STRPOS(LOWER(title), @needle) > 0
    OR STRPOS(LOWER(COALESCE(variant_title, '')), @needle) > 0
    OR STRPOS(LOWER(COALESCE(sku, '')), @needle) > 0
  )
ORDER BY title, variant_title, sku
LIMIT @limit
"""

#: One variant by its id: the price an edit of items takes (never the browser's).
VARIANT_SQL = """
SELECT product_id, variant_id, sku, title, variant_title, CAST(price AS STRING) AS price
FROM `{view}`
WHERE shop = @shop AND variant_id = @variant_id
  AND LOWER(COALESCE(status, 'active')) = 'active'
ORDER BY title, sku
LIMIT 1
"""


@dataclass(frozen=True)
class Product:
    product_id: str | None
    variant_id: str | None
    sku: str | None
    title: str
    variant_title: str | None
    price: str | None

    @property
    def label(self) -> str:
        if self.variant_title and self.variant_title.lower() != "default title":
            return f"{self.title} — {self.variant_title}"
        return self.title

    def as_json(self) -> dict[str, Any]:
        return {
            "product_id": self.product_id,
            "variant_id": self.variant_id,
            "sku": self.sku,
            "title": self.label,
            "variant_title": self.variant_title,
            "price": self.price,
        }


def _price(value: str | None) -> str | None:
    """Two decimals, as a manager types them ("199.00"), whatever NUMERIC→STRING gave."""
    if value is None:
        return None
    try:
        return str(Decimal(value).quantize(Decimal("0.01")))
    except InvalidOperation:
        return None


class BigQueryCatalogue:
    def __init__(self, client: Any, dataset: str, *, timeout: float = 20.0) -> None:
        self._client = client
        self._view = f"{client.project}.{dataset}.products"
        self._timeout = timeout

    def search(self, text: str, *, shop: str, limit: int = MAX_RESULTS) -> list[Product]:
        """Variants of ``shop`` whose title, variant title or SKU contains ``text``."""
        return self._run(
            SEARCH_SQL,
            [
                ("shop", "STRING", shop),
                ("needle", "STRING", text.strip().lower()[:100]),
                ("limit", "INT64", max(1, min(limit, 100))),
            ],
        )

    def variant(self, variant_id: str, *, shop: str) -> Product | None:
        """The active variant ``variant_id`` of ``shop``, or ``None``."""
        found = self._run(
            VARIANT_SQL, [("shop", "STRING", shop), ("variant_id", "STRING", variant_id[:128])]
        )
        return found[0] if found else None

    def _run(self, sql_template: str, params: list[tuple[str, str, Any]]) -> list[Product]:
        from google.api_core import exceptions
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig(
            query_parameters=[bigquery.ScalarQueryParameter(n, t, v) for n, t, v in params]
        )
        sql = sql_template.format(view=self._view)
        try:
            rows = self._client.query(sql, job_config=config, timeout=self._timeout).result(
                timeout=self._timeout
            )
        except exceptions.GoogleAPICallError as exc:
            raise TransientError(f"product search failed: {exc.__class__.__name__}") from exc
        return [
            Product(
                product_id=row["product_id"],
                variant_id=row["variant_id"],
                sku=row["sku"],
                title=row["title"] or "",
                variant_title=row["variant_title"],
                price=_price(row["price"]),
            )
            for row in rows
        ]
