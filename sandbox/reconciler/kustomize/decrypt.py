"""SOPS decryption for a Kustomization (``spec.decryption``), as kustomize-controller's decryptor does it.

Keys come from the Secret ``spec.decryption.secretRef`` names: entries ending ``.agekey`` (age identities) and
``.asc`` (PGP private keys); cloud KMS and Vault entries are refused (NotSupported). Before the build, the files and
env files of ``secretGenerator`` entries and the patch files of every kustomization reached through
``resources`` and ``components`` are decrypted in place (in the scratch copy, 0600, removed with it). After the
build, every object carrying sops metadata is decrypted whole, and Secrets whose ``data`` values are sops files
are decrypted value by value — unless annotated ``kustomize.toolkit.fluxcd.io/decrypt: Disabled``. As in Flux the
MAC of a built object is not checked (kustomize may have changed it); files from the source are decrypted as
they are, and their MAC is checked.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sandbox.reconciler.kustomize import manifest, references
from sandbox.reconciler.kustomize.errors import BuildError
from sandbox.reconciler.kustomize.manifest import Manifest, Obj
from sandbox.reconciler.kustomize.source_files import find_kustomization, is_inside, shown_path
from sandbox.tools import sops
from sandbox.tools.sops import Keys, SopsError

__all__ = ["Keys"]

PROVIDER = "sops"
ANNOTATION = "kustomize.toolkit.fluxcd.io/decrypt"
DISABLED = "Disabled"
AGE_EXT = ".agekey"
PGP_EXT = ".asc"
MAX_FILE_SIZE = 5 << 20  # as Flux's maxEncryptedFileSize
# Secret entries Flux reads for cloud key services: not implemented here.
CLOUD_ENTRIES = {"sops.aws-kms": "AWS KMS", "sops.azure-kv": "Azure Key Vault", "sops.gcp-kms": "GCP KMS",
                 "sops.vault-token": "HashiCorp Vault"}
# What a sops file's metadata holds for each cloud key service.
CLOUD_MARKERS = {"arn:aws:kms": "AWS KMS", "resource_id": "GCP KMS", "vault_url": "Azure Key Vault",
                 "vault_address": "HashiCorp Vault"}
# How Flux tells a sops file of each format (the order matters only for json and binary, which share a marker).
MARKERS = (("yaml", b"mac: ENC["), ("dotenv", b"sops_mac=ENC["), ("ini", b"[sops]"), ("json", b'"mac": "ENC['))
DOCKER_CONFIG_JSON = ".dockerconfigjson"
PARALLEL = 4  # sops processes at once while decrypting built objects
MIN_MASKED = 3  # as the controller's MIN_SECRET_LENGTH: shorter values would mask ordinary words


class DecryptionError(BuildError):
    """A file or object could not be decrypted; the message names it and the keys tried (public side only).

    Its reason is BuildFailed, as kustomize-controller v1.9.5 reports decryption failures (it has no other)."""


class DecryptionNotSupported(BuildError):
    """The decryption asks for something not implemented here (cloud KMS, Vault)."""

    reason = "NotSupported"


def configured(spec: Mapping[str, Any]) -> bool:
    decryption = spec.get("decryption") or {}
    return bool(decryption.get("provider"))


def secret_name(spec: Mapping[str, Any]) -> str | None:
    decryption = spec.get("decryption") or {}
    if decryption.get("provider") != PROVIDER:
        return None
    name = (decryption.get("secretRef") or {}).get("name")
    return str(name) if name else None


def keys_from_secret(secret: Obj | None, name: str, namespace: str) -> Keys:
    """The keys of the decryption Secret (as read from the cluster; None when it does not exist)."""
    where = f"'{namespace}/{name}'"
    if secret is None:
        raise DecryptionError(f"cannot get {PROVIDER} decryption Secret {where}: secrets \"{name}\" not found; "
                              "create it with the age key (an entry ending .agekey) or PGP key (.asc) "
                              "(`sandbox sops keygen` makes one)")
    age: list[str] = []
    pgp: list[str] = []
    cloud = sorted(CLOUD_ENTRIES[entry] for entry in (secret.get("data") or {}) if entry in CLOUD_ENTRIES)
    for entry, encoded in sorted((secret.get("data") or {}).items()):
        try:
            value = base64.b64decode(str(encoded)).decode()
        except (ValueError, UnicodeDecodeError) as err:
            raise DecryptionError(f"failed to import '{entry}' data from {PROVIDER} decryption Secret {where}: "
                                  "not UTF-8 text") from err
        if entry.endswith(AGE_EXT):
            identities = sops.age_identities(value)
            if not identities:
                raise DecryptionError(f"failed to import '{entry}' data from {PROVIDER} decryption Secret {where}: "
                                      "no age identity (a line starting AGE-SECRET-KEY-1) in it")
            for identity in identities:
                try:
                    sops.age_public_key(identity)
                except SopsError as err:
                    raise DecryptionError(f"failed to import '{entry}' data from {PROVIDER} decryption Secret "
                                          f"{where}: {err}") from err
            age += identities
        elif entry.endswith(PGP_EXT):
            pgp.append(value)
    if cloud and not (age or pgp):
        raise DecryptionNotSupported(f"{PROVIDER} decryption Secret {where} holds credentials for "
                                     f"{', '.join(cloud)}: cloud KMS and Vault keys are not supported by the "
                                     "sandbox; encrypt for an age or PGP key as well and put it in the Secret")
    # With age or PGP keys beside them, cloud credentials go unused: a file only they can open says so itself.
    return Keys(age=tuple(age), pgp=tuple(pgp))


def tried(keys: Keys) -> str:
    """The keys a failure tried, public side only."""
    shown = keys.recipients() + (["a PGP key"] if len(keys.pgp) == 1 else
                                 [f"{len(keys.pgp)} PGP keys"] if keys.pgp else [])
    return f" (keys tried: {', '.join(shown)})" if shown else " (no age or PGP key in the decryption Secret)"


def format_for_path(path: str) -> str:
    """The sops format a file name implies, as Flux's formatForPath (binary for anything else)."""
    if path.endswith(DOCKER_CONFIG_JSON):
        return "json"
    suffix = Path(path).suffix
    return {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".env": "dotenv", ".ini": "ini"}.get(suffix, "binary")


