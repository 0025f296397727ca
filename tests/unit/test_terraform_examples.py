"""examples/terraform: every module parses (python-hcl2), pins its providers, documents exactly its variables, and
refers to what `sandbox install --export` produces."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml

from sandbox import terraform
from sandbox.reconciler.apis import install as dev_install

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "terraform"
DOCS = ROOT / "docs" / "terraform.md"
MODULES = sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir())
OPTIONS = hcl2.SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)
# A pin: an exact version, or "~> X.Y" (no new major version), never an open lower bound.
PINNED = re.compile(r"^(= ?\d+\.\d+\.\d+|~> ?\d+\.\d+(\.\d+)?)$")


def module(name: str) -> dict[str, list[Any]]:
    """Every top-level block of the module's .tf files, merged by block type."""
    merged: dict[str, list[Any]] = {}
    for path in sorted((EXAMPLES / name).glob("*.tf")):
        with path.open() as handle:
            for key, blocks in hcl2.load(handle, serialization_options=OPTIONS).items():
                merged.setdefault(key, []).extend(blocks)
    return merged


def resources(name: str) -> dict[str, dict[str, Any]]:
    found = {}
    for block in module(name).get("resource", []):
        for kind, named in block.items():
            for resource_name, body in named.items():
                found[f"{kind}.{resource_name}"] = body
    return found


def variables(name: str) -> dict[str, dict[str, Any]]:
    return {n: body for block in module(name).get("variable", []) for n, body in block.items()}


def documented_variables(name: str) -> set[str]:
    text = DOCS.read_text()
    section = text.split(f"### Variables of `{name}`", 1)[1].split("\n#", 1)[0]
    return set(re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.MULTILINE))


def test_the_examples_are_there() -> None:
    assert MODULES == ["flux-bootstrap-kind", "sandbox-apis"]


@pytest.mark.parametrize("name", MODULES)
def test_every_file_parses_and_pins_providers_and_versions(name: str) -> None:
    blocks = module(name)
    (settings,) = blocks["terraform"]
    assert settings["required_version"].startswith(">= 1.")
    providers = {k: v for block in settings["required_providers"] for k, v in block.items()}
    assert providers
    for local_name, requirement in providers.items():
        assert re.fullmatch(r"[a-z0-9-]+/[a-z0-9-]+", requirement["source"]), local_name
        assert PINNED.match(requirement["version"]), f"{name}: provider {local_name} is not pinned"
    configured = {k for block in blocks.get("provider", []) for k in block}
    assert configured == set(providers)


@pytest.mark.parametrize("name", MODULES)
def test_docs_document_exactly_the_modules_variables(name: str) -> None:
    declared = variables(name)
    assert documented_variables(name) == set(declared)
    for var_name, body in declared.items():
        assert body.get("description"), f"{name}: variable {var_name} has no description"
    secret = {n for n, body in declared.items() if body.get("sensitive")}
    assert secret == {"git_token"}  # the token never shows in plans or outputs


def test_the_kubectl_pin_is_the_provider_setup_builds_into_the_mirror() -> None:
    (settings,) = module("sandbox-apis")["terraform"]
    pins = {k: v for block in settings["required_providers"] for k, v in block.items()}
    built = {p.source: p.version for p in terraform.PROVIDERS}
    assert {pins["kubectl"]["source"]: pins["kubectl"]["version"].lstrip("= ")} == built


def test_the_flux_bootstrap_uses_flux_bootstrap_git_with_the_provider_not_built_here() -> None:
    (settings,) = module("flux-bootstrap-kind")["terraform"]
    pins = {k: v for block in settings["required_providers"] for k, v in block.items()}
    assert pins["flux"]["source"] == "fluxcd/flux"
    assert "fluxcd/flux" not in {p.source for p in terraform.PROVIDERS}
    assert set(resources("flux-bootstrap-kind")) == {"flux_bootstrap_git.this"}
    (provider,) = module("flux-bootstrap-kind")["provider"]
    http = provider["flux"]["git"]["http"]
    assert http["password"] == "${var.git_token}" and http["allow_insecure_http"] is True


def _field(expression: str, key: str) -> str:
    match = re.search(rf'\b{key}\s*=\s*"([^"$]+)"', expression)
    assert match, f"{key} not found in {expression[:200]}"
    return match.group(1)


def test_resources_refer_to_what_sandbox_install_export_produces() -> None:
    exported = [doc for doc in yaml.safe_load_all(dev_install.export()) if doc]
    kinds = {doc["kind"] for doc in exported}
    served = {(crd["spec"]["group"], version["name"], crd["spec"]["names"]["kind"])
              for crd in exported if crd["kind"] == "CustomResourceDefinition"
              for version in crd["spec"]["versions"] if version.get("served")}
    found = resources("sandbox-apis")
    # The APIs are split in two: CRDs and the namespace first, then the rest, all of the export's objects.
    text = " ".join(str(v) for block in module("sandbox-apis")["locals"] for v in block.values())
    first = set(re.findall(r'"([A-Za-z]+)"', text.split("contains(", 1)[1].split(")", 1)[0]))
    assert first == {"CustomResourceDefinition", "Namespace"} <= kinds
    for key in ("kubectl_manifest.foundations", "kubectl_manifest.rbac"):
        assert found[key]["for_each"].startswith("${local.") and found[key]["server_side_apply"] is True
    # Every namespaced object the export holds lives in the namespace it creates, which is the module's default.
    (namespace,) = [doc["metadata"]["name"] for doc in exported if doc["kind"] == "Namespace"]
    assert {doc["metadata"].get("namespace") for doc in exported} <= {None, namespace}
    assert variables("sandbox-apis")["namespace"]["default"] == namespace
    # The GitRepository and Kustomization are of kinds and versions the exported CRDs serve.
    for key, kind in (("kubectl_manifest.git_repository", "GitRepository"),
                      ("kubectl_manifest.kustomization", "Kustomization")):
        body = found[key]["yaml_body"]
        group, version = _field(body, "apiVersion").split("/")
        assert _field(body, "kind") == kind
        assert (group, version, kind) in served
    assert "${var.name}-git-auth" in found["kubectl_manifest.git_repository"]["yaml_body"]
    assert found["kubectl_manifest.git_auth"]["sensitive_fields"] == ["data"]
