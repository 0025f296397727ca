"""The files of a GitRepository revision, as source-controller checks them out: the commit's tree (only the
``spec.sparseCheckout`` directories when set) and, with ``spec.recurseSubmodules``, every submodule at the commit
its gitlink records, recursively."""

from __future__ import annotations

import posixpath
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from sandbox.errors import InputError
from sandbox.tools import git

MAX_SUBMODULE_DEPTH = 10  # go-git's DefaultSubmoduleRecursionDepth, which source-controller uses

# (url, commit) -> the local mirror holding that commit
SubmoduleFetcher = Callable[[str, str], Path]


class CheckoutError(InputError):
    """The revision cannot be checked out as the spec asks (FetchFailed, reason GitOperationFailed)."""


def sparse_directories(spec_dirs: list[str] | None) -> list[str]:
    """``spec.sparseCheckout`` as paths inside the repository (a leading ``./`` dropped, as Flux does); empty
    when the whole tree is wanted."""
    dirs = [d.strip().removeprefix("./").strip("/") for d in spec_dirs or []]
    return [] if any(d in ("", ".") for d in dirs) else dirs


def check_sparse_directories(mirror: Path, sha: str, spec_dirs: list[str] | None) -> None:
    """Each sparse checkout directory must exist in the commit (source-controller's message)."""
    for original in spec_dirs or []:
        for directory in sparse_directories([original]):
            if git.tree_entry(mirror, sha, directory) is None:
                raise CheckoutError(f"failed to sparse checkout directories : sparse checkout dir '{original}' "
                                    f"does not exist in repository: lstat {original}: no such file or directory")


def extract(mirror: Path, sha: str, dest: Path, paths: list[str]) -> None:
    """Write commit ``sha``'s tree (only ``paths`` when given) into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sandbox-checkout-") as scratch:
        tar_path = Path(scratch) / "tree.tar"
        git.archive_paths(mirror, sha, tar_path, paths)
        with tarfile.open(tar_path) as tar:
            tar.extractall(dest, filter="data")


def submodule_url(parent_url: str, url: str) -> str:
    """A submodule's URL: relative ones (``../other.git``) resolve against the superproject's URL, as git does."""
    if url.startswith(("./", "../")):
        return urljoin(parent_url.rstrip("/") + "/", url)
    return url


def same_origin(a: str, b: str) -> bool:
    """Same scheme, host and port: only then do the GitRepository's credentials go along to a submodule."""
    left, right = urlsplit(a), urlsplit(b)
    return (left.scheme, left.hostname, left.port) == (right.scheme, right.hostname, right.port)


def _selected(path: str, sparse: list[str]) -> bool:
    return not sparse or any(path == d or path.startswith(d + "/") for d in sparse)


def checkout_submodules(mirror: Path, sha: str, dest: Path, parent_url: str, fetch: SubmoduleFetcher, *,
                        sparse: list[str] | None = None, depth: int = 0) -> list[str]:
    """Check out every submodule of commit ``sha`` into ``dest`` (its gitlink's commit, fetched by ``fetch``),
    recursively; returns the paths checked out."""
    entries = [e for e in git.submodule_entries(mirror, sha) if _selected(e.path, sparse or [])]
    if not entries:
        return []
    if depth >= MAX_SUBMODULE_DEPTH:
        raise CheckoutError(f"submodules nested deeper than {MAX_SUBMODULE_DEPTH} levels in {parent_url}")
    settings = git.config_from_blob(mirror, f"{sha}:.gitmodules") if git.tree_entry(mirror, sha, ".gitmodules") \
        else {}
    urls: dict[str, str] = {}
    for key, value in settings.items():
        if key.startswith("submodule.") and key.endswith(".path"):
            name = key[len("submodule."):-len(".path")]
            if f"submodule.{name}.url" in settings:
                urls[value.strip("/")] = settings[f"submodule.{name}.url"]
    done = []
    for entry in entries:
        raw = urls.get(entry.path)
        if raw is None:
            raise CheckoutError(f"submodule '{entry.path}' of {parent_url} has no url in .gitmodules")
        url = submodule_url(parent_url, raw)
        if urlsplit(url).scheme not in ("http", "https"):
            raise CheckoutError(f"submodule '{entry.path}' has the URL {url!r}: the sandbox reconciler fetches "
                                "over http(s) only")
        sub_mirror = fetch(url, entry.object)
        target = dest / posixpath.normpath(entry.path)
        extract(sub_mirror, entry.object, target, [])
        done.append(entry.path)
        nested = checkout_submodules(sub_mirror, entry.object, target, url, fetch, depth=depth + 1)
        done += [f"{entry.path}/{path}" for path in nested]
    return done
