"""--monitoring without the Debian binaries: a clear error naming the package."""

from __future__ import annotations

import pytest

from sandbox import binaries
from sandbox.errors import InputError
from sandbox.monitoring import service


def test_missing_alertmanager_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    real = binaries.find
    monkeypatch.setattr(binaries, "find", lambda name, **kw: None if name == "prometheus-alertmanager"
                        else real(name, **kw))
    assert "prometheus-alertmanager" in service.missing()
    with pytest.raises(InputError, match=r"Debian package prometheus-alertmanager.*apt-get install "
                                         r"prometheus-alertmanager"):
        service.require(service.ALERTMANAGER)
