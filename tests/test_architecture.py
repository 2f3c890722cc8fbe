"""The layer rule of ``docs/architecture.md``, checked from the imports of every module.

The layer table is read from the ``text`` block under "## Layers" in ``docs/architecture.md``,
so the document and this test cannot drift apart. A module may import siftrec modules of its own
layer or of lower ones. An import of a higher layer is allowed only inside a function and only
when its line says it populates a registry (a comment containing ``registry population``).
Imports under ``if TYPE_CHECKING:`` count like any other: a type is a dependency too.
:data:`PENDING` names the upward imports whose removal is still open, with what must change.
"""

from __future__ import annotations

import ast
import io
import re
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "siftrec"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
#: The package root (``siftrec/__init__.py``) as written in the layer table.
ROOT_TOKEN = "__init__"
ALLOW_MARKER = "registry population"


@dataclass(frozen=True)
class Import:
    """One import of a siftrec module found in a source file."""

    file: Path
    line: int
    target: str  # dotted module name, e.g. "siftrec.models.base"
    lazy: bool  # inside a function body
    comment: str  # the comments on the import statement's lines


def read_layers(text: str) -> list[tuple[str, list[str]]]:
    """``[(label, [top-level module names])]`` lowest first, from the "## Layers" text block."""
    section = text.split("## Layers", 1)
    if len(section) < 2:
        raise AssertionError(f"{ARCHITECTURE} has no '## Layers' section")
    block = re.search(r"```text\n(.*?)```", section[1], re.DOTALL)
    if block is None:
        raise AssertionError(f"the '## Layers' section of {ARCHITECTURE} has no ```text block")
    layers = []
    for raw in block.group(1).splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        label, _, names = line.partition(":")
        if not names.strip():
            raise AssertionError(f"layer line {raw!r} has no 'label: modules' form")
        layers.append((label.strip(), names.split()))
    return layers


def layer_index(layers: list[tuple[str, list[str]]]) -> dict[str, int]:
    """Top-level module name (``data``, ``errors``, ``__init__`` for the root) → layer rank."""
    rank: dict[str, int] = {}
    for position, (_, names) in enumerate(layers):
        for name in names:
            if name in rank:
                raise AssertionError(f"{name!r} is listed in two layers of {ARCHITECTURE}")
            rank[name] = position
    return rank


def module_name(path: Path) -> str:
    """Dotted name of a source file under ``src/``."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def top_level(module: str) -> str:
    """The layer key of a siftrec module: its first component below ``siftrec``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ROOT_TOKEN


def _comments(source: str) -> dict[int, str]:
    comments: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = comments.get(token.start[0], "") + token.string
    return comments


def _resolve_from(node: ast.ImportFrom, current: str, is_package: bool) -> list[str]:
    """Target modules of ``from X import a, b`` (``from siftrec import data`` → siftrec.data)."""
    if node.level:
        base = current.split(".") if is_package else current.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        module = ".".join(base + ([node.module] if node.module else []))
    else:
        module = node.module or ""
    if module == "siftrec":
        submodules = {p.stem for p in PACKAGE.glob("*.py")} | {
            p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()
        }
        return [
            f"siftrec.{alias.name}" if alias.name in submodules else "siftrec"
            for alias in node.names
        ]
    return [module]


def imports_of(path: Path) -> list[Import]:
    """Every import of a siftrec module in one file, with its position and whether it is lazy."""
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(path))
    comments = _comments(source)
    current = module_name(path)
    is_package = path.name == "__init__.py"
    found: list[Import] = []

    def visit(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = lazy or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            targets: list[str] = []
            if isinstance(child, ast.Import):
                targets = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom):
                targets = _resolve_from(child, current, is_package)
            elif (
                isinstance(child, ast.Call)
                and isinstance(child.func, ast.Attribute | ast.Name)
                and (getattr(child.func, "attr", None) or getattr(child.func, "id", None))
                == "import_module"
                and child.args
                and isinstance(child.args[0], ast.Constant)
                and isinstance(child.args[0].value, str)
            ):
                targets = [child.args[0].value]
            for target in targets:
                if target == "siftrec" or target.startswith("siftrec."):
                    lines = range(child.lineno, (child.end_lineno or child.lineno) + 1)
                    comment = " ".join(comments.get(n, "") for n in lines)
                    found.append(Import(path, child.lineno, target, lazy, comment))
            visit(child, inner)

    visit(tree, False)
    return found


@dataclass(frozen=True)
class Violation:
    """An import that breaks the layer rule (``target`` None: a module outside every layer)."""

    file: str
    target: str | None
    message: str


