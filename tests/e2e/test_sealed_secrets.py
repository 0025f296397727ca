"""Sealed Secrets end to end on the embedded cluster: seal, push through a Kustomization, unsealed into a Secret the
SealedSecret owns; key rotation; each failure leaves the previous Secret untouched; no plaintext in the reconciler's
log, events or statuses."""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.handle import GitOpsRepo, SandboxHandle
from sandbox.kube.client import KubeClient
from sandbox.reconciler.sealedsecrets import crypto
from sandbox.reconciler.sealedsecrets.keys import KEY_SELECTOR, NAMESPACE, generate
from sandbox.reconciler.sealedsecrets.kit import SealedSecretsKit
from sandbox.reconciler.sealedsecrets.seal import seal_secret
from sandbox.waiting import wait_until

API = "bitnami.com/v1alpha1"
Obj = dict[str, Any]


def plaintext() -> str:
    return f"pl41n-{secrets.token_hex(8)}"


def secret(name: str, namespace: str, **values: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}}, "stringData": values}


def make_namespace(kube: KubeClient, name: str) -> None:
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}, field_manager="test")


def put_sealed(kube: KubeClient, sealed: Obj) -> Obj:
    return kube.apply(sealed, field_manager="test")


def synced(kube: KubeClient, name: str, namespace: str) -> Obj | None:
    obj = kube.get_or_none(API, "SealedSecret", name, namespace)
    if not obj:
        return None
    status = obj.get("status") or {}
    if status.get("observedGeneration") != obj["metadata"].get("generation"):
        return None
    return next((c for c in status.get("conditions") or [] if c.get("type") == "Synced"), None)


def wait_synced(kube: KubeClient, name: str, namespace: str, status: str, timeout: float = 60) -> Obj:
    def reached() -> Obj | None:
        condition = synced(kube, name, namespace)
        return condition if condition and condition["status"] == status else None

    return wait_until(reached, timeout=timeout, what=f"SealedSecret {namespace}/{name} Synced={status}",
                      describe=lambda: str(synced(kube, name, namespace)))


def secret_values(kube: KubeClient, name: str, namespace: str) -> dict[str, str]:
    obj = kube.get("v1", "Secret", name, namespace)
    return {key: base64.b64decode(value).decode() for key, value in (obj.get("data") or {}).items()}


def events(kube: KubeClient, name: str, namespace: str) -> list[Obj]:
    return [e for e in kube.list("v1", "Event", namespace).items
            if e.get("involvedObject", {}).get("kind") == "SealedSecret"
            and e.get("involvedObject", {}).get("name") == name]


def reconciler_log(sandbox: SandboxHandle) -> str:
    return "".join(path.read_text(errors="replace") for path in sandbox.state.logs.glob("*.log"))


def assert_nowhere(sandbox: SandboxHandle, namespace: str, values: list[str]) -> None:
    """None of ``values`` in the reconciler's log, the namespace's events or the SealedSecrets' statuses."""
    logs = reconciler_log(sandbox)
    assert "reconciler started" in logs  # the reconciler's log is among them
    evts = yaml.safe_dump(sandbox.kube.list("v1", "Event", namespace).items)
    statuses = yaml.safe_dump([o.get("status") for o in sandbox.kube.list(API, "SealedSecret", namespace).items])
    for value in values:
        encoded = base64.b64encode(value.encode()).decode()
        for where, text in (("reconciler log", logs), ("events", evts), ("statuses", statuses)):
            assert value not in text and encoded not in text, f"a plaintext value is in the {where}"


