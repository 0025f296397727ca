"""The sandbox's mirror map as the source controllers read it: which remote git URLs, OCI prefixes and Helm
repositories the sandbox serves itself, and whether fetches of anything else are refused (offline).

The map is a JSON file in the sandbox's state directory (0600), written by ``sandbox mirror`` and read here. The
reconciler gets its path at start (``--mirror-map``) and looks at it before every fetch: a ``stat`` per fetch,
and a new parse only when the file changed (it is always replaced atomically), so a mirror added while the
reconciler runs serves the very next fetch, with no watcher thread and no restart.

Pure logic apart from reading the file: URL normalisation, longest-prefix matching, and the messages a refused
fetch carries. The objects keep their real URLs; only the fetch goes elsewhere."""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sandbox.errors import InputError

log = logging.getLogger(__name__)

MIRROR_METADATA_KEY = "gitops-sandbox.io/mirror"  # artifact metadata: the mirror URL that served the fetch
_DEFAULT_PORTS = {"http": 80, "https": 443, "ssh": 22, "git": 9418, "oci": 443}


class OfflineRefused(InputError):
    """An unmirrored, non-loopback URL was about to be fetched while the sandbox is offline."""


def _split_scp_like(url: str) -> str:
    """``git@host:org/repo`` (scp-like, as git accepts) as ``ssh://git@host/org/repo``."""
    if "://" not in url and ":" in url.split("/", 1)[0]:
        user_host, _, path = url.partition(":")
        return f"ssh://{user_host}/{path}"
    return url


def _host_port(scheme: str, hostname: str | None, port: int | None) -> str:
    host = (hostname or "").lower()
    if ":" in host:  # IPv6
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        return f"{host}:{port}"
    return host


def normalise_git_url(url: str) -> str:
    """The key of a git URL: ``host[:port]/path`` — scheme (http, https, ssh, scp-like), user name, default port,
    trailing ``/`` and ``.git`` dropped, host lower-cased (paths keep their case, as servers treat them)."""
    text = _split_scp_like(url.strip())
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as err:
        raise InputError(f"invalid git URL {url!r}: {err}") from err
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https", "ssh", "git") or not parts.hostname:
        raise InputError(f"invalid git URL {url!r}: expected http(s)://HOST/PATH, ssh://HOST/PATH or USER@HOST:PATH")
    path = parts.path.rstrip("/").removesuffix(".git").rstrip("/")
    if not path.strip("/"):
        raise InputError(f"invalid git URL {url!r}: it names no repository path")
    return _host_port(scheme, parts.hostname, port) + "/" + path.lstrip("/")


def normalise_oci_prefix(url: str) -> str:
    """The key of an OCI prefix or artifact URL: ``host[:port]/path`` — ``oci://`` and a trailing ``/`` dropped,
    host lower-cased; a tag or digest is left off (``oci://host/org/app:v1`` → ``host/org/app``)."""
    text = url.strip()
    if not text.startswith("oci://"):
        raise InputError(f"invalid OCI URL {url!r}: expected oci://HOST/PATH")
    rest = text[len("oci://"):].rstrip("/")
    rest = rest.split("@", 1)[0]
    host, _, path = rest.partition("/")
    if ":" in path.rsplit("/", 1)[-1]:
        path = path.rsplit(":", 1)[0]
    if not host:
        raise InputError(f"invalid OCI URL {url!r}: it names no registry host")
    return "/".join(part for part in (host.lower(), path.strip("/")) if part)


