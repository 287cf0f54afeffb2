"""Every component option table in docs/ matches the registry, and every component has one.

The convention (any page under docs/):

* An options table sits right below a marker naming its component(s), with no blank line:

      <!-- options: KIND NAME [NAME ...] -->
      | option | type | default | meaning |
      |---|---|---|---|
      | `temperature` | `float` | `0.2` | softmax temperature T |

* One row per option, in the order ``ssl describe KIND NAME`` lists them. ``option`` and
  ``type`` are the option's name and type in backticks; ``default`` is ``repr(default)`` in
  backticks, as ``ssl describe`` prints it (compared as parsed Python literals, types
  included, so ``1`` is not ``1.0`` and ``linear`` is not ``'linear'``); ``meaning`` is the
  option's one-line doc (the ``doc`` of its ``option(...)``), to which a page may only add
  backticks (code formatting) and must escape a ``|`` outside backticks as ``\\|``.
* A marker may name several components of one kind that share their options (a class
  registered with presets: ``moco`` / ``moco-v2``): the same option names, types and docs.
  The default column is then headed ``default (`A` / `B`)`` in the marker's order, and each
  default cell holds either one value, common to all of them, or one value per component
  joined by `` / ``.
* Every component of every kind but encoder (views, branch, loss, regularizer, callback,
  dataset, and any later kind) that ssl-core or a plugin under plugins/ registers with at
  least one option has exactly one marked table in docs/ (encoders and contrib components
  may have one, and are then checked).

To print the table of a component, or rewrite every stale marked table in place (keeping a
meaning cell whose text is still the doc), run::

    .venv/bin/python tests/test_docs_options.py KIND NAME [NAME ...]
    .venv/bin/python tests/test_docs_options.py --write
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ssl_core import registry
from ssl_core.errors import UnknownComponentError

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
#: the distributions whose components must have a table: the core and the plugins under plugins/.
FIRST_PARTY = frozenset(
    ["ssl-core"] + [tomllib.loads(p.read_text())["project"]["name"] for p in ROOT.glob("plugins/*/pyproject.toml")]
)
#: the kinds whose components must have a table (encoders may).
COVERED_KINDS = tuple(kind for kind in registry.KINDS if kind != "encoder")

MARKER = re.compile(r"<!-- options: (?P<kind>[a-z-]+) (?P<names>[A-Za-z0-9._-]+(?: [A-Za-z0-9._-]+)*) -->")
CODE_SPAN = re.compile(r"`([^`]*)`")
FENCE = re.compile(r"^\s*(```|~~~)")


@dataclass
class Table:
    """A marked options table: where it is and its cells."""

    path: Path
    line: int  # 0-based index of the marker line
    kind: str
    names: tuple[str, ...]
    lines: list[str]  # the table's lines, header and separator included

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path}:{self.line + 1}"

    @property
    def id(self) -> str:
        return f"{self.where} {self.kind} {' '.join(self.names)}"


def split_row(line: str) -> list[str]:
    """The cells of a Markdown table row; ``|`` inside backticks or escaped is not a separator."""
    body = line.strip()
    body = body[1:] if body.startswith("|") else body
    body = body[:-1] if body.endswith("|") and not body.endswith("\\|") else body
    cells, cell, in_code, previous = [], "", False, ""
    for char in body:
        if char == "`":
            in_code = not in_code
        if char == "|" and not in_code and previous != "\\":
            cells.append(cell.strip())
            cell = ""
        else:
            cell += char
        previous = char
    cells.append(cell.strip())
    return cells


def find_tables(text: str, path: Path) -> tuple[list[Table], list[str]]:
    """The marked tables of a page, and the problems with markers that are not well formed."""
    tables, problems = [], []
    lines = text.splitlines()
    in_fence = False
    for index, line in enumerate(lines):
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        stripped = line.strip()
        if in_fence or not (stripped.startswith("<!--") and "options:" in stripped):
            continue
        where = f"{path}:{index + 1}"
        match = MARKER.fullmatch(stripped)
        if not match:
            problems.append(f"{where}: malformed marker {stripped!r}; write <!-- options: KIND NAME [NAME ...] -->")
            continue
        table_lines = []
        for row in lines[index + 1:]:
            if not row.lstrip().startswith("|"):
                break
            table_lines.append(row)
        if not table_lines:
            problems.append(f"{where}: no table right below {stripped!r} (no blank line between them)")
            continue
        tables.append(Table(path, index, match["kind"], tuple(match["names"].split()), table_lines))
    return tables, problems


def scan_docs() -> tuple[list[Table], list[str]]:
    """Every marked table under docs/, and every marker problem."""
    tables, problems = [], []
    for page in sorted(DOCS.rglob("*.md")):
        found, bad = find_tables(page.read_text(), page)
        tables += found
        problems += bad
    return tables, problems


def same_value(a: Any, b: Any) -> bool:
    """Equal values of the same types, containers compared item by item."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same_value(a[k], b[k]) for k in a)
    return a == b