def test_sealed_secret_pushed_through_a_kustomization_is_unsealed(
        sandbox: SandboxHandle, gitops_repo: GitOpsRepo, sealed_secrets: SealedSecretsKit) -> None:
    ns = f"{gitops_repo.name}-ss"
    password, user = plaintext(), plaintext()
    sealed = sealed_secrets.seal(secret("db", ns, password=password, user=user))
    assert password not in yaml.safe_dump(sealed)
    gitops_repo.commit({"ns.yaml": yaml.safe_dump({"apiVersion": "v1", "kind": "Namespace",
                                                   "metadata": {"name": ns}}),
                        "db-sealed.yaml": yaml.safe_dump(sealed)}, "add a sealed secret")
    gitops_repo.kustomization(path="./")
    gitops_repo.wait_applied()
    wait_synced(sandbox.kube, "db", ns, "True")
    assert secret_values(sandbox.kube, "db", ns) == {"password": password, "user": user}
    made = sandbox.kube.get("v1", "Secret", "db", ns)
    owner = sandbox.kube.get(API, "SealedSecret", "db", ns)
    assert made["metadata"]["ownerReferences"] == [{"apiVersion": API, "kind": "SealedSecret", "name": "db",
                                                    "uid": owner["metadata"]["uid"], "controller": True}]
    assert made["metadata"]["labels"] == {"app": "db"} and made["type"] == "Opaque"
    assert [(e["type"], e["reason"], e["message"]) for e in events(sandbox.kube, "db", ns)] == \
        [("Normal", "Unsealed", "SealedSecret unsealed successfully")]
    # Deleted by hand, the Secret is written again (as upstream's controller does).
    sandbox.kube.delete("v1", "Secret", "db", ns)
    wait_until(lambda: sandbox.kube.get_or_none("v1", "Secret", "db", ns), timeout=30, what="the Secret back")
    assert secret_values(sandbox.kube, "db", ns)["password"] == password
    assert_nowhere(sandbox, ns, [password, user])


def test_rotation_old_values_still_unseal_and_new_ones_use_the_new_key(
        sandbox: SandboxHandle, sealed_secrets: SealedSecretsKit) -> None:
    kube = sandbox.kube
    ns = f"rotation-{secrets.token_hex(3)}"
    make_namespace(kube, ns)
    old_key = sealed_secrets.key
    before = plaintext()
    sealed_before = sealed_secrets.seal(secret("before", ns, value=before))
    new_key = sealed_secrets.rotate()
    assert sealed_secrets.key.secret_name == new_key.secret_name != old_key.secret_name
    labelled = kube.list("v1", "Secret", NAMESPACE, label_selector=KEY_SELECTOR).items
    assert {old_key.secret_name, new_key.secret_name} <= {s["metadata"]["name"] for s in labelled}
    assert all(s["type"] == "kubernetes.io/tls" for s in labelled)
    after = plaintext()
    sealed_after = sealed_secrets.seal(secret("after", ns, value=after))
    # Re-sealed with the new key only: it opens with the new private key, not with the old one.
    value = base64.b64decode(sealed_after["spec"]["encryptedData"]["value"])
    label = crypto.label(ns, "after", crypto.STRICT)
    assert crypto.hybrid_decrypt([new_key.private], value, label) == after.encode()
    with pytest.raises(crypto.UnsealError):
        crypto.hybrid_decrypt([old_key.private], value, label)
    put_sealed(kube, sealed_before)
    put_sealed(kube, sealed_after)
    wait_synced(kube, "before", ns, "True")
    wait_synced(kube, "after", ns, "True")
    assert secret_values(kube, "before", ns) == {"value": before}
    assert secret_values(kube, "after", ns) == {"value": after}
    assert_nowhere(sandbox, ns, [before, after])


@pytest.fixture
def unsealed_db(sandbox: SandboxHandle, sealed_secrets: SealedSecretsKit) -> tuple[str, str, Obj]:
    """A namespace with SealedSecret ``db`` unsealed into Secret ``db``: (namespace, the value, that Secret)."""
    ns = f"fail-{secrets.token_hex(3)}"
    make_namespace(sandbox.kube, ns)
    value = plaintext()
    put_sealed(sandbox.kube, sealed_secrets.seal(secret("db", ns, password=value)))
    wait_synced(sandbox.kube, "db", ns, "True")
    return ns, value, sandbox.kube.get("v1", "Secret", "db", ns)


def _assert_failed_and_untouched(sandbox: SandboxHandle, ns: str, before: Obj, message: str, event: str,
                                 values: list[str]) -> None:
    condition = wait_synced(sandbox.kube, "db", ns, "False")
    assert condition["message"] == message
    wait_until(lambda: any(e["reason"] == event and e["type"] == "Warning"
                           for e in events(sandbox.kube, "db", ns)), timeout=30, what=f"a {event} event")
    wait_until(lambda: f"SealedSecret {ns}/db: " in reconciler_log(sandbox), timeout=30,
               what="the failure in the reconciler's log")
    after = sandbox.kube.get("v1", "Secret", "db", ns)
    assert after["data"] == before["data"]
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert_nowhere(sandbox, ns, values)


