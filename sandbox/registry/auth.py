"""The registry's optional authenticated mode (``sandbox up --registry-auth``): distribution's ``auth.htpasswd``
with a bcrypt file, one random user and password per sandbox kept 0600 in its state directory (never printed
unless asked for), and what clients need to use them — the credentials by sandbox name and a
``kubernetes.io/dockerconfigjson`` Secret for ImageRepositories and pods."""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path
from typing import Any

import bcrypt

from sandbox.oci.distribution import Credentials
from sandbox.registry.config import registry_dir
from sandbox.state import StateDir, write_private

REALM = "gitops-sandbox-registry"
DOCKER_CONFIG_JSON = "kubernetes.io/dockerconfigjson"


def credentials_file(state: StateDir) -> Path:
    return state.secrets / "registry-credentials.json"


# distribution checks the bcrypt hash on every request (no cache): at bcrypt's default cost (12) that is ~0.27 s of
# CPU per request here, seconds per image push, scan or pull. The password is 192 random bits, so there is no
# dictionary to slow down and a low cost loses nothing (as the monitoring password's, monitoring/webauth.py).
BCRYPT_ROUNDS = 6


def htpasswd_file(state: StateDir) -> Path:
    """The bcrypt htpasswd file the registry reads (0600, beside its config)."""
    return registry_dir(state) / "htpasswd"


def htpasswd_line(credentials: Credentials) -> str:
    """``user:bcrypt-hash`` as ``htpasswd -B`` writes it (distribution accepts bcrypt only)."""
    hashed = bcrypt.hashpw(credentials.password.encode(), bcrypt.gensalt(rounds=BCRYPT_ROUNDS)).decode()
    return f"{credentials.username}:{hashed.replace('$2b$', '$2y$', 1)}\n"


def enable(state: StateDir) -> Credentials:
    """Make (once) the sandbox's registry user and password and its htpasswd file; returns the credentials."""
    credentials = load(state)
    if credentials is None:
        credentials = Credentials(f"sandbox-{secrets.token_hex(3)}", secrets.token_urlsafe(24))
        write_private(credentials_file(state), json.dumps({"username": credentials.username,
                                                           "password": credentials.password}) + "\n")
    htpasswd_file(state).parent.mkdir(parents=True, exist_ok=True)
    write_private(htpasswd_file(state), htpasswd_line(credentials))
    return credentials


def disable(state: StateDir) -> None:
    htpasswd_file(state).unlink(missing_ok=True)


def enabled(state: StateDir) -> bool:
    return htpasswd_file(state).exists()


def load(state: StateDir) -> Credentials | None:
    path = credentials_file(state)
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    return Credentials(str(data["username"]), str(data["password"]))


def credentials_of(name: str) -> Credentials | None:
    """The registry credentials of sandbox ``name``; None when its registry runs without authentication."""
    state = StateDir(name)
    return load(state) if state.exists() and enabled(state) else None


def docker_config(hosts: tuple[str, ...] | list[str], credentials: Credentials) -> dict[str, Any]:
    """A docker ``config.json`` granting ``credentials`` on each of ``hosts``."""
    token = base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode()
    return {"auths": {host: {"username": credentials.username, "password": credentials.password, "auth": token}
                      for host in hosts}}


def dockerconfigjson_secret(name: str, namespace: str, hosts: tuple[str, ...] | list[str],
                            credentials: Credentials) -> dict[str, Any]:
    """A Secret of type ``kubernetes.io/dockerconfigjson`` (what ``kubectl create secret docker-registry``
    makes) for an ImageRepository's ``spec.secretRef`` or a pod's ``imagePullSecrets``."""
    config = json.dumps(docker_config(hosts, credentials), separators=(",", ":"))
    return {"apiVersion": "v1", "kind": "Secret", "type": DOCKER_CONFIG_JSON,
            "metadata": {"name": name, "namespace": namespace},
            "data": {".dockerconfigjson": base64.b64encode(config.encode()).decode()}}


def pull_secret_of(sandbox_name: str, namespace: str, secret_name: str = "registry-credentials") -> dict[str, Any]:
    """The dockerconfigjson Secret for sandbox ``sandbox_name``'s registry (every host it answers to); InputError
    when that registry runs without authentication (`sandbox up --registry-auth` turns it on)."""
    from sandbox.errors import InputError
    from sandbox.registry.base import endpoint_of

    endpoint = endpoint_of(sandbox_name)
    credentials = credentials_of(sandbox_name)
    if credentials is None:
        raise InputError(f"the registry of sandbox {sandbox_name!r} runs without authentication: no credentials to "
                         f"put in a Secret (start it with `sandbox up --name {sandbox_name} --registry-auth`)")
    hosts = list(dict.fromkeys([*endpoint.hosts, endpoint.cluster_host or endpoint.host]))
    return dockerconfigjson_secret(secret_name, namespace, hosts, credentials)
