"""Remote bases (``--no-remote-bases``): the kustomization entries kustomize would fetch over the network.

kustomize reads an entry of ``resources``, ``components`` or ``bases`` as a local file or directory when one exists,
else as a remote one (a git URL such as ``github.com/org/repo//path?ref=v1``, or an HTTP file URL). Found by
following local directories from the one built, so that nothing is fetched before the build is refused.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from sandbox.reconciler.kustomize.errors import BuildError
from sandbox.reconciler.kustomize.source_files import find_kustomization, read_text, shown_path

_ENTRIES = ("resources", "components", "bases")
_REMOTE_PREFIXES = ("github.com/", "gitlab.com/", "bitbucket.org/", "git@", "ssh://", "git::")


def looks_remote(entry: str) -> bool:
    return "://" in entry or entry.startswith(_REMOTE_PREFIXES) or "?ref=" in entry or "?version=" in entry


def find(directory: Path, root: Path) -> list[tuple[str, str]]:
    """(kustomization file relative to ``root``, entry) of each remote base reachable from ``directory``."""
    found: list[tuple[str, str]] = []
    seen: set[Path] = set()
    pending = [directory.resolve()]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        kfile = find_kustomization(current)
        if kfile is None:
            continue
        try:
            document = yaml.safe_load(read_text(kfile, shown_path(kfile, root)))
        except yaml.YAMLError:
            continue  # the build says what is wrong with it
        if not isinstance(document, dict):
            continue
        for key in _ENTRIES:
            for entry in document.get(key) or []:
                if not isinstance(entry, str):
                    continue
                local = (current / entry)
                if local.exists():
                    if local.is_dir():
                        pending.append(local.resolve())
                elif looks_remote(entry):
                    found.append((shown_path(kfile, root), entry))
    return found


def refuse(directory: Path, root: Path) -> None:
    """Raise a BuildError naming the first remote base reachable from ``directory``."""
    remote = find(directory, root)
    if remote:
        shown, entry = remote[0]
        raise BuildError(f"kustomize build failed: accumulating resources from '{entry}' ({shown}): remote bases "
                         "are not allowed here (the reconciler runs with --no-remote-bases): vendor the base into "
                         "the source, or reconcile it from a source of its own")
