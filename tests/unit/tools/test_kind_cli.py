"""What a failed `kind create cluster` says: the lines that explain it, not the stack trace after them."""

from __future__ import annotations

from sandbox.tools.kind import failure_summary

FAILED_INIT = """Creating cluster "sandbox-demo" ...
 ✓ Ensuring node image (sandbox.local/kind-node:v1.37.2) 🖼
 ✗ Starting control-plane 🕹️
Deleted nodes: ["sandbox-demo-control-plane"]
ERROR: failed to create cluster: failed to init node with kubeadm: command "docker exec …" failed with error: exit 1
Command Output: I1206 15:20:01.000000 init.go:123] [init] Using Kubernetes version: v1.37.2
[preflight] Running pre-flight checks
error execution phase wait-control-plane: could not initialize a Kubernetes cluster
k8s.io/kubernetes/cmd/kubeadm/app/cmd/phases/workflow.(*Runner).Run
        k8s.io/kubernetes@v1.37.2/cmd/kubeadm/app/cmd/phases/workflow/runner.go:234
main.main
        k8s.io/kubernetes@v1.37.2/cmd/kubeadm/kubeadm.go:25
"""


def test_the_summary_keeps_the_explaining_lines_and_drops_the_stack() -> None:
    summary = failure_summary(FAILED_INIT)
    assert "ERROR: failed to create cluster: failed to init node with kubeadm" in summary
    assert "error execution phase wait-control-plane" in summary
    assert "Using Kubernetes version" in summary  # the line after "Command Output:"
    assert "runner.go" not in summary and "main.main" not in summary


def test_without_a_known_line_the_tail_is_kept() -> None:
    assert failure_summary("a\nb\nc", limit=2) == "b\nc"
