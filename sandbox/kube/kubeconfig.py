"""Read and write kubeconfig files (only the parts the sandbox needs: server, CA, token or client cert)."""

from __future__ import annotations

import base64
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sandbox.errors import InputError
from sandbox.state import write_private


@dataclass(frozen=True)
class Connection:
    server: str
    ca_pem: bytes | None
    token: str | None
    cert_pem: bytes | None
    key_pem: bytes | None
    insecure: bool = False
    impersonate: str | None = None  # the user's `as`: every request acts as that user
    impersonate_groups: tuple[str, ...] = ()

    def ssl_context(self) -> ssl.SSLContext:
        """A TLS context verifying the server with the kubeconfig's CA and presenting its client certificate."""
        context = ssl.create_default_context(cadata=self.ca_pem.decode() if self.ca_pem else None)
        if self.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.cert_pem and self.key_pem:
            # load_cert_chain only reads files: write them privately for the instant it takes, then remove them.
            with tempfile.TemporaryDirectory(prefix="sandbox-kube-") as tmp:
                cert, key = Path(tmp) / "client.crt", Path(tmp) / "client.key"
                write_private(cert, self.cert_pem)
                write_private(key, self.key_pem)
                context.load_cert_chain(cert, key)
        return context


def write(path: Path, *, name: str, server: str, ca_cert: Path | bytes, token: str, user: str = "admin",
          impersonate: str | None = None, impersonate_groups: tuple[str, ...] = ()) -> None:
    """Write a kubeconfig (0600) that verifies the server against ``ca_cert`` (a file or PEM bytes) and
    authenticates with ``token``; ``impersonate``: act as that user (and ``impersonate_groups``), as `kubectl --as`."""
    context = f"sandbox-{name}"
    ca_pem = ca_cert if isinstance(ca_cert, bytes) else ca_cert.read_bytes()
    credentials: dict[str, Any] = {"token": token}
    if impersonate:
        credentials["as"] = impersonate
        if impersonate_groups:
            credentials["as-groups"] = list(impersonate_groups)
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {
            "server": server,
            "certificate-authority-data": base64.b64encode(ca_pem).decode(),
        }}],
        "users": [{"name": f"{context}-{user}", "user": credentials}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": f"{context}-{user}"}}],
        "current-context": context,
        "preferences": {},
    }
    write_private(path, yaml.safe_dump(document, sort_keys=False))


def write_impersonating(source: Path, path: Path, user: str) -> None:
    """Copy kubeconfig ``source`` to ``path`` (0600) with its current user acting as ``user`` (its ``as``), as
    ``kubectl --as``: for the clients that take a kubeconfig file (the Helm SDK)."""
    document = yaml.safe_load(source.read_text())
    context = _pick(document.get("contexts", []), document.get("current-context", ""), "context", source)
    for entry in document.get("users") or []:
        if entry.get("name") == context.get("user"):
            entry["user"] = {**(entry.get("user") or {}), "as": user}
            entry["user"].pop("as-groups", None)
    write_private(path, yaml.safe_dump(document, sort_keys=False))


def _pick(items: list[dict[str, Any]], name: str, what: str, path: Path | str) -> dict[str, Any]:
    for item in items or []:
        if item.get("name") == name:
            value = item.get(what)
            return value if isinstance(value, dict) else {}
    raise InputError(f"{path}: no {what} named {name!r}; check the kubeconfig's contexts")


def _data(entry: dict[str, Any], key: str) -> bytes | None:
    if entry.get(f"{key}-data"):
        return base64.b64decode(entry[f"{key}-data"])
    if entry.get(key):
        return Path(entry[key]).read_bytes()
    return None


def load(path: Path, context: str | None = None) -> Connection:
    """Parse ``path`` into what an HTTP client needs."""
    try:
        text = path.read_text()
    except FileNotFoundError as err:
        raise InputError(f"kubeconfig {path} does not exist; is the sandbox up? (`sandbox status`)") from err
    return loads(text, str(path), context)


def loads(text: str, where: str, context: str | None = None) -> Connection:
    """Parse kubeconfig ``text`` (``where`` names it in errors, e.g. the Secret it came from)."""
    path = where
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise InputError(f"kubeconfig {path} is not valid YAML: {err}") from err
    if not isinstance(document, dict):
        raise InputError(f"kubeconfig {path} is empty or not a mapping")
    context_name = context or document.get("current-context")
    if not context_name:
        raise InputError(f"kubeconfig {path} has no current-context; pass a context name")
    ctx = _pick(document.get("contexts", []), context_name, "context", path)
    cluster = _pick(document.get("clusters", []), ctx.get("cluster", ""), "cluster", path)
    user = _pick(document.get("users", []), ctx.get("user", ""), "user", path) if ctx.get("user") else {}
    token = user.get("token")
    if not token and user.get("tokenFile"):
        token = Path(user["tokenFile"]).read_text().strip()
    return Connection(
        server=str(cluster.get("server", "")).rstrip("/"),
        ca_pem=_data(cluster, "certificate-authority"),
        token=token,
        cert_pem=_data(user, "client-certificate"),
        key_pem=_data(user, "client-key"),
        insecure=bool(cluster.get("insecure-skip-tls-verify", False)),
        impersonate=user.get("as") or None,
        impersonate_groups=tuple(user.get("as-groups") or ()),
    )
