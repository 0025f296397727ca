"""The Setters strategy: a table of files before/after for every marker form, plus upstream's golden files."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.reconciler.image.automation import setters
from sandbox.reconciler.image.automation.result import Change, ObjectIdentifier
from sandbox.reconciler.image.automation.setters import ImageRef, Policy

DIGEST = "sha256:6745aaad46d795c9836632e1fb62f24b7e7f4c843144da8e47a5465c411a14be"
POLICIES = [
    Policy("apps", "web", ImageRef("registry.local/web", "1.0.1")),
    Policy("apps", "pinned", ImageRef("registry.local/pinned", "2.0.0", DIGEST)),
    Policy("apps", "numeric", ImageRef("registry.local/num", "1.10")),
    Policy("apps", "pending", None),  # no latestRef yet: skipped
    Policy("other", "web", ImageRef("registry.local/elsewhere", "9.9.9")),
]
SETTERS = setters.setter_values([p for p in POLICIES if p.namespace == "apps"])

M = '# {"$imagepolicy": "apps:web"}'

CASES = {
    "full-ref": (
        f"image: registry.local/web:1.0.0 {M}\n",
        f"image: registry.local/web:1.0.1 {M}\n"),
    "tag-name-digest": (
        'newName: old # {"$imagepolicy": "apps:pinned:name"}\n'
        'newTag: v1 # {"$imagepolicy": "apps:pinned:tag"}\n'
        'digest: sha256:00 # {"$imagepolicy": "apps:pinned:digest"}\n',
        'newName: registry.local/pinned # {"$imagepolicy": "apps:pinned:name"}\n'
        'newTag: 2.0.0 # {"$imagepolicy": "apps:pinned:tag"}\n'
        f'digest: {DIGEST} # {{"$imagepolicy": "apps:pinned:digest"}}\n'),
    "full-ref-with-digest": (
        'image: x # {"$imagepolicy": "apps:pinned"}\n',
        f'image: registry.local/pinned:2.0.0@{DIGEST} # {{"$imagepolicy": "apps:pinned"}}\n'),
    "double-quoted-kept": (
        f'image: "registry.local/web:1.0.0" {M}\n',
        f'image: "registry.local/web:1.0.1" {M}\n'),
    "single-quoted-kept": (
        f"image: 'registry.local/web:1.0.0' {M}\n",
        f"image: 'registry.local/web:1.0.1' {M}\n"),
    "numeric-tag-quoted-when-plain": (
        'tag: "1.9" # {"$imagepolicy": "apps:numeric:tag"}\nother: 1.9 # {"$imagepolicy": "apps:numeric:tag"}\n',
        'tag: "1.10" # {"$imagepolicy": "apps:numeric:tag"}\nother: "1.10" # {"$imagepolicy": "apps:numeric:tag"}\n'),
    "several-per-file-and-comments-kept": (
        "# a header comment\n"
        "spec:\n"
        "  containers:\n"
        f"    - image: registry.local/web:1.0.0   {M}   \n"
        "      name: web  # not a marker\n"
        "    - image: registry.local/pinned:1.0.0 # {\"$imagepolicy\": \"apps:pinned:tag\"}\n"
        "  # trailing comment\n",
        "# a header comment\n"
        "spec:\n"
        "  containers:\n"
        f"    - image: registry.local/web:1.0.1   {M}   \n"
        "      name: web  # not a marker\n"
        "    - image: 2.0.0 # {\"$imagepolicy\": \"apps:pinned:tag\"}\n"
        "  # trailing comment\n"),
    "multi-document": (
        f"---\nkind: A\nimage: a:1 {M}\n---\n# doc 2\nkind: B\nimage: b:1 {M}\n...\n",
        f"---\nkind: A\nimage: registry.local/web:1.0.1 {M}\n---\n# doc 2\nkind: B\n"
        f"image: registry.local/web:1.0.1 {M}\n...\n"),
    "block-scalar-untouched": (
        "patch: |\n"
        f"  image: a:1 {M}\n"
        "folded: >\n"
        f"  a:1 {M}\n",
        None),
    "sequence-items-and-flow-mapping": (
        f"images:\n- a:1 {M}\n- keep\nflow: {{image: a:1}} {M}\n",
        f"images:\n- registry.local/web:1.0.1 {M}\n- keep\nflow: {{image: a:1}} {M}\n"),
    "crlf-kept": (
        f"a: 1\r\nimage: a:1 {M}\r\nb: 2\r\n",
        f"a: 1\r\nimage: registry.local/web:1.0.1 {M}\r\nb: 2\r\n"),
    "indentation-and-anchor-kept": (
        f"base:\n    image: &img a:1 {M}\ncopy: *img\n",
        f"base:\n    image: &img registry.local/web:1.0.1 {M}\ncopy: *img\n"),
    "other-namespace-ignored": (
        'image: a:1 # {"$imagepolicy": "other:web"}\n', None),
    "policy-without-latest-ref-skipped": (
        'image: a:1 # {"$imagepolicy": "apps:pending"}\n', None),
    "not-a-marker": (
        'image: a:1 # {"$imagepolicy": "apps:web", "x": 1}\nb: c # see "$imagepolicy" docs\n', None),
    "already-up-to-date": (
        f"image: registry.local/web:1.0.1 {M}\n", None),
    "marker-on-key-line-without-value-ignored": (
        f"image: {M}\n  \n", None),
    "helmrelease-values": (
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: web\n  namespace: apps\n"
        "spec:\n  values:\n    image:\n      repository: old # {\"$imagepolicy\": \"apps:web:name\"}\n"
        "      tag: \"1.0.0\" # {\"$imagepolicy\": \"apps:web:tag\"}\n",
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: web\n  namespace: apps\n"
        "spec:\n  values:\n    image:\n      repository: registry.local/web # {\"$imagepolicy\": \"apps:web:name\"}\n"
        "      tag: \"1.0.1\" # {\"$imagepolicy\": \"apps:web:tag\"}\n"),
    "digest-of-a-policy-without-one-is-emptied": (  # upstream's setter writes the empty value too
        'digest: sha256:00 # {"$imagepolicy": "apps:web:digest"}\n',
        'digest: "" # {"$imagepolicy": "apps:web:digest"}\n'),
    "marker-json-with-other-string-keys": (
        'image: a:1 # {"$imagepolicy": "apps:web", "note": "x"}\n',
        'image: registry.local/web:1.0.1 # {"$imagepolicy": "apps:web", "note": "x"}\n'),
    "non-ascii-before-marker": (
        f"note: \"héllo wörld ✓ 😀\"\nimage: a:1 {M}\n",
        f"note: \"héllo wörld ✓ 😀\"\nimage: registry.local/web:1.0.1 {M}\n"),
}


@pytest.mark.parametrize("before,after", CASES.values(), ids=list(CASES))
def test_setters_table(before: str, after: str | None) -> None:
    text, edits = setters.update_text(before, SETTERS)
    assert text == (after if after is not None else before)
    assert bool(edits) == (after is not None)


def test_change_set_names_file_object_and_setter(tmp_path: Path) -> None:
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / "deploy.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: apps\nspec:\n"
        f"  image: registry.local/web:1.0.0 {M}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n"
        "data:\n  tag: v1 # {\"$imagepolicy\": \"apps:web:tag\"}\n")
    (tmp_path / "values.yaml").write_text(f"image: a:1 {M}\n")  # no apiVersion/kind/metadata: not in the result
    (tmp_path / "untouched.yaml").write_text("a: 1\n")
    update = setters.update_tree(tmp_path, SETTERS)
    assert update.written == ["apps/deploy.yaml", "values.yaml"]
    assert update.result.file_changes == {"apps/deploy.yaml": {
        ObjectIdentifier("apps/v1", "Deployment", "web", "apps"): [
            Change("registry.local/web:1.0.0", "registry.local/web:1.0.1", "apps:web")],
        ObjectIdentifier("v1", "ConfigMap", "cfg", ""): [Change("v1", "1.0.1", "apps:web:tag")],
    }}
    assert len(update.result.changes()) == 2
    assert (tmp_path / "values.yaml").read_text() == f"image: registry.local/web:1.0.1 {M}\n"


def test_only_yaml_files_with_the_token_are_read_and_written(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text(f"image: a:1 {M}\n")
    (tmp_path / "chart").mkdir()
    (tmp_path / "chart" / "template.yaml").write_text("{{ if .Values.x }}\nkey: {{ .Values.y }}\n{{ end }}\n")
    (tmp_path / "broken.yml").write_text(f"image: a:1 {M}\n  bad: [\n")
    (tmp_path / "Kustomization").write_text(f"images:\n- a:1 {M}\n")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "x.yaml").write_text(f"image: a:1 {M}\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.yaml").write_text(f"image: a:1 {M}\n")
    update = setters.update_tree(tmp_path, SETTERS)
    assert update.written == [".hidden/x.yaml", "Kustomization"]
    assert update.problems == ["broken.yml"]
    assert (tmp_path / "notes.txt").read_text() == f"image: a:1 {M}\n"
    assert (tmp_path / ".git" / "x.yaml").read_text() == f"image: a:1 {M}\n"


def test_unchanged_file_is_not_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text(f"image: registry.local/web:1.0.1 {M}\n")
    before = path.stat().st_mtime_ns
    assert setters.update_tree(tmp_path, SETTERS).written == []
    assert path.stat().st_mtime_ns == before


@pytest.mark.parametrize("path,expected", [(None, ""), ("", ""), ("./apps", "apps"), ("../../apps", "apps"),
                                           ("/apps/", "apps")])
def test_update_path_stays_inside_the_checkout(tmp_path: Path, path: str | None, expected: str) -> None:
    (tmp_path / "apps").mkdir()
    assert setters.update_root(tmp_path, path) == (tmp_path / expected).resolve()


def test_update_path_missing_or_escaping(tmp_path: Path) -> None:
    with pytest.raises(setters.UpdatePathError, match="no such file or directory"):
        setters.update_root(tmp_path, "nope")
    (tmp_path / "out").symlink_to("/tmp")
    with pytest.raises(setters.UpdatePathError, match="leaves the repository"):
        setters.update_root(tmp_path, "out")


def test_symlinked_file_outside_the_checkout_is_not_written(tmp_path: Path) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text(f"image: a:1 {M}\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "link.yaml").symlink_to(outside)
    assert setters.update_tree(repo, SETTERS).written == []
    assert outside.read_text() == f"image: a:1 {M}\n"


@pytest.mark.parametrize("value,style,expected", [
    ("a:1", None, "a:1"), ("1.10", None, '"1.10"'), ("true", None, '"true"'), ("", None, '""'),
    ("a: b", None, '"a: b"'), ("it's", "'", "'it''s'"), ('say "hi"', '"', '"say \\"hi\\""'),
    ("v1.0.1", None, "v1.0.1"), ("1.0.1", None, "1.0.1"), ("0x1F", None, '"0x1F"'), ("yes", "'", "'yes'"),
])
def test_render_scalar(value: str, style: str | None, expected: str) -> None:
    assert setters.render_scalar(value, style) == expected


def test_setter_values_use_latest_ref_string_form() -> None:
    values = setters.setter_values(POLICIES)
    assert values["apps:pinned"] == f"registry.local/pinned:2.0.0@{DIGEST}"
    assert values["apps:web"] == "registry.local/web:1.0.1"
    assert values["apps:web:digest"] == ""
    assert not any(key.startswith("apps:pending") for key in values)


# Upstream's golden files (internal/update/testdata/setters), with the policies of its update_test.go.
UPSTREAM_POLICIES = setters.setter_values([
    Policy("automation-ns", "policy", ImageRef("index.repo.fake/updated", "v1.0.1")),
    Policy("automation-ns", "unchanged", ImageRef("image", "v1.0.0")),
    Policy("automation-ns", "policy-with-digest", ImageRef("image", "v1.0.0", DIGEST)),
])
UPSTREAM_MARKED = (
    "---\napiVersion: batch/v1beta1\nkind: CronJob\nmetadata:\n  name: foo\n  namespace: bar\nspec:\n"
    "  schedule: \"*/1 * * * *\"\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers:\n"
    "          - name: c\n            image: {c} # {{\"$imagepolicy\": \"automation-ns:policy\"}}\n"
    "          - name: d\n            image: image:v1.0.0 # {{\"$imagepolicy\": \"automation-ns:unchanged\"}}\n")
UPSTREAM_KUSTOMIZATION = (
    "# This is not intended to be a working kustomization\napiVersion: kustomize.config.k8s.io/v1beta1\n"
    "kind: Kustomization\nresources:\n  - unimportant.yaml\nimages:\n  - name: container\n"
    "    newName: {name} # {{\"$imagepolicy\": \"automation-ns:policy:name\"}}\n"
    "    newTag: {tag} # {{\"$imagepolicy\": \"automation-ns:policy:tag\"}}\n"
    "    newDigest: {digest} # {{\"$imagepolicy\": \"automation-ns:policy-with-digest:digest\"}}\n"
    "patches:\n  - patch: |\n      - op: replace\n        path: /spec/template/spec/containers/0/volumeMounts\n"
    "        value:\n          - mountPath: /usr/share/wildfly/log\n            name: wildfly-standalone-log\n"
    "    target:\n      kind: Deployment\n      name: sxxxxdadminservice\n"
    "      image: {image} # {{\"$imagepolicy\": \"automation-ns:policy-with-digest\"}}\n")


def test_upstream_golden_files(tmp_path: Path) -> None:
    (tmp_path / "marked.yaml").write_text(UPSTREAM_MARKED.format(c="image:v1.0.0"))
    (tmp_path / "kustomization.yml").write_text(UPSTREAM_KUSTOMIZATION.format(
        name="replaced", tag="v1", digest="sha256:1234567890abcdef", image="image"))
    (tmp_path / "test.yaml").write_text("testing.yaml")
    update = setters.update_tree(tmp_path, UPSTREAM_POLICIES)
    assert (tmp_path / "marked.yaml").read_text() == UPSTREAM_MARKED.format(c="index.repo.fake/updated:v1.0.1")
    assert (tmp_path / "kustomization.yml").read_text() == UPSTREAM_KUSTOMIZATION.format(
        name="index.repo.fake/updated", tag="v1.0.1", digest=DIGEST, image=f"image:v1.0.0@{DIGEST}")
    assert (tmp_path / "test.yaml").read_text() == "testing.yaml"
    kustomization = ObjectIdentifier("kustomize.config.k8s.io/v1beta1", "Kustomization", "", "")
    assert update.result.file_changes["kustomization.yml"][kustomization] == [
        Change("replaced", "index.repo.fake/updated", "automation-ns:policy:name"),
        Change("v1", "v1.0.1", "automation-ns:policy:tag"),
        Change("sha256:1234567890abcdef", DIGEST, "automation-ns:policy-with-digest:digest"),
        Change("image", f"image:v1.0.0@{DIGEST}", "automation-ns:policy-with-digest"),
    ]
    assert update.result.file_changes["marked.yaml"] == {
        ObjectIdentifier("batch/v1beta1", "CronJob", "foo", "bar"): [
            Change("image:v1.0.0", "index.repo.fake/updated:v1.0.1", "automation-ns:policy")]}
