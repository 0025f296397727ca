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


def write(path: Path, *, name: str, server: str, ca_cert: Path, token: str) -> None:
    """Write a kubeconfig (0600) that verifies the server against ``ca_cert`` and authenticates with ``token``."""
    context = f"sandbox-{name}"
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {
            "server": server,
            "certificate-authority-data": base64.b64encode(ca_cert.read_bytes()).decode(),
        }}],
        "users": [{"name": f"{context}-admin", "user": {"token": token}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": f"{context}-admin"}}],
        "current-context": context,
        "preferences": {},
    }
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
    )
