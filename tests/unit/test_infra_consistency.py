"""Code and infra/ agree: what the code needs, Terraform deploys.

The google provider cannot be downloaded on these machines, so ``terraform validate`` cannot
run here. Instead this parses the Terraform (python-hcl2), ``cloudbuild.yaml`` (PyYAML) and
the code (``ast``) and checks, from a repository root:

* every entry point in functions/main.py has an entry in infra's ``local.functions`` with
  the right trigger (HTTP, or a CloudEvent from the topic devstack subscribes it to), and
  the function resource deploys entries with that entry point and trigger;
* every environment variable a function's code reads is set on that function (plain or from
  Secret Manager), every variable read anywhere is set somewhere, and the local-only ones
  (emulators, test prefixes) are set nowhere;
* every topic the code publishes to or subscribes to exists, and so does every topic infra
  refers to;
* every table schema file has a table and every table a schema file; every view SQL file is
  a view, in an order that creates what a view reads first;
* every Firestore collection whose documents the code writes with ``expires_at`` has a TTL
  policy on that field;
* least privilege: the CRM dataset has no dataset-level grant (per-table grants and the
  catalogue's authorized view only); writers hold an append-only custom role on the tables
  they write, never ``dataEditor``; the order form reads the catalogue dataset only; every
  Firestore grant is conditioned to one database, and functions only read the managers';
  only public functions accept internet traffic;
* every IAM grant says why; cloudbuild.yaml tests before it deploys.

Each check takes the root, so the second half of this file proves the checks bite: it copies
the repository, removes one thing from one side, and expects the matching complaint.
"""

from __future__ import annotations

import ast
import functools
import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

#: Read by the code only when running locally or under test; never set in production.
LOCAL_ONLY = frozenset(
    {
        "PUBSUB_EMULATOR_HOST",
        "FIRESTORE_EMULATOR_HOST",
        "BIGQUERY_EMULATOR_HOST",
        "FIRESTORE_PREFIX",
        "GMAIL_API_URL",  # points the Gmail client at the local stand-in
        "SHOPIFY_ADMIN_URL",  # points the Admin API client at the local stand-in
        "SHOPIFY_ADMIN_URLS",  # the same, per shop (the stand-ins of several shops)
        "ORDERHUB_DEV_DIR",  # scripts/manager --dev finds the local stack
    }
)
PUBSUB_EVENT = "google.cloud.pubsub.topic.v1.messagePublished"


# --------------------------------------------------------------------------- infra side
def _unquote(value: Any) -> Any:
    """python-hcl2 keeps the quotes of string literals; expressions come as ``${...}``."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return json.loads(value)
    return value


def _literal_set(expr: str) -> set[str]:
    """Strings of ``toset([...])`` / ``[...]`` written as literals."""
    return set(re.findall(r'"([^"]+)"', expr))


@dataclass
class FunctionEntry:
    name: str
    event_topic: str | None
    env: dict[str, str]
    secrets: list[str]
    publishes: list[str]
    public: bool
    schedule: str | None


@dataclass
class Infra:
    locals: dict[str, Any]
    resources: dict[tuple[str, str], dict[str, Any]]
    text: dict[str, str]  # file name -> source
    functions: dict[str, FunctionEntry] = field(default_factory=dict)

    @property
    def topics(self) -> set[str]:
        return _literal_set(self.locals["topics"])

    def resource(self, rtype: str, name: str) -> dict[str, Any]:
        return self.resources[(rtype, name)]

    def of_type(self, rtype: str) -> dict[str, dict[str, Any]]:
        return {n: body for (t, n), body in self.resources.items() if t == rtype}


@functools.cache
def _tree(source: str) -> ast.Module:
    """A module's syntax tree, kept per text: every check parses the same ~140 files, and
    each mutation test runs its check twice over a copy that differs in one file (callers
    must not mutate the tree)."""
    return ast.parse(source)


@functools.cache
def _nodes(source: str) -> tuple[ast.AST, ...]:
    """``ast.walk`` of a module, kept per text like ``_tree``."""
    return tuple(ast.walk(_tree(source)))


@functools.cache
def _parse_tf(source: str) -> dict[str, Any]:
    """Parsing is the slow part; the same text parses the same (callers must not mutate)."""
    return dict(hcl2.loads(source))


def load_infra(root: Path) -> Infra:
    merged_locals: dict[str, Any] = {}
    resources: dict[tuple[str, str], dict[str, Any]] = {}
    text: dict[str, str] = {}
    for path in sorted((root / "infra").glob("*.tf")):
        text[path.name] = path.read_text()
        doc = _parse_tf(text[path.name])
        for block in doc.get("locals", []):
            merged_locals.update({k: v for k, v in block.items() if not k.startswith("__")})
        for block in doc.get("resource", []):
            for rtype, named in block.items():
                for name, body in named.items():
                    resources[(_unquote(rtype), _unquote(name))] = body
    infra = Infra(merged_locals, resources, text)
    for name, entry in merged_locals.get("functions", {}).items():
        infra.functions[name] = FunctionEntry(
            name=name,
            event_topic=_unquote(entry.get("event_topic")),
            env=dict(entry.get("env", {})),
            secrets=[_unquote(s) for s in entry.get("secrets", [])],
            publishes=[_unquote(t) for t in entry.get("publishes", [])],
            public=bool(entry.get("public", False)),
            schedule=_unquote(entry.get("schedule")),
        )
    return infra


def _variable_default(root: Path, name: str) -> Any:
    for path in sorted((root / "infra").glob("*.tf")):
        for block in _parse_tf(path.read_text()).get("variable", []):
            for key, body in block.items():
                if _unquote(key) == name:
                    return body.get("default")
    return None


def common_env(infra: Infra) -> set[str]:
    """Variables the function resource adds to every entry's env."""
    service = infra.resource("google_cloudfunctions2_function", "fn")["service_config"][0]
    merged = service["environment_variables"]
    inline = re.findall(r"\{([^{}]*)\}", merged)
    return {key for block in inline for key in re.findall(r"(\w+)\s*=", block)}


# ---------------------------------------------------------------------------- code side
@dataclass(frozen=True)
class EntryPoint:
    name: str
    kind: str  # "http" | "event"
    adapter: str | None  # orderhub.<function>.entry (gmail_watch_renew: gmail_ingest.watch_renew)


def entry_points(root: Path) -> dict[str, EntryPoint]:
    """Top-level functions of functions/main.py: a ``request`` is HTTP, a ``cloud_event`` not."""
    tree = _tree((root / "functions" / "main.py").read_text())
    found = {}
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef) or node.name.startswith("_"):
            continue
        params = [a.arg for a in node.args.args]
        kind = "event" if params and params[0] in {"cloud_event", "event"} else "http"
        adapter = None
        for inner in ast.walk(node):
            if not isinstance(inner, ast.ImportFrom) or not inner.module:
                continue
            if inner.module.startswith("orderhub."):  # from orderhub.<package> import entry
                adapter = f"{inner.module}.{inner.names[0].name}"
        found[node.name] = EntryPoint(node.name, kind, adapter)
    return found


def _module_constants(tree: ast.Module) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for node in tree.body:
        target = value = None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        if isinstance(target, ast.Name) and value is not None:
            values[target.id] = value
    return values


