"""Charts in an OCI registry, for HelmCharts whose HelmRepository is ``type: oci`` (source-controller's
OCIChartRepository): ``<repository url>/<chart>`` is the OCI repository, an exact version is pulled as that tag
without listing tags, a range is resolved to the newest matching tag, and the chart is the manifest's Helm chart
layer. Transport, credentials (``spec.secretRef``: a dockerconfigjson or username/password Secret), TLS
(``spec.certSecretRef``), ``spec.insecure`` (plain HTTP) and the sandbox's OCI mirrors are the OCIRepository
controller's; the chart bytes are then loaded by the Helm SDK like any other."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

from sandbox.errors import InputError, NotFound, SandboxError
from sandbox.oci import distribution
from sandbox.reconciler.source import helmgetter, helmindex
from sandbox.reconciler.source.failure import Failure
from sandbox.reconciler.source.mirrors import MirrorMapFile, OfflineRefused, served_by
from sandbox.reconciler.source.ocirepository import credentials_from_secret, tls_files

Obj = dict[str, Any]
CHART_LAYER_TYPE = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"


class ChartLookupError(SandboxError):
    """Tags or the chart could not be read (``ErrExternal``: a chart pull error, retried)."""


class ConfigError(InputError):
    """The repository's configuration cannot work (a stalling ``failed to construct Helm client``)."""


class CredentialsError(InputError):
    """A Secret the repository names is missing or malformed (AuthenticationFailed)."""


@dataclass(frozen=True)
class Located:
    """The chart version found: ``reference`` is ``oci://host/path/chart:tag`` (the object's URL, not a
    mirror's)."""

    name: str
    version: str
    reference: str
    served: str  # the status suffix when a mirror served it


class OCIChartRepository:
    """The registry side of one HelmChart reconcile; use as a context manager."""

    def __init__(self, kube: Any, repository: Obj, timeout: float, mirror_map: MirrorMapFile) -> None:
        self.kube = kube
        self.repository = repository
        self.timeout = timeout
        self.mirror_map = mirror_map
        spec = repository.get("spec") or {}
        self.url = helmindex.normalize_url(str(spec.get("url", "")))
        if not self.url.startswith(helmindex.OCI_SCHEME):
            raise ConfigError(f"failed to construct Helm client: invalid OCI registry URL: {self.url}")

    def __enter__(self) -> OCIChartRepository:
        return self

    def __exit__(self, *_: object) -> None:
        """Clients are opened per operation: nothing stays open."""

    @contextmanager
    def _client(self, chart_url: str) -> Iterator[tuple[distribution.RegistryClient, str, str]]:
        """A registry client for ``oci://host/path/chart``, the repository path in it and the mirror suffix."""
        try:
            route = self.mirror_map.current().route_oci(chart_url)
        except OfflineRefused as err:
            raise ChartLookupError(str(err)) from err
        spec, meta = self.repository.get("spec") or {}, self.repository["metadata"]
        try:
            host, path = distribution.split_url(route.url)
        except ValueError as err:
            raise ConfigError(f"invalid Helm repository URL: {err}") from err
        if route.mirror is not None:
            # The sandbox registry: plain HTTP on loopback, no credentials (the object's are for the real one).
            with distribution.RegistryClient(host, insecure=True, timeout=self.timeout) as client:
                yield client, path, served_by(chart_url)
            return
        credentials = self._credentials(host) if (spec.get("secretRef") or {}).get("name") else None
        cert_secret = str((spec.get("certSecretRef") or {}).get("name") or "")
        try:
            tls_context: AbstractContextManager[dict[str, Any]] = \
                tls_files(self.kube, meta["namespace"], cert_secret, chart_url) if cert_secret else nullcontext({})
            with tls_context as tls, distribution.RegistryClient(
                    host, insecure=bool(spec.get("insecure")), credentials=credentials, timeout=self.timeout,
                    **tls) as client:
                yield client, path, ""
        except Failure as err:
            raise CredentialsError(str(err)) from err

    def _credentials(self, host: str) -> distribution.Credentials | None:
        meta, spec = self.repository["metadata"], self.repository.get("spec") or {}
        namespace, name = str(meta["namespace"]), str(spec["secretRef"]["name"])
        try:
            secret = self.kube.get("v1", "Secret", name, namespace)
        except NotFound as err:
            raise CredentialsError(f"failed to get authentication secret '{namespace}/{name}': secrets \"{name}\" "
                                   "not found") from err
        data = secret.get("data") or {}
        if data.get(".dockerconfigjson") or data.get(".dockercfg"):
            try:
                return credentials_from_secret(self.kube, namespace, name, host)
            except Failure as err:
                raise CredentialsError(str(err)) from err
        decoded = {str(key): base64.b64decode(value) for key, value in data.items()}
        auth = helmgetter.basic_auth(decoded, namespace, name)
        return distribution.Credentials(*auth) if auth else None

    def locate(self, chart: str, version: str) -> Located:
        """``GetChartVersion``: an exact version as is, else the newest matching tag. Raises ChartLookupError."""
        chart_url = f"{self.url}/{chart}"
        if helmindex.is_exact_version(version):
            return Located(chart, version, f"{chart_url}:{version}", "")
        with self._client(chart_url) as (client, path, served):
            try:
                tags = client.tags(path)
            except distribution.OCIError as err:
                raise ChartLookupError(f"could not get tags for \"{chart}\": could not fetch tags for "
                                       f"\"{chart_url}\": {err}") from err
        if not tags:
            raise ChartLookupError(f"could not get tags for \"{chart}\": unable to locate any tags in provided "
                                   f"repository: {chart_url}")
        try:
            tag = helmindex.newest_tag(tags, version)
        except InputError as err:
            raise ChartLookupError(str(err)) from err
        return Located(chart, tag, f"{chart_url}:{tag}", served)

    def download(self, located: Located) -> tuple[bytes, str]:
        """The chart archive of ``located`` and the mirror suffix. Raises ChartLookupError."""
        chart_url = located.reference.rsplit(":", 1)[0]
        with self._client(chart_url) as (client, path, served):
            try:
                document = client.manifest(path, located.version).document
                layers = [layer for layer in document.get("layers") or []
                          if layer.get("mediaType") == CHART_LAYER_TYPE]
                if not layers:
                    raise ChartLookupError(f"failed to get '{located.reference}': the artifact has no Helm chart "
                                           f"layer ({CHART_LAYER_TYPE})")
                return client.blob(path, str(layers[0].get("digest", ""))), served
            except (distribution.OCIError, ValueError) as err:
                raise ChartLookupError(f"failed to get '{located.reference}': {err}") from err
