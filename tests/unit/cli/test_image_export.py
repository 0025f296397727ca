"""``sandbox create image repository|policy|update … --export`` prints, byte for byte, what ``flux create image …
--export`` (flux2 v2.9.5) prints for the same flags; bad flags fail with flux's own message. Each case runs the real
flux CLI when it is built (`sandbox setup --flux`); a few expected outputs are also written down here so the
behaviour stays pinned where it is not."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from sandbox.cli.main import cli
from sandbox.fluxdev import release
from sandbox.tools.run import run

CASES = {
    "repository-basic": ["repository", "app", "--image", "127.0.0.1:5000/app", "--interval", "1m"],
    "repository-everything": ["repository", "app", "-n", "apps", "--image", "127.0.0.1:5000/team/app",
                              "--interval", "5m", "--scan-timeout", "30s", "--secret-ref", "creds",
                              "--cert-ref", "ca", "--label", "a=b", "--label", "c=1"],
    "repository-docker-hub": ["repository", "alpine", "--image", "docker.io/library/alpine", "--interval", "1h30m"],
    "repository-zero-interval": ["repository", "app", "--image", "alpine", "--interval", "0s"],
    "policy-semver": ["policy", "app", "--image-ref", "app", "--select-semver", ">=1.0.0 <2.0.0"],
    "policy-numeric-filter": ["policy", "app", "--image-ref", "app", "--select-numeric", "asc",
                              "--filter-regex", "^main-[a-f0-9]+-(?P<ts>[0-9]+)", "--filter-extract", "$ts"],
    "policy-alpha-desc": ["policy", "app", "--image-ref", "app", "--select-alpha", "desc"],
    "policy-regex-no-extract": ["policy", "app", "--image-ref", "app", "--select-semver", "1.x",
                                "--filter-regex", "^v(?P<v>.*)$"],
    "policy-digest-always": ["policy", "app", "--image-ref", "app", "--select-semver", "1.x",
                             "--reflect-digest", "Always", "--interval", "5m", "--label", "team=web"],
    "policy-digest-if-not-present": ["policy", "app", "--image-ref", "app", "--select-semver", "1.x",
                                     "--reflect-digest", "IfNotPresent"],
    "update-basic": ["update", "app", "--git-repo-ref", "apps", "--git-repo-path", "./deploy",
                     "--checkout-branch", "main", "--author-name", "flux", "--author-email", "flux@example.com",
                     "--commit-template", "{{range .Changed.Changes}}{{.NewValue}}{{end}}"],
    "update-push-branch": ["update", "app", "-n", "apps", "--git-repo-ref", "apps",
                           "--git-repo-namespace", "flux-system", "--git-repo-path", "./deploy",
                           "--checkout-branch", "main", "--push-branch", "image-updates", "--author-name", "flux",
                           "--author-email", "flux@example.com", "--signing-key-secret", "sk", "--interval", "5m"],
    "update-ssh-signing": ["update", "app", "--git-repo-ref", "x", "--checkout-branch", "main",
                           "--author-name", "a", "--author-email", "e", "--signing-key-secret", "s",
                           "--signing-key-type", "ssh"],
    "update-multiline-template": ["update", "app", "--git-repo-ref", "x", "--checkout-branch", "main",
                                  "--author-name", "a", "--author-email", "e",
                                  "--commit-template", "Automated update\n\n{{ range .Changed.Changes }}"
                                                       "{{ .OldValue }} -> {{ .NewValue }}\n{{ end }}"],
}

FAILURES = {
    "repository-no-image": ["repository", "app"],
    "repository-tag-in-image": ["repository", "app", "--image", "host:5000/app:1.0"],
    "repository-uppercase": ["repository", "app", "--image", "UPPER/Case"],
    "repository-bad-label": ["repository", "app", "--image", "alpine", "--label", "x"],
    "policy-no-ref": ["policy", "app", "--select-semver", "1.x"],
    "policy-no-select": ["policy", "app", "--image-ref", "app"],
    "policy-bad-numeric": ["policy", "app", "--image-ref", "app", "--select-numeric", "up"],
    "policy-bad-alpha": ["policy", "app", "--image-ref", "app", "--select-alpha", "sideways"],
    "policy-bad-regex": ["policy", "app", "--image-ref", "app", "--select-semver", "1.x", "--filter-regex", "("],
    "policy-extract-alone": ["policy", "app", "--image-ref", "app", "--select-semver", "1.x",
                             "--filter-extract", "$x"],
    "policy-bad-digest": ["policy", "app", "--image-ref", "app", "--select-semver", "1.x",
                          "--reflect-digest", "Sometimes"],
    "policy-interval-without-always": ["policy", "app", "--image-ref", "app", "--select-semver", "1.x",
                                       "--interval", "1m"],
    "policy-bad-name": ["policy", "Bad_Name", "--image-ref", "app", "--select-numeric", "asc"],
    "update-no-repo": ["update", "app"],
    "update-no-branch": ["update", "app", "--git-repo-ref", "x", "--author-name", "a"],
    "update-no-author": ["update", "app", "--git-repo-ref", "x", "--checkout-branch", "main"],
    "update-no-email": ["update", "app", "--git-repo-ref", "x", "--checkout-branch", "main", "--author-name", "a"],
    "update-key-type-alone": ["update", "app", "--git-repo-ref", "x", "--checkout-branch", "main",
                              "--author-name", "a", "--author-email", "e", "--signing-key-type", "ssh"],
    "update-bad-key-type": ["update", "app", "--git-repo-ref", "x", "--checkout-branch", "main",
                            "--author-name", "a", "--author-email", "e", "--signing-key-secret", "s",
                            "--signing-key-type", "bogus"],
}


def sandbox_export(args: list[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["create", "image", *args, "--export"])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def flux_cli() -> str:
    built = release.installed()
    if built is None:
        pytest.skip(f"needs the flux CLI of upstream Flux {release.FLUX_RELEASE}: `sandbox setup --flux` builds it")
    return str(built.binary("flux"))


def flux_export(flux: str, args: list[str]) -> tuple[int, str, str]:
    done = run([flux, "create", "image", *args, "--export"], ok_codes=(0, 1), timeout=60)
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize("args", list(CASES.values()), ids=list(CASES))
def test_export_is_byte_identical_to_flux(flux_cli: str, args: list[str]) -> None:
    code, expected, _ = flux_export(flux_cli, args)
    assert code == 0
    exit_code, printed, stderr = sandbox_export(args)
    assert exit_code == 0, stderr
    assert printed == expected


@pytest.mark.parametrize("args", list(FAILURES.values()), ids=list(FAILURES))
def test_bad_flags_fail_with_fluxs_message(flux_cli: str, args: list[str]) -> None:
    code, _, flux_stderr = flux_export(flux_cli, args)
    assert code == 1
    exit_code, printed, stderr = sandbox_export(args)
    assert exit_code == 1 and printed == ""
    flux_message = flux_stderr.strip().removeprefix("✗").strip()
    assert flux_message in " ".join(stderr.split()), (flux_message, stderr)


def test_export_without_flux_binary_pins_the_policy_yaml() -> None:
    _, printed, _ = sandbox_export(CASES["policy-numeric-filter"])
    assert printed == """---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata:
  name: app
  namespace: flux-system