def _resolve(node: ast.expr, consts: dict[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name) and node.id in consts:
        return _resolve(consts[node.id], consts)
    if isinstance(node, ast.Tuple | ast.List):
        return tuple(_resolve(e, consts) for e in node.elts)
    return None


@dataclass(frozen=True)
class DevFunction:
    name: str
    signature: str
    topics: tuple[str, ...]


def devstack_registry(root: Path) -> tuple[dict[str, DevFunction], set[str]]:
    """devstack/stack.py FUNCTIONS (name, signature, subscribed topics) and EXTRA_TOPICS."""
    tree = _tree((root / "devstack" / "stack.py").read_text())
    consts = _module_constants(tree)
    functions = {}
    registry = consts.get("FUNCTIONS")
    for call in getattr(registry, "elts", []):
        if not isinstance(call, ast.Call):
            continue
        args = list(call.args) + [kw.value for kw in call.keywords]
        name, signature = _resolve(args[0], consts), _resolve(args[1], consts)
        subs = _resolve(args[3], consts) if len(args) > 3 else ()
        topics = tuple(pair[0] for pair in subs or ())
        functions[name] = DevFunction(name, signature, topics)
    extra = (
        set(_resolve(consts["EXTRA_TOPICS"], consts) or ()) if "EXTRA_TOPICS" in consts else set()
    )
    topic_constants = {
        v for k, v in ((k, _resolve(n, consts)) for k, n in consts.items()) if k.endswith("_TOPIC")
    }
    return functions, extra | {t for t in topic_constants if isinstance(t, str)}


def code_topics(root: Path) -> dict[str, str]:
    """Topic name -> where the code names it (devstack registry, settings defaults)."""
    dev, extra = devstack_registry(root)
    where = {t: "devstack EXTRA_TOPICS / *_TOPIC" for t in extra}
    for fn in dev.values():
        for t in fn.topics:
            where[t] = f"devstack subscription of {fn.name}"
    for path in (root / "functions" / "orderhub").rglob("*.py"):
        consts = _module_constants(_tree(path.read_text()))
        for name, node in consts.items():
            value = _resolve(node, consts)
            if name.endswith("_TOPIC") and isinstance(value, str):
                where[value] = f"{path.relative_to(root)} {name}"
    return where


@dataclass
class EnvReads:
    """Environment variables read by each module, class and function of orderhub."""

    by_module: dict[str, set[str]] = field(default_factory=dict)  # direct reads, not settings
    by_settings_name: dict[str, set[str]] = field(default_factory=dict)  # class/func in settings
    imports: dict[str, set[str]] = field(default_factory=dict)  # module -> orderhub modules
    settings_used: dict[str, set[str]] = field(default_factory=dict)  # module -> settings names

    def all(self) -> set[str]:
        out: set[str] = set()
        for names in (*self.by_module.values(), *self.by_settings_name.values()):
            out |= names
        return out


def _env_literals(node: ast.AST) -> tuple[set[str], set[str]]:
    """(variables read, names of module-level functions called) under ``node``."""
    found: set[str] = set()
    calls: set[str] = set()
    for inner in ast.walk(node):
        if isinstance(inner, ast.Call):
            func = inner.func
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                calls.add(func.value.id)  # OtherSettings.from_env(env)
            if isinstance(func, ast.Name):
                calls.add(func.id)
                if func.id in {"required", "_required", "getenv"}:
                    for arg in inner.args:
                        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                            found.add(arg.value)
            is_get = isinstance(func, ast.Attribute) and func.attr in {"get", "getenv", "pop"}
            if is_get and inner.args:
                owner = ast.unparse(func.value)  # type: ignore[union-attr]
                first = inner.args[0]
                envish = owner in {"env", "environ", "os.environ", "os", "self._env"}
                if envish and isinstance(first, ast.Constant) and isinstance(first.value, str):
                    found.add(first.value)
        elif isinstance(inner, ast.Subscript) and ast.unparse(inner.value) in {"env", "os.environ"}:
            key = inner.slice
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                found.add(key.value)
    return {n for n in found if re.fullmatch(r"[A-Z][A-Z0-9_]+", n)}, calls


def _module_name(root: Path, path: Path) -> str:
    rel = path.relative_to(root / "functions").with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_settings_module(module: str) -> bool:
    """The modules that hold settings: each function's ``settings`` and the shared readers.
    What a function reads is counted by the names it imports from them, not whole."""
    return module in ("orderhub.config", "orderhub.shopify.settings") or (
        module.startswith("orderhub.") and module.endswith(".settings")
    )


def env_reads(root: Path) -> EnvReads:
    reads = EnvReads()
    funcs: dict[str, tuple[set[str], set[str]]] = {}
    for path in sorted((root / "functions" / "orderhub").rglob("*.py")):
        module = _module_name(root, path)
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        text = path.read_text()
        tree = _tree(text)
        imported: set[str] = set()
        used: set[str] = set()
        for node in _nodes(text):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                    base = f"{base}.{node.module}" if node.module else base
                if is_settings_module(base):
                    used |= {a.name for a in node.names}
                if base.startswith("orderhub"):
                    imported.add(base)
                    imported |= {f"{base}.{a.name}" for a in node.names}
            elif isinstance(node, ast.Import):
                imported |= {a.name for a in node.names if a.name.startswith("orderhub")}
        reads.imports[module] = imported
        reads.settings_used[module] = used
        if is_settings_module(module):
            for node in tree.body:
                if isinstance(node, ast.FunctionDef | ast.ClassDef):
                    funcs[node.name] = _env_literals(node)
        else:
            reads.by_module[module] = _env_literals(tree)[0]
    # The settings modules' helpers call one another (a function's settings class calls
    # config.project_id): follow the calls to a fixed point, across the settings modules.
    for name, (direct, calls) in funcs.items():
        total = set(direct)
        seen, todo = set(), set(calls)
        while todo:
            called = todo.pop()
            if called in funcs and called not in seen:
                seen.add(called)
                total |= funcs[called][0]
                todo |= funcs[called][1]
        reads.by_settings_name[name] = total
    return reads


def function_env_needs(root: Path, entry: EntryPoint, reads: EnvReads) -> set[str]:
    """What one function reads: its adapter, the settings it uses, modules it imports."""
    if entry.adapter is None:
        return set()
    needs: set[str] = set()
    seen: set[str] = set()
    todo = [entry.adapter]
    while todo:
        module = todo.pop()
        if module in seen or is_settings_module(module):
            continue
        seen.add(module)
        needs |= reads.by_module.get(module, set())
        for name in reads.settings_used.get(module, set()):
            needs |= reads.by_settings_name.get(name, set())
        todo.extend(m for m in reads.imports.get(module, set()) if m in reads.imports)
    return needs


def claim_collections_in_code(root: Path) -> set[str]:
    """Collections passed to FirestoreClaims (or gmail's FirestoreAttempts)(client,
    collection, ttl), prefix aside."""
    found = set()
    for path in (root / "functions" / "orderhub").rglob("*.py"):
        for node in _nodes(path.read_text()):
            if not (
                isinstance(node, ast.Call)
                and ast.unparse(node.func).endswith(("FirestoreClaims", "FirestoreAttempts"))
            ):
                continue
            arg = node.args[1] if len(node.args) > 1 else None
            for kw in node.keywords:
                if kw.arg == "collection":
                    arg = kw.value
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.add(arg.value)
            elif isinstance(arg, ast.JoinedStr) and isinstance(arg.values[-1], ast.Constant):
                found.add(str(arg.values[-1].value))
    return found


def _collection_name(arg: ast.expr | None) -> str | None:
    """A collection argument, prefix aside: "x", f"{prefix}x", or self._collection("x")."""
    if isinstance(arg, ast.Call) and arg.args:  # a helper that adds the prefix
        arg = arg.args[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    if isinstance(arg, ast.JoinedStr) and isinstance(arg.values[-1], ast.Constant):
        return str(arg.values[-1].value)
    return None


def expiring_classes(root: Path) -> set[str]:
    """Classes of orderhub that write documents with an ``expires_at`` field."""
    found = set()
    for path in (root / "functions" / "orderhub").rglob("*.py"):
        for node in _nodes(path.read_text()):
            if not isinstance(node, ast.ClassDef):
                continue
            for inner in ast.walk(node):
                if isinstance(inner, ast.Dict) and any(
                    isinstance(k, ast.Constant) and k.value == "expires_at" for k in inner.keys
                ):
                    found.add(node.name)
                    break
    return found


def expiring_collections_in_code(root: Path, under: str = "") -> dict[str, str]:
    """Collection -> class, for every construction of a class that writes ``expires_at``
    (in the package ``under``, e.g. ``order_form``, when given)."""
    classes = expiring_classes(root)
    found: dict[str, str] = {}
    for path in (root / "functions" / "orderhub" / under).rglob("*.py"):
        for node in _nodes(path.read_text()):
            if not isinstance(node, ast.Call):
                continue
            name = ast.unparse(node.func).rsplit(".", 1)[-1]
            if name not in classes:
                continue
            arg = node.args[1] if len(node.args) > 1 else None
            for kw in node.keywords:
                if kw.arg == "collection":
                    arg = kw.value
            collection = _collection_name(arg)
            if collection is not None:
                found[collection] = name
    return found


# ------------------------------------------------------------------------------ checks
def check_functions(root: Path) -> list[str]:
    infra = load_infra(root)
    code = entry_points(root)
    dev, _ = devstack_registry(root)
    problems = []
    for name, entry in code.items():
        declared = infra.functions.get(name)
        if declared is None:
            problems.append(f"function {name}: entry point in main.py has no infra entry")
            continue
        if entry.kind == "http" and declared.event_topic is not None:
            problems.append(f"function {name}: HTTP in main.py, event-triggered in infra")
        if entry.kind == "event":
            if declared.event_topic is None:
                problems.append(f"function {name}: CloudEvent in main.py, HTTP in infra")
            local = dev.get(name)
            if local is None or not local.topics:
                problems.append(f"function {name}: devstack FUNCTIONS does not say its topic")
            elif declared.event_topic not in local.topics:
                problems.append(
                    f"function {name}: infra triggers it from {declared.event_topic}, "
                    f"devstack from {', '.join(local.topics)}"
                )
        local = dev.get(name)
        if local is not None and (local.signature == "http") != (entry.kind == "http"):
            problems.append(f"function {name}: devstack signature {local.signature} != main.py")
    # The resource must deploy each entry with its own name as entry point and its trigger.
    fn = infra.resource("google_cloudfunctions2_function", "fn")
    if fn.get("for_each") != "${local.deployed}":
        problems.append("function resource: for_each is not local.deployed")
    if fn["build_config"][0].get("entry_point") != "${each.key}":
        problems.append("function resource: entry_point is not the entry's key")
    if _unquote(fn["build_config"][0].get("runtime")) != "python311":
        problems.append("function resource: runtime is not python311")
    triggers = [d.get('"event_trigger"') or d.get("event_trigger") for d in fn.get("dynamic", [])]
    trigger = next((t for t in triggers if t), None)
    if trigger is None or "each.value.event_topic" not in trigger["for_each"]:
        problems.append("function resource: no event_trigger driven by event_topic")
    else:
        content = trigger["content"][0]
        if _unquote(content.get("event_type")) != PUBSUB_EVENT:
            problems.append("function resource: event_type is not Pub/Sub messagePublished")
        if "google_pubsub_topic.topics[event_trigger.value]" not in content.get("pubsub_topic", ""):
            problems.append("function resource: event trigger topic is not the entry's topic")
        if _unquote(content.get("retry_policy")) != "RETRY_POLICY_RETRY":
            problems.append("function resource: event trigger does not retry (messages lost)")
    schedules = _variable_default(root, "schedules")
    for name, declared in infra.functions.items():
        if declared.schedule is None:
            continue
        if declared.event_topic is not None:
            problems.append(f"function {name}: scheduled, but also event-triggered")
        if declared.schedule not in schedules:
            problems.append(f"function {name}: schedule {declared.schedule} not in var.schedules")
    deployed = infra.locals.get("deployed", "")
    if "main_py" not in deployed:
        problems.append("local.deployed no longer selects the entries main.py defines")
    return problems


def check_env(root: Path) -> list[str]:
    infra = load_infra(root)
    code = entry_points(root)
    reads = env_reads(root)
    shared = common_env(infra)
    problems = []
    secret_resource = infra.resource("google_cloudfunctions2_function", "fn")["service_config"][0]
    if not any('"secret_environment_variables"' in d for d in secret_resource.get("dynamic", [])):
        problems.append("function resource: secrets are not passed as secret environment variables")
    set_anywhere = set(shared)
    for name, declared in infra.functions.items():
        provided = set(declared.env) | set(declared.secrets) | shared
        set_anywhere |= provided
        for var in sorted(provided & LOCAL_ONLY):
            problems.append(f"variable {var}: local-only, but infra sets it on {name}")
        both = set(declared.env) & set(declared.secrets)
        for var in sorted(both):
            problems.append(f"variable {var}: both plain and secret on {name}")
        if name in code and code[name].adapter is None:
            problems.append(f"function {name}: main.py does not import its package's adapter")
        if name in code:
            for var in sorted(function_env_needs(root, code[name], reads) - provided - LOCAL_ONLY):
                problems.append(f"variable {var}: read by {name}, not set on it in infra")
    for var in sorted(reads.all() - set_anywhere - LOCAL_ONLY):
        problems.append(f"variable {var}: read by the code, set on no function in infra")
    return problems


def check_topics(root: Path) -> list[str]:
    infra = load_infra(root)
    topics = infra.topics
    problems = []
    for topic, where in sorted(code_topics(root).items()):
        if topic not in topics:
            problems.append(f"topic {topic}: used by the code ({where}), not in infra")
    for name, declared in infra.functions.items():
        for topic in [declared.event_topic, *declared.publishes]:
            if topic is not None and topic not in topics:
                problems.append(f"topic {topic}: function {name} uses it, not in local.topics")
    for fname, source in infra.text.items():
        for topic in sorted(set(re.findall(r'google_pubsub_topic\.topics\["([^"]+)"\]', source))):
            if topic not in topics:
                problems.append(f"topic {topic}: referred to in infra/{fname}, not in local.topics")
    return problems


def _manifest(root: Path) -> dict[str, Any]:
    return dict(json.loads((root / "schemas" / "dataset.json").read_text()))


def infra_tables(root: Path, infra: Infra) -> tuple[set[str], set[str]]:
    """(tables, views) Terraform creates, resolving for_each over the manifest."""
    manifest = _manifest(root)
    tables: set[str] = set()
    views: set[str] = set()
    manifest_expr = infra.locals.get("manifest", "")
    reads_manifest = "dataset.json" in manifest_expr
    for name, body in infra.of_type("google_bigquery_table").items():
        is_view = "view" in body
        each = body.get("for_each")
        if each is None:
            (views if is_view else tables).add(_unquote(body["table_id"]))
        elif each == "${local.manifest.tables}" and reads_manifest:
            tables |= set(manifest["tables"])
            schema = body.get("schema", "")
            if "/bigquery/${each.key}.json" not in schema:
                tables.discard(name)
        elif each in {"${local.base_views}", "${local.derived_views}"} and reads_manifest:
            views |= set(manifest["views"])
    return tables, views


def check_tables(root: Path) -> list[str]:
    infra = load_infra(root)
    tables, views = infra_tables(root, infra)
    files = {p.stem for p in (root / "schemas" / "bigquery").glob("*.json")}
    sql = {p.stem: p.read_text() for p in (root / "schemas" / "views").glob("*.sql")}
    manifest = _manifest(root)
    problems = []
    for t in sorted(files - tables):
        problems.append(f"table {t}: schema file has no table in infra")
    for t in sorted(tables - files):
        problems.append(f"table {t}: infra creates it but there is no schemas/bigquery/{t}.json")
    for v in sorted(set(sql) - views):
        problems.append(f"view {v}: SQL file has no view in infra")
    for v in sorted(views - set(sql)):
        problems.append(f"view {v}: infra creates it but there is no schemas/views/{v}.sql")
    for t, meta in manifest["tables"].items():
        if t not in files:
            continue
        names = {
            f["name"] for f in json.loads((root / "schemas/bigquery" / f"{t}.json").read_text())
        }
        for col in [meta["partition_field"], *meta["clustering"]]:
            if col not in names:
                problems.append(f"table {t}: partition/cluster column {col} not in its schema")
    order = manifest["views"]
    for i, v in enumerate(order):
        text = sql.get(v, "")
        placeholders = set(re.findall(r"\$\{(\w+)\}", text))
        if placeholders - {"project", "dataset", "timezone"} or "%{" in text:
            problems.append(
                f"view {v}: templatefile accepts only ${{project}}, ${{dataset}}, ${{timezone}}"
            )
        for other in order[i + 1 :]:
            if f"${{dataset}}.{other}`" in text:
                problems.append(f"view {v}: reads view {other}, listed after it in dataset.json")
    return problems


def check_firestore_ttl(root: Path) -> list[str]:
    infra = load_infra(root)
    default_ttl = _literal_set(infra.locals.get("claim_collections", ""))
    app_ttl = _literal_set(infra.locals.get("app_claim_collections", ""))
    ttl = default_ttl | app_ttl
    fields = infra.of_type("google_firestore_field")
    problems = []
    for res, local, database in (
        ("claims_ttl", "claim_collections", "google_firestore_database.default."),
        ("app_claims_ttl", "app_claim_collections", "google_firestore_database.app."),
    ):
        field_res = fields.get(res, {})
        if _unquote(field_res.get("field")) != "expires_at" or "ttl_config" not in field_res:
            problems.append(f"firestore: no TTL policy on expires_at of local.{local}")
        if f"local.{local}" not in str(field_res.get("for_each", "")):
            problems.append(f"firestore: the TTL policy is not applied to local.{local}")
        if database not in str(field_res.get("database", "")):
            problems.append(f"firestore: {res} is not on {database.rstrip('.')}")
    # The order form keeps everything in the app's database: its TTL policies are there.
    for collection in sorted(set(expiring_collections_in_code(root, "order_form")) - app_ttl):
        problems.append(
            f"firestore: the order form's {collection} expires in the app's database: "
            "list it in local.app_claim_collections"
        )
    for collection in sorted(claim_collections_in_code(root) - ttl):
        problems.append(f"firestore: claim collection {collection} has no TTL policy in infra")
    for collection, cls in sorted(expiring_collections_in_code(root).items()):
        if collection not in ttl:
            problems.append(
                f"firestore: collection {collection} ({cls} writes expires_at) has no TTL policy"
            )
    return problems


def check_iam_reasons(root: Path) -> list[str]:
    """Every grant carries a ``# Why:`` comment right above it."""
    problems = []
    for path in sorted((root / "infra").glob("*.tf")):
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            match = re.match(r'resource "(google_\w+_iam_member)" "(\w+)"', line)
            if not match:
                continue
            j, comment = i - 1, []
            while j >= 0 and lines[j].startswith("#"):
                comment.append(lines[j])
                j -= 1
            if not any(c.startswith("# Why:") for c in comment):
                problems.append(f"iam {match[1]}.{match[2]}: no '# Why:' comment above it")
    return problems


def check_cloudbuild(root: Path) -> list[str]:
    build = yaml.safe_load((root / "cloudbuild.yaml").read_text())
    steps = build["steps"]
    problems = []

    def text(step: dict[str, Any]) -> str:
        return " ".join([str(step.get("entrypoint", "")), *map(str, step.get("args", []))])

    test_at = next((i for i, s in enumerate(steps) if "scripts/test" in text(s)), None)
    apply_at = next((i for i, s in enumerate(steps) if re.search(r"\bapply\b", text(s))), None)
    if test_at is None:
        problems.append("cloudbuild: no step runs scripts/test")
    if apply_at is None:
        problems.append("cloudbuild: no step applies Terraform")
    if test_at is not None and apply_at is not None and test_at > apply_at:
        problems.append("cloudbuild: Terraform applies before the tests run")
    for step in steps:
        if step.get("allowFailure") or step.get("allow_failure"):
            problems.append(
                f"cloudbuild: step {step.get('id')} may fail without stopping the build"
            )
        if step.get("waitFor") and "-" in step["waitFor"]:
            problems.append(f"cloudbuild: step {step.get('id')} runs in parallel with the tests")
        body = text(step)
        if "\n" in body and "set -e" not in body:
            problems.append(f"cloudbuild: step {step.get('id')} runs a script without set -e")
    init = " ".join(text(s) for s in steps if re.search(r"\binit\b", text(s)))
    if "-backend-config=bucket=${_TF_STATE_BUCKET}" not in init:
        problems.append("cloudbuild: terraform init does not take the state bucket")
    raw = (root / "cloudbuild.yaml").read_text()
    used = set(re.findall(r"\$\{(_[A-Z0-9_]+)\}", raw)) | set(re.findall(r"\$(_[A-Z0-9_]+)", raw))
    for name in sorted(used - set(build.get("substitutions", {}))):
        problems.append(f"cloudbuild: substitution {name} used but not defined")
    return problems


def check_bundle(root: Path) -> list[str]:
    """The deploy bundle is built from file() contents, which must be UTF-8 text."""
    problems = []
    infra = load_infra(root)
    files = infra.locals.get("bundle_files", "")
    if "requirements.txt" not in files or "functions" not in infra.locals.get("functions_dir", ""):
        problems.append("bundle: no longer functions/ plus requirements.txt")
    for path in sorted((root / "functions").rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        try:
            path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            rel = path.relative_to(root)
            problems.append(
                f"bundle: {rel} is not UTF-8 text; archive_file's source blocks take text only"
            )
    return problems


#: Roles that let an account change or delete rows it did not write.
BROAD_BIGQUERY_ROLES = (
    "roles/bigquery.dataEditor",
    "roles/bigquery.dataOwner",
    "roles/bigquery.admin",
    '"WRITER"',  # the dataset access list's basic names for dataEditor and dataOwner
    '"OWNER"',
)
#: What streaming rows into a table takes, and all a writer may hold.
APPEND_PERMISSIONS = {"bigquery.tables.get", "bigquery.tables.updateData"}


def _code_dict_values(path: Path, name: str) -> set[str]:
    """String values of a module-level dict literal (``TABLE_OF_ENTITY`` and the like)."""
    consts = _module_constants(_tree(path.read_text()))
    node = consts.get(name)
    out: set[str] = set()
    if isinstance(node, ast.Dict):
        for value in node.values:
            resolved = _resolve(value, consts) if value is not None else None
            if isinstance(resolved, str):
                out.add(resolved)
            elif isinstance(resolved, tuple) and resolved and isinstance(resolved[0], str):
                out.add(resolved[0])
    return out


def _code_tuple(path: Path, name: str) -> tuple[str, ...]:
    """String items of a module-level tuple literal (``TABLES_READ``)."""
    node = _module_constants(_tree(path.read_text())).get(name)
    if not isinstance(node, ast.Tuple):
        return ()
    return tuple(
        e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)
    )


def _entry_list(infra: Infra, fn: str, key: str) -> set[str]:
    return {_unquote(t) for t in infra.locals["functions"].get(fn, {}).get(key, [])}


def check_least_privilege(root: Path) -> list[str]:
    infra = load_infra(root)
    entries: dict[str, Any] = infra.locals.get("functions", {})
    tables = set(_manifest(root)["tables"])
    problems = []

    # BigQuery: the CRM dataset is granted per table (and to the authorized view) only.
    for kind in ("iam_member", "iam_binding", "iam_policy"):
        for name, body in infra.of_type(f"google_bigquery_dataset_{kind}").items():
            if "google_bigquery_dataset.crm." in str(body.get("dataset_id", "")):
                problems.append(
                    f"bigquery: google_bigquery_dataset_{kind}.{name} grants on the CRM dataset; "
                    "grant per table (it would also drop the authorized view)"
                )
    for rtype in (
        "google_bigquery_dataset_access",
        "google_bigquery_dataset_iam_member",
        "google_bigquery_table_iam_member",
        "google_project_iam_member",
    ):
        for name, body in infra.of_type(rtype).items():
            role = str(body.get("role", "")) + str(body.get("for_each", ""))
            if any(r in role for r in BROAD_BIGQUERY_ROLES) and "f.erases" not in str(
                body.get("for_each", "")
            ):
                problems.append(
                    f"bigquery: {rtype}.{name} grants a role that rewrites rows; "
                    "only the privacy job (erases) may"
                )
    appender = infra.of_type("google_project_iam_custom_role").get("table_appender")
    if appender is None:
        problems.append("bigquery: no append-only custom role for the writers")
    else:
        granted = {_unquote(p) for p in appender.get("permissions", [])}
        if not granted <= APPEND_PERMISSIONS:
            extra = ", ".join(sorted(granted - APPEND_PERMISSIONS))
            problems.append(f"bigquery: the writers' role holds more than appending: {extra}")
    appends = infra.of_type("google_bigquery_table_iam_member").get("fn_appends", {})
    if "google_project_iam_custom_role.table_appender" not in str(appends.get("role", "")):
        problems.append("bigquery: writers are not granted the append-only role per table")
    for name, entry in entries.items():
        for old in ("bigquery", "bigquery_read"):
            if old in entry:
                problems.append(
                    f"function {name}: '{old}' grants nothing any more; "
                    "use appends_to / reads_tables / catalogue"
                )
        for key in ("appends_to", "reads_tables"):
            for table in sorted(_entry_list(infra, name, key) - tables):
                problems.append(f"function {name}: {key} names {table}, not a CRM table")
    sinks = root / "functions" / "orderhub" / "sinks" / "bigquery.py"
    written = _code_dict_values(sinks, "TABLE_OF_ENTITY") | {"raw_events", "sync_log"}
    if _entry_list(infra, "crm_writer", "appends_to") != written:
        problems.append(
            f"function crm_writer: appends_to must be what the code writes: {sorted(written)}"
        )
    read = _code_dict_values(sinks, "VERSION_TABLES")
    if "shopify_reconcile" in entries and not read <= _entry_list(
        infra, "shopify_reconcile", "reads_tables"
    ):
        problems.append(f"function shopify_reconcile: reads_tables must cover {sorted(read)}")

    # The catalogue: an authorized view of products in a dataset of its own.
    view = infra.of_type("google_bigquery_table").get("catalogue_products", {})
    query = str((view.get("view") or [{}])[0].get("query", ""))
    if "google_bigquery_dataset.catalogue." not in str(view.get("dataset_id", "")) or (
        ".products`" not in query
    ):
        problems.append("bigquery: no products view in the catalogue dataset")
    authorized = [
        body
        for body in infra.of_type("google_bigquery_dataset_access").values()
        if "google_bigquery_dataset.crm." in str(body.get("dataset_id", ""))
        and "google_bigquery_table.catalogue_products." in str(body.get("view", ""))
    ]
    if not authorized:
        problems.append("bigquery: the catalogue's products view is not authorized on the CRM")
    for name, entry in entries.items():
        if not entry.get("catalogue"):
            continue
        dataset = str(entry.get("env", {}).get("BIGQUERY_DATASET", ""))
        if "google_bigquery_dataset.catalogue." not in dataset:
            problems.append(f"function {name}: reads the catalogue but BIGQUERY_DATASET is not it")
        reads = _entry_list(infra, name, "reads_tables") if name != "order_form" else set()
        if reads or _entry_list(infra, name, "appends_to"):
            problems.append(f"function {name}: reads the catalogue, yet holds CRM table grants")
    form = entries.get("order_form", {})
    if not form.get("catalogue") or form.get("erases") or form.get("appends_to"):
        problems.append("function order_form: must read the catalogue, nothing else of BigQuery")
    # The CRM app (served by order_form) reads exactly the tables its queries name.
    app_reads = set(_code_tuple(root / "functions/orderhub/order_form/queries.py", "TABLES_READ"))
    if _entry_list(infra, "order_form", "reads_tables") != app_reads:
        problems.append(
            "function order_form: reads_tables must be what the CRM app queries: "
            + ", ".join(sorted(app_reads))
        )
    if app_reads and "google_bigquery_dataset.crm." not in str(
        form.get("env", {}).get("CRM_DATASET")
    ):
        problems.append("function order_form: CRM_DATASET must name the CRM dataset")

    # Firestore: every grant names its database; functions only read the managers'; the
    # order form holds nothing of (default) (docs/app-state.md).
    app_db = "databases/${google_firestore_database.app.name}"
    for rtype in ("google_project_iam_member",):
        for name, body in infra.of_type(rtype).items():
            role = str(_unquote(body.get("role", "")))
            if "roles/datastore." not in role:
                continue
            condition = str(body.get("condition", ""))
            if "/databases/" not in condition:
                problems.append(f"firestore: {rtype}.{name} is not limited to one database")
            writes_allowed = "databases/(default)" in condition or app_db in condition
            if not writes_allowed and role != "roles/datastore.viewer":
                problems.append(
                    f"firestore: {rtype}.{name} may write outside (default) and the app's database"
                )
            holders = _granted_to(body, entries)
            if "order_form" in holders and (
                "databases/(default)" in condition or "/databases/" not in condition
            ):
                problems.append(
                    f"firestore: {rtype}.{name} gives order_form a datastore role on the default "
                    "database; the app keeps its state in the app's database only"
                )
            if app_db in condition and role != "roles/datastore.viewer":
                for fn in sorted(holders - {"order_form"} - APP_STATE_WRITERS):
                    problems.append(f"firestore: {fn} may write the app's database ({name})")
    databases = infra.of_type("google_firestore_database")
    if "managers" not in databases:
        problems.append("firestore: no separate managers database")
    if "app" not in databases:
        problems.append("firestore: no database of the CRM app's own (app)")
    if _unquote(entries.get("order_form", {}).get("app_state")) != "write":
        problems.append("firestore: order_form must write the app's database (app_state)")
    problems += _app_state_matches_code(root, entries)

    # Ingress: the internet reaches public functions only.
    fn = infra.resource("google_cloudfunctions2_function", "fn")["service_config"][0]
    ingress = str(fn.get("ingress_settings", ""))
    if "each.value.public" not in ingress or "ALLOW_INTERNAL_ONLY" not in ingress:
        problems.append("ingress: non-public functions are not internal-only")
    for name, declared in infra.functions.items():
        if declared.schedule is not None and declared.public:
            problems.append(f"function {name}: scheduled, so it must not be public")
    return problems


#: Functions that may write the CRM app's database besides order_form, and why: the change
#: marker (crm_writer), uninstall and token rotation (shopify_sync, shopify_reconcile), the
#: mailbox's sync times for /health (gmail_*), the erasure (privacy_erase).
APP_STATE_WRITERS = frozenset(
    {
        "crm_writer",
        "shopify_sync",
        "shopify_reconcile",
        "gmail_ingest",
        "gmail_watch_renew",
        "privacy_erase",
        "notifier",  # forgets a phone's push subscription the push service says is gone
    }
)
#: Calls that write an app-state store (switches, preferences, installations, the change
#: marker): a function granted read only never makes them.
APP_STATE_WRITES = frozenset(
    {"put", "save", "bump", "disconnect", "save_grant", "take_lease", "release"}
)


def _granted_to(body: dict[str, Any], entries: dict[str, Any]) -> set[str]:
    """The functions a grant's ``for_each`` gives it to: ``if f.key`` or ``if f.key == "v"``
    over local.deployed; every function when it names no filter."""
    source = str(body.get("for_each", ""))
    match = re.search(r'if f\.(\w+)(?:\s*==\s*\\?"(\w+)\\?")?', source)
    if "local.deployed" not in source:
        return set()
    if match is None:
        return set(entries)
    key, value = match[1], match[2]
    return {
        name
        for name, entry in entries.items()
        if (_unquote(entry.get(key)) == value if value else bool(entry.get(key)))
    }


def _app_state_matches_code(root: Path, entries: dict[str, Any]) -> list[str]:
    """A function whose package builds a client of the app's database (``app_database``)
    holds ``app_state``, and one that holds it uses it; ``read`` only where the package
    calls no writing method of an app-state store."""
    code = entry_points(root)
    problems = []
    for name, entry in entries.items():
        if name not in code:
            continue
        package = root / "functions" / "orderhub" / _package_of(root, name)
        sources = {path: path.read_text() for path in package.glob("*.py") if path.name != "cli.py"}
        uses = any(  # its settings read APP_DATABASE; does its code build a client of it?
            "app_database" in text for path, text in sources.items() if path.name != "settings.py"
        )
        state = _unquote(entry.get("app_state"))
        if uses and state not in ("read", "write"):
            problems.append(f"function {name}: uses APP_DATABASE but has no app_state in infra")
        if state and not uses:
            problems.append(f"function {name}: app_state = {state!r} but its code never uses it")
        if state == "read":
            for path, text in sources.items():
                for node in _nodes(text):
                    if (
                        isinstance(node, ast.Call)
                        and isinstance(node.func, ast.Attribute)
                        and node.func.attr in APP_STATE_WRITES
                    ):
                        problems.append(
                            f"function {name}: app_state = 'read', yet {path.name} calls "
                            f".{node.func.attr}(): it writes"
                        )
        if state and "APP_DATABASE" not in entry.get("env", {}):
            problems.append(f"function {name}: app_state without APP_DATABASE in its env")
    return problems


def _package_of(root: Path, function: str) -> str:
    """The orderhub package that serves an entry point of functions/main.py."""
    tree = _tree((root / "functions" / "main.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == function:
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom) and (inner.module or "").startswith(
                    "orderhub."
                ):
                    return (inner.module or "").split(".")[1]
    return function


# ------------------------------------------------------------- log-based metrics vs log calls
LOG_FUNCTIONS = frozenset({"info", "warning", "error", "log"})
#: Fields every log entry has, whatever the call passes (logs.log writes them).
LOG_ENTRY_FIELDS = frozenset({"message", "severity"})


@dataclass
class LogCall:
    """One ``logs.info|warning|error|log(message, **fields)`` call in the functions' code."""

    where: str
    message: re.Pattern[str]  # f-string and concatenated parts match any text
    fields: frozenset[str]
    open_fields: bool  # passes ``**something``: any field may be there


def _message_regex(node: ast.expr) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return re.escape(node.value)
    if isinstance(node, ast.JoinedStr):
        return "".join(_message_regex(part) for part in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _message_regex(node.left) + _message_regex(node.right)
    return ".+"  # a formatted or computed part


def _is_logs_attr(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "logs"
        and node.attr in LOG_FUNCTIONS
    )


def log_calls(root: Path) -> list[LogCall]:
    """Every log call of the functions' code, found with ast: ``logs.info(...)`` and a name
    bound to one of them (``log = logs.error if failed else logs.info; log(...)``)."""
    calls: list[LogCall] = []
    package = root / "functions" / "orderhub"
    for path in sorted(package.rglob("*.py")):
        if path == package / "logs.py":
            continue
        text = path.read_text()
        aliases = {
            target.id
            for node in _nodes(text)
            if isinstance(node, ast.Assign) and any(_is_logs_attr(n) for n in ast.walk(node.value))
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for node in _nodes(text):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if _is_logs_attr(func):
                position = 1 if isinstance(func, ast.Attribute) and func.attr == "log" else 0
            elif isinstance(func, ast.Name) and func.id in aliases:
                position = 0
            else:
                continue
            if len(node.args) <= position:
                continue
            calls.append(
                LogCall(
                    where=f"{path.relative_to(root)}:{node.lineno}",
                    message=re.compile(_message_regex(node.args[position])),
                    fields=frozenset(k.arg for k in node.keywords if k.arg is not None),
                    open_fields=any(k.arg is None for k in node.keywords),
                )
            )
    return calls


_MESSAGE_TERM = re.compile(r'jsonPayload\.message\s*=\s*"([^"]*)"')
_PAYLOAD_FIELD = re.compile(r"jsonPayload\.(\w+)")


def check_log_metrics(root: Path) -> list[str]:
    """Each log-based metric's filter names ``jsonPayload.message`` values the code logs, and
    every ``jsonPayload.<field>`` it filters or extracts is written by those log calls."""
    problems: list[str] = []
    calls = log_calls(root)
    metrics = load_infra(root).of_type("google_logging_metric")
    if not metrics:
        problems.append("log metrics: infra declares no google_logging_metric")
    for name, body in sorted(metrics.items()):
        text = str(body.get("filter", ""))
        messages = _MESSAGE_TERM.findall(text)
        if not messages:
            problems.append(f"log metric {name}: its filter names no jsonPayload.message")
        unreadable = len(re.findall(r"jsonPayload\.message", text)) - len(messages)
        if unreadable:
            problems.append(f'log metric {name}: write jsonPayload.message="..." terms only')
        matched: list[LogCall] = []
        for message in messages:
            found = [c for c in calls if c.message.fullmatch(message)]
            if not found:
                problems.append(
                    f"log metric {name}: no log call emits message {message!r} "
                    "(renamed or removed in the code?)"
                )
            matched += found
        if not matched:
            continue
        extractors = [str(v) for v in dict(body.get("label_extractors") or {}).values()]
        extractors.append(str(body.get("value_extractor") or ""))
        used = set(_PAYLOAD_FIELD.findall(" ".join([text, *extractors]))) - LOG_ENTRY_FIELDS
        for field_name in sorted(used):
            if not any(field_name in c.fields or c.open_fields for c in matched):
                problems.append(
                    f"log metric {name}: jsonPayload.{field_name} is written by none of the "
                    f"log calls it counts ({', '.join(sorted({c.where for c in matched}))})"
                )
    return problems


CHECKS: dict[str, Callable[[Path], list[str]]] = {
    "functions": check_functions,
    "env": check_env,
    "topics": check_topics,
    "tables": check_tables,
    "firestore": check_firestore_ttl,
    "least_privilege": check_least_privilege,
    "iam": check_iam_reasons,
    "cloudbuild": check_cloudbuild,
    "bundle": check_bundle,
    "log_metrics": check_log_metrics,
}


# ------------------------------------------------------------------------------- tests
@pytest.mark.parametrize("check", sorted(CHECKS))
def test_code_and_infra_agree(check: str) -> None:
    assert CHECKS[check](ROOT) == []


def test_the_checks_see_the_code_they_guard() -> None:
    """Guards against a parser that silently finds nothing and so reports nothing."""
    code = entry_points(ROOT)
    assert code["shopify_webhook"].kind == "http"
    assert code["crm_writer"].kind == "event"
    reads = env_reads(ROOT)
    assert function_env_needs(ROOT, code["shopify_webhook"], reads) >= {
        "GOOGLE_CLOUD_PROJECT",
        "SHOPIFY_WEBHOOK_SECRETS",
        "ORDER_EVENTS_TOPIC",
    }
    assert "BIGQUERY_DATASET" in function_env_needs(ROOT, code["crm_writer"], reads)
    assert "SHOPIFY_WEBHOOK_SECRETS" not in function_env_needs(ROOT, code["crm_writer"], reads)
    assert "order-events" in code_topics(ROOT)
    assert "webhook_claims" in claim_collections_in_code(ROOT)
    tables, views = infra_tables(ROOT, load_infra(ROOT))
    assert {"order_events", "raw_events"} <= tables
    assert "orders" in views
    messages = log_calls(ROOT)
    assert any(c.message.fullmatch("event written") for c in messages)
    assert any(c.message.fullmatch("shopify_sync failed") for c in messages)  # via an alias
    assert len(load_infra(ROOT).of_type("google_logging_metric")) >= 2


def _copy_repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for part in ("functions", "infra", "schemas", "devstack"):
        shutil.copytree(
            ROOT / part, root / part, ignore=shutil.ignore_patterns("__pycache__", ".terraform*")
        )
    shutil.copy(ROOT / "cloudbuild.yaml", root / "cloudbuild.yaml")
    return root


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"mutation no longer applies: {old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def _remove_function_entry(root: Path) -> None:
    path = root / "infra" / "main.tf"
    text = path.read_text()
    start = text.index("    crm_writer = {")
    end = text.index("\n    }\n", start) + len("\n    }\n")
    path.write_text(text[:start] + text[end:])


#: (what is removed, from which side, the edit, the check, a phrase the complaint must hold)
MUTATIONS: list[tuple[str, Callable[[Path], None], str, str]] = [
    ("function removed from infra", _remove_function_entry, "functions", "crm_writer"),
    (
        "entry point renamed in code only",
        lambda r: _edit(r / "functions/main.py", "def crm_writer(", "def crm_writer_v2("),
        "functions",
        "crm_writer_v2",
    ),
    (
        "event trigger changed in infra only",
        lambda r: _edit(
            r / "infra/main.tf", 'event_topic = "order-events"', 'event_topic = "crm-changes"'
        ),
        "functions",
        "crm_writer",
    ),
    (
        "topic removed from infra",
        lambda r: _edit(r / "infra/main.tf", '"order-events", "gmail-push"', '"gmail-push"'),
        "topics",
        "order-events",
    ),
    (
        "topic added in code only",
        lambda r: _edit(
            r / "devstack/stack.py",
            "EXTRA_TOPICS: tuple[str, ...] = ()",
            'EXTRA_TOPICS: tuple[str, ...] = ("refund-events",)',
        ),
        "topics",
        "refund-events",
    ),
    (
        "variable removed from infra",
        lambda r: _edit(
            r / "infra/main.tf",
            "BIGQUERY_DATASET = google_bigquery_dataset.crm.dataset_id",
            "",
        ),
        "env",
        "BIGQUERY_DATASET",
    ),
    (
        "variable added in code only",
        lambda r: _edit(
            r / "functions/orderhub/crm_writer/settings.py",
            'dataset=required(env, "BIGQUERY_DATASET")',
            'dataset=required(env, "BIGQUERY_DATASET") + required(env, "CRM_TABLE_PREFIX")',
        ),
        "env",
        "CRM_TABLE_PREFIX",
    ),
    (
        "secret removed from infra",
        lambda r: _edit(
            r / "infra/main.tf",
            'secrets     = ["SHOPIFY_WEBHOOK_SECRETS", "SHOPIFY_CLIENT_SECRET"]',
            "",
        ),
        "env",
        "SHOPIFY_WEBHOOK_SECRETS",
    ),
    (
        "schedule missing from infra's variables",
        lambda r: _edit(r / "infra/variables.tf", 'shopify_reconcile = "', 'reconcile = "'),
        "functions",
        "shopify_reconcile",
    ),
    (
        "table removed from infra's manifest",
        lambda r: _edit(r / "schemas/dataset.json", '"refund_events": {', '"refund_events_old": {'),
        "tables",
        "refund_events",
    ),
    (
        "table schema file removed",
        lambda r: (r / "schemas/bigquery/quarantine.json").unlink(),
        "tables",
        "quarantine",
    ),
    (
        "view SQL added without a view",
        lambda r: (r / "schemas/views/weekly_sales.sql").write_text("SELECT 1\n"),
        "tables",
        "weekly_sales",
    ),
    (
        "claim collection without TTL",
        lambda r: _edit(
            r / "functions/orderhub/shopify_webhook/wiring.py",
            'f"{s.firestore_prefix}webhook_claims"',
            'f"{s.firestore_prefix}webhook_claims_v2"',
        ),
        "firestore",
        "webhook_claims_v2",
    ),
    (
        "collection written with expires_at but without TTL",
        lambda r: _edit(
            r / "functions/orderhub/order_form/wiring.py",
            'self._collection("signin_throttle")',
            'self._collection("signin_throttle_v2")',
        ),
        "firestore",
        "signin_throttle_v2",
    ),
    (
        "dataset-level grant on the CRM",
        lambda r: (r / "infra/extra.tf").write_text(
            '# Why: a test\nresource "google_bigquery_dataset_iam_member" "x" {\n'
            "  dataset_id = google_bigquery_dataset.crm.dataset_id\n"
            '  role       = "roles/bigquery.dataViewer"\n'
            '  member     = "user:someone@example.com"\n}\n'
        ),
        "least_privilege",
        "grants on the CRM dataset",
    ),
    (
        "CRM app granted a table its code does not query",
        lambda r: _edit(
            r / "infra/main.tf",
            'reads_tables = ["order_events", "refund_events",',
            'reads_tables = ["order_events", "privacy_requests", "refund_events",',
        ),
        "least_privilege",
        "what the CRM app queries",
    ),
    (
        "writers get dataEditor",
        lambda r: _edit(
            r / "infra/functions.tf",
            "role       = google_project_iam_custom_role.table_appender.name",
            'role       = "roles/bigquery.dataEditor"',
        ),
        "least_privilege",
        "rewrites rows",
    ),
    (
        "a writer in the CRM's access list as WRITER",
        lambda r: (r / "infra/extra.tf").write_text(
            'resource "google_bigquery_dataset_access" "x" {\n'
            "  dataset_id    = google_bigquery_dataset.crm.dataset_id\n"
            '  role          = "WRITER"\n'
            '  user_by_email = google_service_account.fn["crm_writer"].email\n}\n'
        ),
        "least_privilege",
        "rewrites rows",
    ),
    (
        "writers' role broadened",
        lambda r: _edit(
            r / "infra/functions.tf",
            '"bigquery.tables.updateData"]',
            '"bigquery.tables.updateData", "bigquery.tables.getData"]',
        ),
        "least_privilege",
        "more than appending",
    ),
    (
        "catalogue view not authorized",
        lambda r: _edit(
            r / "infra/bigquery.tf",
            "table_id   = google_bigquery_table.catalogue_products.table_id",
            'table_id   = "orders"',
        ),
        "least_privilege",
        "not authorized",
    ),
    (
        "order form reads the CRM dataset",
        lambda r: _edit(
            r / "infra/main.tf",
            "google_bigquery_dataset.catalogue.dataset_id # products only",
            "google_bigquery_dataset.crm.dataset_id",
        ),
        "least_privilege",
        "BIGQUERY_DATASET is not it",
    ),
    (
        "the order form given the default database again",
        lambda r: _edit(
            r / "infra/main.tf",
            '      app_state     = "write"\n      managers_read = true',
            '      app_state     = "write"\n      firestore     = true\n      managers_read = true',
        ),
        "least_privilege",
        "gives order_form a datastore role on the default database",
    ),
    (
        "the webhook reads its switches from the default database again",
        lambda r: _edit(
            r / "functions/orderhub/shopify_webhook/wiring.py",
            "gcp.firestore_client(s.project, s.app_database),",
            "gcp.firestore_client(s.project),",
        ),
        "least_privilege",
        "shopify_webhook: app_state = 'read' but its code never uses it",
    ),
    (
        "a function that writes the app's database granted read only",
        lambda r: _edit(
            r / "infra/main.tf",
            '      app_state  = "write" # the orders list\'s change marker',
            '      app_state  = "read" # the orders list\'s change marker',
        ),
        "least_privilege",
        "crm_writer: app_state = 'read', yet write.py calls .bump(): it writes",
    ),
    (
        "a reader of the app's database granted write",
        lambda r: _edit(
            r / "infra/main.tf",
            'app_state   = "read" ',
            'app_state   = "write"',
        ),
        "least_privilege",
        "shopify_webhook may write the app's database",
    ),
    (
        "the app's TTL policy left on the default database",
        lambda r: _edit(
            r / "infra/firestore.tf",
            "  database   = google_firestore_database.app.name",
            "  database   = google_firestore_database.default.name",
        ),
        "firestore",
        "app_claims_ttl is not on google_firestore_database.app",
    ),
    (
        "Firestore grant on every database",
        lambda r: _edit(
            r / "infra/functions.tf",
            'expression  = "resource.name == \\"projects/${var.project}/databases/(default)\\""',
            'expression  = "true"',
        ),
        "least_privilege",
        "not limited to one database",
    ),
    (
        "scheduled functions reachable from the internet (as before)",
        lambda r: _edit(
            r / "infra/functions.tf",
            'each.value.public ? "ALLOW_ALL"',
            'each.value.event_topic == null ? "ALLOW_ALL"',
        ),
        "least_privilege",
        "internal-only",
    ),
    (
        "binary file in the bundle",
        lambda r: (r / "functions/orderhub/logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\xff"),
        "bundle",
        "logo.png",
    ),
    (
        "a log line the metric counts is renamed in the code",
        lambda r: _edit(
            r / "functions/orderhub/gmail_ingest/watch_renew.py",
            'logs.info("gmail watch renewed"',
            'logs.info("gmail watch refreshed"',
        ),
        "log_metrics",
        "no log call emits message 'gmail watch renewed'",
    ),
    (
        "a metric's filter names a message nobody logs",
        lambda r: _edit(
            r / "infra/monitoring.tf",
            'jsonPayload.message="gmail sync done"',
            'jsonPayload.message="gmail sync complete"',
        ),
        "log_metrics",
        "no log call emits message 'gmail sync complete'",
    ),
    (
        "a field a metric extracts is no longer logged",
        lambda r: _edit(
            r / "functions/orderhub/crm_writer/entry.py",
            "        lag_s=logs.seconds_since(",
            "        delay_s=logs.seconds_since(",
        ),
        "log_metrics",
        "jsonPayload.lag_s is written by none",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "check", "phrase"),
    [m[1:] for m in MUTATIONS],
    ids=[m[0] for m in MUTATIONS],
)
def test_check_fails_when_one_side_changes(
    tmp_path: Path, mutate: Callable[[Path], None], check: str, phrase: str
) -> None:
    root = _copy_repo(tmp_path)
    assert CHECKS[check](root) == []  # the copy agrees before the edit

    mutate(root)

    problems = CHECKS[check](root)
    assert any(phrase in p for p in problems), problems
