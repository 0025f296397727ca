"""Comparing two normalised runs of a scenario, and normalising what differs between runs by nature."""

from __future__ import annotations

from typing import Any

from sandbox.parity import report
from sandbox.parity.compare import compare_runs, counts
from sandbox.parity.snapshot import Normalizer

SHA = "0123456789abcdef0123456789abcdef01234567"


def step(index: int, *, ready: dict[str, str] | None = None, revision: str = "main@sha1:<commit:initial>",
         inventory: list[str] | None = None, events: list[str] | None = None,
         managers: list[str] | None = None) -> dict[str, Any]:
    return {
        "step": index, "type": "wait", "title": "",
        "objects": {"Kustomization/apps": {
            "conditions": {"Ready": ready or {"status": "True", "reason": "ReconciliationSucceeded",
                                              "message": "Applied revision: main@sha1:<commit:initial>"}},
            "revisions": {"lastAppliedRevision": revision},
            "inventory": inventory if inventory is not None else ["${namespace}_greeting__ConfigMap v1"]}},
        "applied": {"ConfigMap/${namespace}/greeting": {
            "labels": {"kustomize.toolkit.fluxcd.io/name": "apps"},
            "field_managers": managers or ["kustomize-controller (Apply)"]}},
        "events": events or [],
    }


def run(*steps: dict[str, Any], passed: bool = True) -> dict[str, Any]:
    return {"steps": list(steps), "outcome": {"passed": passed, "failed_step": None if passed else 2, "error": ""}}


def test_identical_runs_have_no_differences() -> None:
    assert compare_runs("s", run(step(1), step(2)), run(step(1), step(2))) == []


def test_each_kind_of_difference_is_found_with_both_sides() -> None:
    ours = run(step(1, events=["Kustomization/apps | Normal | Progressing | ConfigMap/x created | "]))
    flux = run(step(1, ready={"status": "True", "reason": "ReconciliationSucceeded", "message": "Applied revision: x"},
                    revision="main@sha1:<sha1>", inventory=[],
                    managers=["kustomize-controller (Apply)", "other (Apply)"],
                    events=["Kustomization/apps | Normal | ReconciliationSucceeded | done | "]), passed=False)
    found = compare_runs("s", ours, flux)
    by_kind = counts(found)
    assert by_kind["condition"] == 1 and by_kind["revision"] == 1 and by_kind["inventory"] == 1
    assert by_kind["field-manager"] == 1 and by_kind["event"] == 2 and by_kind["outcome"] == 2
    condition = next(d for d in found if d.kind == "condition")
    assert (condition.subject, condition.field) == ("Kustomization/apps", "Ready.message")
    assert condition.ours == "Applied revision: main@sha1:<commit:initial>" and condition.flux == "Applied revision: x"
    assert {d.field for d in found if d.kind == "event"} == {"only ours", "only flux"}


def test_a_difference_that_persists_is_reported_once_at_its_first_step() -> None:
    event = "Kustomization/apps | Normal | Progressing | created | "
    found = compare_runs("s", run(step(1, events=[event]), step(2, events=[event])), run(step(1), step(2)))
    assert [(d.step, d.kind) for d in found] == [(1, "event")]


def test_an_object_only_one_side_has_is_a_difference() -> None:
    flux = run(step(1))
    flux["steps"][0]["objects"] = {}
    found = compare_runs("s", run(step(1)), flux)
    assert [(d.kind, d.subject, d.ours, d.flux) for d in found] == [("object", "Kustomization/apps", "True", "False")]


def test_normaliser_replaces_run_names_commits_digests_durations_and_ports() -> None:
    norm = Normalizer({"demo-ab12-flux": "${flux_namespace}", "demo-ab12": "${namespace}", "ab12": "${run}"},
                      {SHA: "initial"})
    text = (f"Applied revision: main@sha1:{SHA} to demo-ab12 from demo-ab12-flux in 1.25s, next run in 10m0s; "
            f"other {'f' * 40} sha256:{'a' * 64} at http://127.0.0.1:43121/x")
    assert norm.text(text) == ("Applied revision: main@sha1:<commit:initial> to ${namespace} from ${flux_namespace} "
                               "in <duration>, next run in <duration>; other <sha1> sha256:<digest> at "
                               "http://127.0.0.1:<port>/x")


def test_report_explains_by_the_most_specific_key_and_flags_the_rest() -> None:
    found = compare_runs("s", run(step(1, revision="a")), run(step(1, revision="b")))
    (difference,) = found
    assert report.explain(difference, {}).startswith("not yet explained")
    assert report.explain(difference, {"*/revision": "kind"}) == "kind"
    assert report.explain(difference, {"*/revision": "kind", "s/revision/Kustomization/apps/lastAppliedRevision":
                                       "exact"}) == "exact"
    page = report.markdown({"kubernetes": "v1.37.2", "flux_release": "v2.9.5", "flux_controllers": []},
                           {"s": {"ours": run(), "flux": run()}}, found, {})
    assert "| 1 | revision | Kustomization/apps | lastAppliedRevision | a | b |" in page


def test_the_page_is_written_again_from_the_json_with_new_explanations(tmp_path: Any) -> None:
    found = compare_runs("s", run(step(1, revision="a")), run(step(1, revision="b")))
    meta = {"kubernetes": "v1.37.2", "flux_release": "v2.9.5", "flux_controllers": []}
    runs = {"s": {"ours": run(), "flux": run()}}
    report.write(tmp_path / "p.json", tmp_path / "p.md", meta, runs, found, {})
    assert "not yet explained" in (tmp_path / "p.md").read_text()
    again_meta, again_runs, again = report.read(tmp_path / "p.json")
    assert (again_meta, again_runs, again) == (meta, runs, found)
    report.write(tmp_path / "p.json", tmp_path / "p.md", again_meta, again_runs, again, {"*/revision": "because"})
    assert "because" in (tmp_path / "p.md").read_text()
