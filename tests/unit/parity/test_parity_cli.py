"""`python -m sandbox.parity --cluster kind`: its own report files, the images loaded into the nodes, and the
scenario groups kind cannot run reported as skipped, saying why."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.errors import InputError
from sandbox.parity import __main__ as cli
from sandbox.parity import report
from sandbox.parity.run import SandboxNeeds, Target


def test_embedded_is_the_default_with_the_existing_report_files() -> None:
    args = cli.parse([])
    assert (args.cluster, args.json, args.markdown) == ("embedded", Path("parity-results/parity.json"),
                                                        Path("docs/parity.md"))
    assert cli.target_of(args) == Target()


def test_kind_writes_its_own_report_and_loads_the_given_images() -> None:
    args = cli.parse(["--cluster", "kind", "--load-image", "nginx:1.25", "--load-image", "postgres:16"])
    assert (args.json, args.markdown) == (Path("parity-results/parity-kind.json"), Path("docs/parity-kind.md"))
    target = cli.target_of(args)
    assert target == Target("kind", ("nginx:1.25", "postgres:16"))
    options = target.options()
    assert options["cluster"] == "kind" and options["kind_load_images"] == ("nginx:1.25", "postgres:16")
    assert options["monitoring"] is None  # refused on kind


def test_kind_without_load_image_loads_the_scenario_images_the_engine_has(monkeypatch: pytest.MonkeyPatch) -> None:
    from sandbox.kindnode import standins

    monkeypatch.setattr(standins, "present", lambda images: [i for i in images if i.startswith("nginx")])
    target = cli.target_of(cli.parse(["--cluster", "kind"]))
    assert target.cluster == "kind" and target.load_images and all(i.startswith("nginx") for i in target.load_images)


def test_load_image_without_kind_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.parse(["--load-image", "nginx:1.25"])
    assert "--cluster kind" in capsys.readouterr().err
    with pytest.raises(InputError, match="--cluster kind"):
        Target("embedded", ("nginx:1.25",))


def test_workload_clusters_are_unavailable_on_kind_only() -> None:
    fleet = SandboxNeeds(("production", "staging"))
    assert "workload clusters (production, staging)" in Target("kind").unavailable(fleet)
    assert Target("kind").unavailable(SandboxNeeds(lockdown=True)) == ""
    assert Target().unavailable(fleet) == ""


def test_the_kind_page_says_where_it_ran_and_shows_skips() -> None:
    meta = {"cluster": "kind", "kubernetes": "v1.37.2", "loaded_images": ["nginx:1.25"], "flux_release": "v2.9.5",
            "flux_controllers": [], "scenarios": ["fleet"], "generated": "2026-12-06"}
    runs = {"fleet": {side: {"steps": [], "outcome": {"passed": False, "skipped": "needs workload clusters"}}
                      for side in ("ours", "flux")}}
    page = report.markdown(meta, runs, [], {})
    assert page.startswith("# Parity with upstream Flux on kind")
    assert "ran twice on a kind cluster" in page and "`nginx:1.25`" in page and "[parity.md](parity.md)" in page
    assert "| fleet | skipped: needs workload clusters | skipped: needs workload clusters |" in page
    noted = report.markdown(meta, runs, [], {}, {"fleet": "is noted.", "absent": "is not in this run."})
    assert "- **fleet** is noted." in noted and "absent" not in noted
    embedded = report.markdown({**meta, "cluster": "embedded"}, runs, [], {})
    assert embedded.startswith("# Parity with upstream Flux\n") and "embedded cluster" in embedded
