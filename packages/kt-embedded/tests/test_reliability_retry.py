"""The retry policy (kt_core.io.retry): bounded, off by default, never for non-idempotent operations."""

from __future__ import annotations

from typing import Any

import pytest
from kt_core.errors import InvalidArgumentError, InvalidTypeError, KtConnectionError, ProtocolError
from kt_core.io.retry import NO_RETRY, RetryPolicy, is_idempotent
from kt_embedded.faultproxy import FaultProxy


class Flaky:
    def __init__(self, failures: int, exc: type[Exception] = KtConnectionError) -> None:
        self.failures = failures
        self.calls = 0
        self.exc = exc

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.exc("boom")
        return "ok"


def test_default_never_retries() -> None:
    fn = Flaky(1)
    with pytest.raises(KtConnectionError):
        NO_RETRY.call("get", fn)
    assert fn.calls == 1


def test_bounded_retries_with_capped_exponential_backoff() -> None:
    slept: list[float] = []
    policy = RetryPolicy(retries=4, backoff=0.1, max_backoff=0.3)
    assert policy.call("get", Flaky(4), sleep=slept.append) == "ok"
    assert slept == [0.1, 0.2, 0.3, 0.3]
    fn = Flaky(10)
    with pytest.raises(KtConnectionError):
        policy.call("get", fn, sleep=slept.append)
    assert fn.calls == 5


@pytest.mark.parametrize("operation", ["append", "incr", "incr_double", "cas", "add", "seize", "putcat", "addint"])
def test_non_idempotent_operations_are_never_retried(operation: str) -> None:
    assert not is_idempotent(operation)
    fn = Flaky(1)
    with pytest.raises(KtConnectionError):
        RetryPolicy(retries=5, backoff=0).call(operation, fn)
    assert fn.calls == 1


def test_protocol_errors_are_not_retried() -> None:
    fn = Flaky(1, ProtocolError)
    with pytest.raises(ProtocolError):
        RetryPolicy(retries=3, backoff=0).call("get", fn)
    assert fn.calls == 1


@pytest.mark.parametrize("bad", [{"retries": -1}, {"retries": 1.5}, {"retries": True}, {"backoff": -1},
                                 {"max_backoff": "1"}])
def test_bad_policy_arguments(bad: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgumentError):
        RetryPolicy(**bad)


@pytest.mark.server
def test_retry_rides_over_a_dropped_connection(kt_server: Any) -> None:
    from kt_kyoto import KyotoTycoon

    with FaultProxy(kt_server.host, kt_server.port) as proxy:
        client = KyotoTycoon(proxy.host, proxy.port, timeout=1)
        client.set("r", "1")
        proxy.drop_connections()  # the client's pooled connection is now dead
        attempts: list[str] = []

        def attempt(name: str, fn: Any) -> Any:
            attempts.append(name)
            return fn()

        policy = RetryPolicy(retries=3, backoff=0)
        assert policy.call("get", lambda: attempt("get", lambda: client.get("r"))) == "1"
        assert attempts == ["get", "get"]  # the first attempt hit the dead connection
        proxy.close_after(0)  # every reply is cut: an incr is tried exactly once
        with pytest.raises(KtConnectionError):
            policy.call("incr", lambda: attempt("incr", lambda: client.incr("n")))
        assert attempts.count("incr") == 1
        with pytest.raises(KtConnectionError):
            policy.call("get", lambda: attempt("get", lambda: client.get("r")))
        assert attempts.count("get") == 2 + 4
        client.close()


@pytest.mark.server
def test_kt_client_retry_option_rides_over_dropped_connections(kt_server: Any) -> None:
    from kt_kyoto import KyotoTycoon

    with FaultProxy(kt_server.host, kt_server.port) as proxy:
        plain = KyotoTycoon(proxy.host, proxy.port, timeout=1)
        client = KyotoTycoon(proxy.host, proxy.port, timeout=1, retry=2)
        client.set("r", "1")
        client.remove("n")
        assert client.incr("n") == 1
        plain.set("p", "x")
        proxy.drop_connections()
        assert client.get("r") == "1"  # binary protocol: retried on a fresh connection
        proxy.drop_connections()
        assert client.get_bulk(["r", "nope"]) == {"r": "1"}  # get_bulk too (it passes the keys to its reader)
        proxy.drop_connections()
        assert client.exists("r") is True  # HTTP RPC: retried too
        with pytest.raises(KtConnectionError):
            plain.get("p")  # retry=None (the default): the dead connection's error reaches the caller
        proxy.drop_connections()
        with pytest.raises(KtConnectionError):
            client.incr("n")  # never retried: the increment may have been applied
        assert client.get_raw("n") is not None
        plain.close()
        client.close()


@pytest.mark.server
def test_tt_client_retry_option_rides_over_dropped_connections(tt_server: Any) -> None:
    from kt_tyrant import TokyoTyrant

    with FaultProxy(tt_server.host, tt_server.port) as proxy:
        client = TokyoTyrant(proxy.host, proxy.port, timeout=1, retry=RetryPolicy(retries=2, backoff=0))
        client.set("r", "1")
        proxy.drop_connections()
        assert client.get("r") == "1"
        proxy.drop_connections()
        assert client.get_bulk(["r", "nope"]) == {"r": "1"}  # mget too (it passes the keys to its reader)
        proxy.drop_connections()
        with pytest.raises(KtConnectionError):
            client.incr("n")  # addint is never retried
        assert client.get("r") == "1"  # a fresh connection, then cut it again
        proxy.drop_connections()
        with pytest.raises(KtConnectionError):
            client.append("r", "2")  # putcat is never retried
        client.close()


@pytest.mark.parametrize("bad", [-1, 1.5, "2", True])
def test_bad_retry_option(bad: Any) -> None:
    from kt_kyoto import KyotoTycoon
    from kt_tyrant import TokyoTyrant

    for cls in (KyotoTycoon, TokyoTyrant):
        with pytest.raises((InvalidArgumentError, InvalidTypeError)):
            cls("127.0.0.1", 1, retry=bad)


@pytest.mark.server
def test_tt_search_retries_queries_but_never_a_delete(tt_table_server: Any) -> None:
    from kt_tyrant import TT_TABLE, QueryBuilder, TokyoTyrant

    with FaultProxy(tt_table_server.host, tt_table_server.port) as proxy:
        client = TokyoTyrant(proxy.host, proxy.port, timeout=1, serializer=TT_TABLE,
                             retry=RetryPolicy(retries=2, backoff=0))
        client.clear()
        client.set("a", {"n": "1"})
        query = QueryBuilder().filter("n", 0, "1")  # OP_STR_EQ
        proxy.drop_connections()
        assert query.execute(client) == ["a"]  # a query is repeated on a fresh connection
        proxy.drop_connections()
        with pytest.raises(KtConnectionError):
            query.delete(client)  # search with "out" is not
        assert query.execute(client) == ["a"]
        assert query.delete(client) is True
        assert client.count() == 0
        client.close()
