"""The proc-receive protocol of the AGit hook, spoken over in-memory streams against a real bare repository."""

from __future__ import annotations

import io
import json
from pathlib import Path

from sandbox.git.agit import FLUSH, packet, parse_options, read_section, serve
from sandbox.git.pulls import PullStore
from sandbox.git.store import RepoStore
from sandbox.tools.git import ZERO_SHA
from tests.unit.git.test_pulls import Work


def test_options_parsing() -> None:
    assert parse_options(["topic=a=b", "force-push", "title="]) == {"topic": "a=b", "force-push": "true", "title": ""}


def test_serve_opens_a_pull_request_and_reports_the_real_ref(tmp_path: Path) -> None:
    store = RepoStore(tmp_path / "data", "sandbox")
    store.create("app", private=True)
    work = Work(tmp_path / "work", store.git_dir("app"))
    work.commit("main", {"a.txt": "1\n"}, "initial")
    new = work.commit("topic", {"a.txt": "2\n"}, "Change a", start="main")
    stdin = io.BytesIO(packet("version=1\0push-options atomic") + FLUSH
                       + packet(f"{ZERO_SHA} {new} refs/for/main") + packet(f"{ZERO_SHA} {new} refs/for/nope")
                       + FLUSH + packet("topic=t1") + FLUSH)
    stdout = io.BytesIO()
    record = tmp_path / "record"
    results = serve(stdin, stdout, PullStore(store), "app", user="sandbox", record=record, base_url="http://x")
    assert [r.error for r in results] == ["", "base branch 'nope' does not exist"]
    answer = io.BytesIO(stdout.getvalue())
    assert read_section(answer) == ["version=1\0push-options"]
    assert read_section(answer) == ["ok refs/for/main", "option refname refs/pull/1/head",
                                    f"option old-oid {ZERO_SHA}", f"option new-oid {new}",
                                    "ng refs/for/nope base branch 'nope' does not exist"]
    assert [json.loads(line) for line in record.read_text().splitlines()] == [{"number": 1, "action": "opened"}]


def test_without_push_options_the_hook_does_not_ask_for_them(tmp_path: Path) -> None:
    store = RepoStore(tmp_path / "data", "sandbox")
    store.create("app", private=True)
    work = Work(tmp_path / "work", store.git_dir("app"))
    work.commit("main", {"a.txt": "1\n"}, "initial")
    new = work.commit("topic", {"a.txt": "2\n"}, "Change a", start="main")
    stdin = io.BytesIO(packet("version=1\0atomic") + FLUSH + packet(f"{ZERO_SHA} {new} refs/for/main/t2") + FLUSH)
    stdout = io.BytesIO()
    [result] = serve(stdin, stdout, PullStore(store), "app", user="sandbox", record=None, base_url="http://x")
    assert result.pull is not None and result.pull.head == "sandbox/t2"
    assert read_section(io.BytesIO(stdout.getvalue())) == ["version=1"]
