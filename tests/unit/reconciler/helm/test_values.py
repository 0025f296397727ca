"""Values composition as helm-controller's chartutil does it: order, targetPath, optional, digests, scrubbing."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from sandbox.reconciler.helm import values as hv

Obj = dict[str, Any]


def configmap(data: dict[str, str]) -> Obj:
    return {"kind": "ConfigMap", "data": data}


def secret(data: dict[str, str]) -> Obj:
    return {"kind": "Secret", "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


def lookup_of(objects: dict[tuple[str, str], Obj]) -> hv.Lookup:
    calls: list[tuple[str, str, str]] = []

    def lookup(kind: str, namespace: str, name: str) -> Obj | None:
        calls.append((kind, namespace, name))
        return objects.get((kind, name))

    lookup.calls = calls  # type: ignore[attr-defined]
    return lookup


def test_values_from_merge_in_order_then_values_on_top() -> None:
    objects = {("ConfigMap", "a"): configmap({"values.yaml": "x: 1\nnested: {a: 1, b: 1}\nlist: [1, 2]\n"}),
               ("Secret", "b"): secret({"values.yaml": "nested: {b: 2, c: 2}\nlist: [3]\n"})}
    spec = {"valuesFrom": [{"kind": "ConfigMap", "name": "a"}, {"kind": "Secret", "name": "b"}],
            "values": {"x": 9, "nested": {"c": 3}}}
    result = hv.compose_values(spec, "ns", lookup_of(objects))
    assert result.values == {"x": 9, "nested": {"a": 1, "b": 2, "c": 3}, "list": [3]}
    assert result.references == {("ConfigMap", "a"), ("Secret", "b")}


def test_target_path_applies_after_values_and_keeps_strings_when_quoted() -> None:
    objects = {("ConfigMap", "c"): configmap({"tag": "v2", "quoted": '"123"', "number": "123",
                                              "text": "a,b=c[0]"})}
    spec = {"values": {"image": {"tag": "v1", "repo": "r"}},
            "valuesFrom": [{"kind": "ConfigMap", "name": "c", "valuesKey": "tag", "targetPath": "image.tag"},
                           {"kind": "ConfigMap", "name": "c", "valuesKey": "quoted", "targetPath": "q"},
                           {"kind": "ConfigMap", "name": "c", "valuesKey": "number", "targetPath": "n"},
                           {"kind": "ConfigMap", "name": "c", "valuesKey": "text", "targetPath": "lit",
                            "literal": True}]}
    lookup = lookup_of(objects)
    result = hv.compose_values(spec, "ns", lookup)
    assert result.values == {"image": {"tag": "v2", "repo": "r"}, "q": "123", "n": 123, "lit": "a,b=c[0]"}
    assert lookup.calls == [("ConfigMap", "ns", "c")]  # type: ignore[attr-defined]  # one read per object
    assert spec["values"] == {"image": {"tag": "v1", "repo": "r"}}  # the spec is not modified


def test_target_path_list_index_keeps_other_items() -> None:
    objects = {("ConfigMap", "c"): configmap({"v": "b"})}
    spec = {"values": {"items": ["a", "x", "c"]},
            "valuesFrom": [{"kind": "ConfigMap", "name": "c", "valuesKey": "v", "targetPath": "items[1]"}]}
    assert hv.compose_values(spec, "ns", lookup_of(objects)).values == {"items": ["a", "b", "c"]}


def test_missing_reference_and_key_errors_name_the_reference() -> None:
    spec = {"valuesFrom": [{"kind": "ConfigMap", "name": "gone"}]}
    with pytest.raises(hv.ValuesReferenceError) as err:
        hv.compose_values(spec, "ns", lookup_of({}))
    assert str(err.value) == ("could not resolve ConfigMap chart values reference 'ns/gone' with key "
                              "'values.yaml': resource not found")
    spec = {"valuesFrom": [{"kind": "Secret", "name": "s", "valuesKey": "other"}]}
    with pytest.raises(hv.ValuesReferenceError, match="with key 'other': key not found"):
        hv.compose_values(spec, "ns", lookup_of({("Secret", "s"): secret({"values.yaml": "a: 1"})}))


def test_optional_references_are_skipped_when_missing() -> None:
    spec = {"valuesFrom": [{"kind": "ConfigMap", "name": "gone", "optional": True},
                           {"kind": "Secret", "name": "s", "valuesKey": "nokey", "optional": True}],
            "values": {"a": 1}}
    result = hv.compose_values(spec, "ns", lookup_of({("Secret", "s"): secret({"values.yaml": "b: 2"})}))
    assert result.values == {"a": 1}


def test_unreadable_secret_values_do_not_quote_the_secret() -> None:
    spec = {"valuesFrom": [{"kind": "Secret", "name": "s"}]}
    bad = "password: [s3cr3t-unclosed"
    with pytest.raises(hv.ValuesReferenceError) as err:
        hv.compose_values(spec, "ns", lookup_of({("Secret", "s"): secret({"values.yaml": bad})}))
    assert "s3cr3t" not in str(err.value)
    assert "failed to read values data" in str(err.value)


def test_secret_strings_are_collected_and_scrubbed() -> None:
    spec = {"valuesFrom": [{"kind": "Secret", "name": "s"},
                           {"kind": "Secret", "name": "s", "valuesKey": "token", "targetPath": "auth.token"}]}
    objects = {("Secret", "s"): secret({"values.yaml": "db:\n  password: hunter22\n  port: 5432\n",
                                        "token": "tok-abc-123"})}
    result = hv.compose_values(spec, "ns", lookup_of(objects))
    assert result.values == {"db": {"password": "hunter22", "port": 5432}, "auth": {"token": "tok-abc-123"}}
    assert {"hunter22", "tok-abc-123"} <= result.secrets
    assert result.scrub("bad value hunter22 and tok-abc-123") == "bad value *** and ***"


def test_string_data_is_read_for_offline_secrets() -> None:
    spec = {"valuesFrom": [{"kind": "Secret", "name": "s"}]}
    objects = {("Secret", "s"): {"kind": "Secret", "stringData": {"values.yaml": "a: secretvalue"}}}
    result = hv.compose_values(spec, "ns", lookup_of(objects))
    assert result.values == {"a": "secretvalue"}
    assert "secretvalue" in result.secrets


def test_digest_matches_chartutil_test_vectors() -> None:
    assert hv.digest_values({}) == hv.EMPTY_DIGEST == \
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    values = {"replicas": 3, "image": {"tag": "latest", "repository": "nginx"},
              "ports": [{"protocol": "TCP", "port": 8080}, {"port": 9090, "protocol": "UDP"}]}
    assert hv.digest_values(values) == "sha256:fcdc2b0de1581a3633ada4afee3f918f6eaa5b5ab38c3fef03d5b48d3f85d9f6"
    numeric_keys = {"replicas": 3, "test": {"632bd82398e71231a98004b6": "value4",
                                            "632bd80235a05f4192aefade": "value1",
                                            "632bd817c559818a52307da2": "value3",
                                            "632bd80ddf416cf32fd50679": "value2"}}
    assert hv.digest_values(numeric_keys) == \
        "sha256:8a980fcbeadd6f05818f07e8aec14070c22250ca3d96af1fcd5f93b3e85b4d70"


def test_composed_digest_changes_with_a_referenced_configmap() -> None:
    spec = {"valuesFrom": [{"kind": "ConfigMap", "name": "a"}]}
    first = hv.compose_values(spec, "ns", lookup_of({("ConfigMap", "a"): configmap({"values.yaml": "r: 1"})}))
    second = hv.compose_values(spec, "ns", lookup_of({("ConfigMap", "a"): configmap({"values.yaml": "r: 2"})}))
    assert first.digest != second.digest
    assert first.digest == hv.digest_values({"r": 1})
