"""Talking to the registry an ImageRepository names: the scheme chosen as go-containerregistry chooses it (HTTPS;
HTTP only as a fallback where ``reference.ImageName.schemes`` allows it), credentials and TLS files handed to the
project's distribution client, tags listed page by page (``?n=`` and the ``Link`` header, as ``remote.List``) and a
tag's digest read with a HEAD of its manifest (GET when the registry sends no digest header)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sandbox.oci.distribution import OCIError, RegistryClient, Unreachable
from sandbox.reconciler.image.auth import Access, tls_files
from sandbox.reconciler.image.reference import ImageName

PAGE_SIZE = 1000  # go-containerregistry's default page size for remote.List


@contextmanager
def connect(name: ImageName, access: Access) -> Iterator[RegistryClient]:
    """A client speaking the first scheme the registry answers; OCIError naming every attempt otherwise."""
    with tls_files(access.tls) as tls:
        client = _first_answering(name, access, tls)
        try:
            yield client
        finally:
            client.close()


def _first_answering(name: ImageName, access: Access, tls: dict[str, Any]) -> RegistryClient:
    failures = []
    for scheme in name.schemes():
        client = RegistryClient(name.registry, insecure=scheme == "http", credentials=access.credentials,
                                timeout=access.timeout, **tls)
        try:
            client.ping()
        except (Unreachable, OCIError) as err:
            client.close()
            failures.append(str(err))
            continue
        return client
    raise OCIError("; ".join(failures))


def list_tags(name: ImageName, access: Access, *, page_size: int = PAGE_SIZE) -> list[str]:
    with connect(name, access) as client:
        return client.tags(name.repository, page_size=page_size)


def tag_digest(name: ImageName, tag: str, access: Access) -> str:
    """The manifest digest ``name:tag`` points at."""
    with connect(name, access) as client:
        return client.resolve(name.repository, tag)
