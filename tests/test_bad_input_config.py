"""Hostile presets and ``--set`` values: aliases, duplicate keys, parser errors, non-finite numbers,
booleans as numbers, contradictory settings.

Each case runs the real CLI (in-process, through the same top-level group as the console script;
one case also as a subprocess) on files the test writes, and asserts: exit code 2, exactly one
``error:`` line and it is the last on stderr, no traceback, the error names where the bad value came
from (``FILE:LINE`` of the preset or the ``--set`` override), and the command ends within a time
limit (a YAML bomb or deep nesting must not run for minutes).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selfif.cli import app
from selfif.config import ConfigError, PipelineConfig, _is_number, load_config
from selfif.io import atomic_write_json, write_jsonl

REPO = Path(__file__).resolve().parents[1]
TIME_LIMIT_S = 10.0


def _run(args: list[str], cwd: Path | None = None):
    old = os.getcwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        t0 = time.monotonic()
        res = CliRunner().invoke(app, args)
        return res, time.monotonic() - t0
    finally:
        os.chdir(old)


def _assert_one_line_error(res, elapsed: float, *expected: str) -> str:
    """Exit 2, one ``error:`` line, last on stderr, no traceback, within the limit; returns the line."""
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert lines and lines[-1].startswith("error: "), res.stderr
    assert sum(ln.startswith("error:") for ln in lines) == 1, res.stderr
    assert "Traceback" not in res.output and "Traceback" not in res.stderr
    assert elapsed < TIME_LIMIT_S, f"took {elapsed:.1f} s"
    for text in expected:
        assert text in lines[-1], (text, lines[-1])
    return lines[-1]


def _preset(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- aliases and anchors ----------------------------------------------------------------------

BOMB = "\n".join(
    ["train:", "  grpo_args:", '    a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    + [f"    a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]"
       for i in range(1, 10)]
) + "\n"


def test_alias_bomb_in_a_preset_is_refused_at_its_line(tmp_path):
    p = _preset(tmp_path, BOMB)
    for verb in (["config", "-c", str(p)], ["run", str(p), "--until", "seeds"]):
        res, dt = _run(verb, tmp_path)
        _assert_one_line_error(res, dt, f"{p}:3:", "anchors")
    assert not (tmp_path / "runs").exists()  # `run` wrote nothing (it used to exhaust memory writing config.json)


@pytest.mark.parametrize("value, what", [("{a: &x [1, 2], b: *x}", "anchors (&x)"), ("*undefined", "aliases (*undefined)"),
                                         ("{<<: {beta: 0.1}}", "merge keys")])
def test_alias_anchor_or_merge_in_a_set_value_is_refused(value, what):
    res, dt = _run(["config", "--set", f"train.grpo_args={value}"])
    _assert_one_line_error(res, dt, f"--set train.grpo_args={value}:", what)


def test_alias_in_an_accelerate_config_is_refused_at_its_line(tmp_path):
    acc = _preset(tmp_path, "num_processes: &n 2\nnum_machines: *n\n", "acc.yaml")
    res, dt = _run(["train", "--curriculum", "c.jsonl", "--out", "o", "--dry-run", "--set", f"train.accelerate_config={acc}"],
                   tmp_path)
    _assert_one_line_error(res, dt, f"{acc}:1:", "anchors")


# --- duplicate keys ---------------------------------------------------------------------------

def test_duplicate_section_names_both_lines(tmp_path):
    p = _preset(tmp_path, "train:\n  max_steps: 90\nrm:\n  lr: 0.001\ntrain:\n  learning_rate: 0.001\n")
    res, dt = _run(["config", "-c", str(p)])
    line = _assert_one_line_error(res, dt, f"{p}:5:", "duplicate key 'train'", "line 1")
    assert "max_steps" not in res.stdout  # nothing printed as if it had loaded


def test_duplicate_key_inside_a_section_names_both_lines(tmp_path):
    p = _preset(tmp_path, "seeds:\n  n: 10\n  min_chars: 5\n  n: 20\n")
    with pytest.raises(ConfigError, match=rf"^{p}:4: duplicate key 'n' \(first at line 2\)$"):
        load_config(p)


# --- parser errors: one located line, never a traceback -----------------------------------------

PARSER_PRESETS = {
    "flow_20k": "[" * 20_000 + "\n",
    "block_1200": "train:\n" + "".join(" " * (i + 1) + "k:\n" for i in range(1200)),  # 1,200 levels in 0.7 MB
    "python_object": "run_dir: !!python/object/apply:os.system ['touch PWNED']\n",
    "undefined_alias": "train:\n  max_steps: *undefined\n",
    "tab": "train:\n\tmax_steps: 3\n",
    "two_documents": "train:\n  max_steps: 3\n---\ntrain:\n  max_steps: 4\n",
    "control_char": "run_dir: a\x07b\n",
}


@pytest.mark.parametrize("case", sorted(PARSER_PRESETS))
def test_bad_yaml_preset_is_one_located_line(case, tmp_path):
    p = _preset(tmp_path, PARSER_PRESETS[case])
    res, dt = _run(["config", "-c", str(p)], tmp_path)
    line = _assert_one_line_error(res, dt, f"{p}:")
    assert line.split(f"{p}:", 1)[1].split(":", 1)[0].isdigit(), line  # FILE:LINE, with the line
    assert not (tmp_path / "PWNED").exists()  # the tag was refused, not executed


@pytest.mark.parametrize("value", ["[1", "!!python/object/apply:os.system ['touch PWNED']", "*undefined", "\t3", "---\n1\n---\n2",
                                   "[" * 20_000])
def test_bad_yaml_set_value_is_one_line_naming_the_override(value, tmp_path):
    res, dt = _run(["config", "--set", f"train.max_steps={value}"], tmp_path)
    _assert_one_line_error(res, dt, "--set train.max_steps=")
    assert not (tmp_path / "PWNED").exists()


def test_multi_document_dashes_alone_are_an_empty_preset(tmp_path):
    p = _preset(tmp_path, "---\n")
    res, dt = _run(["config", "-c", str(p)])
    _assert_one_line_error(res, dt, f"{p}: config file is empty")


def test_console_script_prints_the_error_last(tmp_path):
    """The real process: stderr ends with the one error line (no traceback from a deep preset)."""
    p = _preset(tmp_path, "train:\n" + "".join(" " * (i + 1) + "k:\n" for i in range(1200)))
    t0 = time.monotonic()
    proc = subprocess.run([str(Path(sys.executable).parent / "selfif"), "config", "-c", str(p)], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith(f"error: {p}:") and "nested more than" in lines[-1], proc.stderr
    assert "Traceback" not in proc.stderr and sum(ln.startswith("error:") for ln in lines) == 1
    assert time.monotonic() - t0 < 30


# --- finite numbers, booleans are not numbers -----------------------------------------------------

def _leaf_fields(model=PipelineConfig, prefix=""):
    from pydantic import BaseModel

    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            yield from _leaf_fields(ann, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", ann


FLOAT_FIELDS = [k for k, ann in _leaf_fields() if _is_number(ann) and float in getattr(ann, "__args__", (ann,))]
INT_FIELDS = [k for k, ann in _leaf_fields() if _is_number(ann) and float not in getattr(ann, "__args__", (ann,))]
BOOL_FIELDS = [k for k, ann in _leaf_fields() if ann is bool]


def test_the_field_lists_cover_the_named_fields():
    assert {"train.temperature", "rm.lr", "eval.generation.temperature", "label.generation.top_p"} <= set(FLOAT_FIELDS)
    assert {"train.max_steps", "seeds.n", "eval.limit"} <= set(INT_FIELDS)
    assert {"train.use_vllm", "reward.binary"} <= set(BOOL_FIELDS)


@pytest.mark.parametrize("key", FLOAT_FIELDS)
def test_every_float_field_rejects_inf_and_nan(key):
    for value in (".inf", "-.inf", ".nan", "inf", "nan", "1e999"):
        with pytest.raises(ConfigError, match=rf"^--set {key}={value}: {key}: Input should be a finite number$"):
            load_config(None, [f"{key}={value}"])


@pytest.mark.parametrize("key", INT_FIELDS + FLOAT_FIELDS)
def test_no_number_field_takes_a_boolean(key):
    for value in ("true", "false"):
        with pytest.raises(ConfigError, match=rf"^--set {key}={value}: {key}: expected a number, got {value}$"):
            load_config(None, [f"{key}={value}"])


@pytest.mark.parametrize("key", BOOL_FIELDS)
def test_no_boolean_field_takes_a_number(key):
    with pytest.raises(ConfigError, match=rf"^--set {key}=1: {key}: expected true or false$"):
        load_config(None, [f"{key}=1"])
    node = load_config(None, [f"{key}=true"])
    for part in key.split("."):
        node = getattr(node, part)
    assert node is True  # true/false still load


def test_infinite_value_in_a_preset_is_located_at_its_line(tmp_path):
    p = _preset(tmp_path, "model: smollm2-135m\ntrain:\n  max_steps: 90\n  temperature: .inf\nrm:\n  lr: .nan\n")
    res, dt = _run(["config", "-c", str(p)])
    line = _assert_one_line_error(res, dt, f"{p}:4: train.temperature: Input should be a finite number",
                                  f"{p}:6: rm.lr: Input should be a finite number")
    assert "<defaults>" not in line


def test_non_finite_grpo_args_are_refused():
    res, dt = _run(["config", "--set", "train.grpo_args={max_grad_norm: .inf}"])
    _assert_one_line_error(res, dt, "--set train.grpo_args={max_grad_norm: .inf}: train.grpo_args: max_grad_norm", "finite")


def test_eval_temperature_flag_inf_is_refused_before_the_model_loads(tmp_path):
    for value in ("inf", "1e999"):
        res, dt = _run(["eval", "ifeval", "--model", "smollm2-135m", "--temperature", value, "--limit", "1", "--out", "e"], tmp_path)
        _assert_one_line_error(res, dt, "--temperature", "finite")
    assert not (tmp_path / "e").exists()  # no generation.json with Infinity in it


def test_json_writers_refuse_non_json_constants(tmp_path):
    with pytest.raises(ValueError, match="not JSON compliant"):
        atomic_write_json(tmp_path / "x.json", {"loss": float("nan")})
    with pytest.raises(ValueError, match="not JSON compliant"):
        write_jsonl(tmp_path / "x.jsonl", [{"t": float("inf")}])
    assert list(tmp_path.iterdir()) == []  # nothing written, no temp file left


def test_scores_json_stays_json_when_benchmark_kwargs_are_not_finite(tmp_path):
    bench = tmp_path / "bench.jsonl"
    bench.write_text(
        '{"key": 1, "prompt": "Write a poem about the sea.", "instruction_id_list": ["length_constraints:number_words"], '
        '"kwargs": [{"relation": "at least", "num_words": 1e999}]}\n'
        '{"key": 2, "prompt": "Write a story about a cat.", "instruction_id_list": ["length_constraints:number_words"], '
        '"kwargs": [{"relation": "at least", "num_words": NaN}]}\n'
        '{"key": 3, "prompt": "Write about dogs.", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]}\n')
    responses = tmp_path / "responses.jsonl"
    responses.write_text("".join(json.dumps({"prompt": p, "response": "Short answer here"}) + "\n" for p in
                                 ("Write a poem about the sea.", "Write a story about a cat.", "Write about dogs.")))
    res, _ = _run(["score", "ifeval", str(responses), "--benchmark", str(bench), "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output

    def refuse(constant):
        raise ValueError(f"non-JSON constant {constant}")

    for f in sorted((tmp_path / "out").iterdir()):
        if f.suffix == ".json":
            json.loads(f.read_text(), parse_constant=refuse)
        elif f.suffix == ".jsonl":
            for line in f.read_text().splitlines():
                json.loads(line, parse_constant=refuse)
    scores = json.loads((tmp_path / "out" / "scores.json").read_text())
    assert scores["n_errors"] == 2
    assert [e["kwargs"]["num_words"] for e in scores["errors"]] == ["inf", "nan"]


# --- contradictory settings --------------------------------------------------------------------

@pytest.mark.parametrize("sets, expected", [
    (["synth.hard_types=[]", "synth.hard_ratio=1.0"], "hard_types is empty but hard_ratio is 1.0"),
    (["synth.soft_types=[]", "synth.hard_ratio=0"], "soft_types is empty but hard_ratio is 0.0"),
    (["synth.hard_types=[]"], "hard_types is empty but hard_ratio is 0.4"),  # against the default ratio
    (["seeds.min_chars=500", "seeds.max_chars=100"], "min_chars (500) is above max_chars (100)"),
])
def test_contradictory_settings_are_an_error_naming_each_override(sets, expected):
    res, dt = _run(["config", *[a for s in sets for a in ("--set", s)]])
    line = _assert_one_line_error(res, dt, expected)
    assert line.startswith("error: " + ", ".join(f"--set {s}" for s in sets) + ": "), line


def test_contradiction_between_a_preset_and_an_override_names_both(tmp_path):
    p = _preset(tmp_path, "synth:\n  levels: 3\n  hard_types: []\n")
    res, dt = _run(["config", "-c", str(p), "--set", "synth.hard_ratio=0.5"])
    _assert_one_line_error(res, dt, f"error: {p}:3, --set synth.hard_ratio=0.5: synth: hard_types is empty")


def test_consistent_extremes_still_load():
    assert load_config(None, ["synth.hard_types=[]", "synth.hard_ratio=0"]).synth.hard_ratio == 0
    assert load_config(None, ["synth.soft_types=[]", "synth.hard_ratio=1"]).synth.soft_types == []


def test_synth_verb_refuses_the_contradiction_before_reading_seeds(tmp_path):
    res, dt = _run(["synth", "--seeds", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "c.jsonl"),
                    "--set", "synth.soft_types=[]", "--set", "synth.hard_ratio=0.2"])
    _assert_one_line_error(res, dt, "--set synth.soft_types=[], --set synth.hard_ratio=0.2: synth: soft_types is empty")


# --- validation errors: one line, naming the source ---------------------------------------------

def test_override_error_names_the_override_not_defaults():
    res, dt = _run(["config", "--set", "train.lr=1e-5", "--set", "rm.epochs=0"])
    line = _assert_one_line_error(res, dt, "--set train.lr=1e-5: train.lr: Extra inputs are not permitted",
                                  "--set rm.epochs=0: rm.epochs: Input should be greater than or equal to 1")
    assert "<defaults>" not in line


def test_preset_error_names_file_and_line_and_an_override_replaces_it(tmp_path):
    p = _preset(tmp_path, "run_dir: runs/x\nrm:\n  epochs: 3\n  batch_size: 0\n")
    res, dt = _run(["config", "-c", str(p)])
    _assert_one_line_error(res, dt, f"error: {p}:4: rm.batch_size: Input should be greater than or equal to 1")
    res, dt = _run(["config", "-c", str(p), "--set", "rm.batch_size=-3"])
    _assert_one_line_error(res, dt, "error: --set rm.batch_size=-3: rm.batch_size")
    res, dt = _run(["config", "-c", str(p), "--set", "rm={epochs: 0}"])  # a whole section replaced by an override
    _assert_one_line_error(res, dt, "error: --set rm={epochs: 0}: rm.epochs")


def test_a_long_override_is_shortened_in_the_message():
    value = "x" * 5000
    with pytest.raises(ConfigError) as e:
        load_config(None, [f"train.max_steps={value}"])
    assert len(str(e.value)) < 300 and "\n" not in str(e.value)


@pytest.mark.parametrize("preset", sorted(p.name for p in (REPO / "configs").glob("*.yaml")))
def test_every_shipped_preset_still_loads(preset):
    res, _ = _run(["config", "-c", str(REPO / "configs" / preset)])
    assert res.exit_code == 0, res.output
    assert all(math.isfinite(v) for v in _floats(load_config(REPO / "configs" / preset).model_dump()))


def _floats(value):
    if isinstance(value, float):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _floats(v)
    elif isinstance(value, list):
        for v in value:
            yield from _floats(v)