spec:
  filterTags:
    extract: $ts
    pattern: ^main-[a-f0-9]+-(?P<ts>[0-9]+)
  imageRepositoryRef:
    name: app
  policy:
    numerical:
      order: asc
"""


def test_export_without_flux_binary_pins_the_update_yaml() -> None:
    _, printed, _ = sandbox_export(CASES["update-basic"])
    assert printed == """---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata:
  name: app
  namespace: flux-system
spec:
  git:
    checkout:
      ref:
        branch: main
    commit:
      author:
        email: flux@example.com
        name: flux
      messageTemplate: '{{range .Changed.Changes}}{{.NewValue}}{{end}}'
  interval: 1m0s
  sourceRef:
    kind: GitRepository
    name: apps
  update:
    path: ./deploy
    strategy: Setters
"""


def test_two_selections_are_refused_where_flux_writes_an_empty_policy() -> None:
    exit_code, printed, stderr = sandbox_export(["policy", "app", "--image-ref", "app", "--select-semver", "1.x",
                                                 "--select-alpha", "asc"])
    assert exit_code == 1 and printed == ""
    assert "only one of --select-semver, --select-numeric and --select-alpha" in stderr


def test_sandbox_only_flags_reach_the_spec() -> None:
    _, printed, _ = sandbox_export(["repository", "app", "--image", "127.0.0.1:5000/app", "--insecure",
                                    "--exclusion-list", "^.*\\.sig$", "--exclusion-list", "^dev-"])
    assert "  exclusionList:\n  - ^.*\\.sig$\n  - ^dev-\n" in printed
    assert "  insecure: true\n" in printed
