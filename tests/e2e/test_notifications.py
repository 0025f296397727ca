"""Notifications end to end: a Kustomization that fails to build → the error event reaches the sink through a
generic and a generic-hmac Provider (signature verified), with its severity, reason and revision; fixed → the info
recovery event; an exclusion regex keeps the error from a third Alert; a Provider that is down is retried (logged)
and the Kustomization still becomes Ready. A `gitea` Provider sets commit statuses on the local git server."""

from __future__ import annotations

import base64
import json
import secrets
import socket
import urllib.request
from typing import Any

from sandbox.handle import GitOpsRepo, SandboxHandle
from sandbox.reconciler.apis import kinds
from sandbox.sink import Received, Sink
from sandbox.waiting import wait_until

BROKEN = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- missing.yaml\n"
EMPTY = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n"
FIXED = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- cm.yaml\n"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def provider(name: str, namespace: str, type_: str, address: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": kinds.PROVIDER.api_version, "kind": "Provider",
            "metadata": {"name": name, "namespace": namespace}, "spec": {"type": type_, "address": address, **spec}}


def alert(name: str, namespace: str, provider_name: str, source: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": kinds.ALERT.api_version, "kind": "Alert", "metadata": {"name": name, "namespace": namespace},
            "spec": {"providerRef": {"name": provider_name},
                     "eventSources": [{"kind": "Kustomization", "name": source}], **spec}}


def test_failure_and_recovery_reach_the_sink_and_a_dead_provider_changes_nothing(
        sandbox: SandboxHandle, gitops_repo: GitOpsRepo, alerts: Sink) -> None:
    kube, ns = sandbox.kube, gitops_repo.namespace
    suffix = secrets.token_hex(3)
    ks_name, token = f"notify-{suffix}", secrets.token_hex(16)
    alerts.verify_with(token)
    app_ns = f"ns-{suffix}"
    gitops_repo.commit({"app/kustomization.yaml": BROKEN,
                        "app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n"
                                       f"  namespace: {app_ns}\ndata:\n  a: b\n",
                        "app/ns.yaml": f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {app_ns}\n"}, "broken")
    broken = gitops_repo.head
    objects = [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"hmac-{suffix}", "namespace": ns},
         "data": {"token": base64.b64encode(token.encode()).decode()}},
        provider(f"generic-{suffix}", ns, "generic", f"{alerts.url}/generic"),
        provider(f"hmac-{suffix}", ns, "generic-hmac", f"{alerts.url}/hmac", secretRef={"name": f"hmac-{suffix}"}),
        provider(f"filtered-{suffix}", ns, "generic", f"{alerts.url}/filtered"),
        provider(f"dead-{suffix}", ns, "generic", f"http://127.0.0.1:{closed_port()}/hook", timeout="3s"),
        alert(f"generic-{suffix}", ns, f"generic-{suffix}", ks_name, eventMetadata={"env": "e2e"}),
        alert(f"hmac-{suffix}", ns, f"hmac-{suffix}", ks_name, summary="notifications test"),
        alert(f"filtered-{suffix}", ns, f"filtered-{suffix}", ks_name, exclusionList=["missing\\.yaml"]),
        alert(f"dead-{suffix}", ns, f"dead-{suffix}", ks_name),
    ]
    try:
        for obj in objects:
            kube.apply(obj, field_manager="sandbox")
        gitops_repo.wait_for_source(broken)
        gitops_repo.kustomization(ks_name, path="./app")

        def error_at(path: str) -> Any:
            return lambda r: (r.path == path and r.body.get("severity") == "error" and r.body["reason"] == "BuildFailed"
                              and r.body["involvedObject"].get("name") == ks_name)

        generic = alerts.wait_for(error_at("/generic"), timeout=60, what="the error event at the generic Provider")
        assert generic.body["involvedObject"]["kind"] == "Kustomization"
        assert "missing.yaml" in generic.body["message"]
        assert generic.body["reportingController"] == "kustomize-controller"
        assert generic.headers["Gotk-Component"] == "kustomize-controller"
        assert generic.body["metadata"]["env"] == "e2e"
        assert generic.body["metadata"]["revision"].endswith(broken)
        assert generic.signature == "invalid", "a generic Provider does not sign"
        signed = alerts.wait_for(error_at("/hmac"), timeout=30, what="the error event at the generic-hmac Provider")
        assert signed.signature == "valid" and signed.body["metadata"]["summary"] == "notifications test"

        gitops_repo.commit({"app/kustomization.yaml": FIXED + "- ns.yaml\n"}, "fixed")
        gitops_repo.wait_applied(ks_name, timeout=90)
        fixed = gitops_repo.head

        def recovery(path: str) -> Any:
            return lambda r: (r.path == path and r.body.get("severity") == "info"
                              and str((r.body.get("metadata") or {}).get("revision", "")).endswith(fixed))

        info = alerts.wait_for(recovery("/generic"), timeout=30, what="the info recovery event")
        assert info.body["involvedObject"]["name"] == ks_name
        alerts.wait_for(recovery("/filtered"), timeout=30, what="the recovery event at the filtered Alert")
        filtered: list[Received] = [r for r in alerts.received() if r.path == "/filtered"]
        assert not [r for r in filtered if "missing.yaml" in r.body.get("message", "")], \
            "the exclusion regex drops the error"

        log = sandbox.state.logs / "reconciler.log"
        wait_until(lambda: f"Provider {ns}/dead-{suffix} failed" in log.read_text(errors="replace"), timeout=30,
                   what="the dead Provider's retries in the reconciler's log")
        assert token not in log.read_text(errors="replace"), "no secret in the log"
    finally:
        for obj in reversed(objects):
            kube.delete(obj["apiVersion"], obj["kind"], obj["metadata"]["name"], ns)