def format_of(data: bytes) -> str | None:
    """The format of a sops file, told by its MAC marker (None: not a sops file)."""
    for name, marker in MARKERS:
        if marker in data:
            return name
    return None


def _decrypt(text: str, input_type: str, output_type: str, keys: Keys, *, check_mac: bool, what: str) -> str:
    try:
        return sops.decrypt(text, input_type=input_type, output_type=output_type, keys=keys, check_mac=check_mac)
    except SopsError as err:
        _refuse_cloud_only(text, what)
        raise SopsError(flux_wording(str(err))) from None


# An age recipient or a PGP fingerprint in a sops file's metadata, in any of its formats.
_AGE_OR_PGP = re.compile(r"recipient\W+age1[0-9a-z]{20,}|fp\W+[0-9A-Fa-f]{16,40}")
_LOOKED_IN = re.compile(r" ?Did not find keys in locations .*?'SOPS_AGE_KEY_CMD'\.")


def flux_wording(message: str) -> str:
    """sops' command-line message worded as kustomize-controller's (which calls sops as a library)."""
    message = _LOOKED_IN.sub("", message)  # where the sops command looked for keys of its user: none here
    if message.startswith("Failed to get the data key"):
        return f"cannot get sops data key: {message}"
    if message.startswith("Error decrypting tree: "):
        return f"error decrypting sops tree: {message.removeprefix('Error decrypting tree: ')}"
    return message


def _refuse_cloud_only(text: str, what: str) -> None:
    """A file encrypted only for cloud KMS or Vault cannot be decrypted here: say so instead of sops' error."""
    if _AGE_OR_PGP.search(text):
        return
    services = sorted({name for marker, name in CLOUD_MARKERS.items() if marker in text})
    if services:
        raise DecryptionNotSupported(f"{what} is encrypted only for {', '.join(services)}: cloud KMS and Vault keys "
                                     "are not supported by the sandbox; add an age or PGP recipient (sops "
                                     "updatekeys) and put its key in the decryption Secret")