def test_sealed_for_another_namespace_fails_and_the_secret_is_untouched(
        sandbox: SandboxHandle, sealed_secrets: SealedSecretsKit, unsealed_db: tuple[str, str, Obj]) -> None:
    ns, old, before = unsealed_db
    new = plaintext()
    elsewhere = sealed_secrets.seal(secret("db", "another-namespace", password=new))
    elsewhere["metadata"]["namespace"] = ns
    elsewhere["spec"]["template"]["metadata"]["namespace"] = ns
    put_sealed(sandbox.kube, elsewhere)
    _assert_failed_and_untouched(sandbox, ns, before, "no key could decrypt secret (password)", "ErrUnsealFailed",
                                 [old, new])
    evt = next(e for e in events(sandbox.kube, "db", ns) if e["reason"] == "ErrUnsealFailed")
    assert evt["message"] == "Failed to unseal: no key could decrypt secret (password)"


def test_sealed_with_a_key_the_cluster_lacks_fails_and_the_secret_is_untouched(
        sandbox: SandboxHandle, unsealed_db: tuple[str, str, Obj]) -> None:
    ns, old, before = unsealed_db
    new = plaintext()
    foreign, _ = generate()
    put_sealed(sandbox.kube, seal_secret(secret("db", ns, password=new), foreign.public_key()))
    _assert_failed_and_untouched(sandbox, ns, before, "no key could decrypt secret (password)", "ErrUnsealFailed",
                                 [old, new])


def test_template_data_is_refused_plainly_and_the_secret_is_untouched(
        sandbox: SandboxHandle, sealed_secrets: SealedSecretsKit, unsealed_db: tuple[str, str, Obj]) -> None:
    ns, old, before = unsealed_db
    new = plaintext()
    sealed = sealed_secrets.seal(secret("db", ns, password=new))
    sealed["spec"]["template"]["data"] = {"url": "postgres://app:{{ .password }}@db"}
    put_sealed(sandbox.kube, sealed)
    condition = wait_synced(sandbox.kube, "db", ns, "False")
    assert condition["message"].startswith("spec.template.data is set but not supported")
    assert sandbox.kube.get("v1", "Secret", "db", ns)["data"] == before["data"]
    assert_nowhere(sandbox, ns, [old, new])


def test_a_secret_it_does_not_own_is_left_alone(sandbox: SandboxHandle, sealed_secrets: SealedSecretsKit) -> None:
    kube = sandbox.kube
    ns = f"taken-{secrets.token_hex(3)}"
    make_namespace(kube, ns)
    theirs = plaintext()
    kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": ns},
                "stringData": {"password": theirs}}, field_manager="someone-else")
    before = kube.get("v1", "Secret", "db", ns)
    ours = plaintext()
    put_sealed(kube, sealed_secrets.seal(secret("db", ns, password=ours)))
    _assert_failed_and_untouched(
        sandbox, ns, before, 'failed update: Resource "db" already exists and is not managed by SealedSecret',
        "ErrUpdateFailed", [theirs, ours])
    assert "ownerReferences" not in kube.get("v1", "Secret", "db", ns)["metadata"]


