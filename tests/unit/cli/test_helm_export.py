"""``sandbox create source helm|helmrelease --export`` prints, byte for byte, what ``flux create … --export`` (flux2
v2.9.5) prints for the same flags. The expected YAML of the first cases is flux2's own golden files
(cmd/flux/testdata/create_hr, create_source_helm); the others were produced by flux2's code path (its
create_helmrelease.go / create_source_helm.go building the object, sigs.k8s.io/yaml v1.6.0 marshalling it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from sandbox.cli.main import cli

DATA = Path(__file__).parent / "data"


def export(*args: str) -> str:
    result = CliRunner().invoke(cli, [*args, "--export"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return result.stdout


# flux create helmrelease podinfo --source Helmrepository/podinfo --chart podinfo --interval=1m0s --export
BASIC = """---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: podinfo
  namespace: flux-system
spec:
  chart:
    spec:
      chart: podinfo
      reconcileStrategy: ChartVersion
      sourceRef:
        kind: HelmRepository
        name: podinfo
  interval: 1m0s
"""

# flux create helmrelease podinfo --chart-ref OCIRepository/podinfo --interval=1m0s --export
CHART_REF_OCI = """---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: podinfo
  namespace: flux-system
spec:
  chartRef:
    kind: OCIRepository
    name: podinfo
  interval: 1m0s
"""

# flux create helmrelease podinfo --chart-ref HelmChart/podinfo --interval=1m0s --export
CHART_REF_HELMCHART = CHART_REF_OCI.replace("OCIRepository", "HelmChart")

# flux create hr web -n apps --source HelmRepository/podinfo.flux-system --chart podinfo
#   --chart-version ">=6.0.0 <7.0.0" --target-namespace prod --create-target-namespace --release-name web
#   --interval 10m --depends-on db --depends-on infra/cache --values values-1.yaml --values values-2.yaml
#   --values-from ConfigMap/web-values --values-from secret/web-secret --chart-interval 90s --label team=web --export
EVERYTHING = """---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  labels:
    team: web
  name: web
  namespace: apps
spec:
  chart:
    spec:
      chart: podinfo
      interval: 1m30s
      reconcileStrategy: ChartVersion
      sourceRef:
        kind: HelmRepository
        name: podinfo
        namespace: flux-system
      version: '>=6.0.0 <7.0.0'
  dependsOn:
  - name: db
  - name: cache
    namespace: infra
  install:
    createNamespace: true
  interval: 10m0s
  releaseName: web
  storageNamespace: prod
  targetNamespace: prod
  values:
    annotations:
      _under: d
      Zed: c
      key9: b
      key10: a
      "on": "off"
    big: 1.2345675e+06
    date: "2024-01-01"
    empty: {}
    enabled: true
    hex: "0x1F"
    image:
      repository: ghcr.io/x/y
      tag: "2.0"
    list:
    - a
    - "true"
    - 3
    longtext: a very long string that goes beyond eighty characters for sure because
      it keeps going and going on
    multiline: |
      line1
      line2
    nothing: null
    port: 8080
    ratio: 0.5
    replicaCount: 3
    tiny: 1e-06
    version: '>4.0.0'
  valuesFrom:
  - kind: ConfigMap
    name: web-values
  - kind: Secret
    name: web-secret
"""

# flux create hr web -n apps --chart-ref OCIRepository/podinfo.shared --interval 90s --crds CreateReplace
#   --service-account deployer --export
CRDS = """---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: web
  namespace: apps
spec:
  chartRef:
    kind: OCIRepository
    name: podinfo
    namespace: shared
  install:
    crds: Create
  interval: 1m30s
  serviceAccountName: deployer
  upgrade:
    crds: CreateReplace
"""

# flux create hr web --chart-ref HelmChart/web --values empty.yaml --export
EMPTY_VALUES = """---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: web
  namespace: flux-system
spec:
  chartRef:
    kind: HelmChart
    name: web
  interval: 1m0s
  values: {}
"""

# flux create source helm podinfo --url=https://stefanprodan.github.io/charts/podinfo --interval 5m --export
REPO_HTTPS = """---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: podinfo
  namespace: flux-system