def normalise_helm_url(url: str) -> str:
    """The key of a Helm HTTP repository URL: ``host[:port]/path`` with the scheme and trailing ``/`` dropped."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as err:
        raise InputError(f"invalid Helm repository URL {url!r}: {err}") from err
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"invalid Helm repository URL {url!r}: expected http(s)://HOST/PATH")
    return _host_port(scheme, parts.hostname, port) + parts.path.rstrip("/")


def is_loopback(host: str) -> bool:
    """Whether ``host`` (``name``, ``name:port``, ``[v6]:port``) is this machine: localhost or a loopback IP."""
    name = host.lower()
    if name.startswith("["):
        name = name[1:].split("]", 1)[0]
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class GitMirror:
    """``url`` (the real one, as the user wrote it) is served by the sandbox repository at ``target``."""

    url: str
    target: str
    repository: str = ""
    username: str = ""
    token_file: str = ""  # the git server's token (read per fetch; never copied into the map)

    def password(self) -> str:
        if not self.token_file:
            return ""
        try:
            return Path(self.token_file).read_text().strip()
        except OSError as err:
            raise InputError(f"the token file of the sandbox git server ({self.token_file}) cannot be read: "
                             f"{err}") from err


@dataclass(frozen=True)
class OCIMirror:
    """Everything under ``prefix`` (``oci://host/org``) is served from ``target`` (``oci://<registry>/<path>``)."""

    prefix: str
    target: str


@dataclass(frozen=True)
class HelmMirror:
    """The Helm repository ``url`` is served by the sandbox chart repository at ``target``."""

    url: str
    target: str
    charts: tuple[str, ...] = ()


@dataclass(frozen=True)
class GitRoute:
    url: str  # what to fetch
    mirror: GitMirror | None  # None: the real URL itself


@dataclass(frozen=True)
class OCIRoute:
    url: str
    mirror: OCIMirror | None


@dataclass(frozen=True)
class HelmRoute:
    url: str
    mirror: HelmMirror | None


@dataclass(frozen=True)
class MirrorMap:
    git: dict[str, GitMirror] = field(default_factory=dict)  # by normalised URL
    oci: dict[str, OCIMirror] = field(default_factory=dict)  # by normalised prefix
    helm: dict[str, HelmMirror] = field(default_factory=dict)  # by normalised URL
    offline: bool = False

    # --- reading -------------------------------------------------------------------------------------------------

    def git_mirror(self, url: str) -> GitMirror | None:
        try:
            return self.git.get(normalise_git_url(url))
        except InputError:
            return None

    def oci_mirror(self, url: str) -> tuple[OCIMirror, str] | None:
        """The mirror whose prefix is the longest one containing ``url`` (whole path segments), and the rest of
        the path below that prefix."""
        try:
            key = normalise_oci_prefix(url)
        except InputError:
            return None
        best: tuple[OCIMirror, str] | None = None
        best_length = -1
        for prefix, mirror in self.oci.items():
            if (key == prefix or key.startswith(prefix + "/")) and len(prefix) > best_length:
                best, best_length = (mirror, key[len(prefix):].lstrip("/")), len(prefix)
        return best

    def route_git(self, url: str) -> GitRoute:
        """Where a GitRepository of ``url`` fetches: its mirror, else the URL itself (raises OfflineRefused for an
        unmirrored remote URL while offline)."""
        mirror = self.git_mirror(url)
        if mirror is not None:
            return GitRoute(mirror.target, mirror)
        if self.offline and not _loopback_url(_split_scp_like(url)):
            raise OfflineRefused(
                f"the sandbox is offline and {url} has no sandbox mirror, so it was not fetched; serve it with "
                f"`sandbox mirror git {url} --from DIR` (or `--from-git PATH` for a local clone)")
        return GitRoute(url, None)

    def route_oci(self, url: str) -> OCIRoute:
        """Where an OCIRepository of ``url`` (``oci://host/path``) pulls from; OfflineRefused as ``route_git``."""
        found = self.oci_mirror(url)
        if found is not None:
            mirror, rest = found
            return OCIRoute("/".join(part for part in (mirror.target.rstrip("/"), rest) if part), mirror)
        if self.offline and not _loopback_url(url):
            prefix = url.rstrip("/")
            raise OfflineRefused(
                f"the sandbox is offline and {url} has no sandbox mirror, so it was not pulled; serve it with "
                f"`sandbox mirror oci {prefix} --from DIR --tag TAG` (or `--artifact FILE`)")
        return OCIRoute(url, None)

    def helm_mirror(self, url: str) -> HelmMirror | None:
        try:
            return self.helm.get(normalise_helm_url(url))
        except InputError:
            return None

    def route_helm(self, url: str) -> HelmRoute:
        """Where a HelmRepository of ``url`` (an HTTP chart repository) fetches its index and charts from: its
        mirror (the sandbox chart repository), else the URL itself; OfflineRefused as ``route_git``."""
        mirror = self.helm_mirror(url)
        if mirror is not None:
            return HelmRoute(mirror.target, mirror)
        if self.offline and not _loopback_url(url):
            raise OfflineRefused(
                f"the sandbox is offline and {url} has no sandbox mirror, so it was not fetched; serve it with "
                f"`sandbox mirror helm {url} --chart DIR`")
        return HelmRoute(url, None)

    # --- the file ------------------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "offline": self.offline,
            "git": [{"url": m.url, "target": m.target, "repository": m.repository, "username": m.username,
                     "token_file": m.token_file} for m in self.git.values()],
            "oci": [{"prefix": m.prefix, "target": m.target} for m in self.oci.values()],
            "helm": [{"url": m.url, "target": m.target, "charts": list(m.charts)} for m in self.helm.values()],
        }

    @staticmethod
    def from_dict(data: Any) -> MirrorMap:
        if not isinstance(data, dict):
            raise InputError("the mirror map is not a JSON object")
        git = {}
        for entry in data.get("git") or []:
            mirror = GitMirror(str(entry["url"]), str(entry["target"]), str(entry.get("repository", "")),
                               str(entry.get("username", "")), str(entry.get("token_file", "")))
            git[normalise_git_url(mirror.url)] = mirror
        oci = {}
        for entry in data.get("oci") or []:
            oci_mirror = OCIMirror(str(entry["prefix"]), str(entry["target"]))
            oci[normalise_oci_prefix(oci_mirror.prefix)] = oci_mirror
        helm = {}
        for entry in data.get("helm") or []:
            helm_mirror = HelmMirror(str(entry["url"]), str(entry["target"]), tuple(entry.get("charts") or ()))
            helm[normalise_helm_url(helm_mirror.url)] = helm_mirror
        return MirrorMap(git, oci, helm, bool(data.get("offline")))


