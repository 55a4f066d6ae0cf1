"""synth.hub.reachable: one quick, remembered probe of the Hub's host (or the HTTPS proxy)."""

from __future__ import annotations

import socket
import time

import pytest

from synth import hub


@pytest.fixture
def fresh(monkeypatch):
    """No remembered answers; no proxy from the environment."""
    monkeypatch.setattr(hub, "_REACH", {})
    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def listening() -> socket.socket:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    return server


def hub_here(fresh) -> socket.socket:
    """A listening local socket that the Hub's address points at (close it to make the Hub unreachable)."""
    server = listening()
    port = server.getsockname()[1]
    fresh.setattr(hub, "endpoint", lambda: f"http://127.0.0.1:{port}")
    return server


def test_reachable_when_the_host_accepts_and_not_when_it_refuses(fresh):
    server = hub_here(fresh)
    assert hub.reachable()
    server.close()
    fresh.setattr(hub, "_REACH", {})
    t0 = time.perf_counter()
    assert not hub.reachable()  # refused at once
    assert time.perf_counter() - t0 < 1.0


def test_the_answer_is_remembered(fresh):
    server = hub_here(fresh)
    assert hub.reachable()
    server.close()
    assert hub.reachable()  # within REACH_TTL: no new probe
    fresh.setattr(hub, "REACH_TTL", 0.0)
    assert not hub.reachable()


def test_a_hanging_host_is_given_up_after_the_timeout(fresh):
    fresh.setattr(hub, "endpoint", lambda: "https://hub.example")

    def hang(*_, **__):  # a lookup that hangs, then fails as a real one would (the probe thread outlives the test)
        time.sleep(5)
        raise OSError("timed out")

    fresh.setattr(hub.socket, "create_connection", hang)
    t0 = time.perf_counter()
    assert not hub.reachable(timeout=0.3)
    assert time.perf_counter() - t0 < 1.0


def test_the_proxy_is_probed_when_one_is_set(fresh):
    server = listening()
    fresh.setenv("HTTPS_PROXY", f"http://127.0.0.1:{server.getsockname()[1]}")
    fresh.setattr(hub, "endpoint", lambda: "https://unreachable.invalid")
    assert hub.reachable()
    server.close()
