"""The registry's htpasswd mode as planned: bcrypt file and credentials 0600, the config pointing at the file and
never holding the password, the probe on the unauthenticated liveness route, the node agent given the file's path
(not the secret), and the dockerconfigjson Secret clients need."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import bcrypt
import pytest
import yaml

from sandbox.config import UpOptions
from sandbox.oci.distribution import Credentials
from sandbox.registry import auth, config
from sandbox.registry.service import RegistryService
from sandbox.state import StateDir


@pytest.fixture
def state(tmp_path: Path) -> StateDir:
    made = StateDir("auth-unit", tmp_path)
    made.create()
    return made


def test_planned_authenticated_registry(state: StateDir) -> None:
    plan = RegistryService().plan(state, UpOptions(name="auth-unit", registry="local", registry_auth=True))
    credentials = auth.load(state)
    assert credentials is not None and auth.enabled(state)
    for path in (auth.credentials_file(state), auth.htpasswd_file(state)):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    user, _, hashed = auth.htpasswd_file(state).read_text().strip().partition(":")
    # A low cost: the registry checks it on every request (regression: the default 12 made each push take seconds).
    assert user == credentials.username and hashed.startswith(f"$2y${auth.BCRYPT_ROUNDS:02d}$")
    assert auth.BCRYPT_ROUNDS <= 6
    assert bcrypt.checkpw(credentials.password.encode(), hashed.replace("$2y$", "$2b$", 1).encode())
    rendered = (config.registry_dir(state) / "config.yml").read_text()
    assert yaml.safe_load(rendered)["auth"] == {"htpasswd": {"realm": "gitops-sandbox-registry",
                                                            "path": str(auth.htpasswd_file(state))}}
    assert credentials.password not in rendered
    [component] = plan.components
    assert component.probe is not None and component.probe.url == f"http://{plan.record['registry']['host']}/"
    assert plan.node_agent_args == [f"--registry-credentials={auth.credentials_file(state)}"]
    assert credentials.password not in json.dumps(plan.record) + " ".join(plan.node_agent_args)
    assert plan.record["registry"]["auth"] == "htpasswd"


def test_credentials_survive_a_new_plan_and_plain_mode_drops_the_htpasswd(state: StateDir) -> None:
    RegistryService().plan(state, UpOptions(name="auth-unit", registry="local", registry_auth=True))
    first = auth.load(state)
    RegistryService().plan(state, UpOptions(name="auth-unit", registry="local", registry_auth=True))
    assert auth.load(state) == first
    plan = RegistryService().plan(state, UpOptions(name="auth-unit", registry="local"))
    assert not auth.enabled(state) and plan.node_agent_args == []
    assert "auth" not in yaml.safe_load((config.registry_dir(state) / "config.yml").read_text())
    assert plan.components[0].probe is not None and plan.components[0].probe.url.endswith("/v2/")


def test_dockerconfigjson_secret() -> None:
    secret = auth.dockerconfigjson_secret("regcred", "apps", ["127.0.0.1:5000", "localhost:5000"],
                                          Credentials("robot", "s3cret"))
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    config_json = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))
    entry = config_json["auths"]["localhost:5000"]
    assert (entry["username"], entry["password"]) == ("robot", "s3cret")
    assert base64.b64decode(entry["auth"]) == b"robot:s3cret"
