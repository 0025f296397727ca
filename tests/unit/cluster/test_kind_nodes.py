"""Several kind nodes need a multi-node pod network: a node image assembled here has none (its bridge gives every
node the same pod range), so `--nodes N` on it is refused before kind runs, naming what to use instead."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pytest

from sandbox.cluster import kind
from sandbox.errors import InputError

ASSEMBLED = {kind.ASSEMBLED_LABEL: "ccdc923219ec71e6"}


def labels_of(known: dict[str, Mapping[str, str]]) -> Callable[[str], Mapping[str, str] | None]:
    return lambda image: known.get(image)


def test_several_nodes_on_an_assembled_image_are_refused_naming_the_way_out() -> None:
    with pytest.raises(InputError, match=r"--nodes 3: the node image sandbox.local/kind-node:v1.37.2 \(built locally\)"
                                         r".*kindest/node with --kind-node-image"):
        kind.check_nodes(3, "sandbox.local/kind-node:v1.37.2", "built locally",
                         labels_of({"sandbox.local/kind-node:v1.37.2": ASSEMBLED}))


def test_a_retagged_assembled_image_is_recognised_by_its_label() -> None:
    with pytest.raises(InputError, match="no multi-node pod network"):
        kind.check_nodes(2, "me/node:1", "--kind-node-image", labels_of({"me/node:1": ASSEMBLED}))


@pytest.mark.parametrize(("nodes", "image", "known"), [
    (1, "sandbox.local/kind-node:v1.37.2", {"sandbox.local/kind-node:v1.37.2": ASSEMBLED}),  # one node: fine
    (3, "kindest/node:v1.35.0", {"kindest/node:v1.35.0": {}}),  # kind's own image has kindnetd
    (3, "kindest/node:v1.35.0", {}),  # not local yet: kind pulls kind's image
])
def test_one_node_or_another_image_is_left_to_kind(nodes: int, image: str,
                                                   known: dict[str, Mapping[str, str]]) -> None:
    kind.check_nodes(nodes, image, "x", labels_of(known))