def plain(text: str) -> str:
    """A meaning cell's text as an option doc: backticks dropped, ``\\|`` unescaped."""
    return text.replace("\\|", "|").replace("`", "")


def escape(text: str) -> str:
    """A doc as a table cell: ``|`` escaped."""
    return text.replace("|", "\\|")


def registry_rows(kind: str, names: tuple[str, ...]) -> tuple[list[dict[str, Any]], list[list[Any]], list[str]]:
    """The shared option rows of ``names``, each option's default per component, and problems."""
    problems = []
    described = {}
    for name in names:
        try:
            described[name] = registry.describe(kind, name)
        except UnknownComponentError as exc:
            problems.append(str(exc))
    if problems:
        return [], [], problems
    first = names[0]
    rows = described[first]
    for name in names[1:]:
        for key in ("name", "type", "doc"):
            if [r[key] for r in described[name]] != [r[key] for r in rows]:
                problems.append(f"{kind} {first!r} and {name!r} differ in their option {key}s; "
                                f"give each its own table")
                break
    if not rows:
        problems.append(f"{kind} {' '.join(names)}: no options, so no table")
    defaults = [[described[name][i]["default"] for name in names] for i in range(len(rows))]
    return rows, defaults, problems


def default_header(names: tuple[str, ...]) -> str:
    return "default" if len(names) == 1 else "default (" + " / ".join(f"`{n}`" for n in names) + ")"


def default_cell(values: list[Any]) -> str:
    if all(same_value(v, values[0]) for v in values[1:]):
        return f"`{values[0]!r}`"
    return " / ".join(f"`{v!r}`" for v in values)


def render(kind: str, names: tuple[str, ...], meanings: dict[str, str] | None = None) -> list[str]:
    """The table of ``names`` from the registry; ``meanings`` are cells kept where still right."""
    rows, defaults, _ = registry_rows(kind, names)
    meanings = meanings or {}
    lines = [f"| option | type | {default_header(names)} | meaning |", "|---|---|---|---|"]
    for row, values in zip(rows, defaults):
        kept = meanings.get(row["name"])
        meaning = kept if kept is not None and plain(kept) == plain(row["doc"]) else escape(row["doc"])
        lines.append(f"| `{row['name']}` | `{row['type']}` | {default_cell(values)} | {meaning} |")
    return lines


def check(table: Table) -> list[str]:
    """What is wrong with a marked table, as messages (none: it matches the registry)."""
    rows, defaults, problems = registry_rows(table.kind, table.names)
    if problems:
        return problems
    header = split_row(table.lines[0])
    expected_header = ["option", "type", default_header(table.names), "meaning"]
    if header != expected_header:
        return [f"header {header} is not {expected_header}"]
    if len(table.lines) < 2 or not re.fullmatch(r"\|?(\s*:?-+:?\s*\|)*\s*:?-+:?\s*\|?", table.lines[1].strip()):
        return ["the second line is not a header separator"]
    body = [split_row(line) for line in table.lines[2:]]
    names = [cells[0] for cells in body]
    expected_names = [f"`{row['name']}`" for row in rows]
    if names != expected_names:
        return [f"options {names} are not {expected_names} (all of them, in order)"]
    for cells, row, values in zip(body, rows, defaults):
        option = row["name"]
        if len(cells) != 4:
            problems.append(f"{option}: {len(cells)} cells, not 4")
            continue
        _, type_cell, default, meaning = cells
        if type_cell != f"`{row['type']}`":
            problems.append(f"{option}: type {type_cell} is not `{row['type']}`")
        spans = CODE_SPAN.findall(default)
        if not spans or " / ".join(f"`{s}`" for s in spans) != default:
            problems.append(f"{option}: default {default!r} is not `repr` (or `repr` / `repr` per component)")
        elif len(spans) not in (1, len(values)):
            problems.append(f"{option}: {len(spans)} defaults for {len(values)} components")
        else:
            try:
                parsed = [ast.literal_eval(s) for s in spans]
            except (ValueError, SyntaxError):
                problems.append(f"{option}: default {default} is not a Python literal (write its repr)")
            else:
                parsed = parsed * len(values) if len(parsed) == 1 else parsed
                for name, got, want in zip(table.names, parsed, values):
                    if not same_value(got, want):
                        problems.append(f"{option}: default of {name} is {got!r} in the docs, {want!r} in the registry")
        if plain(meaning) != plain(row["doc"]):
            problems.append(f"{option}: meaning {meaning!r} is not the option's doc {row['doc']!r}")
    return problems