# --- before the build: files kustomize reads ----------------------------------------------------------------
@dataclass(frozen=True)
class Decrypted:
    """What ``decrypt_sources`` decrypted: the files (relative to the source root) and the values now in them in
    plain text, for masking any message that could quote them (kustomize's errors quote env file lines)."""

    files: tuple[str, ...] = ()
    values: tuple[str, ...] = field(default=(), repr=False)


def decrypt_sources(root: Path, directory: Path, keys: Keys) -> Decrypted:
    """Decrypt, in place, the sops files the kustomization at ``directory`` (and those it reaches through
    ``resources`` and ``components``) reads as secretGenerator files, env files and patches."""
    real_root = Path(os.path.realpath(root))
    decrypted: dict[str, str] = {}
    for kfile, document in _kustomizations(Path(os.path.realpath(directory)), real_root, set()):
        for path, fmt in _sources(document):
            target = _resolve(kfile.parent, path, real_root)
            if target is None or str(target) in decrypted:
                continue
            plain = _decrypt_file(target, fmt, real_root, keys)
            if plain is not None:
                decrypted[str(target)] = plain
    values = {value for plain in decrypted.values() for value in plain_values(plain)}
    return Decrypted(tuple(shown_path(Path(p), real_root) for p in decrypted),
                     tuple(sorted(values, key=len, reverse=True)))


def plain_values(plain: str) -> list[str]:
    """What of a decrypted file a message must never show: its lines, and the values of ``KEY=VALUE`` lines."""
    values = [plain.strip()]
    for line in plain.splitlines():
        line = line.strip()
        values.append(line)
        if "=" in line:
            values.append(line.partition("=")[2].strip())
        if ":" in line:
            values.append(line.partition(":")[2].strip())
    return [value for value in values if len(value) >= MIN_MASKED]


def _kustomizations(directory: Path, root: Path, seen: set[Path]) -> Iterator[tuple[Path, dict[str, Any]]]:
    if directory in seen or not directory.is_dir() or not is_inside(directory, root):
        return
    seen.add(directory)
    kfile = find_kustomization(directory)
    if kfile is None:
        return
    try:
        document = yaml.safe_load(kfile.read_text())
    except (OSError, yaml.YAMLError):
        return  # the build reports it
    if not isinstance(document, dict):
        return
    yield kfile, document
    for reference in [*(document.get("resources") or []), *(document.get("components") or [])]:
        if isinstance(reference, str) and references.is_local_relative_path(reference):
            yield from _kustomizations(Path(os.path.realpath(directory / reference)), root, seen)


