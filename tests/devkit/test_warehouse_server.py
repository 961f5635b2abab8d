"""`playhead warehouse` speaks ClickHouse HTTP well enough for clickhouse-connect and curl.

One in-process server serves the module (chDB allows one data path per
process); each test works in its own database. A last test runs the real
entry point, ``serve_forever``, in a child process and stops it with SIGTERM.
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import clickhouse_connect
import httpx
import lz4.frame
import pytest
from backports import zstd
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from devkit.warehouse import WarehouseError, WarehouseServer
from devkit.warehouse.protocol import ClickHouseError, choose_encoding, parse_request
from devkit.warehouse.sql import SqlError, analyze

pytestmark = pytest.mark.integration  # the warehouse server over chDB

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WarehouseServer]:
    # In-process chDB clients of other modules are closed at their module's end
    # (tests/sinks), so this process can open its own path here.
    warehouse = WarehouseServer(tmp_path_factory.mktemp("warehouse") / "data", "127.0.0.1", 0)
    warehouse.start()
    yield warehouse
    warehouse.stop()


def connect(server: WarehouseServer, compress: bool = False, **kwargs: Any) -> Client:
    return clickhouse_connect.get_client(host="127.0.0.1", port=server.port, interface="http",
                                         compress=compress, **kwargs)


@pytest.fixture(params=[False, True], ids=["plain", "compressed"])
def client(request: pytest.FixtureRequest, server: WarehouseServer) -> Iterator[Client]:
    client = connect(server, compress=request.param)
    yield client
    client.close()


@pytest.fixture
def db(server: WarehouseServer) -> Iterator[str]:
    name = f"wh_{uuid.uuid4().hex[:10]}"
    admin = connect(server)
    admin.command(f"CREATE DATABASE {name}")
    yield name
    admin.command(f"DROP DATABASE IF EXISTS {name}")
    admin.close()


def post(server: WarehouseServer, body: bytes | str = b"", **params: str) -> httpx.Response:
    return httpx.post(f"{server.url}/", params=params, content=body, timeout=30)


# --- plain HTTP, as curl sends it -------------------------------------------------------------


def test_ping_and_query_in_url(server: WarehouseServer) -> None:
    assert httpx.get(f"{server.url}/ping").text == "Ok.\n"
    assert httpx.get(f"{server.url}/").text == "Ok.\n"
    response = httpx.get(f"{server.url}/", params={"query": "SELECT 1"})
    assert response.status_code == 200
    assert response.text == "1\n"
    assert response.headers["X-ClickHouse-Format"] == "TabSeparated"
    assert response.headers["X-ClickHouse-Timezone"]
    assert response.headers["X-ClickHouse-Server-Display-Name"]
    assert response.headers["X-ClickHouse-Query-Id"]
    assert json.loads(response.headers["X-ClickHouse-Summary"])["read_rows"] == "1"


def test_query_in_post_body_honours_format_clause_and_default_format(
        server: WarehouseServer) -> None:
    response = post(server, "SELECT number AS n FROM numbers(2) FORMAT JSONEachRow")
    assert response.text == '{"n":0}\n{"n":1}\n'
    assert response.headers["X-ClickHouse-Format"] == "JSONEachRow"
    response = post(server, "SELECT 7 AS n", default_format="CSVWithNames")
    assert response.text == '"n"\n7\n'
    assert post(server, "SELECT 'a'", query_id="my-id").headers["X-ClickHouse-Query-Id"] == "my-id"


def test_insert_with_data_in_body(server: WarehouseServer, db: str) -> None:
    assert post(server, f"CREATE TABLE {db}.t (a UInt32, s String) ENGINE = MergeTree "
                        "ORDER BY a").status_code == 200
    # query in the URL, data in the body (curl --data-binary @file)
    response = post(server, b"1\tone\n2\ttwo\n", query=f"INSERT INTO {db}.t FORMAT TabSeparated")
    assert response.status_code == 200, response.text
    assert response.text == ""
    assert json.loads(response.headers["X-ClickHouse-Summary"])["written_rows"] == "2"
    # statement and data both in the body
    assert post(server, f"INSERT INTO {db}.t FORMAT CSV\n3,\"three, quoted\"\n").status_code == 200
    # VALUES, with data split between URL and body
    assert post(server, "(4, 'four')", query=f"INSERT INTO {db}.t (a, s) VALUES").status_code == 200
    rows = post(server, f"SELECT a, s FROM {db}.t ORDER BY a FORMAT CSV").text
    assert rows == '1,"one"\n2,"two"\n3,"three, quoted"\n4,"four"\n'


def test_errors_answer_like_clickhouse_and_the_server_keeps_serving(
        server: WarehouseServer) -> None:
    response = post(server, "SELEC 1")
    assert response.status_code == 400
    assert response.headers["X-ClickHouse-Exception-Code"] == "62"
    assert response.text.startswith("Code: 62. DB::Exception: Syntax error")
    response = post(server, "SELECT * FROM no_such_table")
    assert (response.status_code, response.headers["X-ClickHouse-Exception-Code"]) == (404, "60")
    response = post(server, "SELECT 1; DROP DATABASE system")
    assert response.headers["X-ClickHouse-Exception-Code"] == "62"
    assert "Multi-statements are not allowed" in response.text
    response = httpx.get(f"{server.url}/", params={"query": "CREATE TABLE x (a UInt8) "
                                                            "ENGINE = Memory"})
    assert (response.status_code, response.headers["X-ClickHouse-Exception-Code"]) == (403, "164")
    response = post(server, "SELECT 1", max_threads="not a number")
    assert response.status_code == 400 and response.text.startswith("Code: 27. DB::Exception")
    assert post(server, "SELECT 1", no_such_setting="1").headers[
        "X-ClickHouse-Exception-Code"] == "115"
    assert post(server, "SELECT 1 INTO OUTFILE '/tmp/x.tsv'").status_code == 501
    assert httpx.get(f"{server.url}/nowhere").status_code == 404
    assert post(server, "SELECT 42").text == "42\n"


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "lz4", "zstd"])
def test_request_bodies_are_decompressed_and_responses_compressed(
        server: WarehouseServer, db: str, encoding: str) -> None:
    compress = {"gzip": gzip.compress, "deflate": zlib.compress,
                "lz4": lambda data: lz4.frame.compress(data[:5]) + lz4.frame.compress(data[5:]),
                "zstd": zstd.compress}[encoding]
    post(server, f"CREATE TABLE {db}.t (a UInt32) ENGINE = MergeTree ORDER BY a")
    body = b"".join(b"%d\n" % i for i in range(1000))
    response = httpx.post(f"{server.url}/", params={"query": f"INSERT INTO {db}.t FORMAT TSV"},
                          content=compress(body), headers={"Content-Encoding": encoding})
    assert response.status_code == 200, response.text
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    query = f"SELECT a FROM {db}.t ORDER BY a".encode()
    connection.request("POST", "/", body=query, headers={"Accept-Encoding": encoding})
    reply = connection.getresponse()
    assert reply.headers["Content-Encoding"] == encoding
    raw = reply.read()
    decompress = {"gzip": gzip.decompress, "deflate": zlib.decompress,
                  "lz4": lz4.frame.decompress,
                  "zstd": lambda data: zstd.decompress(data)}[encoding]
    assert decompress(raw) == body
    connection.request("POST", "/?enable_http_compression=0", body=query,
                       headers={"Accept-Encoding": encoding})
    reply = connection.getresponse()
    assert reply.headers.get("Content-Encoding") is None and reply.read() == body
    connection.close()


def test_sessions_keep_set_and_use_but_not_url_settings(server: WarehouseServer, db: str) -> None:
    session = {"session_id": uuid.uuid4().hex}
    assert post(server, "SET max_threads = 3", **session).status_code == 200
    assert post(server, f"USE {db}", **session).status_code == 200
    current = "SELECT getSetting('max_threads'), currentDatabase()"
    assert post(server, current, **session).text == f"3\t{db}\n"
    assert post(server, current, max_threads="5", database="default", **session).text == \
        "5\tdefault\n"
    assert post(server, current, **session).text == f"3\t{db}\n"
    assert post(server, current).text != f"3\t{db}\n"  # no session: nothing carried over
    missing = post(server, "SELECT 1", session_id="nope", session_check="1")
    assert missing.headers["X-ClickHouse-Exception-Code"] == "372"
    # readonly cannot be lifted again inside a session, so that session ends after the request
    refused = post(server, f"CREATE TABLE {db}.t (a UInt8) ENGINE = Memory", readonly="1",
                   **session)
    assert refused.headers["X-ClickHouse-Exception-Code"] == "164"
    assert post(server, "SELECT getSetting('readonly')", **session).text == "0\n"


def test_a_session_serves_one_request_at_a_time(server: WarehouseServer) -> None:
    session = {"session_id": uuid.uuid4().hex}
    slow = threading.Thread(target=post, args=(server, "SELECT sleep(1)"), kwargs=session)
    slow.start()
    time.sleep(0.3)
    busy = post(server, "SELECT 1", **session)
    slow.join()
    assert busy.headers["X-ClickHouse-Exception-Code"] == "373"
    assert post(server, "SELECT 1", **session).text == "1\n"


def test_a_body_cut_short_inserts_nothing(server: WarehouseServer, db: str) -> None:
    post(server, f"CREATE TABLE {db}.t (a UInt32) ENGINE = MergeTree ORDER BY a")
    query = f"INSERT INTO {db}.t FORMAT TSV".replace(" ", "%20")
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(f"POST /?query={query} HTTP/1.1\r\nHost: x\r\n"
                     "Content-Length: 1000\r\n\r\n1\n2\n3\n".encode())
        sock.shutdown(socket.SHUT_WR)  # the client dies mid-body
        answer = sock.recv(65536)
    assert b"400" in answer.split(b"\r\n")[0]
    assert post(server, f"SELECT count() FROM {db}.t").text == "0\n"


# --- clickhouse-connect over HTTP -------------------------------------------------------------


def test_clickhouse_connect_round_trip(client: Client, db: str) -> None:
    client.command(f"""
        CREATE TABLE {db}.sessions (
            session_id String, started DateTime, day Date, kept UInt8,
            spans Array(Tuple(Float64, Float64)), version UInt64
        ) ENGINE = ReplacingMergeTree(version) ORDER BY session_id""")
    started = datetime(2025, 3, 1, 12, 30, 5)
    rows = [
        ["s1", started, date(2025, 3, 1), 1, [(0.0, 12.5), (20.0, 31.25)], 1],
        ["s2", started, date(2025, 3, 2), 0, [], 1],
        ["s1", started, date(2025, 3, 1), 1, [(0.0, 40.0)], 2],  # a later version of s1
    ]
    columns = ["session_id", "started", "day", "kept", "spans", "version"]
    summary = client.insert(f"{db}.sessions", rows, column_names=columns)
    assert summary.written_rows == 3
    result = client.query(f"SELECT {', '.join(columns)} FROM {db}.sessions FINAL "
                          "ORDER BY session_id")
    assert [list(r) for r in result.result_rows] == [
        ["s1", started, date(2025, 3, 1), 1, [(0.0, 40.0)], 2],
        ["s2", started, date(2025, 3, 2), 0, [], 1],
    ]


def test_clickhouse_connect_parameters_are_bound_safely(client: Client, db: str) -> None:
    client.command(f"CREATE TABLE {db}.t (s String) ENGINE = MergeTree ORDER BY s")
    hostile = "x'); DROP TABLE " + db + ".t; --\\"
    client.insert(f"{db}.t", [[hostile], ["plain"]], column_names=["s"])
    found = client.query(f"SELECT count() FROM {db}.t WHERE s = {{s:String}}",
                         parameters={"s": hostile}).result_rows
    assert found == [(1,)]
    found = client.query(f"SELECT s FROM {db}.t WHERE s IN %(v)s ORDER BY s",
                         parameters={"v": [hostile, "plain"]}).result_rows
    assert [r[0] for r in found] == ["plain", hostile]
    big = ["v" * 100] * 60  # over clickhouse-connect's URL limit: sent as multipart form
    assert client.query("SELECT length({a:Array(String)})", parameters={"a": big}
                        ).result_rows == [(60,)]
    assert client.command(f"EXISTS TABLE {db}.t") == 1


def test_clickhouse_connect_settings_apply_per_query(client: Client) -> None:
    raw = client.raw_query("SELECT toDateTime('2025-01-02 03:04:05', 'UTC')",
                           settings={"date_time_output_format": "iso"})
    assert raw == b"2025-01-02T03:04:05Z\n"
    assert client.raw_query("SELECT toDateTime('2025-01-02 03:04:05', 'UTC')") == \
        b"2025-01-02 03:04:05\n"
    assert client.command("SELECT getSetting('max_block_size')",
                          settings={"max_block_size": 1234}) == 1234
    assert client.command("SELECT getSetting('max_block_size')") != 1234


def test_clickhouse_connect_bad_query_raises_database_error(client: Client) -> None:
    with pytest.raises(DatabaseError) as raised:
        client.query("SELECT * FROM missing_table_xyz")
    assert "Code: 60" in str(raised.value) and "missing_table_xyz" in str(raised.value)
    with pytest.raises(DatabaseError, match="Syntax error"):
        client.command("CREATE TABLE (")
    assert client.query("SELECT 1").result_rows == [(1,)]


def test_insert_deduplication_token(client: Client, db: str) -> None:
    client.command(f"CREATE TABLE {db}.t (a UInt32) ENGINE = MergeTree ORDER BY a "
                   "SETTINGS non_replicated_deduplication_window = 100")
    token = {"insert_deduplication_token": f"batch-{uuid.uuid4().hex}"}
    for _ in range(2):
        client.insert(f"{db}.t", [[1], [2], [3]], column_names=["a"], settings=token)
    assert client.command(f"SELECT count() FROM {db}.t") == 3
    client.insert(f"{db}.t", [[1], [2], [3]], column_names=["a"],
                  settings={"insert_deduplication_token": "another"})
    assert client.command(f"SELECT count() FROM {db}.t") == 6


def test_concurrent_inserts_lose_nothing(server: WarehouseServer, db: str) -> None:
    admin = connect(server)
    admin.command(f"CREATE TABLE {db}.t (worker UInt8, batch UInt16, n UInt32) "
                  "ENGINE = MergeTree ORDER BY (worker, batch, n)")
    workers, batches, rows = 8, 20, 250
    errors: list[BaseException] = []
    # Half the workers share one sessionless client, the way a web app pools
    # one; the others keep clickhouse-connect's default: a client and session each.
    shared = connect(server, compress=True, autogenerate_session_id=False)

    def insert(worker: int) -> None:
        try:
            own = shared if worker % 2 else connect(server)
            for batch in range(batches):
                data = [[worker, batch, n] for n in range(rows)]
                own.insert(f"{db}.t", data, column_names=["worker", "batch", "n"])
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=insert, args=(w,)) for w in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    shared.close()
    assert not errors
    assert admin.command(f"SELECT count() FROM {db}.t") == workers * batches * rows
    assert admin.command(f"SELECT uniqExact(worker, batch) FROM {db}.t") == workers * batches
    admin.close()


def test_restart_keeps_tables_and_rows(server: WarehouseServer, db: str) -> None:
    client = connect(server, compress=True)
    client.command(f"CREATE TABLE {db}.t (a UInt32) ENGINE = MergeTree ORDER BY a")
    client.insert(f"{db}.t", [[i] for i in range(500)], column_names=["a"])
    client.close()
    port = server.port
    server.stop()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{server.url}/ping", timeout=2)
    server.start()
    assert server.port == port
    client = connect(server)
    assert client.command(f"SELECT count(), sum(a) FROM {db}.t") == [str(500), str(124750)]
    client.close()


def test_a_second_server_on_another_path_fails_clearly(server: WarehouseServer,
                                                       tmp_path: Path) -> None:
    with pytest.raises(WarehouseError, match="cannot open chDB"):
        WarehouseServer(tmp_path / "other", "127.0.0.1", 0).start()
    assert post(server, "SELECT 1").text == "1\n"


def test_serve_forever_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    path = tmp_path / "data"
    code = ("import logging, sys; from pathlib import Path; "
            "from devkit.warehouse import WarehouseServer; logging.basicConfig(level='INFO'); "
            "WarehouseServer(Path(sys.argv[1]), '127.0.0.1', int(sys.argv[2])).serve_forever()")
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def run(port: int) -> subprocess.Popen[bytes]:
        child = subprocess.Popen([sys.executable, "-c", code, str(path), str(port)], env=env,
                                 stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/ping", timeout=1).text == "Ok.\n":
                    return child
            except httpx.TransportError:
                pass
            assert child.poll() is None, child.stderr.read() if child.stderr else ""
            assert time.monotonic() < deadline, "warehouse child did not start"
            time.sleep(0.1)

    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    with run(port) as child:  # leaving the block closes the stderr pipe
        httpx.post(url, content="CREATE TABLE t (a UInt8) ENGINE = MergeTree ORDER BY a")
        httpx.post(url, content="INSERT INTO t VALUES (1), (2)")
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=60) == 0
        assert child.stderr is not None and b"chDB at" in child.stderr.read()
    with run(port) as child:  # the same path opens again: the first process let go of it
        assert httpx.post(url, content="SELECT sum(a) FROM t").text == "3\n"
        child.send_signal(signal.SIGINT)
        assert child.wait(timeout=60) == 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- request rules, without a server ------------------------------------------------------


def test_analyze_finds_inline_insert_data() -> None:
    text = b"INSERT INTO t (a, `format`) FORMAT Native\n\x00\x01binary FORMAT"
    statement = analyze(text)
    assert statement.insert_format == "Native"
    assert statement.query == b"INSERT INTO t (a, `format`) "
    assert text[statement.data_start:] == b"\x00\x01binary FORMAT"
    statement = analyze(b"insert into format format CSV  1,2")
    assert (statement.insert_format, statement.query) == ("CSV", b"insert into format ")
    assert b"insert into format format CSV  1,2"[statement.data_start:] == b"1,2"
    statement = analyze(b"/* c */ INSERT INTO t SETTINGS a = 'FORMAT' VALUES (1, 'x;y')")
    assert statement.insert_format == "Values"
    assert statement.query == b"/* c */ INSERT INTO t SETTINGS a = 'FORMAT' "
    statement = analyze(b"INSERT INTO t SELECT * FROM s FORMAT CSV")
    assert not statement.is_data_insert


def test_analyze_classifies_queries() -> None:
    assert analyze(b"-- hi\n(SELECT 1) FORMAT JSON;").output_format == "JSON"
    assert analyze(b"SELECT format('{}', 1) AS format").output_format is None
    assert analyze(b"SELECT 'FORMAT CSV; SELECT 2'").output_format is None
    assert analyze(b"SHOW TABLES").returns_rows
    assert not analyze(b"CREATE TABLE t (a UInt8) ENGINE = Memory").returns_rows
    for text in (b"", b"  -- nothing\n", b"SELECT 1; SELECT 2", b"SELECT 1 INTO OUTFILE 'x'"):
        with pytest.raises(SqlError):
            analyze(text)


def test_parse_request_separates_settings_from_transport_parameters() -> None:
    spec = parse_request([("query", "INSERT INTO t FORMAT CSV"), ("database", "d"),
                          ("param_x", "1"), ("session_id", "s"), ("query_id", "q"),
                          ("wait_end_of_query", "1"), ("send_progress_in_http_headers", "1"),
                          ("insert_deduplication_token", "tok"), ("max_threads", "2")], b"1,2")
    assert spec.sql == b"INSERT INTO t FORMAT CSV\n1,2"
    assert (spec.database, spec.params, spec.session_id) == ("d", {"x": "1"}, "s")
    assert spec.settings == {"insert_deduplication_token": "tok", "max_threads": "2"}
    with pytest.raises(ClickHouseError) as raised:
        parse_request([("max_threads; DROP", "1")], b"SELECT 1")
    assert raised.value.code == 115
    with pytest.raises(ClickHouseError):
        parse_request([("default_format", "DataFrame")], b"SELECT 1")
    assert choose_encoding("br;q=1, gzip;q=0, deflate") == "deflate"
    assert choose_encoding("identity") is None

