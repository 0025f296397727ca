"""event_to_alert_seconds: a Kustomization fails to build → its error event's payload arrives at a webhook sink
through an Alert and a generic Provider. Measured from the moment the failure (Ready=False, BuildFailed) is seen in
the API — polled every 5 ms — to the moment the sink received the payload (0 when the payload came first: the
event is dispatched as it is recorded, before the status is written; the signed figure and the whole path from
the Kustomization's creation are reported beside it). Median and p95 over BENCH_ALERTS failures
(default 10), each of a new Kustomization (a new event, never rate-limited). Target: median ≤ 0.5 s."""

from __future__ import annotations

import os
import time
from typing import Any

from benchmarks.common import bench_sandbox, summary, write
from sandbox.handle import SandboxHandle
from sandbox.reconciler import ops
from sandbox.reconciler.apis import kinds
from sandbox.sink import Sink
from sandbox.waiting import wait_until

RUNS = int(os.environ.get("BENCH_ALERTS", "10"))
NAME = "bench-notifications"
NS = "flux-system"
BROKEN = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- missing.yaml\n"


def failed(handle: SandboxHandle, name: str) -> float | None:
    ks = handle.kube.get(ops.KUSTOMIZATION.api_version, "Kustomization", name, NS)
    ready = ops.ready_condition(ks)
    return time.time() if ready.get("status") == "False" and ready.get("reason") == "BuildFailed" else None


def measure(handle: SandboxHandle) -> dict[str, Any]:
    repository = handle.new_repo(NAME, files={"app/kustomization.yaml": BROKEN})
    repository.wait_for_source(repository.head, timeout=60)
    delays: list[float] = []
    signed: list[float] = []
    whole: list[float] = []
    with Sink() as sink:
        handle.kube.apply({"apiVersion": kinds.PROVIDER.api_version, "kind": "Provider",
                           "metadata": {"name": "bench-sink", "namespace": NS},
                           "spec": {"type": "generic", "address": f"{sink.url}/bench"}}, field_manager="bench")
        handle.kube.apply({"apiVersion": kinds.ALERT.api_version, "kind": "Alert",
                           "metadata": {"name": "bench-sink", "namespace": NS},
                           "spec": {"providerRef": {"name": "bench-sink"}, "eventSeverity": "error",
                                    "eventSources": [{"kind": "Kustomization", "name": "*"}]}},
                          field_manager="bench")
        for run in range(RUNS):
            name = f"bench-alert-{run}"
            created = time.time()
            repository.kustomization(name, path="./app")
            seen = wait_until(lambda: failed(handle, name), timeout=60, what=f"{name} to fail",  # noqa: B023
                              interval=0.005, max_interval=0.005)
            got = sink.wait_for(lambda r: r.body.get("involvedObject", {}).get("name") == name,  # noqa: B023
                                timeout=30, what=f"the alert of {name}")
            delays.append(max(0.0, got.time - seen))
            signed.append(got.time - seen)
            whole.append(got.time - created)
            handle.kube.delete(ops.KUSTOMIZATION.api_version, "Kustomization", name, NS)
    return {"event_to_alert_seconds": summary(delays), "target_median_seconds": 0.5,
            # signed: negative when the payload arrived before the failed status could be read from the API
            "alert_after_failed_status_seconds": summary(signed),
            # context: the Kustomization created → fetched, built, failed, alerted
            "kustomization_created_to_alert_seconds": summary(whole)}


def main() -> None:
    with bench_sandbox(NAME) as handle:
        figures = measure(handle)
    write("notifications", figures)


if __name__ == "__main__":
    main()
