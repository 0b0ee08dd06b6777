"""Dynamic imports of project modules are not a way around the dependency rules.

The import-linter contracts in ``pyproject.toml`` (run by ``make test``) see every
``import`` statement; they cannot see ``importlib.import_module("distribution.selectors")``,
``__import__(…)``, Django's ``import_string(…)`` or a lookup in ``sys.modules``. This walks
the syntax tree of every project module and refuses those calls when they name a project
module, or a module computed at run time (which could be one). Django's own string
references — ``include("shop.orders.urls")``, dotted paths in the settings, ``AppConfig``
names, Celery task names — are configuration, not imports, and are not looked at.

A dynamic import still being removed is listed in ``ALLOWED`` with the helper removing it;
an entry that no longer matches fails too, so the list only shrinks."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT_PACKAGES = ("platform_core", "tenants", "shop", "distribution", "billing", "themes")
# The functions that import a module (or an attribute of one) named by a string.
LOADERS = {
    ("importlib", "import_module"),
    ("importlib", "__import__"),
    ("importlib", "reload"),
    ("builtins", "__import__"),
    ("django.utils.module_loading", "import_string"),
    ("django.utils.module_loading", "cached_import"),
}
LOADER_NAMES = {name for _, name in LOADERS}

# (file, what it loads): who removes it
ALLOWED: dict[tuple[str, str], str] = {
    ("shop/storefront/drops.py", "distribution.selectors"): "arch-edges: the storefront drops registry",
}


@dataclass(frozen=True)
class Found:
    path: str
    line: int
    call: str
    target: str  # the module named, or "<computed>"


def is_project_module(name: str) -> bool:
    return name.split(".")[0] in PROJECT_PACKAGES


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def dynamic_imports(source: str, path: str = "<source>") -> list[Found]:
    """The dynamic imports of project modules (or of computed names) in ``source``."""
    tree = ast.parse(source, filename=path)
    # local name -> the loader it stands for ("importlib" for the module itself)
    aliases: dict[str, str] = {"__import__": "__import__"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname and alias.name in ("importlib", "builtins", "sys"):
                    aliases[alias.asname] = alias.name
                elif not alias.asname and alias.name.split(".")[0] in ("importlib", "builtins", "sys"):
                    aliases[alias.name.split(".")[0]] = alias.name.split(".")[0]  # import importlib.util
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                if (node.module, alias.name) in LOADERS:
                    aliases[alias.asname or alias.name] = alias.name
                elif node.module == "sys" and alias.name == "modules":
                    aliases[alias.asname or alias.name] = "sys.modules"
    found: list[Found] = []

    def is_sys_modules(name: str) -> bool:
        first, _, rest = name.partition(".")
        return aliases.get(name) == "sys.modules" or (aliases.get(first) == "sys" and rest == "modules")

    def check(node: ast.AST, call: str, argument: ast.expr | None) -> None:
        if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
            if is_project_module(argument.value):
                found.append(Found(path, node.lineno, call, argument.value))  # type: ignore[attr-defined]
        else:
            found.append(Found(path, node.lineno, call, "<computed>"))  # type: ignore[attr-defined]

    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _dotted(node.func)
            if name is None:
                continue
            head, _, attr = name.rpartition(".")
            if head:  # importlib.import_module(…), il.import_module(…), builtins.__import__(…)
                loader = attr if aliases.get(head) in ("importlib", "builtins") and attr in LOADER_NAMES else None
                if is_sys_modules(head) and attr in ("get", "pop", "setdefault"):  # sys.modules.get(…)
                    loader = "sys.modules"
            else:  # import_module(…) after ``from importlib import import_module [as x]``
                loader = aliases.get(name) if aliases.get(name) in LOADER_NAMES else None
            if loader is not None:
                check(node, loader, node.args[0] if node.args else None)
        elif isinstance(node, ast.Subscript):  # sys.modules["distribution.selectors"]
            name = _dotted(node.value)
            if name is not None and is_sys_modules(name):
                check(node, "sys.modules", node.slice)
    return found


def project_files() -> list[Path]:
    return sorted(p for package in PROJECT_PACKAGES for p in (ROOT / package).rglob("*.py"))


# --- the rule, over the project --------------------------------------------------------------
def test_project_code_imports_no_project_module_dynamically() -> None:
    seen: set[tuple[str, str]] = set()
    refused: list[str] = []
    for path in project_files():
        relative = path.relative_to(ROOT).as_posix()
        for hit in dynamic_imports(path.read_text(encoding="utf-8"), relative):
            key = (relative, hit.target)
            if key in ALLOWED:
                seen.add(key)
            else:
                refused.append(f"{relative}:{hit.line} {hit.call}({hit.target!r})")
    assert not refused, (
        "Dynamic imports of project modules hide a dependency from the import-linter contracts; "
        "import it (if the layers allow) or use a registry / an event (docs/architecture.md):\n  "
        + "\n  ".join(refused)
    )
    stale = sorted(set(ALLOWED) - seen)
    assert not stale, f"These allowed dynamic imports are gone: delete their ALLOWED entries: {stale}"


def test_the_walk_covers_every_project_package() -> None:
    files = {p.relative_to(ROOT).parts[0] for p in project_files()}
    assert files == set(PROJECT_PACKAGES)
    assert len(project_files()) > 200


# --- the detector itself ---------------------------------------------------------------------
def targets(source: str) -> list[tuple[str, str]]:
    return [(f.call, f.target) for f in dynamic_imports(source)]


def test_each_way_of_loading_a_project_module_is_seen() -> None:
    assert targets("import importlib\nimportlib.import_module('distribution.selectors')") == [
        ("import_module", "distribution.selectors")
    ]
    assert targets("import importlib as il\nil.import_module('shop.orders.services')") == [
        ("import_module", "shop.orders.services")
    ]
    assert targets("from importlib import import_module as load\nload('billing.tasks')") == [
        ("import_module", "billing.tasks")
    ]
    assert targets("x = __import__('tenants.models')") == [("__import__", "tenants.models")]
    assert targets("import builtins\nbuiltins.__import__('themes')") == [("__import__", "themes")]
    assert targets(
        "from django.utils.module_loading import import_string\nimport_string('shop.pricing.price_lines')"
    ) == [("import_string", "shop.pricing.price_lines")]
    assert targets("import importlib.util\nimportlib.import_module('shop')") == [("import_module", "shop")]
    assert targets("from sys import modules as loaded\nloaded['billing.services']") == [
        ("sys.modules", "billing.services")
    ]
    assert targets("import importlib\ndef f():\n    importlib.reload(m)") == [("reload", "<computed>")]
    assert targets("import sys\nsys.modules['distribution.selectors']") == [("sys.modules", "distribution.selectors")]
    assert targets("import sys\nsys.modules.get('platform_core.api')") == [("sys.modules", "platform_core.api")]


def test_a_computed_name_counts_as_a_project_module() -> None:
    assert targets("import importlib\nname = 'distribution' + '.selectors'\nimportlib.import_module(name)") == [
        ("import_module", "<computed>")
    ]


def test_django_string_references_and_other_libraries_are_fine() -> None:
    assert targets("from django.urls import include, path\nurlpatterns = [path('', include('shop.orders.urls'))]") == []
    assert targets("ROOT_URLCONF = 'platform_core.urls_tenant'\nINSTALLED_APPS = ['shop.orders']") == []
    assert targets("import importlib\nimportlib.import_module('json')") == []
    assert targets("import importlib.util\nimportlib.util.find_spec('gunicorn')") == []
    assert targets("self.modules.get(name)\nregistry.modules[name]") == []
    assert targets("from django.apps import AppConfig\nclass C(AppConfig):\n    name = 'shop.orders'") == []