def test_a_gitea_provider_sets_commit_statuses_on_the_local_git_server(sandbox: SandboxHandle,
                                                                         gitops_repo: GitOpsRepo) -> None:
    """Flux's `gitea` Provider for real: the failure is a `failure` status on the commit, the recovery a `success`
    on the fixed one, under Flux's context `kustomization/<name>/<provider uid prefix>`."""
    kube, ns, git = sandbox.kube, gitops_repo.namespace, sandbox.git
    suffix = secrets.token_hex(3)
    ks_name = f"status-{suffix}"
    gitops_repo.commit({"st/kustomization.yaml": BROKEN}, "broken")
    broken = gitops_repo.head
    gitops_repo.wait_for_source(broken)
    objects = [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"gitea-{suffix}", "namespace": ns},
         "data": {"token": base64.b64encode(git.token().encode()).decode()}},
        provider(f"gitea-{suffix}", ns, "gitea", git.clone_url(gitops_repo.name),
                 secretRef={"name": f"gitea-{suffix}"}),
        alert(f"gitea-{suffix}", ns, f"gitea-{suffix}", ks_name),
    ]
    try:
        for obj in objects:
            kube.apply(obj, field_manager="sandbox")
        uid = kube.get(kinds.PROVIDER.api_version, "Provider", f"gitea-{suffix}", ns)["metadata"]["uid"]
        context = f"kustomization/{ks_name}/{uid.split('-')[0]}"
        gitops_repo.kustomization(ks_name, path="./st")

        def statuses(sha: str) -> list[dict[str, Any]]:
            request = urllib.request.Request(f"{git.url}/api/v1/repos/{git.owner}/{gitops_repo.name}/statuses/{sha}",
                                             headers={"Authorization": f"token {git.token()}"})
            with urllib.request.urlopen(request, timeout=10) as response:
                return list(json.loads(response.read()))

        failed = wait_until(lambda: [s for s in statuses(broken) if s["status"] == "failure"], timeout=60,
                            what="a failure commit status on the broken commit")
        assert failed[0]["context"] == context and failed[0]["description"] == "build failed"

        gitops_repo.commit({"st/kustomization.yaml": EMPTY}, "fixed")
        fixed = gitops_repo.head
        gitops_repo.wait_applied(ks_name, timeout=90)
        done = wait_until(lambda: [s for s in statuses(fixed) if s["status"] == "success"], timeout=30,
                          what="a success commit status on the fixed commit")
        assert done[0]["context"] == context and done[0]["description"] == "reconciliation succeeded"
    finally:
        for obj in reversed(objects):
            kube.delete(obj["apiVersion"], obj["kind"], obj["metadata"]["name"], ns)