spec:
  interval: 5m0s
  url: https://stefanprodan.github.io/charts/podinfo
"""

# flux create source helm podinfo --url=oci://ghcr.io/stefanprodan/charts/podinfo --interval 5m --secret-ref=creds
#   --export
REPO_OCI_SECRET = """---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: podinfo
  namespace: flux-system
spec:
  interval: 5m0s
  secretRef:
    name: creds
  type: oci
  url: oci://ghcr.io/stefanprodan/charts/podinfo
"""

# flux create source helm charts --url https://charts.example.com/stable --interval 1h30m --fetch-timeout 30s
#   --secret-ref creds --pass-credentials --export
REPO_CREDENTIALS = """---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: charts
  namespace: flux-system
spec:
  interval: 1h30m0s
  passCredentials: true
  secretRef:
    name: creds
  timeout: 30s
  url: https://charts.example.com/stable
"""


@pytest.mark.parametrize(("args", "expected"), [
    (["create", "helmrelease", "podinfo", "--source", "Helmrepository/podinfo", "--chart", "podinfo",
      "--interval=1m0s"], BASIC),
    (["create", "hr", "podinfo", "--source", "Helmrepository/podinfo", "--chart", "podinfo"], BASIC),
    (["create", "helmrelease", "podinfo", "--chart-ref", "OCIRepository/podinfo", "--interval=1m0s"], CHART_REF_OCI),
    (["create", "helmrelease", "podinfo", "--chart-ref", "HelmChart/podinfo", "--interval=1m0s"], CHART_REF_HELMCHART),
    (["create", "hr", "web", "-n", "apps", "--source", "HelmRepository/podinfo.flux-system", "--chart", "podinfo",
      "--chart-version", ">=6.0.0 <7.0.0", "--target-namespace", "prod", "--create-target-namespace",
      "--release-name", "web", "--interval", "10m", "--depends-on", "db", "--depends-on", "infra/cache",
      "--values", str(DATA / "values-1.yaml"), "--values", str(DATA / "values-2.yaml"),
      "--values-from", "ConfigMap/web-values", "--values-from", "secret/web-secret", "--chart-interval", "90s",
      "--label", "team=web"], EVERYTHING),
    (["create", "hr", "web", "-n", "apps", "--chart-ref", "OCIRepository/podinfo.shared", "--interval", "90s",
      "--crds", "CreateReplace", "--service-account", "deployer"], CRDS),
    (["create", "source", "helm", "podinfo", "--url=https://stefanprodan.github.io/charts/podinfo", "--interval",
      "5m"], REPO_HTTPS),
    (["create", "source", "helm", "podinfo", "--url=oci://ghcr.io/stefanprodan/charts/podinfo", "--interval", "5m",
      "--secret-ref=creds"], REPO_OCI_SECRET),
    (["create", "source", "helm", "charts", "--url", "https://charts.example.com/stable", "--interval", "1h30m",
      "--fetch-timeout", "30s", "--secret-ref", "creds", "--pass-credentials"], REPO_CREDENTIALS),
], ids=["basic", "hr-alias", "chart-ref-oci", "chart-ref-helmchart", "every-flag-and-values", "crds",
        "repo-https", "repo-oci-secret", "repo-credentials"])
def test_export_prints_what_flux_create_prints(args: list[str], expected: str) -> None:
    assert export(*args) == expected


def test_empty_values_file_gives_empty_values(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert export("create", "hr", "web", "--chart-ref", "HelmChart/web", "--values", str(empty)) == EMPTY_VALUES


@pytest.mark.parametrize(("args", "message"), [
    (["create", "helmrelease", "podinfo"], "chart or chart-ref is required"),
    (["create", "helmrelease", "podinfo", "--chart", "podinfo", "--chart-ref", "foobar/podinfo"],
     "cannot use --chart in combination with --chart-ref"),
    (["create", "helmrelease", "podinfo", "--source", "foobar/podinfo", "--chart", "podinfo"],
     'invalid argument "foobar/podinfo" for "--source" flag: source kind \'foobar\' is not supported, must be one '
     "of: HelmRepository, GitRepository, Bucket"),
    (["create", "helmrelease", "podinfo", "--chart-ref", "foobar/podinfo"],
     "chart reference kind 'foobar' is not supported, must be one of: OCIRepository, HelmChart"),
    (["create", "helmrelease", "podinfo", "--chart-ref", "HelmChart/podinfo", "--values-from", "Deployment/x"],
     "reference kind 'Deployment' is not supported, must be one of: Secret, ConfigMap"),
    (["create", "helmrelease", "Pod_Info", "--chart-ref", "HelmChart/podinfo"], "name 'Pod_Info' is invalid"),
    (["create", "helmrelease", "podinfo", "--chart", "podinfo"], "--source is required with --chart"),
    (["create", "source", "helm", "podinfo", "--url=git://example.com/charts"],
     "url scheme 'git' not supported, can be: http, https and oci"),
    (["create", "source", "helm", "podinfo", "--url=https:///charts"], "url host is required"),
    (["create", "source", "helm", "podinfo", "--url=https://x", "--interval", "soon"], "--interval: 'soon' is not a"),
], ids=["no-chart", "chart-and-chart-ref", "source-kind", "chart-ref-kind", "values-from-kind", "bad-name",
        "chart-without-source", "url-scheme", "url-host", "bad-interval"])
def test_bad_flags_fail_with_flux_messages(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, [*args, "--export"], catch_exceptions=False)
    assert result.exit_code != 0
    assert message in result.stderr.replace("\n", " ")
    assert result.stdout == ""


def test_unreadable_values_file_is_named(tmp_path: Path) -> None:
    broken = tmp_path / "values.yaml"
    broken.write_text("a: [unclosed\n")
    result = CliRunner().invoke(cli, ["create", "hr", "web", "--chart-ref", "HelmChart/web", "--values", str(broken),
                                      "--export"], catch_exceptions=False)
    assert result.exit_code != 0
    assert f"converting values to JSON from {broken} failed" in result.stderr.replace("\n", " ")


# flux create hr web --chart-ref HelmChart/web --values values-go-edges.yaml --export: go-yaml v2 reads the YAML 1.1
# words (y, N, on, 017, 0o17, 1_000) and encoding/json makes every number a float64 (12345678901234567890 loses
# digits, 3.0 prints as 3); timestamps and base-60 stay strings; keys 1 and true stay two keys.
GO_EDGES = EMPTY_VALUES.replace("  values: {}\n", """  values:
    "1": int key
    "2.5": float key
    big: 12345678901234567000
    dot: 0.5
    empty: null
    exp: 1000
    flag: true
    hexv: 31
    huge: 1.2345678901234569e+23
    merge:
      base:
        a: 1
        b: 2
      child:
        a: 1
        b: 3
    neg: 0
    negbig: -9.223372036854776e+18
    oct2: 15
    octal: 15
    other: false
    sixty: "1:20"
    tilde: null
    "true": bool key
    ts: "2001-12-14t21:59:43.10-05:00"
    under: 1000
    whole: 3
    words:
    - true
    - false
    - true
    - false
    - true
    - "y"
""")


def test_values_files_are_read_as_go_reads_them() -> None:
    assert export("create", "hr", "web", "--chart-ref", "HelmChart/web", "--values",
                  str(DATA / "values-go-edges.yaml")) == GO_EDGES


@pytest.mark.parametrize("command", [
    ["get", "helmreleases"], ["get", "sources", "helm"], ["get", "sources", "chart"],
    ["create", "source", "helm"], ["create", "helmrelease"], ["reconcile", "helmrelease"],
    ["reconcile", "source", "helm"], ["reconcile", "source", "chart"], ["tree", "helmrelease"],
    ["suspend"], ["resume"],
], ids=" ".join)
def test_every_helm_command_help_teaches_with_an_example(command: list[str]) -> None:
    result = CliRunner().invoke(cli, [*command, "--help"], catch_exceptions=False)
    assert result.exit_code == 0
    assert "Example" in result.stdout
    assert "sandbox " + " ".join(command[:1]) in result.stdout
