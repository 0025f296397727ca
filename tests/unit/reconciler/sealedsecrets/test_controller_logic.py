"""The controller's pure parts: the Synced status as upstream writes it, and how an existing Secret is updated."""

from __future__ import annotations

from sandbox.reconciler.sealedsecrets.controller import PATCH, _merged, controlled_by, synced_status


def sealed(generation: int = 1, status: dict[str, object] | None = None) -> dict[str, object]:
    return {"metadata": {"name": "db", "namespace": "app", "uid": "u1", "generation": generation},
            "status": status or {}}


def test_synced_true_has_no_message_and_observes_the_generation() -> None:
    status = synced_status(sealed(), None)
    [condition] = status["conditions"]
    assert condition["type"] == "Synced" and condition["status"] == "True" and "message" not in condition
    assert status["observedGeneration"] == 1
    assert condition["lastTransitionTime"] == condition["lastUpdateTime"]


def test_unchanged_status_is_left_as_is_and_a_flip_moves_the_transition_time() -> None:
    first = synced_status(sealed(), None)
    assert synced_status(sealed(status=first), None) == first
    failed = synced_status(sealed(2, first), "no key could decrypt secret (password)")
    assert failed["conditions"][0]["status"] == "False"
    assert failed["conditions"][0]["message"] == "no key could decrypt secret (password)"
    assert failed["observedGeneration"] == 2


def test_merged_replaces_data_labels_and_owner_but_patch_merges() -> None:
    wanted = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "data": {"a": "MQ=="},
              "metadata": {"name": "db", "namespace": "app", "labels": {"l": "1"},
                           "ownerReferences": [{"uid": "u1", "controller": True}]}}
    existing = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "data": {"b": "Mg=="},
                "metadata": {"name": "db", "namespace": "app", "resourceVersion": "7", "labels": {"x": "y"}}}
    replaced = _merged(existing, wanted)
    assert replaced["data"] == {"a": "MQ=="} and replaced["metadata"]["labels"] == {"l": "1"}
    assert replaced["metadata"]["resourceVersion"] == "7"  # the update is conditional on what was read
    assert controlled_by(replaced, sealed())
    patched = _merged({**existing, "metadata": {**existing["metadata"], "annotations": {PATCH: "true"}}}, wanted)
    assert patched["data"] == {"b": "Mg==", "a": "MQ=="} and patched["metadata"]["labels"] == {"x": "y", "l": "1"}
    assert not controlled_by(patched, sealed())
