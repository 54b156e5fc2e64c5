"""A fixed vLLM port (the stack's) is free again as soon as the last vLLM on it stopped, even
while its closed connections linger in TIME_WAIT; a listener there is still refused."""

from __future__ import annotations

import socket

import pytest

from configs.errors import ServingError
from tasks.serving.vllm import check_port_free


def _time_wait_on(port: int) -> None:
    """A served connection closed by the server side first: its socket (local `port`) stays in TIME_WAIT."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen()
    client = socket.create_connection(("127.0.0.1", port))
    served, _ = listener.accept()
    served.close()           # the server closes first: TIME_WAIT is on its side
    client.recv(1)
    client.close()
    listener.close()


def test_time_wait_connections_do_not_hold_the_port(free_port) -> None:
    _time_wait_on(free_port)
    with socket.socket() as plain, pytest.raises(OSError):
        plain.bind(("127.0.0.1", free_port))     # what the old check did: refused
    check_port_free("127.0.0.1", free_port)


def test_a_listener_still_holds_it(free_port) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", free_port))
        other.listen()
        with pytest.raises(ServingError, match=f"port {free_port} on 127.0.0.1 is already in use"):
            check_port_free("127.0.0.1", free_port)
