"""Line numbers survive YAML loading, so that errors can name them."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.errors import InputError
from sandbox.scenario.yamlsource import format_path, parse

TEXT = """\
title: t
steps:
  - narrate: one
  - wait:
      ready: Kustomization/a
      timeout: 5s
  -   commit:
        files:
          a.yaml: |
            x: 1
"""


def test_lines_of_keys_and_items() -> None:
    located = parse(TEXT, Path("s.yaml"))
    assert located.line_of(("title",)) == 1
    assert located.line_of(("steps", 0)) == 3
    assert located.line_of(("steps", 1, "wait", "timeout")) == 6
    assert located.line_of(("steps", 2, "commit", "files", "a.yaml")) == 9
    # an unknown path falls back to its nearest located parent
    assert located.line_of(("steps", 1, "wait", "nothing", 3)) == 4
    assert located.where(("steps", 1)) == "s.yaml:4"


def test_duplicates_are_recorded() -> None:
    located = parse("a: 1\nb:\n  c: 1\n  c: 2\na: 3\n", Path("s.yaml"))
    assert located.duplicates == ((("b", "c"), 4), (("a",), 5))
    assert located.data == {"a": 3, "b": {"c": 2}}


def test_syntax_errors_name_the_line() -> None:
    with pytest.raises(InputError, match=r"s.yaml:3: not valid YAML: while parsing a flow sequence at line 3: "
                       r"expected ',' or '\]', but got '<stream end>' \(line 4\)"):
        parse("a: 1\nb: 2\nc: [d\n", Path("s.yaml"))
    with pytest.raises(InputError, match=r"s.yaml:2: not valid YAML: mapping values are not allowed here"):
        parse("a: 1\nb: c: d\n", Path("s.yaml"))


def test_format_path() -> None:
    assert format_path(("steps", 3, "wait", "timeout")) == "steps[3].wait.timeout"
    assert format_path(()) == "(top level)"
