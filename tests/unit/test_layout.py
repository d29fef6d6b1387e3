"""The code's layout, kept by a test: one package per deployed function, shared code that
depends on no function, one parser per concept (issue 18).

A function's name leads to one folder: ``functions/main.py``'s delegator for ``X`` imports
``orderhub.X.entry`` (``gmail_watch_renew`` lives in ``gmail_ingest``), and that package has
its ``settings.py``, ``wiring.py`` and a short ``entry.py``. Everything else in ``orderhub``
is shared, and imports no function package, even lazily inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ORDERHUB = ROOT / "functions" / "orderhub"

#: Where a function's entry module may live when it is not ``orderhub.<name>.entry``.
ELSEWHERE = {"gmail_watch_renew": "orderhub.gmail_ingest.watch_renew"}
#: The bar for an entry module (the aim is 40 lines).
ENTRY_MAX_LINES = 40


def deployed_functions() -> dict[str, str]:
    """Function name → the module its ``main.py`` delegator imports."""
    tree = ast.parse((ROOT / "functions" / "main.py").read_text())
    found = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom) and inner.module:
                    found[node.name] = f"{inner.module}.{inner.names[0].name}"
    return found


def function_packages() -> set[str]:
    return {module.split(".")[1] for module in deployed_functions().values()}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT / "functions").with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every orderhub module ``path`` imports, at the top or inside a function."""
    package = (
        module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    )
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            found |= {f"{base}.{a.name}" for a in node.names} | {base}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return {m for m in found if m == "orderhub" or m.startswith("orderhub.")}


def test_every_function_has_one_package_of_its_name_with_the_same_shape():
    functions = deployed_functions()
    assert len(functions) == 10
    for name, module in functions.items():
        assert module == ELSEWHERE.get(name, f"orderhub.{name}.entry"), name
        package = ORDERHUB / module.split(".")[1]
        for part in ("settings.py", "wiring.py", "entry.py"):
            assert (package / part).is_file(), f"{name}: no {part} in {package.name}/"


def test_entry_modules_are_short():
    lengths = {
        module: len(
            (ROOT / "functions" / (module.replace(".", "/") + ".py")).read_text().splitlines()
        )
        for module in deployed_functions().values()
    }
    too_long = {m: n for m, n in lengths.items() if n > ENTRY_MAX_LINES}
    assert too_long == {}


def test_the_old_homes_are_gone():
    assert not (ORDERHUB / "entrypoints").exists()
    assert not (ORDERHUB / "settings.py").exists()
    for old in ("outbound", "sync", "privacy", "crmapp", "orderform"):
        assert not (ORDERHUB / old).exists(), old


def test_shared_code_imports_no_function_package():
    packages = function_packages()
    offenders = []
    for path in sorted(ORDERHUB.rglob("*.py")):
        top = path.relative_to(ORDERHUB).parts[0].removesuffix(".py")
        if top in packages:
            continue
        for imported in imports_of(path):
            parts = imported.split(".")
            if len(parts) > 1 and parts[1] in packages:
                offenders.append(f"{module_name(path)} imports {imported}")
    assert offenders == []


def test_function_packages_import_no_other_function_package():
    packages = function_packages()
    offenders = []
    for package in sorted(packages):
        for path in sorted((ORDERHUB / package).rglob("*.py")):
            for imported in imports_of(path):
                parts = imported.split(".")
                if len(parts) > 1 and parts[1] in packages - {package}:
                    offenders.append(f"{module_name(path)} imports {imported}")
    assert offenders == []


def test_one_module_speaks_phonenumbers():
    users = sorted(
        module_name(path)
        for path in ORDERHUB.rglob("*.py")
        if any(
            (isinstance(n, ast.Import) and any(a.name.startswith("phonenumbers") for a in n.names))
            or (isinstance(n, ast.ImportFrom) and (n.module or "").startswith("phonenumbers"))
            for n in ast.walk(ast.parse(path.read_text()))
        )
    )
    assert users == ["orderhub.phones"]


def test_the_checks_see_a_violation(tmp_path):
    """The import walk is not blind: a shared module's lazy import of a function package
    is found (a test that cannot fail proves nothing)."""
    shared = tmp_path / "functions" / "orderhub" / "bus.py"
    shared.parent.mkdir(parents=True)
    shared.write_text("def f():\n    from orderhub.notifier import notify\n    return notify\n")
    global ROOT
    saved = ROOT
    try:
        ROOT = tmp_path
        assert "orderhub.notifier.notify" in imports_of(shared)
    finally:
        ROOT = saved
