"""Shopify's published Admin schema, and requests checked against it as Shopify does.

The schema is the introspection Shopify ships in ``@shopify/dev-mcp``
(``devstack/shopify_schema/``, see its SOURCE.md). graphql-core's schema check refuses it in
exactly ``KNOWN_SCHEMA_ERRORS`` places, all "implementation field must not be deprecated"
(Shopify deprecates fields on types whose interface does not); ``schema()`` asserts those
are the only ones and then skips the check, so documents can be validated.

``check`` validates a document and its variables (graphql-core's specified rules, then
variable coercion: unknown input fields, bad enum values, missing required variables) and
returns the errors in Shopify's shape (``message``, ``locations``, ``path``,
``extensions.code``), or None when the request is valid.
"""

from __future__ import annotations

import functools
import gzip
import json
import re
from pathlib import Path
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    build_client_schema,
    parse,
    validate,
    validate_schema,
)
from graphql.execution.values import get_variable_values
from graphql.language import Source

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "shopify_schema"
KNOWN_SCHEMA_ERRORS = 6
_KNOWN = re.compile(
    r"^Interface field \w+\.\w+ is not deprecated, "
    r"so implementation field \w+\.\w+ must not be deprecated\.$"
)


def schema_file() -> Path:
    """The one vendored schema (``admin_<version>.json.gz``)."""
    (found,) = sorted(SCHEMA_DIR.glob("admin_*.json.gz"))
    return found


def schema_version() -> str:
    return schema_file().name.removeprefix("admin_").removesuffix(".json.gz")


@functools.cache
def schema() -> GraphQLSchema:
    with gzip.open(schema_file()) as raw:
        introspection = json.load(raw)
    built = build_client_schema(introspection.get("data", introspection))
    problems = [error.message for error in validate_schema(built)]
    unexpected = [message for message in problems if not _KNOWN.match(message)]
    if unexpected or len(problems) != KNOWN_SCHEMA_ERRORS:
        raise RuntimeError(f"Shopify's schema has unexpected problems: {problems}")
    built._validation_errors = []  # checked above: skip graphql-core's schema check
    return built


#: graphql-core's message → Shopify's (graphql-ruby's) message and ``extensions``.
_SHAPES: tuple[tuple[re.Pattern[str], Any], ...] = (
    (
        re.compile(r"^Cannot query field '(?P<field>[^']+)' on type '(?P<type>[^']+)'"),
        lambda m: (
            f"Field '{m['field']}' doesn't exist on type '{m['type']}'",
            {"code": "undefinedField", "typeName": m["type"], "fieldName": m["field"]},
        ),
    ),
    (
        re.compile(
            r"^Unknown argument '(?P<arg>[^']+)' on field '(?P<type>[^'.]+)\.(?P<field>[^']+)'"
        ),
        lambda m: (
            f"Field '{m['field']}' doesn't accept argument '{m['arg']}'",
            {
                "code": "argumentNotAccepted",
                "name": m["field"],
                "typeName": "Field",
                "argumentName": m["arg"],
            },
        ),
    ),
    (
        re.compile(
            r"^Argument '[^'.]+\.(?P<field>[^'(]+)\((?P<arg>[^:]+):\)' of type '[^']+' is required"
        ),
        lambda m: (
            f"Field '{m['field']}' is missing required arguments: {m['arg']}",
            {
                "code": "missingRequiredArguments",
                "className": "Field",
                "name": m["field"],
                "arguments": m["arg"],
            },
        ),
    ),
    (re.compile(r"^Unknown type '(?P<type>[^']+)'"), lambda m: (None, {"code": "undefinedType"})),
    (
        re.compile(r"^Variable '\$[^']+' is never used"),
        lambda m: (None, {"code": "variableNotUsed"}),
    ),
    (
        re.compile(r"^Variable '\$[^']+' is not defined"),
        lambda m: (None, {"code": "variableNotDefined"}),
    ),
    (
        re.compile(r"^Field '[^']+' (must|must not) have a selection"),
        lambda m: (None, {"code": "selectionMismatch"}),
    ),
    (
        re.compile(r"^Variable '\$[^']+' of type '[^']+' used in position"),
        lambda m: (None, {"code": "variableMismatch"}),
    ),
    (
        re.compile(
            r"^(Expected value of type|Enum '[^']+' cannot represent"
            r"|Value '[^']+' does not exist|Field '[^']+' is not defined by type)"
        ),
        lambda m: (None, {"code": "argumentLiteralsIncompatible"}),
    ),
)


