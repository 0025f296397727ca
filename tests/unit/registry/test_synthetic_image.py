import gzip
import hashlib
import io
import json
import subprocess
import tarfile

import pytest

from sandbox.registry.oci import (
    BUSYBOX,
    CONFIG_TYPE,
    CRASH_AT_ONCE,
    LAYER_TYPE,
    MANIFEST_TYPE,
    RUN_FOREVER,
    synthetic_image,
)


def test_synthetic_image_is_a_valid_oci_image() -> None:
    image = synthetic_image("team/app", "v1")
    manifest = image.manifest()
    assert manifest["schemaVersion"] == 2 and manifest["mediaType"] == MANIFEST_TYPE
    assert manifest["config"] == {"mediaType": CONFIG_TYPE, "digest": image.config.digest,
                                  "size": len(image.config.data)}
    layer = image.layers[-1]  # its own, over the runtime layer where busybox-static is installed
    assert manifest["layers"] == [{"mediaType": LAYER_TYPE, "digest": each.digest, "size": len(each.data)}
                                  for each in image.layers]
    assert layer.digest == "sha256:" + hashlib.sha256(layer.data).hexdigest()
    uncompressed = gzip.decompress(layer.data)
    config = json.loads(image.config.data)
    assert config["rootfs"] == {"type": "layers", "diff_ids": [
        "sha256:" + hashlib.sha256(gzip.decompress(each.data)).hexdigest() for each in image.layers]}
    assert config["os"] == "linux" and config["architecture"] == "amd64"
    with tarfile.open(fileobj=io.BytesIO(uncompressed)) as archive:
        member = archive.extractfile("sandbox/image.txt")
        assert member is not None and member.read() == b"team/app:v1\n"


def test_same_reference_same_digest_other_tag_other_digest() -> None:
    assert synthetic_image("app", "v1").manifest() == synthetic_image("app", "v1").manifest()
    assert synthetic_image("app", "v1").layers[-1].digest != synthetic_image("app", "v2").layers[-1].digest


@pytest.mark.skipif(not BUSYBOX.is_file(), reason="busybox-static is not installed (bootstrap.sh installs it)")
def test_a_real_node_can_run_it_and_a_crashing_release_exits_at_once() -> None:
    good, bad = synthetic_image("app", "v1"), synthetic_image("app", "v2", crash=True)
    assert good.layers[0].digest == bad.layers[0].digest  # the runtime layer is shared, pushed once
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(good.layers[0].data))) as archive:
        busybox = archive.getmember("bin/busybox")
        assert busybox.mode & 0o111 and busybox.size == BUSYBOX.stat().st_size
        assert archive.getmember("bin/sh").linkname == "busybox"  # charts run `sh -c …`
    assert json.loads(good.config.data)["config"]["Cmd"] == RUN_FOREVER
    assert json.loads(bad.config.data)["config"]["Cmd"] == CRASH_AT_ONCE


@pytest.mark.skipif(not BUSYBOX.is_file(), reason="busybox-static is not installed (bootstrap.sh installs it)")
@pytest.mark.parametrize(("command", "code"), [(CRASH_AT_ONCE, 1)])
def test_the_commands_do_what_they_say(command: list[str], code: int) -> None:
    result = subprocess.run([str(BUSYBOX), "sh", *command[1:]], capture_output=True, text=True, timeout=10,
                            check=False)
    assert result.returncode == code and "crashes at start" in result.stderr


@pytest.mark.skipif(not BUSYBOX.is_file(), reason="busybox-static is not installed (bootstrap.sh installs it)")
def test_the_running_image_stops_on_sigterm() -> None:
    # As in the image, but on a port anyone may bind: the loop is what must answer SIGTERM.
    script = RUN_FOREVER[2].replace("-p 80", "-p 127.0.0.1:0")
    process = subprocess.Popen([str(BUSYBOX), "sh", "-c", script], env={"PATH": str(BUSYBOX.parent)})
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(timeout=1.5)  # still running
        process.terminate()
        assert process.wait(timeout=5) == 0
    finally:
        process.kill()
