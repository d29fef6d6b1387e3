"""Start bqemulator without DuckDB's spatial (and avro) extensions, with its translations
cached and without table history.

bqemulator 1.4.0 refuses to start unless it can ``INSTALL spatial``, which downloads
the extension; these machines cannot. OrderHub uses no GEOGRAPHY (nor Avro), so the
two loads are skipped and everything else runs unchanged. Runs in the emulator's own
virtualenv (``.venv-bq``); arguments are bqemulator's CLI arguments.

Translation cache: for every query, bqemulator inlines each view's body into the query
and translates the whole text from BigQuery's SQL to DuckDB's with sqlglot (parse,
qualify, annotate types, rewrite): about 0.25 s of CPU for a query on the ``orders``
view, the same again for every poll of the same query. ``TranslationCache`` keeps each
translation with the catalog reads it made (tables, views, schemas, row access policies)
and reuses it only while those reads still give equal answers (row counts, sizes and
modification times aside: every insert changes them, and no translation reads them), so
a changed view or table is translated again. What the translation reads besides the
catalog is in its key (the SQL, project and caller); time travel (``FOR SYSTEM_TIME``),
which reads snapshots, is never cached. Each test makes a dataset of its own (``t_`` and
ten hex digits), so a query that names one such dataset is kept with its name stood for
(in the key, the translation and the catalog reads): the next test's dataset, of the same
tables and views, reuses it (misses fell from ~130 to ~50 in a run of 41 tests), and a
dataset whose tables or views differ reads differently and is translated again. The
qualification of table names in the translated SQL (one more parse) is kept as well.
Execution, parameters and materialized-view refreshes are untouched.

No table history: bqemulator copies a whole table after every write to it (an ``AUTO``
snapshot, for ``FOR SYSTEM_TIME AS OF``), so each streamed row costs a copy of its table
and the copies pile up for 7 days. OrderHub never reads table history, so those copies
are skipped and a time-travel query is refused in words; ``ORDERHUB_BQ_TIME_TRAVEL=1``
keeps bqemulator's own behaviour.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

# What a table's or dataset's metadata says that no translation reads, and that every
# streamed insert changes: left out when answers are compared.
_VOLATILE = frozenset(
    {"num_rows", "num_bytes", "last_modified_time", "etag", "creation_time", "created_at"}
)
#: A dataset name as the tests make them, one per test (``unique("t")``: a prefix, ``_``,
#: ten hex digits): translations are kept with it stood for by ``_STAND_IN``, so one
#: test's translation serves the next test's dataset of the same tables and views.
_GENERATED = re.compile(r"(?<![A-Za-z0-9_])[A-Za-z][A-Za-z0-9]*_[0-9a-f]{10}(?![A-Za-z0-9_])")
_STAND_IN = "orderhub_any_test_dataset"
#: Where the views' DuckDB twins live (``_ResidentViews``): a schema of its own, never a
#: dataset of the catalog, each named ``<dataset>__v__<view>``.
_RESIDENT = "orderhub_resident_views"
_RESIDENT_SEP = "__v__"


def _swap(value: Any, old: str, new: str) -> Any:
    """``value`` (a catalog answer or a call's arguments) with ``old`` written ``new`` in
    every string, keys included."""
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, dict):
        return {_swap(k, old, new): _swap(v, old, new) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_swap(v, old, new) for v in value)
    return value


def _stable(answer: Any) -> Any:
    """A catalog answer without its volatile statistics, for comparison."""
    if hasattr(answer, "model_dump"):  # the catalog's frozen pydantic models
        answer = answer.model_dump()
    if isinstance(answer, dict):
        return {k: _stable(v) for k, v in answer.items() if k not in _VOLATILE}
    if isinstance(answer, list | tuple):
        return [_stable(v) for v in answer]
    return answer


class _RecordingCatalog:
    """The catalog, noting every read (``get_*``/``list_*``) and its answer."""

    def __init__(self, catalog: Any) -> None:
        self._catalog = catalog
        self.reads: list[tuple[str, tuple[Any, ...], tuple[Any, ...], Any]] = []
        self.wrote = False

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._catalog, name)
        if not callable(attr):
            return attr
        if not name.startswith(("get_", "list_")):
            self.wrote = True  # not a pure read: never cache what this translation gave
            return attr

        def read(*args: Any, **kwargs: Any) -> Any:
            answer = attr(*args, **kwargs)
            self.reads.append((name, args, tuple(sorted(kwargs.items())), _stable(answer)))
            return answer

        return read


class TranslationCache:
    """Memoise ``rewrite_and_translate_statement`` (bqemulator.sql.inner_query)."""

    def __init__(self, translate_chain: Callable[..., Any], size: int = 128) -> None:
        self._chain = translate_chain  # the rewrite chain after the MV refresh
        self._size = size
        self._entries: collections.OrderedDict[Any, tuple[str, list[Any]]] = (
            collections.OrderedDict()
        )
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def translate(
        self, bq_sql: str, *, project_id: str, ctx: Any, caller: Any, translator: Any
    ) -> str:
        if "SYSTEM_TIME" in bq_sql.upper():
            return str(
                self._chain(
                    bq_sql, project_id=project_id, ctx=ctx, caller=caller, translator=translator
                )
            )
        name = self._test_dataset(bq_sql, project_id, ctx.catalog)
        shape = bq_sql.replace(name, _STAND_IN) if name else bq_sql
        key = (shape, project_id, repr(caller), type(translator))
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and self._still_valid(ctx.catalog, entry[1], name):
            with self._lock:
                self._entries.move_to_end(key)
                self.hits += 1
            return entry[0].replace(_STAND_IN, name) if name else entry[0]
        recorder = _RecordingCatalog(ctx.catalog)
        duckdb_sql = str(
            self._chain(
                bq_sql,
                project_id=project_id,
                ctx=dataclasses.replace(ctx, catalog=recorder),
                caller=caller,
                translator=translator,
            )
        )
        if name and name not in duckdb_sql:  # not as expected: nothing to stand in for
            return duckdb_sql
        with self._lock:
            self.misses += 1
            if self.misses % 200 == 0:
                print(f"translation cache: {self.hits} hits, {self.misses} misses", file=sys.stderr)
            if not recorder.wrote:
                reads = recorder.reads
                if name:
                    reads = [_swap(read, name, _STAND_IN) for read in reads]
                self._entries[key] = (
                    duckdb_sql.replace(name, _STAND_IN) if name else duckdb_sql,
                    reads,
                )
                self._entries.move_to_end(key)
                while len(self._entries) > self._size:
                    self._entries.popitem(last=False)
        return duckdb_sql

    @staticmethod
    def _test_dataset(bq_sql: str, project_id: str, catalog: Any) -> str:
        """The one test-made dataset the SQL names (``_GENERATED``), if it names exactly one
        and it exists; else ``""`` (the SQL is its own key, as before)."""
        if _STAND_IN in bq_sql:
            return ""
        names = set(_GENERATED.findall(bq_sql))
        if len(names) != 1:
            return ""
        (name,) = names
        return name if catalog.get_dataset(project_id, name) is not None else ""

    @staticmethod
    def _still_valid(catalog: Any, reads: list[Any], name: str) -> bool:
        for read in reads:
            method, args, kwargs = _swap(read[:3], _STAND_IN, name) if name else read[:3]
            seen = _stable(getattr(catalog, method)(*args, **dict(kwargs)))
            if (_swap(seen, name, _STAND_IN) if name else seen) != read[3]:
                return False
        return True


_SYSTEM_TIME = re.compile(r"\bFOR\s+SYSTEM_TIME\b", re.IGNORECASE)


def _skip_automatic_snapshots() -> None:
    """Keep no ``AUTO`` snapshots: bqemulator copies the whole table (``CREATE TABLE AS
    SELECT *``) after every write, for time travel, so each streamed row costs a copy of
    its table, and the copies pile up for the retention window (7 days). OrderHub reads
    no table history (no ``FOR SYSTEM_TIME``), so the copies are skipped; the change
    event that refreshes materialized views is still published. ``USER`` snapshots
    (``CREATE SNAPSHOT TABLE``) are kept as before."""
    from bqemulator.versioning import snapshots

    capture = snapshots.SnapshotManager.capture

    def capture_user_only(
        self: Any, project_id: str, dataset_id: str, table_id: str, *, kind: str = "AUTO"
    ) -> Any:
        if kind == "AUTO":
            return None
        return capture(self, project_id, dataset_id, table_id, kind=kind)

    snapshots.SnapshotManager.capture = capture_user_only  # type: ignore[method-assign]


def _read_only_inspectors() -> frozenset[Any]:
    """The code of bqemulator 1.4.0's functions that parse a statement only to look at it
    (its kind, its DML target tables) and change nothing in the tree: classification,
    the refusal of DML on snapshots, the DML snapshot capture, and the detection of a
    routine drop, a catalog drop, ``CREATE SCHEMA``, ``CREATE VIEW`` and ``CREATE TABLE``,
    and the lookup of the referenced tables' column types for the translator (read in
    their source). They run for every query, and copying the kept tree for each of them
    cost more than the one parse (the column types' copy alone was 7.6 % of the
    emulator's samples in a whole test run)."""
    from bqemulator.catalog import ddl_sync
    from bqemulator.jobs import executor, routine_ddl
    from bqemulator.sql import catalog_schema

    return frozenset(
        f.__code__
        for f in (
            executor._parse_for_classification,
            executor._reject_dml_on_immutable,
            executor._capture_dml_snapshots,
            routine_ddl.detect_drop_routine,
            ddl_sync._detect_catalog_drop,
            ddl_sync._detect_create_schema,
            ddl_sync._detect_plain_create_view,
            ddl_sync._detect_plain_create_table,
            catalog_schema.build_catalog_schema,
        )
    )


def _parse_each_text_once() -> None:
    """Parse each SQL text once: before running a query, bqemulator parses its text again
    and again (to classify it, to look for DDL, drops, DML on snapshots, schemas,
    routines: about ten ``sqlglot.parse_one`` calls of the same text), which was half
    the emulator's CPU in the tests. Each text's tree is kept (512 texts, each under
    100,000 characters) and every caller gets its own copy (a copy costs a quarter of a
    parse), so a caller that changes its tree changes nobody else's. The read-only
    inspectors (``_read_only_inspectors``) get the kept tree itself, unless it is a
    ``CREATE``, ``DROP`` or unparsed command, whose parts some of them hand on."""
    import sqlglot
    from sqlglot import exp

    parse_one = sqlglot.parse_one
    inspectors = _read_only_inspectors()
    handed_on = (exp.Create, exp.Drop, exp.Command)

    @functools.lru_cache(maxsize=512)
    def parsed(sql: str, read: Any, dialect: Any, into: Any, opts: tuple[Any, ...]) -> Any:
        return parse_one(sql, read=read, dialect=dialect, into=into, **dict(opts))

    def parse_once(
        sql: str, read: Any = None, dialect: Any = None, into: Any = None, **opts: Any
    ) -> Any:
        if isinstance(sql, str) and len(sql) < 100_000:
            try:
                tree = parsed(sql, read, dialect, into, tuple(sorted(opts.items())))
            except TypeError:  # an argument that cannot be a key: parse as before
                pass
            else:
                if sys._getframe(1).f_code in inspectors and not isinstance(tree, handed_on):
                    return tree
                return tree.copy()
        return parse_one(sql, read=read, dialect=dialect, into=into, **opts)

    sqlglot.parse_one = parse_once


class _ResidentViews:
    """Views answered by DuckDB views instead of being inlined into every query.

    bqemulator 1.4.0 inlines a view's whole text (and its views', recursively) into each
    query that names it, for its row-access policies, so every new query text that reads
    ``orders`` translated the whole view again: 0.5 to 0.9 s of CPU each (a whole test
    run's emulators: 141 CPU s before, 114 after). Where no table under a view has a
    row-access policy (OrderHub sets none), the view is instead translated once, made a
    DuckDB view
    (``"<project>__orderhub_resident_views"."<dataset>__v__<view>"``, views under it
    likewise), and the query names that. The twin is made again whenever its view's text
    differs from the one it was made from; a translation kept by ``TranslationCache``
    makes sure its twins exist before it is used (``ensure_named``)."""

    def __init__(self) -> None:
        self._made: dict[tuple[str, str, str], str] = {}  # (project, dataset, view) → text
        self._lock = threading.RLock()
        self._context = threading.local()  # the translation under way: ctx, caller, ...

    @contextlib.contextmanager
    def translating(self, **context: Any) -> Iterator[None]:
        """Within: the translation under way (what ``make`` translates a view with)."""
        stack = getattr(self._context, "stack", [])
        self._context.stack = [*stack, context]
        try:
            yield
        finally:
            self._context.stack = stack

    def _current(self) -> dict[str, Any] | None:
        stack = getattr(self._context, "stack", [])
        return stack[-1] if stack else None

    @staticmethod
    def name(dataset: str, view: str) -> str:
        return f"{dataset}{_RESIDENT_SEP}{view}"

    @staticmethod
    def _named(catalog: Any, project: str, body: str) -> list[tuple[tuple[str, str, str], Any]]:
        """(project, dataset, name) and catalog entry of each table or view this view text
        names with its dataset (none if the text does not parse: it is then inlined)."""
        import sqlglot
        from sqlglot import exp

        try:
            tree = sqlglot.parse_one(body, read="bigquery")
        except Exception:  # noqa: BLE001 (inlined as before)
            return []
        named = []
        for table in tree.find_all(exp.Table):
            if table.db:
                path = (table.catalog or project, table.db, table.name)
                meta = catalog.get_table(*path)
                if meta is not None:
                    named.append((path, meta))
        return named

    @staticmethod
    def _is_view(meta: Any) -> bool:
        return bool(meta.table_type == "VIEW" and meta.view_query)

    def unprotected(self, catalog: Any, project: str, body: str, depth: int = 0) -> bool:
        """No table under this view text has a row-access policy."""
        if depth > 16:
            return False
        for path, meta in self._named(catalog, project, body):
            if self._is_view(meta):
                if not self.unprotected(catalog, path[0], meta.view_query, depth + 1):
                    return False
            elif catalog.list_row_access_policies(*path):
                return False
        return True

    def make(self, project: str, dataset: str, view: str, body: str) -> bool:
        """The view's DuckDB twin, made (again) from ``body`` if it was not; False if it
        cannot be made here (then the view is inlined, as bqemulator does)."""
        context = self._current()
        if context is None:
            return False
        key = (project, dataset, view)
        ctx = context["ctx"]
        with self._lock:
            for nested in self._views_in(ctx.catalog, project, body):  # first the twins it
                self.make(*nested)  # names, in case a view under it changed
            if self._made.get(key) == body:
                return True
            try:
                duckdb_sql = context["translate"](
                    body,
                    project_id=project,
                    ctx=context["ctx"],
                    caller=context["caller"],
                    translator=context["translator"],
                )
                # A kept translation (another dataset's) names twins that may not exist
                # yet for this dataset; DuckDB binds a view's names when it is made.
                self.ensure_named(duckdb_sql, project, ctx.catalog)
                duckdb_sql = context["qualify"](duckdb_sql, project)
                schema = f'"{project}__{_RESIDENT}"'
                ctx.engine.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
                ctx.engine.execute(
                    f'CREATE OR REPLACE VIEW {schema}."{self.name(dataset, view)}" AS {duckdb_sql}'
                )
            except Exception as exc:  # noqa: BLE001 (inlined, as bqemulator does: slower, right)
                print(f"resident view {dataset}.{view} not made ({exc}); inlined", file=sys.stderr)
                return False
            self._made[key] = body
            return True

    def _views_in(self, catalog: Any, project: str, body: str) -> list[tuple[str, ...]]:
        """(project, dataset, view, text) of each view this view text names. (DuckDB binds
        a view's tables again at each query: a table made again under it needs nothing.)"""
        named = self._named(catalog, project, body)
        return [(*path, meta.view_query) for path, meta in named if self._is_view(meta)]

    def ensure_named(self, duckdb_sql: str, project: str, catalog: Any) -> None:
        """Make the twins a kept translation names, for its dataset (they may not exist
        yet: the translation was made for another test's dataset of the same views)."""
        if _RESIDENT not in duckdb_sql:
            return
        pattern = re.compile(rf'{_RESIDENT}"?\."?([A-Za-z0-9_]+?){_RESIDENT_SEP}([A-Za-z0-9_]+)')
        for dataset, view in set(pattern.findall(duckdb_sql)):
            if (project, dataset, view) in self._made:
                continue
            meta = catalog.get_table(project, dataset, view)
            if meta is not None and meta.view_query:
                self.make(project, dataset, view, meta.view_query)

    def install(self) -> None:
        """Route bqemulator's view expansion through the twins."""
        from bqemulator.sql.rewriter import row_access_filter
        from sqlglot import exp

        rewriter = row_access_filter._Rewriter
        expand = rewriter._expand_view
        resident = self

        def expand_or_name(
            self: Any,
            node: Any,
            *,
            view_project: str,
            view_dataset: str,
            view_table: str,
            view_body: str,
            depth: int,
        ) -> bool:
            if resident.unprotected(self._catalog, view_project, view_body) and resident.make(
                view_project, view_dataset, view_table, view_body
            ):
                alias = self._alias_for_node(node, default=view_table)
                node.replace(
                    exp.Table(
                        this=exp.to_identifier(resident.name(view_dataset, view_table)),
                        db=exp.to_identifier(_RESIDENT),
                        catalog=exp.to_identifier(view_project),
                        alias=exp.TableAlias(this=exp.to_identifier(alias)),
                    )
                )
                return True
            return expand(
                self,
                node,
                view_project=view_project,
                view_dataset=view_dataset,
                view_table=view_table,
                view_body=view_body,
                depth=depth,
            )

        rewriter._expand_view = expand_or_name


def install() -> TranslationCache:
    """Patch bqemulator 1.4.0: skip the extension loads, parse each text once, cache
    translations, keep no history."""
    from bqemulator.jobs import executor
    from bqemulator.scripting import interpreter
    from bqemulator.sql import inner_query, table_rewriter
    from bqemulator.storage import engine

    engine.DuckDBEngine._load_spatial = lambda self: None
    engine.DuckDBEngine._load_format_extensions = lambda self: None
    _parse_each_text_once()
    time_travel = os.environ.get("ORDERHUB_BQ_TIME_TRAVEL") == "1"
    if not time_travel:
        _skip_automatic_snapshots()

    def chain(bq_sql: str, *, project_id: str, ctx: Any, caller: Any, translator: Any) -> str:
        """inner_query.rewrite_and_translate_statement after its MV refresh (1.4.0)."""
        from bqemulator.domain.result import Err, Ok

        if not time_travel and _SYSTEM_TIME.search(bq_sql):
            from bqemulator.domain.errors import InvalidQueryError

            raise InvalidQueryError(  # a failed job, as BigQuery answers a query it refuses
                "FOR SYSTEM_TIME AS OF: this local BigQuery emulator keeps no table history"
                " (devstack/bq_launcher.py); start it with ORDERHUB_BQ_TIME_TRAVEL=1"
            )
        bq_sql = inner_query.rewrite_for_system_time(bq_sql, project_id, ctx.snapshots, ctx.engine)
        bq_sql = inner_query.rewrite_for_row_access(
            bq_sql, project_id=project_id, caller=caller, catalog=ctx.catalog
        )
        bq_sql = inner_query.expand_information_schema(bq_sql, project_id, ctx.catalog)
        bq_sql = inner_query.rewrite_unnest_offset(bq_sql)
        bq_sql = inner_query.expand_wildcard_tables(bq_sql, project_id, ctx.catalog)
        schema = inner_query.build_catalog_schema(
            bq_sql, project_id=project_id, catalog=ctx.catalog
        )
        match translator.translate(bq_sql, schema=schema or None, caller=caller):
            case Err(error):
                raise error
            case Ok(duckdb_sql):
                return str(duckdb_sql)
        raise AssertionError("unreachable")

    cache = TranslationCache(chain)
    # Qualifying the translated SQL's table names parses it once more: a pure function of
    # its two strings, so it is kept too.
    qualify = functools.lru_cache(maxsize=512)(table_rewriter.rewrite_table_refs)
    resident = _ResidentViews()
    resident.install()

    async def rewrite_and_translate_statement(
        bq_sql: str, *, project_id: str, ctx: Any, caller: Any, translator: Any
    ) -> str:
        await inner_query.refresh_dependent_mvs(project_id, bq_sql, ctx)
        with resident.translating(
            ctx=ctx,
            caller=caller,
            translator=translator,
            translate=cache.translate,
            qualify=qualify,
        ):
            duckdb_sql = cache.translate(
                bq_sql, project_id=project_id, ctx=ctx, caller=caller, translator=translator
            )
            resident.ensure_named(duckdb_sql, project_id, ctx.catalog)
        return duckdb_sql

    for module in (inner_query, executor, interpreter):
        module.rewrite_and_translate_statement = rewrite_and_translate_statement
    for module in (executor, interpreter):
        module.rewrite_table_refs = qualify
    return cache


if __name__ == "__main__":
    install()
    from bqemulator.cli import main

    sys.exit(main())
