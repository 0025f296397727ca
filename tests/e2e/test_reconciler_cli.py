"""`sandbox up --no-reconciler` + `sandbox reconciler run` in the foreground; a webhook with a wrong signature."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request

from sandbox.handle import GitOpsRepo, SandboxHandle
from sandbox.kube.client import KubeClient
from sandbox.reconciler import ops
from sandbox.reconciler.runtime.controller import REQUESTED_AT
from sandbox.state import StateDir
from sandbox.waiting import wait_until
from tests.e2e.helpers import run_cli


def test_reconciler_runs_in_the_foreground_and_stops_on_ctrl_c() -> None:
    name = "e2e-foreground"
    assert run_cli("up", "--name", name, "--no-reconciler", "--git", "none").exit_code == 0
    try:
        status = run_cli("status", "--name", name, "-o", "json").stdout
        assert '"reconciler"' not in status
        proc = subprocess.Popen([sys.executable, "-m", "sandbox.cli", "reconciler", "run", "--name", name],
                                stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stderr is not None
            first = proc.stderr.readline()
            health = re.search(r"health (http://\S+/readyz)", first)
            assert health, first

            def ready() -> bool:
                try:
                    with urllib.request.urlopen(health.group(1), timeout=1) as response:
                        return response.status == 200
                except (urllib.error.URLError, OSError):
                    return False

            wait_until(ready, timeout=60, what="the foreground reconciler to be ready")
            kube = KubeClient.from_kubeconfig(StateDir(name).kubeconfig)
            assert kube.list(ops.KUSTOMIZATION.api_version, "Kustomization", "flux-system").items == []
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    finally:
        run_cli("down", "--name", name)


def test_a_webhook_with_a_wrong_signature_changes_nothing(sandbox: SandboxHandle, gitops_repo: GitOpsRepo) -> None:
    before = (gitops_repo.source["metadata"].get("annotations") or {}).get(REQUESTED_AT)
    receiver = sandbox.kube.get(ops.RECEIVER.api_version, "Receiver", gitops_repo.name, "flux-system")
    url = sandbox.refresh()["services"]["reconciler"]["receiver"] + receiver["status"]["webhookPath"]
    request = urllib.request.Request(url, data=b'{"ref": "refs/heads/main"}', method="POST", headers={
        "X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + "0" * 64, "Content-Type": "application/json"})
    try:
        urllib.request.urlopen(request, timeout=5)
        raise AssertionError("a wrong signature must be refused")
    except urllib.error.HTTPError as err:
        assert err.code == 400  # as notification-controller answers every failed validation
    assert (gitops_repo.source["metadata"].get("annotations") or {}).get(REQUESTED_AT) == before
