"""Multi-tenancy on the embedded cluster: the reconciler's own identity; serviceAccountName impersonation."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from sandbox.handle import SandboxHandle
from sandbox.kube.client import KubeClient
from sandbox.reconciler import identity
from tests.e2e.helpers import run_cli

RECONCILER_USER = "system:serviceaccount:flux-system:sandbox-reconciler"


def test_the_reconciler_authenticates_as_its_own_service_account(sandbox: SandboxHandle) -> None:
    record = sandbox.state.read_record()["reconciler"]["identity"]
    assert record["user"] == RECONCILER_USER
    path = Path(record["kubeconfig"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    own = KubeClient.from_kubeconfig(path)
    assert identity.whoami(own) == RECONCILER_USER
    assert identity.whoami(sandbox.kube) != RECONCILER_USER  # the admin's kubeconfig is another identity
    # Its applies carry its user: the API server records who made each request (the managedFields' manager is the
    # field manager, so ask the API server instead: a SubjectAccessReview of the ServiceAccount's own binding).
    review = sandbox.kube.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", body={
        "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"user": RECONCILER_USER,
                 "resourceAttributes": {"verb": "impersonate", "resource": "serviceaccounts"}}})
    assert review["status"]["allowed"] is True  # bound to cluster-admin, as Flux's cluster-reconciler binding

    result = run_cli("status", "--name", sandbox.name, "-o", "json")
    data = json.loads(result.output)
    assert data["services"]["reconciler"]["identity"]["user"] == RECONCILER_USER
    table = run_cli("status", "--name", sandbox.name)
    assert f"the reconciler authenticates as {RECONCILER_USER}" in table.output