def _sources(document: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for generator in document.get("secretGenerator") or []:
        if not isinstance(generator, dict):
            continue
        for source in generator.get("files") or []:
            key, _, path = str(source).partition("=")
            yield (path or key), format_for_path(key)
        envs = list(generator.get("envs") or []) + ([generator["env"]] if generator.get("env") else [])
        for env in envs:
            fmt = format_for_path(str(env))
            yield str(env), "dotenv" if fmt == "binary" else fmt
    for patch in document.get("patches") or []:
        if isinstance(patch, dict) and patch.get("path") and not references.is_remote(str(patch["path"])):
            yield str(patch["path"]), format_for_path(str(patch["path"]))


def _resolve(base: Path, path: str, root: Path) -> Path | None:
    target = Path(os.path.realpath(base / path.lstrip("/") if path.startswith("/") else base / path))
    return target if is_inside(target, root) else None


def _decrypt_file(path: Path, fmt: str, root: Path, keys: Keys) -> str | None:
    shown = shown_path(path, root)
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None  # the build names the missing file
    if not path.is_file():
        raise DecryptionError(f"error decrypting sources: {shown}: cannot decrypt irregular file as it has file "
                              "mode type bits set")
    if info.st_size > MAX_FILE_SIZE:
        raise DecryptionError(f"error decrypting sources: {shown}: cannot decrypt file with size "
                              f"({info.st_size} bytes) exceeding limit ({MAX_FILE_SIZE})")
    data = path.read_bytes()
    if dict(MARKERS).get(fmt, b'"mac": "ENC[') not in data:
        return None
    try:
        plain = _decrypt(data.decode(), fmt, fmt, keys, check_mac=True, what=shown)
    except (SopsError, UnicodeDecodeError) as err:
        raise DecryptionError(f"error decrypting sources: {shown}: {err}{tried(keys)}") from err
    path.unlink()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(plain)
    return plain


# --- after the build: objects ----------------------------------------------------------------------------------
def is_disabled(obj: Obj) -> bool:
    return str((manifest.metadata(obj).get("annotations") or {}).get(ANNOTATION, "")).lower() == DISABLED.lower()


def is_encrypted(obj: Obj) -> bool:
    """Whether the object carries sops metadata with a MAC (a whole sops document)."""
    metadata = obj.get("sops")
    return isinstance(metadata, dict) and bool(metadata.get("mac"))


def is_encrypted_secret(obj: Obj) -> bool:
    """As Flux's IsEncryptedSecret: a v1 Secret with a ``sops`` field."""
    return obj.get("kind") == "Secret" and obj.get("apiVersion") == "v1" and "sops" in obj


def _gvk(obj: Obj) -> str:
    """How kustomize's Gvk.String prints a GVK in Flux's message (``Secret.v1.[noGrp]``)."""
    api_version = str(obj.get("apiVersion", ""))
    group, _, version = api_version.rpartition("/")
    return f"{obj.get('kind') or '[noKind]'}.{version or '[noVer]'}.{group or '[noGrp]'}"


def decrypt_manifests(manifests: list[Manifest], keys: Keys) -> list[Manifest]:
    """The built objects with sops documents and sops-encrypted Secret values decrypted (a few sops processes at
    a time; the first failure in build order is raised)."""
    with ThreadPoolExecutor(max_workers=PARALLEL, thread_name_prefix="sops") as pool:
        decrypted = list(pool.map(lambda item: _decrypt_object(item.obj, keys), manifests))
    return [item if obj is None else Manifest(text=manifest.dump(obj), obj=obj)
            for item, obj in zip(manifests, decrypted, strict=True)]


def _decrypt_object(obj: Obj, keys: Keys) -> Obj | None:
    if is_disabled(obj):
        return None
    meta = manifest.metadata(obj)
    where = f"decryption failed for '{_gvk(obj)}/{meta.get('name', '')}'"
    shown = f"'{meta.get('namespace', '')}/{meta.get('name', '')}'"
    if is_encrypted(obj):
        try:
            plain = _decrypt(json.dumps(obj), "json", "json", keys, check_mac=False, what=manifest.subject(obj))
        except SopsError as err:
            raise DecryptionError(f"{where}: failed to decrypt and format {shown} {obj.get('kind')} data: "
                                  f"{err}{tried(keys)}") from err
        decoded: Obj = json.loads(plain)
        return decoded
    if obj.get("kind") != "Secret" or not isinstance(obj.get("data"), dict):
        return None
    changed = False
    data = dict(obj["data"])
    for key, encoded in data.items():
        try:
            raw = base64.b64decode(str(encoded), validate=True)
        except ValueError:
            continue  # as Flux: left for the apply to report
        fmt = format_of(raw)
        if fmt is None:
            continue
        try:
            plain = _decrypt(raw.decode(), fmt, format_for_path(key), keys, check_mac=False,
                             what=f"{manifest.subject(obj)} field '{key}'")
        except (SopsError, UnicodeDecodeError) as err:
            raise DecryptionError(f"{where}: failed to decrypt and format {shown} Secret field '{key}': "
                                  f"{err}{tried(keys)}") from err
        data[key] = base64.b64encode(plain.encode()).decode()
        changed = True
    return {**obj, "data": data} if changed else None


def encrypted_left(objects: list[Obj]) -> str | None:
    """Flux's message for a sops-encrypted Secret about to be applied without decryption (None when none is)."""
    for obj in objects:
        if is_encrypted_secret(obj) and not is_disabled(obj):
            return (f"{manifest.subject(obj)} is SOPS encrypted, configuring decryption is required for this "
                    "secret to be reconciled")
    return None
