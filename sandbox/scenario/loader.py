"""Load scenario.yaml and validate all of it before anything runs: the JSON Schema, then what a schema cannot say
(step types, features, variables, commit ids, files the scenario refers to). Every problem is reported at once,
each naming the file, the line and the field."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema
import yaml

from sandbox import demochart
from sandbox.errors import InputError
from sandbox.monitoring.runrules import RunSettings
from sandbox.scenario import features, jsonpath, reconcilable, schema, templating
from sandbox.scenario.model import (
    KNOWN_KINDS,
    SCENARIO_FILE,
    KustomizationSpec,
    RepoSpec,
    Scenario,
    Step,
)
from sandbox.scenario.yamlsource import Located, Path_, format_path
from sandbox.scenario.yamlsource import load as load_yaml

DEFAULT_REPO_FOLDER = "repo"
RECONCILABLE = set(reconcilable.BY_KIND)  # what `reconcile`, `suspend` and `resume` can act on
CHECK_FEATURES = {"alerts": "notifications", "prometheus": "monitoring"}

_FRIENDLY_PATTERNS = {
    schema.DURATION["pattern"]: "is not a duration; write it like 30s, 5m, 1h30m or 500ms",
    schema.REF["pattern"]: "is not an object reference; write Kind/name or Kind/namespace/name",
    schema.NAME["pattern"]: "is not a valid name: lowercase letters, digits and '-', at most 40 characters",
    schema.PROM_DURATION["pattern"]: "is not a Prometheus duration; write it like 10s, 1m, 1m30s or 500ms",
}


@dataclass(frozen=True)
class Issue:
    file: Path
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


class ScenarioInvalid(InputError):
    """scenario.yaml breaks the format; ``issues`` lists every problem found, each with file, line and field."""

    def __init__(self, file: Path, issues: list[Issue]) -> None:
        lines = "\n".join(f"  {issue}" for issue in issues)
        plural = "s" if len(issues) != 1 else ""
        super().__init__(f"{file} is not a valid scenario ({len(issues)} problem{plural}):\n{lines}\n"
                         "The format is described in docs/scenarios.md.")
        self.file = file
        self.issues = issues


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _strings(value: Any, path: Path_) -> Iterator[tuple[Path_, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*path, index))


class _Validator:
    def __init__(self, located: Located) -> None:
        self.located = located
        self.file = located.file
        self.folder = located.file.parent
        self.issues: list[Issue] = []
        self.implied: dict[str, Path_] = {}  # feature -> where it is first needed
        self.commit_ids: set[str] = {"initial"}

    # --- reporting -----------------------------------------------------------------------------------------
    def add(self, path: Path_, message: str) -> None:
        self.issues.append(Issue(self.file, self.located.line_of(path), format_path(path), message))

    def check_schema(self, rules: schema.Schema, value: Any, path: Path_) -> bool:
        validator = jsonschema.Draft202012Validator(rules)
        found = False
        for error in sorted(validator.iter_errors(value), key=lambda e: [str(p) for p in e.absolute_path]):
            found = True
            where = (*path, *error.absolute_path)
            if error.validator == "additionalProperties" and isinstance(error.instance, dict):
                allowed = sorted((error.schema.get("properties") or {}).keys())
                for key in error.instance:
                    if key not in allowed:
                        self.add((*where, key), f"unknown field {key!r}{_suggest(key, allowed)} "
                                                f"(allowed here: {', '.join(allowed)})")
            elif error.validator == "required":
                missing = re.findall(r"'([^']+)' is a required property", error.message)
                self.add(where, f"missing required field {missing[0]!r}" if missing else error.message)
            elif error.validator == "pattern" and error.validator_value in _FRIENDLY_PATTERNS:
                self.add(where, f"{error.instance!r} {_FRIENDLY_PATTERNS[error.validator_value]}")
            else:
                self.add(where, error.message)
        return not found

    # --- the document --------------------------------------------------------------------------------------
    def run(self) -> None:
        for path, line in self.located.duplicates:
            self.issues.append(Issue(self.file, line, format_path(path), "given twice; YAML keeps only the last "
                                     "one, so remove one of them"))
        data = self.located.data
        if not isinstance(data, dict):
            self.add((), "a scenario is a YAML mapping with title, summary and steps")
            return
        if not re.fullmatch(schema.NAME["pattern"], self.folder.name):
            self.add((), f"the scenario's folder name {self.folder.name!r} is its name, and must be lowercase "
                         "letters, digits and '-' (at most 40 characters)")
        # Steps are still worth checking one by one when only the metadata is wrong.
        if not self.check_schema(schema.DOCUMENT, data, ()) and not isinstance(data.get("steps"), list):
            return
        self.check_repo(data.get("repo") or {})
        if isinstance(data.get("monitoring"), dict):
            self.need("monitoring", "monitoring", ("monitoring",))
        for index, name in enumerate(data.get("needs") or []):
            if isinstance(name, str):
                reason = features.not_available(name)
                if reason:
                    self.add(("needs", index), reason)
        for index, raw in enumerate(data.get("steps") or []):
            if isinstance(raw, dict):
                self.check_step(index, raw)

    def check_repo(self, repo: dict[str, Any]) -> None:
        if not isinstance(repo, dict):
            return
        folder = repo.get("path")
        if isinstance(folder, str):
            target = self.inside(folder, ("repo", "path"))
            if target is not None and not target.is_dir():
                self.add(("repo", "path"), f"{folder!r} is not a folder next to {SCENARIO_FILE}")
        names: set[str] = set()
        for index, ks in enumerate(repo.get("kustomizations") or []):
            if not isinstance(ks, dict) or not isinstance(ks.get("name"), str):
                continue
            if ks["name"] in names:
                self.add(("repo", "kustomizations", index, "name"), f"Kustomization {ks['name']!r} is listed twice")
            names.add(ks["name"])
            for path, text in _strings(ks, ("repo", "kustomizations", index)):
                self.check_variables(path, text, in_steps=False)

    def inside(self, relative: str, path: Path_) -> Path | None:
        """``relative`` as a path inside the scenario's folder, or None (reported) when it leaves it."""
        pure = PurePosixPath(relative)
        if pure.is_absolute() or ".." in pure.parts:
            self.add(path, f"{relative!r} must be a relative path inside the scenario's folder")
            return None
        return self.folder / pure

    def check_variables(self, path: Path_, text: str, *, in_steps: bool) -> None:
        for name in templating.unknown_variables(text, commit_ids=self.commit_ids, in_steps=in_steps):
            if name.startswith("commit."):
                self.add(path, f"${{{name}}}: no earlier commit step has id {name.partition('.')[2]!r} "
                               f"(ids so far: {', '.join(sorted(self.commit_ids))})")
            else:
                known = [*templating.RUN_VARIABLES, *(["head"] if in_steps else [])]
                self.add(path, f"unknown variable ${{{name}}}{_suggest(name, known)} (known: "
                               f"{', '.join(known)}, commit.<id>; write $${{{name}}} for a literal ${{{name}}})")
        for name in templating.variables_in(text):
            feature = features.VARIABLE_FEATURES.get(name)
            if feature:
                self.implied.setdefault(feature, path)

    def need(self, feature: str, what: str, path: Path_) -> None:
        reason = features.not_available(feature)
        if reason:
            self.add(path, f"step type {what!r} needs feature {feature!r}, not available yet: {reason}")
        self.implied.setdefault(feature, path)

    # --- steps ---------------------------------------------------------------------------------------------
    def check_step(self, index: int, raw: dict[str, Any]) -> None:
        path: Path_ = ("steps", index)
        known = list(schema.STEP_TYPES)
        if "title" in raw and not isinstance(raw["title"], str):
            self.add((*path, "title"), "a step's title is a string")
        types = [key for key in raw if key != "title"]
        if not types:
            self.add(path, f"a step needs a type: one of {', '.join(known)}")
            return
        if len(types) > 1:
            self.add(path, f"a step has exactly one type, this one has {len(types)}: {', '.join(map(str, types))}; "
                           "split it into one step each")
            return
        step_type = str(types[0])
        if step_type not in schema.STEP_TYPES:
            self.add((*path, step_type), f"unknown step type {step_type!r}{_suggest(step_type, known)} "
                                         f"(step types: {', '.join(known)})")
            return
        feature = features.STEP_FEATURES.get(step_type)
        if feature:
            self.need(feature, step_type, (*path, step_type))
        value = normalize(step_type, raw[step_type])
        where = (*path, step_type)
        if not self.check_schema(schema.STEP_TYPES[step_type], value, where):
            return
        for field_path, text in _strings(value, where):
            if step_type != "commit" or field_path[-1] != "from":
                self.check_variables(field_path, text, in_steps=True)
        getattr(self, f"step_{step_type}", lambda *_: None)(value, where)

    def step_commit(self, value: dict[str, Any], where: Path_) -> None:
        for name, change in value["files"].items():
            file_path = (*where, "files", name)
            self.check_variables(file_path, name, in_steps=True)
            pure = PurePosixPath(name)
            if pure.is_absolute() or ".." in pure.parts or pure.parts[:1] == (".git",):
                self.add(file_path, f"{name!r} must be a relative path inside the repository")
            if isinstance(change, dict):
                source = self.inside(change["from"], (*file_path, "from"))
                if source is not None and not source.is_file():
                    self.add((*file_path, "from"), f"{change['from']!r} is not a file in the scenario's folder")
        commit_id = value.get("id")
        if commit_id is not None:
            if commit_id in self.commit_ids:
                self.add((*where, "id"), f"commit id {commit_id!r} is already used (or reserved: 'initial')")
            self.commit_ids.add(commit_id)

    def step_push_artifact(self, value: dict[str, Any], where: Path_) -> None:
        folder = self.inside(value["path"], (*where, "path"))
        if folder is not None and not folder.exists():
            self.add((*where, "path"), f"{value['path']!r} is not a folder or file in the scenario's folder")
        artifact_id = value.get("id")
        if artifact_id is not None:
            if artifact_id in self.commit_ids:
                self.add((*where, "id"), f"id {artifact_id!r} is already used (or reserved: 'initial')")
            self.commit_ids.add(artifact_id)

    def _new_id(self, value: dict[str, Any], where: Path_) -> None:
        commit_id = value.get("id")
        if commit_id is not None:
            if commit_id in self.commit_ids:
                self.add((*where, "id"), f"id {commit_id!r} is already used (or reserved: 'initial')")
            self.commit_ids.add(commit_id)

    def step_await_commit(self, value: dict[str, Any], where: Path_) -> None:
        self._new_id(value, where)

    def step_merge_pr(self, value: dict[str, Any], where: Path_) -> None:
        self._new_id(value, where)

    def step_push_chart(self, value: dict[str, Any], where: Path_) -> None:
        given = [key for key in ("chart", "demo") if key in value]
        if len(given) != 1:
            self.add(where, "give exactly one of chart (a chart folder of the scenario) or demo (a version of the "
                            f"demo chart: {', '.join(demochart.versions()) or 'none'})")
            return
        if "demo" in value:
            if value["demo"] not in demochart.versions():
                self.add((*where, "demo"), f"the demo chart {demochart.DEMO_CHART} has no version {value['demo']!r} "
                                           f"(versions: {', '.join(demochart.versions()) or 'none'})")
            return
        chart = self.inside(value["chart"], (*where, "chart"))
        if chart is not None and not (chart / "Chart.yaml").is_file():
            self.add((*where, "chart"), f"{value['chart']!r} is not a chart folder (with Chart.yaml) in the "
                                        "scenario's folder")

    def step_apply(self, value: dict[str, Any], where: Path_) -> None:
        given = [key for key in ("manifest", "from") if key in value]
        if len(given) != 1:
            self.add(where, "give exactly one of manifest (inline YAML) or from (a file of the scenario's folder)")
            return
        if given[0] == "from":
            source = self.inside(value["from"], (*where, "from"))
            if source is None:
                return
            if not source.is_file():
                self.add((*where, "from"), f"{value['from']!r} is not a file in the scenario's folder")
                return
            text, field_path = source.read_text(), (*where, "from")
        else:
            text, field_path = value["manifest"], (*where, "manifest")
        try:
            documents = [d for d in yaml.safe_load_all(text) if d is not None]
        except yaml.YAMLError as err:
            self.add(field_path, f"not valid YAML: {err}")
            return
        if not documents:
            self.add(field_path, "holds no object")
        for number, document in enumerate(documents, start=1):
            if not isinstance(document, dict) or not document.get("kind") or not document.get("apiVersion") or \
                    not (document.get("metadata") or {}).get("name"):
                self.add(field_path, f"document {number} needs apiVersion, kind and metadata.name")

    def _ref(self, text: str, api_version: Any, path: Path_) -> str | None:
        kind = text.split("/", 1)[0]
        if api_version is None and kind not in KNOWN_KINDS:
            self.add(path, f"unknown kind {kind!r}{_suggest(kind, list(KNOWN_KINDS))}; give its apiVersion: next "
                           "to it for kinds the sandbox does not know by name")
            return None
        return kind

    def step_delete(self, value: dict[str, Any], where: Path_) -> None:
        self._ref(value["object"], value.get("apiVersion"), (*where, "object"))

    def _reconcilable(self, value: dict[str, Any], where: Path_, verb: str) -> None:
        kind = self._ref(value["object"], None, (*where, "object"))
        if kind is not None and kind not in RECONCILABLE:
            self.add((*where, "object"), f"{verb} acts on {', '.join(sorted(RECONCILABLE))}, not {kind}")

    def step_reconcile(self, value: dict[str, Any], where: Path_) -> None:
        self._reconcilable(value, where, "reconcile")
        for flag in ("force", "reset"):
            if value.get(flag) and value["object"].split("/", 1)[0] != "HelmRelease":
                self.add((*where, flag), f"{flag} acts on a HelmRelease (flux reconcile helmrelease --{flag})")

    def step_suspend(self, value: dict[str, Any], where: Path_) -> None:
        self._reconcilable(value, where, "suspend")

    def step_resume(self, value: dict[str, Any], where: Path_) -> None:
        self._reconcilable(value, where, "resume")

    def step_wait(self, value: dict[str, Any], where: Path_) -> None:
        self.check_check(value, where, "wait")

    def step_expect(self, value: Any, where: Path_) -> None:
        if isinstance(value, dict):
            self.check_check(value, where, "expect")
            return
        for index, check in enumerate(value):
            self.check_check(check, (*where, index), "expect")

    def check_check(self, check: dict[str, Any], where: Path_, step_type: str) -> None:
        kinds = schema.check_kinds(check)
        known = list(schema.CHECKS)
        if not kinds:
            unknown = [str(key) for key in check if key not in schema.CHECK_EXTRA[step_type]]
            hint = _suggest(unknown[0], known) if unknown else ""
            self.add(where, f"a check needs one of {', '.join(known)}{hint}")
            return
        if len(kinds) > 1:
            self.add(where, f"one check at a time: this one has {' and '.join(kinds)}"
                            + ("; make them items of a list" if step_type == "expect" else "; use one wait each"))
            return
        kind = kinds[0]
        feature = CHECK_FEATURES.get(kind)
        if feature:
            self.need(feature, f"{step_type} {kind}", (*where, kind))
        if not self.check_schema(schema.check_schema(kind, step_type), check, where):
            return
        if isinstance(check.get("cluster"), str):
            self.need(features.cluster_feature(check["cluster"]), f"{step_type} {kind} in a cluster",
                      (*where, "cluster"))
        if kind in ("object", "absent", "ready", "event"):
            self._ref(check[kind], check.get("apiVersion"), (*where, kind))
        if kind == "alerts":
            self.check_alerts(check, where)
        if "jsonpath" in check:
            try:
                jsonpath.parse(check["jsonpath"])
            except InputError as err:
                self.add((*where, "jsonpath"), str(err))
        if kind == "object":
            comparisons = [key for key in ("equals", "contains", "matches", "exists") if key in check]
            if len(comparisons) > 1:
                self.add(where, f"compare one way: {', '.join(comparisons)} given")
            if comparisons and comparisons[0] != "exists" and "jsonpath" not in check:
                self.add(where, f"{comparisons[0]} compares a field: add jsonpath (e.g. .data.key)")
        if kind == "prometheus":
            bounds = [key for key in ("at_least", "at_most") if key in check]
            if "equals" in check and bounds:
                self.add(where, f"compare one way: equals and {' and '.join(bounds)} given")
        if "matches" in check:
            try:
                re.compile(check["matches"])
            except re.error as err:
                self.add((*where, "matches"), f"not a regular expression: {err}")
        revision = check.get("revision")
        if revision is not None and revision != "head" and revision not in self.commit_ids:
            self.add((*where, "revision"), f"revision {revision!r} is not head, initial or the id of an earlier "
                                           f"commit step (ids so far: {', '.join(sorted(self.commit_ids))})")

    def check_alerts(self, check: dict[str, Any], where: Path_) -> None:
        target = str(check["alerts"])
        if "${sink}" in target or "://" in target:
            self.add((*where, "alerts"), f"{target!r}: give the path under the sink only (webhook for a Provider at "
                                         "${sink}/webhook)")
        elif target != "*" and (any(char.isspace() or char in "?#*" for char in target) or not target.strip("/")):
            self.add((*where, "alerts"), f"{target!r} is not a path under the sink: write the name a Provider's "
                                         "address ends with (a Provider at ${sink}/webhook: webhook), or * for any")
        if "object" in check:
            self._ref(check["object"], None, (*where, "object"))
        if "count" in check and "at_least" in check:
            self.add(where, "give count (exactly N) or at_least (N or more), not both")


