import base64

import pytest

from sandbox.reconciler.kustomize import substitute
from sandbox.reconciler.kustomize.errors import SubstitutionError
from sandbox.reconciler.kustomize.manifest import Manifest, load
from sandbox.reconciler.kustomize.substitute import BadSubstitution, UnsetVariable, Variables, expand

EXPANSIONS = [
    # (id, variables, text, expected) — non-strict, so unset variables read as ""
    ("plain-text", {}, "no variables here", "no variables here"),
    ("braced", {"app": "web"}, "name: ${app}", "name: web"),
    ("dollar-without-braces-untouched", {"app": "web"}, "echo $app $HOME", "echo $app $HOME"),
    ("escaped-dollar", {"app": "web"}, "$${app}", "${app}"),
    ("escaped-then-expanded", {"a": "1"}, "$$${a}", "$1"),
    ("escape-collapses-double-dollar", {}, "pid=$$", "pid=$"),
    ("lone-dollar-at-end", {}, "cost: 5$", "cost: 5$"),
    ("default-colon-equals-unset", {}, "${env:=dev}", "dev"),
    ("default-colon-equals-set", {"env": "prod"}, "${env:=dev}", "prod"),
    ("default-colon-equals-empty", {"env": ""}, "${env:=dev}", "dev"),
    ("default-colon-dash", {}, "${env:-dev}", "dev"),
    ("default-equals-empty-value-uses-default", {"env": ""}, "${env=dev}", "dev"),
    ("default-nested", {"fallback": "eu"}, "${region:=${fallback}}", "eu"),
    ("default-nested-with-suffix", {"d": "foo1"}, "${v=prefix${d}-suffix}", "prefixfoo1-suffix"),
    ("default-empty", {}, "[${v:=}]", "[]"),
    ("length-counts-bytes", {"v": "abcdEFGH28ij"}, "${#v}", "12"),
    ("upper-first", {"v": "abc"}, "${v^}", "Abc"),
    ("upper-all", {"v": "abc"}, "${v^^}", "ABC"),
    ("lower-first", {"v": "ABC"}, "${v,}", "aBC"),
    ("lower-all", {"v": "ABC"}, "${v,,}", "abc"),
    ("substring-offset", {"p": "/home/bozo/ideas"}, "${p:11}", "ideas"),
    ("substring-offset-length", {"p": "/home/bozo/ideas/x"}, "${p:11:5}", "ideas"),
    ("substring-negative-length", {"p": "[abc]"}, "${p:1:-1}", "abc"),
    ("substring-past-end", {"p": "abc"}, "${p:10}", ""),
    ("substring-not-a-number", {"p": "abc"}, "${p:x}", "abc"),
    ("trim-shortest-prefix", {"f": "bash.string.txt"}, "${f#*.}", "string.txt"),
    ("trim-longest-prefix", {"f": "bash.string.txt"}, "${f##*.}", "txt"),
    ("trim-longest-prefix-crosses-slash", {"f": "path/to/file"}, "${f##*/}", "file"),
    ("trim-shortest-suffix", {"f": "bash.string.txt"}, "${f%.*}", "bash.string"),
    ("trim-longest-suffix", {"f": "bash.string.txt"}, "${f%%.*}", "bash"),
    ("trim-no-match", {"f": "abc"}, "${f#x*}", "abc"),
    ("trim-bad-pattern-left-alone", {"f": "abc"}, "${f#[}", "abc"),
    ("replace-first", {"s": "abcABCabc"}, "${s/abc/x}", "xABCabc"),
    ("replace-all", {"s": "abcABCabc"}, "${s//abc/x}", "xABCx"),
    ("replace-prefix", {"s": "abcABCabc"}, "${s/#abc/x}", "xABCabc"),
    ("replace-suffix", {"s": "abcABCabc"}, "${s/%abc/x}", "abcABCx"),
    ("replace-prefix-empty-pattern-prepends", {"s": "v"}, "${s/#/pre-}", "pre-v"),
    ("replace-suffix-empty-pattern-appends", {"s": "v"}, "${s/%/-post}", "v-post"),
    ("replace-escaped-slash", {"s": "a/b/c"}, r"${s//\//-}", "a-b-c"),
    ("replace-with-nothing", {"s": "a.b"}, "${s/./}", "ab"),
    ("unset-non-strict-is-empty", {}, "x=${missing}", "x="),
    ("many-in-one-line", {"a": "1", "b": "2"}, "${a}-${b}-${a}", "1-2-1"),
    ("multiline", {"a": "1"}, "x: ${a}\ny: $${a}\n", "x: 1\ny: ${a}\n"),
]


