"""install_crds_ms: the dev install's CRDs from nothing until all are Established and served, and a repeated
(no-op) install, on the embedded cluster; median of 5."""

from __future__ import annotations

import os

from benchmarks.common import private_state_home, summary, write
from sandbox import lifecycle
from sandbox.config import UpOptions
from sandbox.handle import SandboxHandle
from sandbox.reconciler.apis import install
from sandbox.waiting import wait_until

RUNS = int(os.environ.get("BENCH_RUNS", "5"))


def main() -> None:
    private_state_home()
    handle = SandboxHandle.start(UpOptions(name="bench-install"))
    try:
        kube = handle.kube
        fresh, repeated, totals = [], [], []
        names = [crd["metadata"]["name"] for crd in install.crd_objects()]
        for _ in range(RUNS):
            for name in names:
                kube.delete(install.CRD_API, "CustomResourceDefinition", name)
            wait_until(lambda: all(kube.get_or_none(install.CRD_API, "CustomResourceDefinition", n) is None
                                   for n in names), timeout=60, what="the CRDs to be deleted")
            result = install.install(kube)
            fresh.append(result.crds_seconds * 1000)
            totals.append(result.seconds * 1000)
            again = install.install(kube)
            assert again.changed == [], again.changed
            repeated.append(again.seconds * 1000)
    finally:
        lifecycle.down(handle.name)
    write("install", {
        "install_crds_ms": summary(fresh),
        "install_total_ms": summary(totals),
        "install_repeat_ms": summary(repeated),
        "crds": len(names),
    })


if __name__ == "__main__":
    main()
