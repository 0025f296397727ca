import socket

from sandbox.ports import free_ports


def test_ports_are_distinct_free_and_not_handed_out_twice() -> None:
    first = free_ports(20)
    second = free_ports(20)
    assert len(set(first)) == 20 and len(set(second)) == 20
    assert not set(first) & set(second), "a port handed out recently is not handed out again"
    for port in first[:3]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # still free to bind
