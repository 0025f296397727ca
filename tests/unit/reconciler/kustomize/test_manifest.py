import pytest

from sandbox.reconciler.kustomize import manifest
from tests.unit.reconciler.kustomize.objects import obj


@pytest.mark.parametrize(("text", "value"), [
    ("v: 2024-01-01", "2024-01-01"),  # the API has no timestamp type
    ("v: 10:30", "10:30"),  # no base-60 numbers
    ("v: 3", 3),
    ("v: 0x1F", 31),
    ("v: 1.5", 1.5),
    ("v: .inf", float("inf")),
    ("v: yes", True),  # YAML 1.1, as Kubernetes reads it
    ("v: 'yes'", "yes"),
    ("v: null", None),
    ("v: ${port}", "${port}"),
], ids=lambda value: str(value))
def test_dialect(text: str, value: object) -> None:
    assert manifest.load(text) == {"v": value}


def test_split_documents_drops_empty_ones() -> None:
    text = "a: 1\n---\n\n---\nb: 2\n--- \nc: |\n  ---x\n"
    assert manifest.split_documents(text) == ["a: 1\n", "\nb: 2\n", "\nc: |\n  ---x\n"]


def test_subject() -> None:
    assert manifest.subject(obj("apps/v1", "Deployment", "web", "default")) == "Deployment/default/web"
    assert manifest.subject(obj("v1", "Namespace", "apps")) == "Namespace/apps"
