"""Image references checked against the distribution grammar, so that a bad name fails here with a clear message
rather than as an HTTP 400 from the registry."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sandbox.errors import InputError

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$")
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST_RE = re.compile(rf"^{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?$")
_MAX_NAME = 255

REPOSITORY_RULES = ("lowercase letters and digits, separated inside a path component by '.', '_', '__' or '-', "
                    "path components joined by '/' (e.g. team/app)")
TAG_RULES = "letters, digits, '_', '.' and '-', up to 128 characters, not starting with '.' or '-'"


@dataclass(frozen=True)
class ImageReference:
    host: str  # "" when the reference names no registry host
    repository: str
    tag: str = ""
    digest: str = ""

    def __str__(self) -> str:
        text = f"{self.host}/{self.repository}" if self.host else self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    def on(self, host: str) -> ImageReference:
        return ImageReference(host, self.repository, self.tag, self.digest)


def _looks_like_host(component: str) -> bool:
    # Docker's rule: a first component with a dot or a port, or "localhost", is a registry host.
    return "." in component or ":" in component or component == "localhost"


def parse(text: str) -> ImageReference:
    """Split ``[HOST/]REPOSITORY[:TAG][@DIGEST]`` and check every part; InputError naming the bad part."""
    original = text
    if not text or text != text.strip():
        raise InputError(f"invalid image reference {original!r}: it is empty or has surrounding spaces")
    rest, at, digest = text.partition("@")
    if at and not _DIGEST_RE.match(digest):
        raise InputError(f"invalid image reference {original!r}: digest {digest!r} is not ALGORITHM:HEX "
                         "(e.g. sha256:<64 hex digits>)")
    host = ""
    first, slash, remainder = rest.partition("/")
    if slash and _looks_like_host(first):
        if not _HOST_RE.match(first):
            raise InputError(f"invalid image reference {original!r}: registry host {first!r} is not HOST[:PORT]")
        host, rest = first, remainder
    name, colon, tag = rest.rpartition(":")
    if not colon:
        name, tag = rest, ""
    elif not _TAG_RE.match(tag):
        raise InputError(f"invalid image reference {original!r}: tag {tag!r} is not valid; tags are {TAG_RULES}")
    check_repository(name, original)
    return ImageReference(host, name, tag, digest)


def check_repository(name: str, original: str | None = None) -> str:
    shown = original if original is not None else name
    if not name:
        raise InputError(f"invalid image reference {shown!r}: the repository name is empty")
    if not _REPOSITORY_RE.match(name):
        raise InputError(f"invalid image reference {shown!r}: repository {name!r} is not valid; repository names "
                         f"are {REPOSITORY_RULES}")
    if len(name) > _MAX_NAME:
        raise InputError(f"invalid image reference {shown!r}: the repository name is longer than {_MAX_NAME} "
                         "characters")
    return name


def in_registry(text: str, hosts: Sequence[str], *, want_tag: bool) -> ImageReference:
    """Parse ``text`` as a reference into the registry known as ``hosts`` (the first is canonical).

    A reference without a host is taken to mean that registry; one naming another host is refused, since the
    sandbox only pushes to and lists its own registry. ``want_tag``: a tag is allowed (``latest`` when omitted);
    otherwise the reference must name a repository only.
    """
    ref = parse(text)
    if ref.host and ref.host not in hosts:
        raise InputError(f"{text!r} names registry {ref.host!r}, but this sandbox's registry is "
                         f"{' or '.join(hosts)}: leave the host out, or use one of those")
    if ref.digest:
        raise InputError(f"{text!r} has a digest; give a {'tag' if want_tag else 'repository name'} instead")
    if want_tag:
        return ImageReference(hosts[0], ref.repository, ref.tag or "latest")
    if ref.tag:
        raise InputError(f"{text!r} has a tag; give the repository name only (e.g. {ref.repository})")
    return ImageReference(hosts[0], ref.repository)
