"""image-reflector-controller's two kinds wired into the manager: ImageRepository scans store tags in a TagStore
under the reconciler's data directory (``ctx.services["image_tags"]``), and every ImagePolicy referring to an
ImageRepository is evaluated again when that repository changes."""

from __future__ import annotations

from pathlib import Path

from sandbox.reconciler.image.policy import ImagePolicyReconciler, policies_for_repository
from sandbox.reconciler.image.repository import ImageRepositoryReconciler
from sandbox.reconciler.image.tagstore import TagStore
from sandbox.reconciler.runtime.controller import Context, Controller
from sandbox.reconciler.runtime.manager import Manager

TAG_STORE_SERVICE = "image_tags"
IMAGE_REPOSITORIES_SERVICE = "imagerepositories"
IMAGE_POLICIES_SERVICE = "imagepolicies"


def register(manager: Manager, ctx: Context, data_dir: Path, *, workers: int = 2) -> None:
    store = TagStore(data_dir / "image-tags")
    ctx.services[TAG_STORE_SERVICE] = store
    repositories = manager.add(Controller(ImageRepositoryReconciler(store), ctx, workers=workers))
    policies = manager.add(Controller(ImagePolicyReconciler(store), ctx, workers=workers))
    policies.watch(repositories.informer, lambda repo: policies_for_repository(policies.informer.items(), repo))
    ctx.services[IMAGE_REPOSITORIES_SERVICE] = repositories.informer
    ctx.services[IMAGE_POLICIES_SERVICE] = policies.informer
