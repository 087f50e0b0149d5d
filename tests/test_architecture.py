"""Structure checks: no import cycles, every documented command parses, every config field documented.

These guard the "one home for each thing" rules: a cycle means two modules each own part of one
concept; a command line in the docs that no longer parses means the docs and the CLI drifted.
"""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import pytest
import typer
from pydantic import BaseModel
from typer.testing import CliRunner

from conftest import REPO

SRC = REPO / "src"

try:  # typer >= 0.20 carries its own copy of click
    from typer._click.exceptions import UsageError
except ImportError:  # pragma: no cover - older typer
    from click.exceptions import UsageError


# --- import cycles ---------------------------------------------------------------------------

def _modules(src: Path) -> dict[str, Path]:
    mods = {}
    for path in src.rglob("*.py"):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        mods[".".join(parts)] = path
    return mods


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """Imports under ``if TYPE_CHECKING:`` never run, so they cannot form a cycle."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for n in ast.walk(node))
    return skip


def import_graph(src: Path) -> dict[str, set[str]]:
    """Module -> the package modules it imports, at top level or inside functions (lazy imports count)."""
    mods = _modules(src)

    def owner(name: str) -> str | None:  # `selfif.a.b.func` -> the module `selfif.a.b`
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for mod, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_checking_nodes(tree)
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Import):
                targets.update(filter(None, (owner(a.name) for a in node.names)))
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                for a in node.names:
                    t = owner(f"{base}.{a.name}") or owner(base)
                    if t:
                        targets.add(t)
        # a package's __init__ importing its own submodules is not a cycle between files
        graph[mod] = {t for t in targets if t != mod and not t.startswith(mod + ".")}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path ``[a, b, ..., a]``, or None (iterative DFS, three colours)."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    for root in sorted(graph):
        if root in state:
            continue
        path, stack = [root], [iter(sorted(graph[root]))]
        state[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, ()))))
    return None


def test_cycle_finder_finds_a_lazy_import_cycle(tmp_path):
    pkg = tmp_path / "p"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from p.b import x\n")
    (pkg / "b.py").write_text("def f():\n    from p import a\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from p import a\n")
    graph = import_graph(tmp_path)
    assert graph["p.c"] == set()
    assert find_cycle(graph) in (["p.a", "p.b", "p.a"], ["p.b", "p.a", "p.b"])
    (pkg / "b.py").write_text("x = 1\n")
    assert find_cycle(import_graph(tmp_path)) is None


def test_package_has_no_import_cycles():
    graph = import_graph(SRC)
    assert "selfif.stages" in graph["selfif.pipeline"]  # the walker sees the package
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_layout_is_a_leaf():
    """Every module may import the run-directory names, so they must not import anything of ours."""
    assert import_graph(SRC)["selfif.layout"] == set()


# --- documented command lines ----------------------------------------------------------------

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
_FENCE = re.compile(r"```(?:bash|sh|console)?\n(.*?)```", re.S)
_INLINE = re.compile(r"`(selfif [^`]+)`")


def documented_commands(path: Path) -> list[str]:
    """``selfif ...`` command lines in fenced blocks (continuations joined) and inline code spans.

    ``accelerate launch ... -m selfif.cli VERB ...`` counts as ``selfif VERB ...``. An inline span
    that only names a verb or an option without its value (e.g. `selfif score`) is checked too.
    """
    text = path.read_text(encoding="utf-8")
    out = []
    for block in _FENCE.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("  #")[0].strip()
            if "-m selfif.cli " in line:
                line = "selfif " + line.split("-m selfif.cli ", 1)[1]
            if line.startswith("selfif "):
                out.append(line)
    out += [" ".join(m.split()) for m in _INLINE.findall(text)]
    return out


def _parse_only(argv: list[str]) -> dict | None:
    """Parse (and type-convert) a command line the way click would, without running the command.

    None for a bare verb (`selfif score ifeval` named in prose), which only has to exist."""
    from selfif.cli import app

    cmd, args = typer.main.get_command(app), list(argv)
    while hasattr(cmd, "commands"):  # a group: descend to the verb
        if not args:
            return None  # a bare group (`selfif score`) named in prose
        if args[0] not in cmd.commands:
            raise UsageError(f"no such command: {args[:1]}")
        cmd, args = cmd.commands[args[0]], args[1:]
    return cmd.make_context(cmd.name, args).params if args else None


def preset_commands(path: Path) -> list[str]:
    """The command a preset opens with (``# selfif ...`` on its first line), as torchtune's recipes do."""
    first = path.read_text(encoding="utf-8").splitlines()[0]
    return [first.removeprefix("# ").split("  #")[0].strip()] if first.startswith("# selfif ") else []


PRESETS = sorted((REPO / "configs").glob("*.yaml"))
ALL_COMMANDS = [(p.relative_to(REPO).as_posix(), c) for p in DOCS for c in documented_commands(p)]
ALL_COMMANDS += [(p.relative_to(REPO).as_posix(), c) for p in PRESETS for c in preset_commands(p)]


def test_every_preset_opens_with_the_command_that_runs_it():
    assert PRESETS and [p.name for p in PRESETS if not preset_commands(p)] == []


def test_docs_have_commands_to_check():
    assert len(ALL_COMMANDS) >= 15
    assert any(c.startswith("selfif run") for _, c in ALL_COMMANDS)


@pytest.mark.parametrize(("doc", "line"), ALL_COMMANDS, ids=[f"{d}:{c[:60]}" for d, c in ALL_COMMANDS])
def test_documented_command_parses(doc, line):
    """Each documented line runs with ``--help`` appended (unknown options fail) and parses fully
    (values convert, required options are present), without running the stage."""
    from selfif.cli import app

    argv = shlex.split(line)[1:]
    res = CliRunner().invoke(app, [*argv, "--help"])
    assert res.exit_code == 0, f"{doc}: `{line}` --help:\n{res.output}"
    _parse_only(argv)


def test_parse_only_rejects_what_the_cli_rejects():
    with pytest.raises(UsageError):
        _parse_only(["train-rm", "--out", "x"])  # --pairs is required
    with pytest.raises(UsageError):
        _parse_only(["score", "ifevl", "r.jsonl"])  # no such verb
    with pytest.raises(UsageError):
        _parse_only(["serve-rm", "--port", "not-a-number"])
    with pytest.raises(UsageError):
        _parse_only(["serve-rm", "--checkpoint", "rm", "--bogus"])
    assert _parse_only(["serve-rm", "--rm", "x", "-c", "configs/demo-cpu.yaml"])["config"] == Path("configs/demo-cpu.yaml")


# --- configuration ---------------------------------------------------------------------------

def _fields(model: type[BaseModel], prefix: str = ""):
    for name, field in model.model_fields.items():
        yield f"{prefix}{name}", field
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            yield from _fields(ann, f"{prefix}{name}.")


def test_every_config_field_has_a_description():
    from selfif.config import PipelineConfig

    undocumented = [name for name, f in _fields(PipelineConfig) if not (f.description or "").strip()]
    assert undocumented == [], f"add Field(..., description=...) to: {undocumented}"


def test_cli_defaults_come_from_the_config_models():
    """A preset value reaches the stage verbs that have no flag for it given."""
    from selfif.clikit import with_flags
    from selfif.config import RMConfig, load_config

    rm = load_config(None, ["rm.min_audit_accuracy=0.6"]).rm
    assert with_flags(rm, {"min_audit_accuracy": None}).min_audit_accuracy == 0.6
    assert with_flags(rm, {"min_audit_accuracy": 0.2}).min_audit_accuracy == 0.2
    assert RMConfig().min_audit_accuracy == 0.0  # the one default, the same for `train-rm` and `selfif run`
    gen = with_flags(load_config(None).eval, {"limit": 5, "generation": {"seed": 3, "top_p": None}})
    assert (gen.limit, gen.generation.seed, gen.generation.max_new_tokens) == (5, 3, 512)  # nested flags merge
    with pytest.raises(typer.Exit):  # out of RMConfig's bounds: exit 2 with "--max-length: ..."
        with_flags(rm, {"max_length": 3})


def test_config_verb_prints_a_preset_that_loads_back_and_explains_every_field():
    import yaml

    from selfif.cli import app
    from selfif.config import PipelineConfig, load_config

    res = CliRunner().invoke(app, ["config", "-c", "configs/cpu-2h.yaml", "--set", "train.max_steps=7"])
    assert res.exit_code == 0, res.output
    assert PipelineConfig.model_validate(yaml.safe_load(res.output)) == load_config("configs/cpu-2h.yaml", ["train.max_steps=7"])
    explained = CliRunner().invoke(app, ["config", "--explain"]).output.splitlines()
    assert explained and all("  # " in line for line in explained), [ln for ln in explained if "  # " not in ln]
    assert any(line.strip().startswith("max_length: 384") and "[>= 16]" in line for line in explained)


def test_stage_verb_rejects_a_bad_preset_value_naming_the_key(tmp_path):
    from selfif.cli import app

    res = CliRunner().invoke(app, ["train-rm", "--pairs", str(tmp_path / "p.jsonl"), "--set", "rm.max_length=3"])
    assert res.exit_code == 2 and "rm.max_length" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(app, ["eval", "ifeval", "--set", "eval.limit=0", "--out", str(tmp_path / "e")])
    assert res.exit_code == 2 and "eval.limit" in res.output