@pytest.mark.parametrize(("variables", "text", "expected"), [case[1:] for case in EXPANSIONS],
                         ids=[case[0] for case in EXPANSIONS])
def test_expand(variables: dict[str, str], text: str, expected: str) -> None:
    assert expand(text, variables, strict=False) == expected


STRICT = [
    ("set-variable", {"foo": "bar"}, "${foo}", "bar"),
    ("set-but-empty-is-fine", {"foo": ""}, "[${foo}]", "[]"),
    ("missing-with-colon-equals-default", {}, "${missing:=d}", "d"),
    ("missing-with-colon-dash-default", {}, "${missing:-d}", "d"),
    ("missing-with-equals-default", {}, "${missing=d}", "d"),
]


@pytest.mark.parametrize(("variables", "text", "expected"), [case[1:] for case in STRICT],
                         ids=[case[0] for case in STRICT])
def test_expand_strict_accepts(variables: dict[str, str], text: str, expected: str) -> None:
    assert expand(text, variables, strict=True) == expected


@pytest.mark.parametrize("text", ["${missing}", "${#missing}", "${missing^^}", "${missing,}", "${missing:0}",
                                  "${missing:0:2}", "${missing/a/b}", "${missing//a/b}", "${missing#a}",
                                  "${missing%%a}", "${set:=${missing}}"],
                         ids=lambda text: text)
def test_expand_strict_refuses_unset_variables(text: str) -> None:
    with pytest.raises(UnsetVariable) as info:
        expand(text, {"set": "x"}, strict=True)
    assert info.value.variable == "missing"


@pytest.mark.parametrize(("text", "problem"), [
    ("${var", "missing closing brace"),
    ("${var-default}", "missing closing brace"),  # Flux's parser has no ${var-default}
    ("${}", "unable to parse variable name"),
    ("${ var}", "unable to parse variable name"),
    ("${var:=default", "unable to parse substitution within function"),
    ("${var/a}", "bad substitution"),
    ("${var//.}", "bad substitution"),  # a replacement needs its second slash, even when empty
    ("${#}", "bad substitution"),
    ("${var^x}", "bad substitution"),
], ids=lambda value: value if value.startswith("$") else "")
def test_expand_rejects_what_flux_cannot_parse(text: str, problem: str) -> None:
    with pytest.raises(BadSubstitution) as info:
        expand(text, {"var": "x"}, strict=False)
    assert info.value.problem == problem


# --- variables ------------------------------------------------------------------------------------------

