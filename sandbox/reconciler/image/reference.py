"""``spec.image`` read as go-containerregistry's ``name.ParseReference`` reads it (what image-reflector-controller
uses): the canonical name (``alpine`` → ``index.docker.io/library/alpine``; ``HOST:PORT/app`` kept as is) and the
schemes the registry is tried with — HTTPS, and HTTP as a fallback only for ``spec.insecure`` or a registry on
``localhost:PORT``, ``127.0.0.1``, ``::1`` or a private (RFC 1918) address, as ``Registry.Scheme()`` allows."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

DEFAULT_REGISTRY = "index.docker.io"
DEFAULT_REGISTRY_ALIAS = "docker.io"
_REPOSITORY_CHARS = re.compile(r"[a-z0-9_./-]+\Z")
_PRIVATE_NETWORKS = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


class ImageURLInvalid(ValueError):
    """``spec.image`` is no image repository; the message is upstream's."""


@dataclass(frozen=True)
class ImageName:
    registry: str  # host[:port]
    repository: str  # path in the registry
    insecure: bool = False

    @property
    def canonical(self) -> str:
        return f"{self.registry}/{self.repository}"

    def schemes(self) -> tuple[str, ...]:
        """``https`` first; ``http`` after it when go-containerregistry would fall back to it."""
        return ("https", "http") if self.insecure or plain_http_allowed(self.registry) else ("https",)


def plain_http_allowed(registry: str) -> bool:
    """go-containerregistry's ``Registry.Scheme()`` == "http" without the insecure option."""
    if registry.startswith("localhost:") or "127.0.0.1" in registry or "::1" in registry:
        return True
    host = registry.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in _PRIVATE_NETWORKS)


def _is_registry(part: str) -> bool:
    return "." in part or ":" in part or part == "localhost"


def parse_image(image: str, insecure: bool = False) -> ImageName:
    """``spec.image`` → its registry and repository; ImageURLInvalid as upstream's parseImageReference."""
    if "://" in image:
        raise ImageURLInvalid(f".spec.image value should not start with URL scheme; remove "
                              f"'{image.split('://', 1)[0]}://'")
    if "@" in image:
        raise ImageURLInvalid(f"could not parse reference: {image}")
    first, slash, rest = image.partition("/")
    if slash and _is_registry(first):
        registry, path = first, rest
    else:
        registry, path = DEFAULT_REGISTRY, image
    if ":" in path:
        raise ImageURLInvalid(f".spec.image value should not contain a tag; remove ':{path.split(':', 1)[1]}'")
    if registry == DEFAULT_REGISTRY_ALIAS:
        registry = DEFAULT_REGISTRY
    if registry == DEFAULT_REGISTRY and "/" not in path:
        path = f"library/{path}"
    if not path or not _REPOSITORY_CHARS.match(path) or "//" in path or path.startswith("/") or path.endswith("/"):
        raise ImageURLInvalid(f"could not parse reference: {image}")
    return ImageName(registry, path, insecure)
