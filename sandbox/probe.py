"""Health probes of sandbox components over HTTP(S) on loopback, verifying TLS against the sandbox CA and presenting
a client certificate where the component demands one (etcd)."""

from __future__ import annotations

import base64
import ssl
import urllib.error
import urllib.request
from pathlib import Path

from sandbox.state import Probe


def http_ok(probe: Probe, timeout: float = 1.0) -> tuple[bool, str]:
    """GET ``probe.url``: (True, body) on HTTP 200 whose body contains ``expect_body``; else (False, why)."""
    context: ssl.SSLContext | None = None
    try:
        if probe.url.startswith("https://"):
            context = ssl.create_default_context(cafile=probe.ca_file or None)
            if probe.cert_file:
                context.load_cert_chain(probe.cert_file, probe.key_file or None)
        request = urllib.request.Request(probe.url)
        if probe.token_file:
            token = Path(probe.token_file).read_text().strip()
            request.add_header("Authorization", f"Bearer {token}")
        if probe.username:
            password = Path(probe.password_file).read_text().strip()
            credentials = base64.b64encode(f"{probe.username}:{password}".encode()).decode()
            request.add_header("Authorization", f"Basic {credentials}")
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            body = response.read(4096).decode(errors="replace")
            if response.status != 200:
                return False, f"HTTP {response.status}"
            if probe.expect_body and probe.expect_body not in body:
                return False, f"unexpected body: {body[:200]!r}"
            return True, body
    except urllib.error.HTTPError as err:
        return False, f"HTTP {err.code}"
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        return False, f"{reason}"
