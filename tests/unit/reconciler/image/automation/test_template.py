"""Commit message templates through the Go helper (Go text/template + Sprig, as upstream), and selectors."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.reconciler.image.automation import selector, template
from sandbox.reconciler.image.automation.result import Change, ObjectIdentifier, Result
from sandbox.tools import commitmsg

HELPER = commitmsg.find()
needs_helper = pytest.mark.skipif(HELPER is None, reason=f"{commitmsg.PROGRAM} is not built (run `sandbox setup`)")


def changes() -> Result:
    result = Result()
    deploy = ObjectIdentifier("apps/v1", "Deployment", "web", "apps")
    result.add("apps/deploy.yaml", deploy, Change("reg/web:1.0.0", "reg/web:1.0.1", "apps:web"))
    result.add("apps/deploy.yaml", deploy, Change("1.0.0", "1.0.1", "apps:web:tag"))
    result.add("kustomization.yaml", ObjectIdentifier("kustomize.config.k8s.io/v1beta1", "Kustomization"),
               Change("1.0.0", "1.0.1", "apps:web:tag"))
    return result


def render(text: str, values: dict[str, str] | None = None) -> str:
    data = template.template_data("flux-system", "bump", changes(), values)
    return template.commit_message(text, data, template.helper_renderer(HELPER))


def test_default_message_needs_no_helper() -> None:
    assert template.commit_message("", {}, None) == "Update from image update automation"
    assert template.commit_message(None, {}, None) == template.DEFAULT_MESSAGE


def test_a_template_without_the_helper_is_not_supported() -> None:
    with pytest.raises(template.HelperMissing, match="needs the gitops-sandbox-commitmsg helper"):
        template.commit_message("{{ .AutomationObject }}", {}, None)


@needs_helper
@pytest.mark.parametrize(("text", "expected"), [
    ("Automation: {{ .AutomationObject }}", "Automation: flux-system/bump"),
    ("{{ .AutomationObject.Namespace }}/{{ .AutomationObject.Name }}", "flux-system/bump"),
    ("{{ range $file, $_ := .Changed.FileChanges }}{{ $file }};{{ end }}", "apps/deploy.yaml;kustomization.yaml;"),
    ("{{ range $res, $changes := .Changed.Objects }}{{ $res.Kind }}/{{ $res.Name }}"
     "{{ range $changes }} {{ .OldValue }}->{{ .NewValue }}{{ end }};{{ end }}",
     "Deployment/web reg/web:1.0.0->reg/web:1.0.1 1.0.0->1.0.1;Kustomization/ 1.0.0->1.0.1;"),
    ("{{ range .Changed.Changes }}{{ .Setter }} {{ end }}", "apps:web apps:web:tag "),
    ("env={{ .Values.env | upper }}", "env=PROD"),
    ("{{ $res := index .Changed.Objects }}{{ len .Changed.Changes }} changes", "2 changes"),
    ("{{ \"a,b\" | splitList \",\" | join \"+\" }}", "a+b"),
])
def test_template_data_shape(text: str, expected: str) -> None:
    assert render(text, {"env": "prod"}) == expected


@needs_helper
def test_removed_updated_field_is_named() -> None:
    with pytest.raises(template.TemplateError) as failed:
        render("{{ range .Updated.Images }}{{ . }}{{ end }}")
    assert failed.value.removed_field == ".Updated"
    assert str(failed.value).startswith("template uses removed '.Updated' field. Please use '.Changed' instead.")


@needs_helper
@pytest.mark.parametrize(("text", "message"), [
    ("{{ .Nope }}", "failed to run template from spec: template: commit message:1:3: executing \"commit message\" "
                    "at <.Nope>: can't evaluate field Nope in type source.TemplateData"),
    ("{{ .AutomationObject ", "unable to create commit message template from spec: template: commit message:1: "),
    ("{{ now }}", "function \"now\" not defined"),  # hermetic functions only, as upstream
])
def test_template_errors(text: str, message: str) -> None:
    with pytest.raises(template.TemplateError) as failed:
        render(text)
    assert message in str(failed.value)
    assert not failed.value.removed_field


LABELS = {"app": "web", "tier": "front"}


@pytest.mark.parametrize(("spec", "matches"), [
    (None, True), ({}, True),
    ({"matchLabels": {"app": "web"}}, True), ({"matchLabels": {"app": "db"}}, False),
    ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["front", "back"]}]}, True),
    ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["front"]}]}, False),
    ({"matchExpressions": [{"key": "missing", "operator": "NotIn", "values": ["x"]}]}, True),
    ({"matchExpressions": [{"key": "app", "operator": "Exists"}]}, True),
    ({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, False),
    ({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["x"]}]},
     False),
])
def test_selector_matches(spec: dict[str, Any] | None, matches: bool) -> None:
    assert selector.compile_selector(spec)(LABELS) is matches


@pytest.mark.parametrize(("spec", "message"), [
    ({"matchExpressions": [{"key": "a", "operator": "Like", "values": ["x"]}]}, "is not a valid label selector"),
    ({"matchExpressions": [{"key": "a", "operator": "In"}]}, "values set can't be empty"),
    ({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}, "values set must be empty"),
    ({"matchLabels": {"bad key!": "x"}}, "name part must consist of"),
    ({"matchLabels": {"app": "not valid!"}}, "a valid label must be"),
])
def test_invalid_selector(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(selector.SelectorError, match=message):
        selector.compile_selector(spec)