def normalize(step_type: str, value: Any) -> Any:
    """Expand the one-string shorthand (``reconcile: Kustomization/apps``)."""
    if step_type in schema.SHORTHAND and isinstance(value, str):
        return {schema.SHORTHAND[step_type]: value}
    return value


def _steps(data: dict[str, Any], located: Located) -> tuple[Step, ...]:
    steps = []
    for index, raw in enumerate(data["steps"]):
        step_type = next(key for key in raw if key != "title")
        body = normalize(step_type, raw[step_type])
        if step_type == "narrate":
            body = {"text": body}
        elif step_type == "expect":
            body = {"checks": [body] if isinstance(body, dict) else list(body)}
        elif step_type == "wait":
            body = {"timeout": "60s", **body}
        elif step_type == "rotate_sealing_key":
            body = {}
        steps.append(Step(index + 1, step_type, str(raw.get("title") or ""), located.line_of(("steps", index)),
                          dict(body)))
    return tuple(steps)


def _repo(data: dict[str, Any], folder: Path) -> RepoSpec:
    repo = data.get("repo") or {}
    relative = repo.get("path")
    if relative is None and (folder / DEFAULT_REPO_FOLDER).is_dir():
        relative = DEFAULT_REPO_FOLDER
    kustomizations = []
    for ks in repo.get("kustomizations") or []:
        spec = {k: v for k, v in ks.items() if k not in ("name", "path")}
        kustomizations.append(KustomizationSpec(ks["name"], ks.get("path", "./"), spec))
    return RepoSpec(folder / relative if relative else None, repo.get("branch", "main"),
                    str(repo.get("interval", "1m")), tuple(kustomizations))


def _monitoring(data: dict[str, Any]) -> RunSettings | None:
    block = data.get("monitoring")
    if block is None:
        return None
    values: dict[str, Any] = {key: (float(value) if key == "slow_seconds" else str(value))
                              for key, value in block.items()}
    return RunSettings(**values)


def scenario_file(path: Path) -> Path:
    return path / SCENARIO_FILE if path.is_dir() else path


def load(path: Path) -> Scenario:
    """Load and validate the scenario at ``path`` (its folder or its scenario.yaml); ScenarioInvalid lists
    every problem, each with file:line and field."""
    file = scenario_file(path)
    located = load_yaml(file)
    validator = _Validator(located)
    validator.run()
    if validator.issues:
        raise ScenarioInvalid(file, sorted(validator.issues, key=lambda i: i.line))
    data = located.data
    needs = list(dict.fromkeys([*(data.get("needs") or []), *validator.implied]))
    return Scenario(name=file.parent.name, file=file, title=data["title"], summary=data["summary"].strip(),
                    description=str(data.get("description") or "").strip(), tags=tuple(data.get("tags") or ()),
                    needs=tuple(needs), repo=_repo(data, file.parent), steps=_steps(data, located),
                    monitoring=_monitoring(data))
