"""The copy operations of ArtifactGenerator artifacts: globs, ``@alias``, ``@artifact``, exclude, files versus
directories, overwrite and merge — source-watcher's semantics, table by table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.reconciler.source.copying import (
    CopyError,
    CopyOperation,
    apply_copies,
    doublestar_match,
    excluded,
    glob,
    glob_destination,
    merge_values,
    segment_match,
)

TREE = {
    "deploy/frontend/app.yaml": "kind: A\n",
    "deploy/frontend/svc.yaml": "kind: S\n",
    "deploy/frontend/sub/x.yaml": "kind: X\n",
    "deploy/frontend/README.md": "# frontend\n",
    "deploy/backend/app.yaml": "kind: B\n",
    "charts/podinfo/values.yaml": "replicas: 1\nimage:\n  tag: v1\n  name: podinfo\n",
    "charts/podinfo/values-prod.yaml": "replicas: 3\nimage:\n  tag: v2\n",
    "README.md": "# repo\n",
}
FRONTEND = {"deploy/frontend/app.yaml", "deploy/frontend/svc.yaml", "deploy/frontend/sub/x.yaml",
            "deploy/frontend/README.md"}


@pytest.fixture
def sources(tmp_path: Path) -> dict[str, Path]:
    root = tmp_path / "repo"
    for name, content in TREE.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(content)
    return {"repo": root}


def staged(staging: Path) -> set[str]:
    return {p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file()}


def run(sources: dict[str, Path], tmp_path: Path, *copies: dict[str, Any]) -> Path:
    staging = tmp_path / "staging"
    staging.mkdir(exist_ok=True)
    apply_copies([CopyOperation.parse(c) for c in copies], sources, staging)
    return staging


@pytest.mark.parametrize(("source", "to", "exclude", "expected"), [
    ("@repo/deploy/frontend/**", "@artifact/", [], {"app.yaml", "svc.yaml", "sub/x.yaml", "README.md"}),
    ("@repo/deploy/frontend/**", "@artifact/", ["*.md"], {"app.yaml", "svc.yaml", "sub/x.yaml"}),
    ("@repo/deploy/frontend/**", "@artifact/web/", ["sub"], {"web/app.yaml", "web/svc.yaml", "web/README.md"}),
    ("@repo/deploy/frontend/*.yaml", "@artifact/out/", [],
     {"out/deploy/frontend/app.yaml", "out/deploy/frontend/svc.yaml"}),
    ("@repo/deploy/**/*.yaml", "@artifact/", [],
     {"deploy/frontend/app.yaml", "deploy/frontend/svc.yaml", "deploy/backend/app.yaml"}),
    ("@repo/deploy", "@artifact/", [], FRONTEND | {"deploy/backend/app.yaml"}),
    ("@repo/deploy/", "@artifact/all", [], {f"all/{p}" for p in FRONTEND | {"deploy/backend/app.yaml"}}),
    ("@repo/deploy", "@artifact/", ["frontend/sub/**", "README.md"],
     {"deploy/frontend/app.yaml", "deploy/frontend/svc.yaml", "deploy/backend/app.yaml"}),
    ("@repo/deploy/backend/app.yaml", "@artifact/backend.yaml", [], {"backend.yaml"}),
    ("@repo/deploy/backend/app.yaml", "@artifact/backend/", [], {"backend/app.yaml"}),
    ("@repo/deploy/backend/app.yaml", "@artifact/", ["*.yaml"], set()),
    ("@repo/**", "@artifact/", ["deploy"],
     {"README.md", "charts/podinfo/values.yaml", "charts/podinfo/values-prod.yaml"}),
    ("@repo/", "@artifact/", ["deploy/**", "charts/**"], {"README.md"}),
    ("@repo/charts/podinfo/values-*.yaml", "@artifact/", [], {"charts/podinfo/values-prod.yaml"}),
    ("@repo/charts/*/values.yaml", "@artifact/", [], {"charts/podinfo/values.yaml"}),
], ids=["dir-contents", "exclude-by-name", "exclude-dir", "glob-keeps-paths", "double-star-is-one-segment",
        "dir-lands-inside", "dir-into-named-dir", "exclude-relative-to-dir", "file-renamed", "file-into-dir",
        "excluded-single-file", "root-entries-exclude-dir", "whole-root", "glob-in-name", "glob-in-dir"])
def test_copy(sources: dict[str, Path], tmp_path: Path, source: str, to: str, exclude: list[str],
              expected: set[str]) -> None:
    assert staged(run(sources, tmp_path, {"from": source, "to": to, "exclude": exclude})) == expected


@pytest.mark.parametrize(("copy", "message"), [
    ({"from": "@repo/nothing/**", "to": "@artifact/"}, "no files match pattern 'nothing/**' in source 'repo'"),
    ({"from": "@repo/deploy/backend/*.yaml", "to": "@artifact/", "exclude": ["*.yaml"]},
     "all files matching pattern 'deploy/backend/*.yaml' in source 'repo' were excluded"),
    ({"from": "@other/x", "to": "@artifact/"}, "source alias 'other' not found"),
    ({"from": "@repo/absent.yaml", "to": "@artifact/"}, "source 'absent.yaml' does not exist"),
    ({"from": "repo/x", "to": "@artifact/"}, "invalid copy source 'repo/x': source must start with '@'"),
    ({"from": "@repo", "to": "@artifact/"}, "source format must be '@alias/pattern'"),
    ({"from": "@repo/x", "to": "artifact/x"}, "destination must start with '@artifact/'"),
    ({"from": "@repo/../outside", "to": "@artifact/"}, "leads outside the source root"),
    ({"from": "@repo/README.md", "to": "@artifact/../up.md"}, "leads outside the destination root"),
    ({"from": "@repo/deploy/[x", "to": "@artifact/"}, "unclosed '['"),
    ({"from": "@repo/deploy/**", "to": "@artifact/", "exclude": ["{a"]}, "unclosed '{'"),
], ids=["no-match", "all-excluded", "unknown-alias", "missing-path", "no-at", "no-slash", "bad-destination",
        "escaping-source", "escaping-destination", "bad-glob", "bad-exclude"])
def test_copy_errors(sources: dict[str, Path], tmp_path: Path, copy: dict[str, Any], message: str) -> None:
    (tmp_path / "outside").write_text("secret")
    with pytest.raises(CopyError) as raised:
        run(sources, tmp_path, copy)
    assert message in str(raised.value)


def test_the_failing_operation_is_named(sources: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(CopyError) as raised:
        run(sources, tmp_path, {"from": "@repo/README.md", "to": "@artifact/"},
            {"from": "@repo/nothing/**", "to": "@artifact/x/"})
    assert str(raised.value) == ("failed to apply copy operation from '@repo/nothing/**' to '@artifact/x/': "
                                 "no files match pattern 'nothing/**' in source 'repo'")


def test_later_copies_overwrite_earlier_ones(sources: dict[str, Path], tmp_path: Path) -> None:
    staging = run(sources, tmp_path, {"from": "@repo/charts/podinfo/**", "to": "@artifact/"},
                  {"from": "@repo/charts/podinfo/values-prod.yaml", "to": "@artifact/values.yaml"})
    assert (staging / "values.yaml").read_text() == TREE["charts/podinfo/values-prod.yaml"]


def test_merge_strategy_merges_yaml_as_helm_values(sources: dict[str, Path], tmp_path: Path) -> None:
    staging = run(sources, tmp_path, {"from": "@repo/charts/podinfo/values.yaml", "to": "@artifact/values.yaml"},
                  {"from": "@repo/charts/podinfo/values-prod.yaml", "to": "@artifact/values.yaml",
                   "strategy": "Merge"})
    assert yaml.safe_load((staging / "values.yaml").read_text()) == {
        "replicas": 3, "image": {"tag": "v2", "name": "podinfo"}}


def test_merge_without_a_staged_file_copies(sources: dict[str, Path], tmp_path: Path) -> None:
    staging = run(sources, tmp_path, {"from": "@repo/charts/podinfo/values-prod.yaml", "to": "@artifact/v.yaml",
                                      "strategy": "Merge"})
    assert (staging / "v.yaml").read_text() == TREE["charts/podinfo/values-prod.yaml"]


def test_a_file_goes_into_a_directory_already_staged(sources: dict[str, Path], tmp_path: Path) -> None:
    staging = run(sources, tmp_path, {"from": "@repo/deploy/backend/app.yaml", "to": "@artifact/out/"},
                  {"from": "@repo/README.md", "to": "@artifact/out"})
    assert staged(staging) == {"out/app.yaml", "out/README.md"}


def test_file_modes_are_kept(sources: dict[str, Path], tmp_path: Path) -> None:
    (sources["repo"] / "README.md").chmod(0o755)
    staging = run(sources, tmp_path, {"from": "@repo/README.md", "to": "@artifact/"})
    assert (staging / "README.md").stat().st_mode & 0o777 == 0o755


@pytest.mark.parametrize(("pattern", "name", "expected"), [
    ("*.yaml", "a.yaml", True), ("*.yaml", "a.yml", False), ("**", "anything", True), ("a?c", "abc", True),
    ("a?c", "ac", False), ("[^a]*", "b", True), ("[^a]*", "a", False), ("[a-c]x", "bx", True),
    ("\\*", "*", True), ("\\*", "a", False), ("*.{yaml,yml}", "a.yml", False),
])
def test_segment_match_is_go_path_match(pattern: str, name: str, expected: bool) -> None:
    assert segment_match(pattern, name) is expected


@pytest.mark.parametrize(("pattern", "path", "expected"), [
    ("**/*.md", "a/b/c.md", True), ("**/*.md", "c.md", True), ("a/**", "a", True), ("a/**", "a/b/c", True),
    ("a/**", "ab", False), ("*.{yaml,yml}", "x.yml", True), ("a/*/c", "a/b/c", True), ("a/*/c", "a/b/d/c", False),
    ("a/**/c", "a/c", True), ("a/**/c", "a/x/y/c", True), ("[!a]*", "b", True), ("*", "a/b", False),
])
def test_doublestar_match(pattern: str, path: str, expected: bool) -> None:
    assert doublestar_match(pattern, path) is expected


@pytest.mark.parametrize(("path", "patterns", "expected"), [
    ("deep/dir/README.md", ["*.md"], True), ("x/docs/a.md", ["docs/*.md"], False), ("docs/a.md", ["docs/*.md"], True),
    ("a.yaml", [], False),
])
def test_excluded(path: str, patterns: list[str], expected: bool) -> None:
    assert excluded(path, patterns) is expected


def test_glob_matches_one_segment_per_segment_in_lexical_order(sources: dict[str, Path]) -> None:
    assert glob(sources["repo"], "deploy/*/app.yaml") == ["deploy/backend/app.yaml", "deploy/frontend/app.yaml"]
    assert glob(sources["repo"], "*") == ["README.md", "charts", "deploy"]
    assert glob(sources["repo"], "nothing/*") == []


@pytest.mark.parametrize(("pattern", "match", "destination", "expected"), [
    ("apps/**", "apps/a/b.yaml", "", "a/b.yaml"), ("apps/**", "apps/a", "out", "out/a"),
    ("apps/*.yaml", "apps/a.yaml", "out", "out/apps/a.yaml"), ("**", "apps", "", "apps"),
])
def test_glob_destination(pattern: str, match: str, destination: str, expected: str) -> None:
    assert glob_destination(pattern, match, destination) == expected


def test_merge_values() -> None:
    assert merge_values({"a": {"b": 1, "c": [1]}, "d": 1}, {"a": {"c": [2], "e": {}}, "d": {"x": 1}}) == \
        {"a": {"b": 1, "c": [2], "e": {}}, "d": {"x": 1}}