def _shopify_error(error: GraphQLError) -> dict[str, Any]:
    message, extensions = error.message, None
    for pattern, shape in _SHAPES:
        match = pattern.match(error.message)
        if match:
            better, extensions = shape(match)
            message = better or message
            break
    shaped: dict[str, Any] = {"message": message}
    if error.locations:
        shaped["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if error.path:
        shaped["path"] = list(error.path)
    if extensions:
        shaped["extensions"] = extensions
    return shaped


_VARIABLE = re.compile(
    r"^Variable '\$(?P<name>[^']+)' has invalid value(?: at (?P<at>[^:]+))?: (?P<why>.*)$", re.S
)


def _variable_error(
    error: GraphQLError, definitions: dict[str, str], values: dict[str, Any]
) -> dict[str, Any]:
    """Shopify's answer to a bad variable: ``Variable $x of type T was provided invalid
    value`` with ``extensions.value`` and ``problems`` (path and explanation)."""
    match = _VARIABLE.match(error.message)
    if not match:
        return {"message": error.message, "extensions": {"code": "INVALID_VARIABLE"}}
    name = match["name"]
    path = [p for p in re.split(r"[.\[\]]+", match["at"] or "") if p]
    shaped: dict[str, Any] = {
        "message": (
            f"Variable ${name} of type {definitions.get(name, '?')} was provided invalid value"
            + (f" for {'.'.join(path)}" if path else "")
        ),
        "extensions": {
            "code": "INVALID_VARIABLE",
            "value": values.get(name),
            "problems": [
                {"path": [int(p) if p.isdigit() else p for p in path], "explanation": match["why"]}
            ],
        },
    }
    if error.locations:
        shaped["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    return shaped


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | str:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name:
        named = [o for o in operations if o.name and o.name.value == name]
        return named[0] if named else f'No operation named "{name}"'
    if len(operations) != 1:
        return "An operation name is required"
    return operations[0]


def check(
    query: str, variables: dict[str, Any] | None = None, operation_name: str | None = None
) -> list[dict[str, Any]] | None:
    """The errors Shopify would answer for this request, or None when it is valid."""
    try:
        document = parse(Source(query, "GraphQL request"))
    except GraphQLError as exc:
        shaped = _shopify_error(exc)
        shaped["extensions"] = {"code": "parseError"}
        return [shaped]
    errors = validate(schema(), document)
    if errors:
        return [_shopify_error(e) for e in errors]
    operation = _operation(document, operation_name)
    if isinstance(operation, str):
        return [{"message": operation}]
    if variables is not None and not isinstance(variables, dict):
        return [{"message": "Variables must be an object"}]
    coerced = get_variable_values(schema(), operation.variable_definitions or (), variables or {})
    if isinstance(coerced, list):
        from graphql import print_ast

        definitions = {
            d.variable.name.value: print_ast(d.type) for d in operation.variable_definitions or ()
        }
        return [_variable_error(e, definitions, variables or {}) for e in coerced]
    return None


def deprecated_uses(query: str) -> list[str]:
    """Every deprecated field, argument, input field or enum value the document names
    (Shopify still answers them; they go in a later version)."""
    from graphql import TypeInfo, TypeInfoVisitor, Visitor, visit
    from graphql.type import get_named_type, is_input_object_type

    found: list[str] = []
    info = TypeInfo(schema())

    class Deprecations(Visitor):
        def enter_field(self, node: Any, *_: Any) -> None:
            field, parent = info.get_field_def(), info.get_parent_type()
            if field is not None and field.deprecation_reason:
                found.append(f"{parent}.{node.name.value}: {field.deprecation_reason}")

        def enter_argument(self, node: Any, *_: Any) -> None:
            argument = info.get_argument()
            if argument is not None and argument.deprecation_reason:
                found.append(f"argument {node.name.value}: {argument.deprecation_reason}")

        def enter_object_field(self, node: Any, *_: Any) -> None:
            parent = get_named_type(info.get_parent_input_type())
            if is_input_object_type(parent):
                field = parent.fields.get(node.name.value)  # type: ignore[union-attr]
                if field is not None and field.deprecation_reason:
                    found.append(f"{parent}.{node.name.value}: {field.deprecation_reason}")

        def enter_enum_value(self, node: Any, *_: Any) -> None:
            value = info.get_enum_value()
            if value is not None and value.deprecation_reason:
                found.append(f"enum {node.value}: {value.deprecation_reason}")

    visit(parse(query), TypeInfoVisitor(info, Deprecations()))
    return found


def deprecated_in_variables(query: str, variables: dict[str, Any]) -> list[str]:
    """Deprecated input fields and enum values that the variables' values use (a document
    check cannot see them: ``MailingAddressInput.province`` arrives in a variable)."""
    from graphql import type_from_ast
    from graphql.type import (
        get_nullable_type,
        is_enum_type,
        is_input_object_type,
        is_list_type,
    )

    found: list[str] = []

    def walk(kind: Any, value: Any, path: str) -> None:
        kind = get_nullable_type(kind)
        if value is None:
            return
        if is_list_type(kind):
            for index, item in enumerate(value if isinstance(value, list) else [value]):
                walk(kind.of_type, item, f"{path}[{index}]")
        elif is_input_object_type(kind) and isinstance(value, dict):
            for name, item in value.items():
                field = kind.fields.get(name)
                if field is None:
                    continue
                if field.deprecation_reason:
                    found.append(f"{path}.{name} ({kind}.{name}): {field.deprecation_reason}")
                walk(field.type, item, f"{path}.{name}")
        elif is_enum_type(kind) and isinstance(value, str):
            enum_value = kind.values.get(value)
            if enum_value is not None and enum_value.deprecation_reason:
                found.append(f"{path} ({kind}.{value}): {enum_value.deprecation_reason}")

    operation = _operation(parse(query), None)
    if isinstance(operation, str):
        return found
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        kind = type_from_ast(schema(), definition.type)  # type: ignore[arg-type]
        if kind is not None and name in variables:
            walk(kind, variables[name], f"${name}")
    return found
