"""GraphQL selections over the stand-in's data, with Shopify's calculated query cost.

Shopify analyses a query before running it and charges its *requested* cost from the
app's leaky bucket; after running it, the *actual* cost (the same rules over what was
really returned) is charged and the difference refunded. The rules (shopify.dev, "GraphQL
Admin API rate limits"; Shopify Engineering, "Rate limiting GraphQL APIs by calculating
query complexity"):

* a scalar or enum costs 0, an object 1, a mutation 10;
* a connection costs 2 plus, for each of the ``first``/``last`` objects it may return, the
  cost of one object and everything selected inside it; so nested connections
  *multiply*: ``orders(first: 50) { nodes { lineItems(first: 100) { nodes { ... } } } }``
  costs 2 + 50 * (1 + 2 + 100 * ...);
* a single query may not request more than 1,000 points, whatever the bucket: it is
  refused before it runs with ``MAX_COST_EXCEEDED``.

``project`` keeps only the selected fields of a full object (aliases honoured) and pages
nested connections by their own ``first``/``after`` arguments, so a client that pages
line items beyond the first page gets what Shopify would give. A field whose selection
holds ``nodes``, ``edges`` or ``pageInfo`` is a connection; ``pageInfo`` counts as an
object. Pure code, shared by the HTTP stand-in and ``ShopifyStore.graphql``.
"""

from __future__ import annotations

import base64
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from graphql.utilities import value_from_ast_untyped

MAX_QUERY_COST = 1000
MUTATION_COST = 10
CONNECTION_PARTS = ("nodes", "edges", "pageInfo")


def max_cost_exceeded(cost: int) -> dict[str, Any]:
    """The error Shopify answers for a query over the single-query limit."""
    return {
        "message": (
            f"Query cost is {cost}, which exceeds the single query max cost limit "
            f"({MAX_QUERY_COST}).\n\nSee https://shopify.dev/concepts/about-apis/rate-limits "
            "for more information on how the\ncost of a query is calculated.\n\nTo query "
            "larger amounts of data with fewer limits, bulk operations should be used "
            "instead.\n"
        ),
        "extensions": {
            "code": "MAX_COST_EXCEEDED",
            "cost": cost,
            "maxCost": MAX_QUERY_COST,
            "documentation": "https://shopify.dev/api/usage/rate-limits",
        },
    }


