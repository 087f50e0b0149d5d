"""The one YAML reader of the project: presets, ``--set`` values and launch configs.

YAML is written by people, so every way it can go wrong must end as one located line
(``FILE:LINE: ...``), never as a traceback or a silently different config:

- only the safe tags (no ``!!python/...`` objects);
- no anchors, aliases or merge keys: a few lines of aliases expand to gigabytes (a "billion
  laughs" bomb), and a preset has no need for them;
- no duplicate keys: YAML's last-one-wins would silently drop the first ``train:`` section;
- at most :data:`MAX_DEPTH` levels of nesting: PyYAML composes recursively, so 20k ``[`` would
  end in ``RecursionError``; presets are 3 levels deep;
- one document per file.

Alongside the data, :func:`load_yaml` returns the line of every key and list item, so a value
that later fails validation can be reported at the line it came from.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from selfif.io import InputError, read_text

MAX_DEPTH = 32
"""Deepest nesting of mappings and lists accepted (presets use 3 levels)."""

Lines = dict[tuple[Any, ...], int]
"""1-based line of each key (by its path of keys and list indices) in the document."""


class _Refused(yaml.MarkedYAMLError):
    """Valid YAML that a preset may not use (an alias, a duplicate key, ...)."""


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors, aliases, merge keys, duplicate keys and deep nesting."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):  # noqa: ANN001 - PyYAML's signature
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(None, None, f"YAML aliases (*{event.anchor}) are not supported: write the value out",
                           event.start_mark)
        if getattr(event, "anchor", None) is not None:
            raise _Refused(None, None, f"YAML anchors (&{event.anchor}) are not supported: write the value out",
                           event.start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(None, None, f"nested more than {MAX_DEPTH} levels deep", event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):  # noqa: ANN001 - PyYAML's signature
        first_line: dict[Any, int] = {}
        if isinstance(node, yaml.MappingNode):
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise _Refused(None, None, "YAML merge keys (<<) are not supported", key_node.start_mark)
                key = self.construct_object(key_node, deep=True)
                try:
                    earlier = first_line.get(key)
                except TypeError:  # an unhashable key: PyYAML's own error names it
                    continue
                if earlier is not None:
                    shown = repr(key) if len(repr(key)) <= 80 else repr(key)[:77] + "..."
                    raise _Refused(None, None, f"duplicate key {shown} (first at line {earlier})", key_node.start_mark)
                first_line[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def _key_lines(node: yaml.Node | None, path: tuple[Any, ...], out: Lines) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if key is not None:
                out[path + (key,)] = key_node.start_mark.line + 1
                _key_lines(value_node, path + (key,), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[path + (i,)] = item.start_mark.line + 1
            _key_lines(item, path + (i,), out)


def _first_line(text: str) -> str:
    return " ".join(text.split())  # PyYAML problems can span lines; a located error is one line


def load_yaml(text: str, source: str | os.PathLike, first_line: int = 1) -> tuple[Any, Lines]:
    """Parse one YAML document; return ``(data, lines)``.

    Every failure (syntax, unsafe tag, alias, duplicate key, nesting, several documents) raises
    :class:`InputError` at ``source:LINE`` (``first_line`` is the line number of the text's first line).
    """
    loader = None
    try:
        loader = _StrictLoader(text)  # the reader checks the characters here
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = None if mark is None else first_line + mark.line
        what = _first_line(" ".join(x for x in (e.context, e.problem) if x) or str(e))
        raise InputError(source, line, what if isinstance(e, _Refused) else f"not valid YAML ({what})") from None
    except yaml.reader.ReaderError as e:  # a control character: located by its position
        line = first_line + text.count("\n", 0, e.position)
        code = e.character if isinstance(e.character, int) else ord(e.character)
        raise InputError(source, line, f"not valid YAML (character {code:#x} is not allowed)") from None
    except yaml.YAMLError as e:
        raise InputError(source, None, f"not valid YAML ({_first_line(str(e))})") from None
    except RecursionError:  # not expected with the depth cap; kept so that it can never be a traceback
        raise InputError(source, None, "not valid YAML (nested too deeply)") from None
    finally:
        if loader is not None:
            loader.dispose()
    lines: Lines = {}
    _key_lines(node, (), lines)
    return data, lines


def read_yaml(path: str | os.PathLike, max_bytes: int = 1 << 20) -> tuple[Any, Lines]:
    """:func:`load_yaml` of a file (UTF-8, at most ``max_bytes``: YAML parsing is slow); a missing
    file, a directory or undecodable bytes are located :class:`InputError` too."""
    return load_yaml(read_text(Path(path), max_bytes=max_bytes), path)
