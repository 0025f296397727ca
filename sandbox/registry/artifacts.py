"""Registry operations addressed by sandbox name, the way the CLI and tests use them: references are checked
against that sandbox's registry, and results are plain dicts ready for output."""

from __future__ import annotations

import time
from typing import Any

from sandbox.registry import oci
from sandbox.registry.base import endpoint_of
from sandbox.registry.reference import in_registry


def push_image(name: str, reference: str) -> dict[str, Any]:
    """Push a synthetic image as ``reference`` (``REPO[:TAG]``, optionally with the registry's host)."""
    endpoint = endpoint_of(name)
    ref = in_registry(reference, endpoint.hosts, want_tag=True)
    started = time.monotonic()
    pushed = oci.push_synthetic_image(endpoint.host, ref.repository, ref.tag)
    return {"reference": pushed.reference, "repository": pushed.repository, "tag": pushed.tag,
            "digest": pushed.digest, "size": pushed.size, "seconds": round(time.monotonic() - started, 3),
            "in_cluster": f"{endpoint.cluster_host}/{pushed.repository}:{pushed.tag}"}


def image_tags(name: str, repository: str) -> dict[str, Any]:
    """The tags of ``repository`` in sandbox ``name``'s registry, each with the digest it points at."""
    endpoint = endpoint_of(name)
    ref = in_registry(repository, endpoint.hosts, want_tag=False)
    return {
        "repository": f"{endpoint.host}/{ref.repository}",
        "tags": [{"tag": tag, "digest": digest, "reference": f"{endpoint.host}/{ref.repository}:{tag}"}
                 for tag, digest in oci.tags_with_digests(endpoint.host, ref.repository)],
    }