def rewrite(text: str, path: Path) -> str:
    """``text`` with every marked table of known components rendered again from the registry."""
    lines = text.splitlines(keepends=True)
    tables, _ = find_tables(text, path)
    for table in reversed(tables):
        if registry_rows(table.kind, table.names)[2]:
            continue  # unknown components, or ones that cannot share a table: leave it for the test to report
        meanings = {}
        for line in table.lines[2:]:
            cells = split_row(line)
            if len(cells) == 4:
                meanings[cells[0].strip("`")] = cells[3]
        new = [line + "\n" for line in render(table.kind, table.names, meanings)]
        start = table.line + 1
        lines[start:start + len(table.lines)] = new
    return "".join(lines)


# ---------------------------------------------------------------- the docs

TABLES, MARKER_PROBLEMS = scan_docs()


def test_markers_are_well_formed():
    assert not MARKER_PROBLEMS, "\n".join(MARKER_PROBLEMS)
    assert TABLES, "no <!-- options: ... --> markers found under docs/"


@pytest.mark.parametrize("table", TABLES, ids=[t.id for t in TABLES])
def test_option_table_matches_the_registry(table):
    problems = check(table)
    expected = "\n".join(render(table.kind, table.names)) if not registry_rows(table.kind, table.names)[2] else ""
    assert not problems, (
        f"{table.where}: the options table of {table.kind} {' '.join(table.names)} is stale:\n  "
        + "\n  ".join(problems) + f"\nexpected (python tests/test_docs_options.py --write):\n{expected}")


def _covered() -> list[tuple[str, str]]:
    return [(kind, name) for kind in COVERED_KINDS for name, spec in registry.components(kind).items()
            if spec.package in FIRST_PARTY and registry.describe(kind, name)]


@pytest.mark.parametrize(("kind", "name"), _covered(), ids=[f"{k} {n}" for k, n in _covered()])
def test_every_component_with_options_has_one_table(kind, name):
    found = [t.where for t in TABLES if t.kind == kind and name in t.names]
    assert len(found) == 1, (
        f"{kind} {name!r} ({registry.spec(kind, name).package}) has {len(found)} marked option tables in docs/ "
        f"{found}; it needs exactly one. Add to its page:\n<!-- options: {kind} {name} -->\n"
        + "\n".join(render(kind, (name,))))


def test_no_component_is_in_two_tables():
    seen: dict[tuple[str, str], list[str]] = {}
    for table in TABLES:
        for name in table.names:
            seen.setdefault((table.kind, name), []).append(table.where)
    twice = {f"{k} {n}": w for (k, n), w in seen.items() if len(w) > 1}
    assert not twice, f"components with several marked tables: {twice}"


def test_the_covered_set_is_not_empty():
    covered = _covered()
    assert ("branch", "moco-v2") in covered and ("callback", "knn-monitor") in covered and ("dataset", "hf") in covered


# ---------------------------------------------------------------- the checker itself

GOOD = """\
Text.

<!-- options: branch moco moco-v2 -->
| option | type | default (`moco` / `moco-v2`) | meaning |
|---|---|---|---|
{rows}

```markdown
<!-- options: nonsense -->
```
"""


def _page(tmp_path, **changes) -> Table:
    rows = render("branch", ("moco", "moco-v2"))[2:]
    for index, row in changes.items():
        rows[int(index[1:])] = row
    rows = [row for row in rows if row]
    tables, problems = find_tables(GOOD.format(rows="\n".join(rows)), tmp_path / "page.md")
    assert not problems and len(tables) == 1  # the marker in the code fence is skipped
    return tables[0]


