"""A source's artifact fetched over HTTP from the artifact server, checked against its digest — what a consumer
outside the reconciler process (``sandbox diff``, ``sandbox build``) reads instead of the storage directory."""

from __future__ import annotations

import hashlib
import io
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

from sandbox.errors import InputError
from sandbox.reconciler.source.artifact import Artifact
from sandbox.reconciler.source.storage import redact_url

TIMEOUT = 60.0


class DownloadError(InputError):
    """The artifact could not be fetched, or is not what its digest says."""


def fetch(artifact: Artifact, *, timeout: float = TIMEOUT) -> bytes:
    """The bytes of ``artifact`` (its ``url``), verified against its ``digest``."""
    try:
        with urllib.request.urlopen(artifact.url, timeout=timeout) as response:
            data: bytes = response.read()
    except (urllib.error.URLError, OSError) as err:
        raise DownloadError(f"failed to download artifact {redact_url(artifact.url)}: {err}; is the sandbox's "
                            "reconciler running?") from err
    algorithm, _, expected = artifact.digest.partition(":")
    if algorithm == "sha256" and hashlib.sha256(data).hexdigest() != expected:
        raise DownloadError(f"artifact {redact_url(artifact.url)} does not match its digest {artifact.digest}: it "
                            "changed while downloading; try again")
    return data


def unpack(artifact: Artifact, destination: Path, *, timeout: float = TIMEOUT) -> Path:
    """Fetch ``artifact`` (a tar.gz) and extract it into ``destination`` (created); returns ``destination``."""
    data = fetch(artifact, timeout=timeout)
    destination.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            tar.extractall(destination, filter="data")
    except (tarfile.TarError, OSError) as err:
        raise DownloadError(f"failed to extract artifact {redact_url(artifact.url)}: {err}") from err
    return destination
