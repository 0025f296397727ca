import gzip
import hashlib
import io
import json
import tarfile

from sandbox.registry.oci import CONFIG_TYPE, LAYER_TYPE, MANIFEST_TYPE, synthetic_image


def test_synthetic_image_is_a_valid_oci_image() -> None:
    image = synthetic_image("team/app", "v1")
    manifest = image.manifest()
    assert manifest["schemaVersion"] == 2 and manifest["mediaType"] == MANIFEST_TYPE
    assert manifest["config"] == {"mediaType": CONFIG_TYPE, "digest": image.config.digest,
                                  "size": len(image.config.data)}
    (layer,) = image.layers
    assert manifest["layers"] == [{"mediaType": LAYER_TYPE, "digest": layer.digest, "size": len(layer.data)}]
    assert layer.digest == "sha256:" + hashlib.sha256(layer.data).hexdigest()
    uncompressed = gzip.decompress(layer.data)
    config = json.loads(image.config.data)
    assert config["rootfs"] == {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(uncompressed).hexdigest()]}
    assert config["os"] == "linux" and config["architecture"] == "amd64"
    with tarfile.open(fileobj=io.BytesIO(uncompressed)) as archive:
        member = archive.extractfile("sandbox/image.txt")
        assert member is not None and member.read() == b"team/app:v1\n"


def test_same_reference_same_digest_other_tag_other_digest() -> None:
    assert synthetic_image("app", "v1").manifest() == synthetic_image("app", "v1").manifest()
    assert synthetic_image("app", "v1").layers[0].digest != synthetic_image("app", "v2").layers[0].digest
