from sandbox.reconciler.kustomize.apply import default_port_protocols


def test_service_and_container_ports_get_tcp_when_protocol_is_omitted() -> None:
    service = {"kind": "Service", "spec": {"ports": [{"port": 80}, {"port": 53, "protocol": "UDP"}]}}
    assert [p["protocol"] for p in default_port_protocols(service)["spec"]["ports"]] == ["TCP", "UDP"]
    deployment = {"kind": "Deployment", "spec": {"template": {"spec": {
        "containers": [{"name": "a", "ports": [{"containerPort": 8080}]}],
        "initContainers": [{"name": "i", "ports": [{"containerPort": 9000, "protocol": "SCTP"}]}]}}}}
    spec = default_port_protocols(deployment)["spec"]["template"]["spec"]
    assert spec["containers"][0]["ports"][0]["protocol"] == "TCP"
    assert spec["initContainers"][0]["ports"][0]["protocol"] == "SCTP"
    cronjob = {"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": {
        "containers": [{"name": "c", "ports": [{"containerPort": 1}]}]}}}}}}
    assert default_port_protocols(cronjob)["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0][
        "ports"][0]["protocol"] == "TCP"
    config = {"kind": "ConfigMap", "data": {"ports": "80"}}
    assert default_port_protocols(config) == {"kind": "ConfigMap", "data": {"ports": "80"}}
