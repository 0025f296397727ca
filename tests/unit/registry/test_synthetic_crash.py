"""A synthetic image pushed as a bad release carries the node agent's crash annotation (and so another digest)."""

from __future__ import annotations

from sandbox.cluster.images import CRASH_ANNOTATION
from sandbox.registry import oci


def test_synthetic_image_marked_to_crash_carries_the_annotation_and_another_digest() -> None:
    bad, good = oci.synthetic_image("app", "1.1.0", crash=True), oci.synthetic_image("app", "1.1.0")
    assert bad.manifest()["annotations"] == {CRASH_ANNOTATION: "true"}
    assert "annotations" not in good.manifest()
    assert [layer.digest for layer in bad.layers] == [layer.digest for layer in good.layers]  # the same files,
    assert bad.config.digest != good.config.digest  # another command: on a real node its process exits at once