def _loopback_url(url: str) -> bool:
    """Whether ``url`` stays on this machine: a loopback host, or a local path (``file://``, ``/…``)."""
    if url.startswith(("file://", "/")):
        return True
    text = url.removeprefix("oci://")
    if "://" in text:
        try:
            return is_loopback(urlsplit(text).netloc.rpartition("@")[2])
        except ValueError:
            return False
    return is_loopback(text.split("/", 1)[0])


def read_map(path: Path) -> MirrorMap:
    """The map in ``path`` (an empty one when the file does not exist)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return MirrorMap()
    try:
        return MirrorMap.from_dict(json.loads(text))
    except (ValueError, KeyError, TypeError) as err:
        raise InputError(f"the mirror map {path} is not valid: {err}") from err


class MirrorMapFile:
    """The map at ``path`` as the reconciler sees it: re-read when the file changed since the last look."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int] | None = None
        self._map = MirrorMap()

    def current(self) -> MirrorMap:
        if self.path is None:
            return MirrorMap()
        try:
            info = os.stat(self.path)
            stamp: tuple[int, int, int] | None = (info.st_ino, info.st_mtime_ns, info.st_size)
        except FileNotFoundError:
            stamp = None
        with self._lock:
            if stamp != self._seen:
                try:
                    self._map = read_map(self.path) if stamp is not None else MirrorMap()
                except InputError as err:
                    # A broken map keeps the last good one (refusing every fetch would hide the real mistake);
                    # logged once per change of the file.
                    log.error("%s; keeping the mirror map read before", err)
                self._seen = stamp
            return self._map


def served_by(url: str) -> str:
    """The suffix of a status message or event of a fetch a mirror served."""
    return f" (served by the sandbox mirror of {url})"
