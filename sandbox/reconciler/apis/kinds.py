"""The Flux-compatible kinds the project serves: group, version, kind and names, for CRDs and controllers alike."""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.errors import InputError

SOURCE_GROUP = "source.toolkit.fluxcd.io"
KUSTOMIZE_GROUP = "kustomize.toolkit.fluxcd.io"
HELM_GROUP = "helm.toolkit.fluxcd.io"
IMAGE_GROUP = "image.toolkit.fluxcd.io"
NOTIFICATION_GROUP = "notification.toolkit.fluxcd.io"
SOURCE_EXTENSIONS_GROUP = "source.extensions.fluxcd.io"  # source-watcher's ArtifactGenerator


@dataclass(frozen=True)
class Kind:
    """One served kind: ``Kind("source.toolkit.fluxcd.io", "v1", "GitRepository", "gitrepositories")``."""

    group: str
    version: str
    kind: str
    plural: str
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{self.group}"

    def __str__(self) -> str:
        return f"{self.kind}.{self.version}.{self.group}"


# Flux puts every kind in "all" and "fluxcd", plus a category per controller family (`kubectl get fluxcd-sources`).
_SOURCES = ("all", "fluxcd", "fluxcd-sources")
_APPLIERS = ("all", "fluxcd", "fluxcd-appliers")
_IMAGES = ("all", "fluxcd", "fluxcd-images")
_NOTIFICATIONS = ("all", "fluxcd", "fluxcd-notifications")

GITREPOSITORY = Kind(SOURCE_GROUP, "v1", "GitRepository", "gitrepositories", ("gitrepo",), _SOURCES)
HELMREPOSITORY = Kind(SOURCE_GROUP, "v1", "HelmRepository", "helmrepositories", ("helmrepo",), _SOURCES)
HELMCHART = Kind(SOURCE_GROUP, "v1", "HelmChart", "helmcharts", ("hc",), _SOURCES)
OCIREPOSITORY = Kind(SOURCE_GROUP, "v1", "OCIRepository", "ocirepositories", ("ocirepo",), _SOURCES)
KUSTOMIZATION = Kind(KUSTOMIZE_GROUP, "v1", "Kustomization", "kustomizations", ("ks",), _APPLIERS)
HELMRELEASE = Kind(HELM_GROUP, "v2", "HelmRelease", "helmreleases", ("hr",), _APPLIERS)
IMAGEREPOSITORY = Kind(IMAGE_GROUP, "v1", "ImageRepository", "imagerepositories", ("imgrepo", "imagerepo"), _IMAGES)
IMAGEPOLICY = Kind(IMAGE_GROUP, "v1", "ImagePolicy", "imagepolicies", ("imgpol", "imagepol"), _IMAGES)
IMAGEUPDATEAUTOMATION = Kind(IMAGE_GROUP, "v1", "ImageUpdateAutomation", "imageupdateautomations",
                             ("iua", "imgupd", "imgauto"), _IMAGES)
RECEIVER = Kind(NOTIFICATION_GROUP, "v1", "Receiver", "receivers", (), _NOTIFICATIONS)
PROVIDER = Kind(NOTIFICATION_GROUP, "v1beta3", "Provider", "providers", (), _NOTIFICATIONS)
ALERT = Kind(NOTIFICATION_GROUP, "v1beta3", "Alert", "alerts", (), _NOTIFICATIONS)
EXTERNALARTIFACT = Kind(SOURCE_GROUP, "v1", "ExternalArtifact", "externalartifacts", ("ea",), _SOURCES)
ARTIFACTGENERATOR = Kind(SOURCE_EXTENSIONS_GROUP, "v1beta1", "ArtifactGenerator", "artifactgenerators", ("ag",),
                         _SOURCES)

ALL: tuple[Kind, ...] = (
    GITREPOSITORY, HELMREPOSITORY, HELMCHART, OCIREPOSITORY, KUSTOMIZATION, HELMRELEASE,
    IMAGEREPOSITORY, IMAGEPOLICY, IMAGEUPDATEAUTOMATION, RECEIVER, PROVIDER, ALERT,
    EXTERNALARTIFACT, ARTIFACTGENERATOR,
)


GROUPS: frozenset[str] = frozenset(kind.group for kind in ALL)


def by_kind(kind: str, api_version: str | None = None) -> Kind:
    """The served kind named ``kind`` (optionally pinned to ``api_version``)."""
    for each in ALL:
        if each.kind == kind and (api_version is None or each.api_version == api_version):
            return each
    wanted = f"{api_version} {kind}" if api_version else kind
    served = ", ".join(f"{each.api_version} {each.kind}" for each in ALL)
    raise InputError(f"the sandbox does not serve {wanted}; it serves: {served}")