def test_cli_seal_fetch_cert_offline_raw_and_yaml(sandbox: SandboxHandle, sealed_secrets: SealedSecretsKit,
                                                 tmp_path: Path) -> None:
    from click.testing import CliRunner

    from sandbox.cli.main import cli

    runner = CliRunner()
    fetched = runner.invoke(cli, ["seal", "--fetch-cert", "--sandbox", sandbox.name], catch_exceptions=False)
    assert fetched.exit_code == 0 and fetched.stdout == sealed_secrets.cert_pem()
    cert = tmp_path / "sealing.pem"
    cert.write_text(fetched.stdout)
    ns = f"cli-{secrets.token_hex(3)}"
    make_namespace(sandbox.kube, ns)
    value = plaintext()
    manifest = yaml.safe_dump(secret("db", ns, password=value))
    sealed_yaml = runner.invoke(cli, ["seal", "--cert", str(cert), "-o", "yaml"], input=manifest,
                                catch_exceptions=False)
    assert sealed_yaml.exit_code == 0 and value not in sealed_yaml.stdout
    sealed = yaml.safe_load(sealed_yaml.stdout)
    assert sealed["kind"] == "SealedSecret" and sealed["metadata"] == {"name": "db", "namespace": ns}
    put_sealed(sandbox.kube, sealed)
    wait_synced(sandbox.kube, "db", ns, "True")
    assert secret_values(sandbox.kube, "db", ns) == {"password": value}
    # --raw: one value for encryptedData, here namespace-wide, placed into a SealedSecret of another name.
    raw_value = plaintext()
    (tmp_path / "value.txt").write_text(raw_value)
    raw = runner.invoke(cli, ["seal", "--sandbox", sandbox.name, "--raw", "--scope", "namespace-wide", "-n", ns,
                              "--from-file", str(tmp_path / "value.txt")], catch_exceptions=False)
    assert raw.exit_code == 0 and raw_value not in raw.stdout
    put_sealed(sandbox.kube, {
        "apiVersion": API, "kind": "SealedSecret",
        "metadata": {"name": "api", "namespace": ns, "annotations": {crypto.NAMESPACE_WIDE_ANNOTATION: "true"}},
        "spec": {"encryptedData": {"token": raw.stdout},
                 "template": {"metadata": {"annotations": {crypto.NAMESPACE_WIDE_ANNOTATION: "true"}}}}})
    wait_synced(sandbox.kube, "api", ns, "True")
    assert secret_values(sandbox.kube, "api", ns) == {"token": raw_value}
    # JSON by default, as kubeseal.
    as_json = runner.invoke(cli, ["seal", "--cert", str(cert)], input=manifest, catch_exceptions=False)
    assert json.loads(as_json.stdout)["spec"]["template"]["type"] == "Opaque"
    assert_nowhere(sandbox, ns, [value, raw_value])


def test_a_changed_sealed_secret_replaces_the_secrets_data(sandbox: SandboxHandle, sealed_secrets: SealedSecretsKit,
                                                           unsealed_db: tuple[str, str, Obj]) -> None:
    ns, old, before = unsealed_db
    new = plaintext()
    put_sealed(sandbox.kube, sealed_secrets.seal(secret("db", ns, password=new, extra=new)))
    wait_until(lambda: secret_values(sandbox.kube, "db", ns) == {"password": new, "extra": new}, timeout=30,
               what="the Secret's new data", describe=lambda: str(synced(sandbox.kube, "db", ns)))
    assert wait_synced(sandbox.kube, "db", ns, "True")
    assert sandbox.kube.get("v1", "Secret", "db", ns)["metadata"]["uid"] == before["metadata"]["uid"]
    assert_nowhere(sandbox, ns, [old, new])


def test_the_scenario_leaks_no_value_into_output_recording_logs_or_state(sandbox: SandboxHandle,
                                                                         tmp_path: Path) -> None:
    """Play the built-in scenario with a recording, then look for each value it seals (clear and base64) in the
    play's output, the recording, and every file of the sandbox's state directory but etcd's (the API server's
    storage, the one place a Secret belongs)."""
    from click.testing import CliRunner

    from sandbox.cli.main import cli
    from sandbox.scenario import catalog

    folder = catalog.BUILTIN / "sealed-secrets"
    values = [str(value) for path in sorted((folder / "secrets").glob("*.yaml"))
              for value in yaml.safe_load(path.read_text())["stringData"].values() if len(str(value)) > 6]
    assert len(values) == 2
    recording = tmp_path / "play.jsonl"
    played = CliRunner().invoke(cli, ["play", "sealed-secrets", "--name", sandbox.name, "--record", str(recording)],
                                catch_exceptions=False)
    assert played.exit_code == 0, played.output
    texts = {"the play's output": played.output, "the recording": recording.read_text()}
    for path in sandbox.state.path.rglob("*"):
        if path.is_file() and "etcd" not in path.relative_to(sandbox.state.path).parts:
            texts[str(path)] = path.read_bytes().decode(errors="replace")
    for value in values:
        encoded = base64.b64encode(value.encode()).decode()
        leaked = [where for where, text in texts.items() if value in text or encoded in text]
        assert leaked == [], "a sealed value was found in clear"
