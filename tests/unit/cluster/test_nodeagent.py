"""The node agent's pod sync: what it remembers between syncs, and how it requeues, against a fake client."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.cluster.images import ImageChecker
from sandbox.cluster.nodeagent import NodeAgent, make_nodes
from sandbox.errors import APIError

KEY = "ns/web"


class FakeClient:
    """Records status patches; ``fail`` makes the next one raise."""

    def __init__(self) -> None:
        self.patches: list[dict[str, Any]] = []
        self.fail = False

    def patch(self, api_version: str, kind: str, name: str, namespace: str | None, patch: Any, **_: Any) -> Any:
        if self.fail:
            self.fail = False
            raise APIError("the API server went away")
        self.patches.append(patch)
        return patch


def probed_pod(**annotations: str) -> dict[str, Any]:
    return {"metadata": {"name": "web", "namespace": "ns", "uid": "u1", "annotations": annotations},
            "spec": {"nodeName": "sandbox-node", "containers": [
                {"name": "app", "image": "nginx", "readinessProbe": {"initialDelaySeconds": 30}}]},
            "status": {"phase": "Pending"}}


@pytest.fixture
def agent() -> NodeAgent:
    node_agent = NodeAgent(FakeClient(), make_nodes("sandbox-node", 1), ImageChecker())  # type: ignore[arg-type]
    node_agent.pods.cache[KEY] = probed_pod()
    return node_agent


def client_of(agent: NodeAgent) -> FakeClient:
    assert isinstance(agent.client, FakeClient)
    return agent.client


def test_sync_requeues_once_for_the_next_probe_result_however_often_it_runs(agent: NodeAgent) -> None:
    agent.sync_pod(KEY)
    assert len(client_of(agent).patches) == 1
    assert KEY in agent._runs
    # watch events for the agent's own patches sync the pod again: no second timer for the same moment
    agent.sync_pod(KEY)
    agent.sync_pod(KEY)
    assert len(agent.queue._delayed) == 1
    due = agent.queue._delayed[0][0]
    assert agent._wakeups[KEY] == pytest.approx(due, abs=0.01)


def test_runs_are_remembered_only_once_written(agent: NodeAgent) -> None:
    client_of(agent).fail = True
    with pytest.raises(APIError):
        agent.sync_pod(KEY)
    assert KEY not in agent._runs
    agent.sync_pod(KEY)
    assert KEY in agent._runs


def test_a_deleted_pod_is_forgotten(agent: NodeAgent) -> None:
    agent.sync_pod(KEY)
    del agent.pods.cache[KEY]
    agent.sync_pod(KEY)
    assert KEY not in agent._runs and KEY not in agent._wakeups


def test_a_new_pod_under_the_same_name_starts_afresh(agent: NodeAgent) -> None:
    agent.sync_pod(KEY)
    _, runs = agent._runs[KEY]
    replacement = probed_pod()
    replacement["metadata"]["uid"] = "u2"
    agent.pods.cache[KEY] = replacement
    agent.sync_pod(KEY)
    assert agent._runs[KEY][0] == "u2" and agent._runs[KEY][1] is not runs
