import pytest
import yaml

from sandbox.errors import InputError
from sandbox.registry.config import NotificationEndpoint, RegistryConfig, render
from sandbox.registry.container import as_seen_from_container


def test_config_has_storage_deletes_and_address() -> None:
    data = yaml.safe_load(render(RegistryConfig(addr="127.0.0.1:5555", storage="/srv/blobs", http_secret="s3")))
    assert data["storage"]["filesystem"]["rootdirectory"] == "/srv/blobs"
    assert data["storage"]["delete"]["enabled"] is True
    assert data["http"]["addr"] == "127.0.0.1:5555"
    assert data["http"]["secret"] == "s3"
    assert "notifications" not in data


def test_notification_endpoints_are_rendered_as_distribution_expects() -> None:
    endpoint = NotificationEndpoint(url="http://127.0.0.1:9000/hook/abc", name="receiver",
                                    headers={"Authorization": "Bearer t0ken"})
    data = yaml.safe_load(render(RegistryConfig(addr=":5000", storage="/var/lib/registry", notifications=(endpoint,))))
    rendered = data["notifications"]["endpoints"][0]
    assert rendered["url"] == "http://127.0.0.1:9000/hook/abc"
    assert rendered["name"] == "receiver"
    assert rendered["headers"] == {"Authorization": ["Bearer t0ken"]}  # distribution wants a list per header
    assert rendered["ignore"] == {"actions": ["pull"]}
    assert {"timeout", "threshold", "backoff"} <= rendered.keys()
    assert NotificationEndpoint.from_dict(endpoint.to_dict()) == endpoint


@pytest.mark.parametrize("url", ["", "ftp://x/y", "127.0.0.1:9000/hook", "http://"])
def test_bad_notification_url_is_an_input_error(url: str) -> None:
    with pytest.raises(InputError, match="notification URL"):
        NotificationEndpoint(url=url)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:9000/hook", "http://host.docker.internal:9000/hook"),
        ("http://localhost/hook?x=1", "http://host.docker.internal/hook?x=1"),
        ("https://receiver.example:8443/h", "https://receiver.example:8443/h"),
    ],
)
def test_loopback_receivers_are_addressed_through_the_host_gateway_from_a_container(url: str, expected: str) -> None:
    assert as_seen_from_container(url) == expected


def test_secret_headers_keep_the_registry_from_logging_them() -> None:
    # distribution prints each endpoint's headers at info level when it starts
    plain = yaml.safe_load(render(RegistryConfig(addr=":5000", storage="/s",
                                                 notifications=(NotificationEndpoint(url="http://h/x"),))))
    assert plain["log"]["level"] == "info"
    secret = NotificationEndpoint(url="http://h/x", headers={"Authorization": "Bearer t"})
    data = yaml.safe_load(render(RegistryConfig(addr=":5000", storage="/s", notifications=(secret,))))
    assert data["log"]["level"] == "warn"