def _secret(name: str, **data: str) -> dict[str, object]:
    return {"kind": "Secret", "metadata": {"name": name},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


def _configmap(name: str, **data: str) -> dict[str, object]:
    return {"kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def test_variables_merge_in_order_and_inline_substitute_wins() -> None:
    spec = {"postBuild": {
        "substitute": {"region": "inline"},
        "substituteFrom": [{"kind": "ConfigMap", "name": "first"}, {"kind": "Secret", "name": "second"}]}}
    fetched = {("ConfigMap", "first"): _configmap("first", region="cm", tier="cm", only_cm="1"),
               ("Secret", "second"): _secret("second", tier="secret", token="s3cr3t-value")}
    variables = substitute.load_variables(spec, fetched)
    assert variables.values == {"region": "inline", "tier": "secret", "only_cm": "1", "token": "s3cr3t-value"}
    assert "s3cr3t-value" in variables.secret_values


def test_newlines_are_removed_from_values() -> None:
    spec = {"postBuild": {"substitute": {"a": "line1\nline2"},
                          "substituteFrom": [{"kind": "Secret", "name": "s"}]}}
    variables = substitute.load_variables(spec, {("Secret", "s"): _secret("s", b="x\ny\n")})
    assert variables.values == {"a": "line1line2", "b": "xy"}


def test_optional_reference_may_be_missing() -> None:
    spec = {"postBuild": {"substituteFrom": [{"kind": "ConfigMap", "name": "gone", "optional": True}]}}
    assert substitute.load_variables(spec, {("ConfigMap", "gone"): None}).values == {}


def test_required_reference_missing_is_an_error_naming_it() -> None:
    spec = {"postBuild": {"substituteFrom": [{"kind": "Secret", "name": "cluster-vars"}]}}
    with pytest.raises(SubstitutionError, match=r"Secret/cluster-vars.*optional: true"):
        substitute.load_variables(spec, {})


@pytest.mark.parametrize("name", ["my-var", "1st", "dotted.name", "sp ace", ""])
def test_invalid_variable_names_are_refused(name: str) -> None:
    with pytest.raises(SubstitutionError, match=r"var name is invalid.*spec\.postBuild\.substitute"):
        substitute.load_variables({"postBuild": {"substitute": {name: "v"}}}, {})


def test_invalid_name_from_a_configmap_names_its_source() -> None:
    spec = {"postBuild": {"substituteFrom": [{"kind": "ConfigMap", "name": "vars"}]}}
    with pytest.raises(SubstitutionError, match=r"ConfigMap/vars key 'app.kubernetes.io'"):
        substitute.load_variables(spec, {("ConfigMap", "vars"): _configmap("vars", **{"app.kubernetes.io": "x"})})


# --- substituting objects -------------------------------------------------------------------------------

def _manifest(text: str) -> Manifest:
    return Manifest(text=text, obj=load(text))


DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: apps
spec:
  replicas: ${replicas:=1}
  template:
    spec:
      containers:
      - image: nginx:${tag}
        env:
        - name: PORT
          value: "${port}"
"""


def test_substitution_works_on_the_text_so_its_quotes_decide_types() -> None:
    # The text here keeps "${port}" quoted; kustomize's own output drops such quotes (see test_pipeline).
    spec = {"postBuild": {"substitute": {"replicas": "3", "tag": "1.27", "port": "8080"}}}
    [obj] = substitute.substitute([_manifest(DEPLOYMENT)], spec, substitute.load_variables(spec, {}))
    assert obj["spec"]["replicas"] == 3
    container = obj["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "nginx:1.27"
    assert container["env"][0]["value"] == "8080"


def test_no_variables_means_no_substitution_unless_strategy_always() -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  env: ${env:=dev}\n"
    spec: dict[str, object] = {"postBuild": {}}
    [untouched] = substitute.substitute([_manifest(text)], spec, Variables())
    assert untouched["data"]["env"] == "${env:=dev}"
    spec = {"postBuild": {"substituteStrategy": "Always"}}
    [expanded] = substitute.substitute([_manifest(text)], spec, Variables())
    assert expanded["data"]["env"] == "dev"


@pytest.mark.parametrize("where", ["labels", "annotations"])
def test_objects_can_opt_out(where: str) -> None:
    text = (f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  {where}:\n"
            f"    kustomize.toolkit.fluxcd.io/substitute: disabled\ndata:\n  script: echo ${{HOME}}\n")
    spec = {"postBuild": {"substitute": {"HOME": "/nowhere"}}}
    [obj] = substitute.substitute([_manifest(text)], spec, substitute.load_variables(spec, {}))
    assert obj["data"]["script"] == "echo ${HOME}"


def test_strict_missing_variable_error_names_object_variable_and_line() -> None:
    spec = {"postBuild": {"substitute": {"replicas": "2", "port": "80"}}}
    with pytest.raises(SubstitutionError) as info:
        substitute.substitute([_manifest(DEPLOYMENT)], spec, substitute.load_variables(spec, {}), strict=True)
    message = str(info.value)
    assert "Deployment/apps/web" in message and '"tag"' in message and "line 11" in message
    assert "variable not set (strict mode)" in message


def test_non_strict_missing_variable_becomes_empty() -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  url: https://${host}/api\n"
    spec = {"postBuild": {"substitute": {"port": "80"}}}
    [obj] = substitute.substitute([_manifest(text)], spec, substitute.load_variables(spec, {}), strict=False)
    assert obj["data"]["url"] == "https:///api"


def test_bad_expression_error_names_object_and_line() -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: ${oops\n"
    spec = {"postBuild": {"substitute": {"x": "1"}}}
    with pytest.raises(SubstitutionError, match=r"ConfigMap/c.*missing closing brace at line 6"):
        substitute.substitute([_manifest(text)], spec, substitute.load_variables(spec, {}))


def test_secret_values_never_appear_in_errors() -> None:
    secret_value = "p@ss: {word"  # breaks the YAML once substituted unquoted
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  password: ${password}\n"
    spec = {"postBuild": {"substituteFrom": [{"kind": "Secret", "name": "creds"}]}}
    variables = substitute.load_variables(spec, {("Secret", "creds"): _secret("creds", password=secret_value)})
    with pytest.raises(SubstitutionError) as info:
        substitute.substitute([_manifest(text)], spec, variables)
    message = str(info.value)
    assert "ConfigMap/c" in message and "invalid after substitution" in message
    assert secret_value not in message and "word" not in message