def test_the_rendered_table_passes(tmp_path):
    table = _page(tmp_path)
    assert check(table) == []
    assert table.lines[2].startswith("| `head` | `str` | `'linear'` / `'mlp'` | ")
    assert table.lines[3].startswith("| `hidden_dim` | `int` | `2048` | ")


HEAD_DOC = "projection head: linear (v1) or mlp (Linear-ReLU-Linear, v2)"


@pytest.mark.parametrize(("index", "row", "message"), [
    pytest.param(0, f"| `head` | `str` | `'linear'` | {HEAD_DOC} |", "moco-v2", id="one default for two presets"),
    pytest.param(0, f"| `head` | `str` | `linear` / `mlp` | {HEAD_DOC} |", "literal", id="YAML, not repr"),
    pytest.param(0, f"| `head` | `str` | 'linear' / 'mlp' | {HEAD_DOC} |", "repr", id="default not in backticks"),
    pytest.param(0, f"| `head` | `int` | `'linear'` / `'mlp'` | {HEAD_DOC} |", "type", id="wrong type"),
    pytest.param(0, "| `head` | `str` | `'linear'` / `'mlp'` | the projection head |", "doc", id="other text"),
    pytest.param(1, "| `hidden_dim` | `int` | `2048.0` | hidden width of the mlp head (unused by the linear head) |",
                 "2048.0 in the docs", id="float for int"),
    pytest.param(1, "", "all of them, in order", id="missing option"),
    pytest.param(1, "| `hidden` | `int` | `2048` | hidden width of the mlp head (unused by the linear head) |",
                 "all of them, in order", id="renamed option"),
])
def test_a_stale_table_fails(tmp_path, index, row, message):
    problems = check(_page(tmp_path, **{f"r{index}": row}))
    assert problems and message in " ".join(problems), problems


def test_options_out_of_order_fail(tmp_path):
    rows = render("branch", ("moco", "moco-v2"))[2:]
    assert "in order" in " ".join(check(_page(tmp_path, r0=rows[1], r1=rows[0])))


def test_values_compare_with_their_types():
    assert same_value((0.08, 1.0), ast.literal_eval("(0.08, 1.0)"))
    assert not same_value(True, 1) and not same_value(1, 1.0) and not same_value([16, 32], (16, 32))
    assert same_value({"a": (1, 2)}, {"a": (1, 2)}) and not same_value({"a": 1}, {"b": 1})


def test_backticks_in_the_meaning_are_allowed(tmp_path):
    row = "| `head` | `str` | `'linear'` / `'mlp'` | projection head: `linear` (v1) or `mlp` (Linear-ReLU-Linear, v2) |"
    assert check(_page(tmp_path, r0=row)) == []


def test_components_that_differ_cannot_share_a_table(tmp_path):
    text = "<!-- options: loss info-nce triplet -->\n| option | type | default | meaning |\n|---|---|---|---|\n"
    assert "own table" in " ".join(check(find_tables(text, tmp_path / "p.md")[0][0]))


def test_markers_without_a_table_or_malformed_are_reported(tmp_path):
    _, problems = find_tables("<!-- options: branch moco -->\n\n| a |\n<!-- options:branch -->\n", tmp_path / "p.md")
    assert len(problems) == 2 and "no table" in problems[0] and "malformed" in problems[1]


def test_rewrite_fixes_a_stale_table_and_keeps_formatted_meanings(tmp_path):
    formatted = ("| `head` | `str` | `'linear'` | projection head: `linear` (v1) or `mlp` "
                 "(Linear-ReLU-Linear, v2) |")
    stale = GOOD.format(rows="\n".join([formatted, "| `out_dim` | `int` | `64` | old text |"]))
    fixed = rewrite(stale, tmp_path / "page.md")
    tables, _ = find_tables(fixed, tmp_path / "page.md")
    assert check(tables[0]) == []
    assert "projection head: `linear` (v1)" in fixed and "old text" not in fixed
    assert fixed.endswith("```\n") and fixed.startswith("Text.\n")


def main(argv: list[str]) -> int:
    if argv == ["--write"]:
        for page in sorted(DOCS.rglob("*.md")):
            text = page.read_text()
            new = rewrite(text, page)
            if new != text:
                page.write_text(new)
                print(f"rewrote {page.relative_to(ROOT)}")
        return 0
    if len(argv) >= 2:
        print(f"<!-- options: {' '.join(argv)} -->")
        print("\n".join(render(argv[0], tuple(argv[1:]))))
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