def violations(layers: list[tuple[str, list[str]]]) -> list[Violation]:
    """Every import that breaks the layer rule, and every module with no layer."""
    rank = layer_index(layers)
    labels = [label for label, _ in layers]
    problems: list[Violation] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        where = str(path.relative_to(ROOT))
        source_key = top_level(module_name(path))
        if source_key not in rank:
            message = f"{where}: module {source_key!r} is in no layer of {ARCHITECTURE.name}"
            problems.append(Violation(where, None, message))
            continue
        own = rank[source_key]
        for found in imports_of(path):
            key = top_level(found.target)
            if key not in rank:
                message = f"{where}:{found.line}: {found.target} is in no layer"
                problems.append(Violation(where, found.target, message))
                continue
            if rank[key] <= own:
                continue
            if found.lazy and ALLOW_MARKER in found.comment:
                continue
            kind = "function-level import" if found.lazy else "import"
            message = (
                f"{where}:{found.line}: {kind} of {found.target} goes up from layer "
                f"{labels[own]!r} to layer {labels[rank[key]]!r}"
            )
            problems.append(Violation(where, found.target, message))
    return problems


def messages(layers: list[tuple[str, list[str]]]) -> list[str]:
    return [v.message for v in violations(layers)]


LAYERS = read_layers(ARCHITECTURE.read_text(encoding="utf-8"))

#: Upward imports still being removed, (file, imported module) → what has to change. The test
#: fails on any upward import not listed here, and on an entry that no longer occurs: delete it.
PENDING: dict[tuple[str, str], str] = {}


def test_every_import_respects_the_layer_order():
    found = violations(LAYERS)
    new = [v.message for v in found if (v.file, v.target) not in PENDING]
    gone = sorted(set(PENDING) - {(v.file, v.target) for v in found})
    assert not new, "upward imports (docs/architecture.md, Layers):\n" + "\n".join(new)
    assert not gone, f"fixed, delete from PENDING in {Path(__file__).name}: {gone}"


def test_layer_table_names_real_modules():
    existing = {p.stem for p in PACKAGE.glob("*.py")} | {
        p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()
    }
    listed = set(layer_index(LAYERS))
    assert listed - existing == set(), "layers name modules that do not exist"
    assert existing - listed == set(), "modules missing from the layer table"


# ---------------------------------------------------------------- the checker itself
@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    """A two-layer package in ``tmp/src/siftrec`` that the checker reads instead of siftrec."""
    package = tmp_path / "src" / "siftrec"
    for name in ("low", "high"):
        (package / name).mkdir(parents=True)
        (package / name / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", package)
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    return package


FAKE_LAYERS = [("low", ["low", ROOT_TOKEN]), ("high", ["high"])]


def test_checker_reports_upward_imports_with_file_line_and_layers(fake_package):
    (fake_package / "low" / "a.py").write_text(
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "from siftrec.low import b\n"
        "if TYPE_CHECKING:\n"
        "    from siftrec.high import c\n"
    )
    (fake_package / "high" / "d.py").write_text("from ..low import a\nimport siftrec.low\n")
    assert messages(FAKE_LAYERS) == [
        "src/siftrec/low/a.py:5: import of siftrec.high goes up from layer 'low' to layer 'high'"
    ]


def test_checker_allows_only_commented_lazy_registry_imports(fake_package):
    (fake_package / "low" / "a.py").write_text(
        "import importlib\n"
        "def f():\n"
        "    import siftrec.high  # registry population: the models register on import\n"
        "def g():\n"
        "    import siftrec.high  # avoids a cycle\n"
        "def h():\n"
        "    importlib.import_module('siftrec.high.x')\n"
    )
    assert messages(FAKE_LAYERS) == [
        "src/siftrec/low/a.py:5: function-level import of siftrec.high goes up from layer "
        "'low' to layer 'high'",
        "src/siftrec/low/a.py:7: function-level import of siftrec.high.x goes up from layer "
        "'low' to layer 'high'",
    ]


def test_checker_resolves_relative_and_package_imports(fake_package):
    (fake_package / "low" / "a.py").write_text("from .. import high\nfrom ..high import thing\n")
    (fake_package / "stray.py").write_text("")
    assert messages(FAKE_LAYERS) == [
        "src/siftrec/low/a.py:1: import of siftrec.high goes up from layer 'low' to layer 'high'",
        "src/siftrec/low/a.py:2: import of siftrec.high goes up from layer 'low' to layer 'high'",
        f"src/siftrec/stray.py: module 'stray' is in no layer of {ARCHITECTURE.name}",
    ]
