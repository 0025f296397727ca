"""kustomize's error messages explained: one sentence naming the file, relative to the source root."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.reconciler.kustomize.kustomize_errors import explain_kustomize_error


@pytest.mark.parametrize(("stderr", "expected"), [
    ("error: accumulating resources: accumulating resources from 'cm.yaml': MalformedYAMLError: yaml: line 6: "
     "found unexpected end of stream in File: /w/source/apps/cm.yaml",
     "invalid YAML in apps/cm.yaml at line 6: found unexpected end of stream"),
    ("error: accumulating resources: accumulation err='accumulating resources from 'gone.yaml': evalsymlink "
     "failure on '/w/source/apps/gone.yaml' : lstat /w/source/apps/gone.yaml: no such file or directory': must "
     "build at directory: not a valid directory",
     "apps/gone.yaml does not exist (referenced by a kustomization file)"),
    ("error: accumulating resources: accumulation err='accumulating resources from 'cm.yaml': missing Resource "
     "metadata': must build at directory: '/w/source/apps/cm.yaml': file is not directory",
     "cm.yaml: a document is not a Kubernetes object (it has no apiVersion/kind)"),
    ("error: accumulating resources: accumulation err='merging resources from './b.yaml': may not add resource "
     "with an already registered id: Deployment.v1.apps/web.default': must build at directory: '/w/source/b.yaml'",
     "Deployment/default/web is defined twice (the second time in b.yaml)"),
    ("error: something else about /w/source/apps/x.yaml", "something else about apps/x.yaml"),
], ids=["malformed", "missing", "not-kubernetes", "duplicate", "other"])
def test_explain_kustomize_error(stderr: str, expected: str) -> None:
    assert explain_kustomize_error(stderr, Path("/w/source")) == expected