class Query:
    """One operation of a parsed document, with its variables and fragments."""

    def __init__(
        self,
        operation: OperationDefinitionNode,
        fragments: dict[str, Any],
        variables: dict[str, Any],
    ) -> None:
        self.operation = operation
        self.fragments: dict[str, FragmentDefinitionNode] = fragments
        self.variables: dict[str, Any] = variables or {}

    @property
    def is_mutation(self) -> bool:
        return self.operation.operation.value == "mutation"

    def args(self, node: FieldNode) -> dict[str, Any]:
        return {
            arg.name.value: value_from_ast_untyped(arg.value, self.variables)
            for arg in node.arguments or ()
        }

    def fields(self, selection: SelectionSetNode | None) -> list[FieldNode]:
        """The fields of a selection, fragments flattened."""
        out: list[FieldNode] = []
        for node in selection.selections if selection else ():
            if isinstance(node, FieldNode):
                out.append(node)
            elif isinstance(node, InlineFragmentNode):
                out += self.fields(node.selection_set)
            else:
                fragment = self.fragments.get(node.name.value)
                if fragment is not None:
                    out += self.fields(fragment.selection_set)
        return out

    def is_connection(self, node: FieldNode) -> bool:
        return any(f.name.value in CONNECTION_PARTS for f in self.fields(node.selection_set))

    # -------------------------------------------------------------- costs
    def requested_cost(self) -> int:
        """The cost Shopify computes before running the query."""
        roots = self.fields(self.operation.selection_set)
        if self.is_mutation:
            return MUTATION_COST * len(roots)
        return sum(self._cost(root, None, actual=False) for root in roots)

    def actual_cost(self, data: dict[str, Any]) -> int:
        """The same rules over what the answer really holds (``data`` keyed by alias)."""
        roots = self.fields(self.operation.selection_set)
        if self.is_mutation:
            return MUTATION_COST * len(roots)
        return sum(self._cost(root, data.get(_key(root)), actual=True) for root in roots)

    def _inner(self, node: FieldNode, value: Any, actual: bool) -> int:
        """Cost of everything selected inside one object."""
        total = 0
        for child in self.fields(node.selection_set):
            child_value = value.get(_key(child)) if isinstance(value, dict) else None
            total += self._cost(child, child_value, actual)
        return total

    def _cost(self, node: FieldNode, value: Any, actual: bool) -> int:
        if node.selection_set is None:
            return 0  # scalar or enum
        if actual and value is None:
            return 0
        args = self.args(node)
        size = int(args.get("first") or args.get("last") or 0)
        if isinstance(args.get("ids"), list):  # nodes(ids: [...]): one object per id
            size = len(args["ids"])
        if self.is_connection(node):
            total = 2
            for part in self.fields(node.selection_set):
                name = part.name.value
                part_value = value.get(_key(part)) if isinstance(value, dict) else None
                if name == "pageInfo":
                    total += 1
                elif name == "nodes":
                    items = part_value if actual else [None] * size
                    total += sum(1 + self._inner(part, item, actual) for item in items or [])
                elif name == "edges":
                    edges = part_value if actual else [None] * size
                    node_fields = [
                        f for f in self.fields(part.selection_set) if f.name.value == "node"
                    ]
                    for edge in edges or []:
                        for inner in node_fields:
                            item = edge.get(_key(inner)) if isinstance(edge, dict) else None
                            total += 1 + self._inner(inner, item, actual)
            return total
        if isinstance(value, list) or (not actual and size):
            items = value if actual else [None] * max(size, 1)
            return sum(1 + self._inner(node, item, actual) for item in items or [])
        return 1 + self._inner(node, value, actual)

    # --------------------------------------------------------- projection
    def project(self, node: FieldNode, value: Any) -> Any:
        """The selected part of ``value`` for field ``node`` (connections paged)."""
        if node.selection_set is None or value is None:
            return value
        if self.is_connection(node):
            return self._connection(node, value)
        if isinstance(value, list):
            args = self.args(node)
            limit = args.get("first")
            items = value[: int(limit)] if limit is not None else value
            return [self._object(node, item) if item is not None else None for item in items]
        return self._object(node, value)

    def _object(self, node: FieldNode, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        out: dict[str, Any] = {}
        for child in self.fields(node.selection_set):
            name = child.name.value
            out[_key(child)] = (
                value.get("__typename")
                if name == "__typename"
                else self.project(child, value.get(name))
            )
        return out

    def _connection(self, node: FieldNode, value: Any) -> dict[str, Any]:
        """A list (stored whole) or an already paged ``{nodes, pageInfo}`` as a connection."""
        if isinstance(value, dict):  # a root page the store already cut
            items = list(value.get("nodes") or [])
            info = dict(value.get("pageInfo") or {"hasNextPage": False, "endCursor": None})
        else:
            args = self.args(node)
            start = _offset(args.get("after"))
            first = int(args.get("first") or 50)
            everything = list(value)
            items = everything[start : start + first]
            end = start + len(items)
            info = {
                "hasNextPage": end < len(everything),
                "hasPreviousPage": start > 0,
                "endCursor": _cursor(end) if items else None,
                "startCursor": _cursor(start + 1) if items else None,
            }
        out: dict[str, Any] = {}
        for part in self.fields(node.selection_set):
            name = part.name.value
            if name == "nodes":
                out[_key(part)] = [self._object(part, item) for item in items]
            elif name == "edges":
                out[_key(part)] = [
                    self._object(part, {"node": item, "cursor": None}) for item in items
                ]
            elif name == "pageInfo":
                out[_key(part)] = self._object(part, info)
        return out


def parse_query(text: str, variables: dict[str, Any] | None, name: str | None = None):
    """The operation to run as a ``Query``, or the error answer Shopify would give."""
    from graphql import GraphQLError, parse

    try:
        document = parse(text)
    except GraphQLError as exc:
        return {"errors": [{"message": exc.message, "locations": [{"line": 1, "column": 1}]}]}
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    chosen = [o for o in operations if not name or (o.name and o.name.value == name)]
    if len(chosen) != 1:
        return {"errors": [{"message": "An operation name is required"}]}
    return Query(chosen[0], fragments, variables or {})


def _key(node: FieldNode) -> str:
    return node.alias.value if node.alias else node.name.value


def _cursor(position: int) -> str:
    return base64.b64encode(str(position).encode()).decode()


def _offset(after: Any) -> int:
    return int(base64.b64decode(str(after)).decode()) if after else 0
