"""`make bench`'s pieces that can be checked without timing anything: the Go load generator
builds, runs and prints JSON; the Kafka tools' summaries parse; ratios and percentiles."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from bookpay_devstack.config import StackConfig
from bookpay_devstack.system import SystemConfig

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import benchkit  # noqa: E402
import run_bench  # noqa: E402


class _Page(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = b"<html>ok</html>"
        self.send_response(200 if self.path == "/pay/ok" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def page_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.skipif(shutil.which("go") is None, reason="Go is not installed")
def test_load_generator_builds_and_prints_json(page_server: str) -> None:
    binary = benchkit.build_loadgen(ROOT)
    out = subprocess.run(
        [str(binary), "-workers", "2", "-duration", "300ms", "-warmup", "0s",
         f"{page_server}/pay/ok", f"{page_server}/pay/missing"],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout  # fmt: skip
    result = json.loads(out)
    assert set(result) >= {"count", "rps", "p50_ms", "p99_ms", "statuses", "errors"}
    assert result["count"] > 0
    assert set(result["statuses"]) == {"200", "404"}
    assert result["ok"] == result["statuses"]["200"]


def test_kafka_tool_summaries_parse() -> None:
    producer = (
        "500000 records sent, 81766.148814 records/sec (38.99 MB/sec), 712.31 ms avg latency, "
        "1403.00 ms max latency, 688 ms 50th, 1189 ms 95th, 1311 ms 99th, 1392 ms 99.9th.\n"
    )
    found = benchkit._PRODUCER_LINE.search(producer)
    assert found is not None and found["rps"] == "81766.148814" and found["p99"] == "1311"
    consumer = benchkit._consumer_perf(
        "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, "
        "rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec\n"
        "2026-12-02 13:35:00:000, 2026-12-02 13:35:04:000, 238.4186, 59.6046, 500000, "
        "125000.0000, 310, 3690, 64.6121, 135501.3550\n"
    )
    assert consumer["records"] == 500_000
    assert consumer["records_per_second"] == 125_000.0


def test_percentiles_and_ratios() -> None:
    assert benchkit.percentiles([i / 1000 for i in range(1, 101)]) == {
        "p50": 50.0,
        "p95": 95.0,
        "p99": 99.0,
        "max": 100.0,
    }
    ratios = run_bench.ratios(
        {
            "charges_memory_0ms": {"charges_per_second": 100.0},
            "anchors": {"kafka": {"producer": {"records_per_second": 50_000.0}}},
            "floor": {"charges_per_second": 20.0},
        }
    )
    assert ratios["charges_over_producer_records"] == 0.002
    assert ratios["charges_over_floor"] == 5.0
    assert run_bench.ratios({"floor": {"error": "x"}})["charges_over_floor"] is None


def test_the_bench_stack_listens_apart_from_the_test_stack() -> None:
    from bookpay_devstack.pytest_plugin import OFFSET, TEST_SYSTEM, stack_config_for_tests

    if OFFSET == benchkit.OFFSET:
        pytest.skip("BOOKPAY_TEST_PORT_OFFSET puts the test stack on the bench ports")

    def ports(system: SystemConfig, stack: StackConfig) -> set[int]:
        infra = {stack.kafka_port, stack.kafka_controller_port, stack.postgres_port}
        infra |= {stack.stripe_port, stack.smtp_port, stack.smtp_api_port}
        # Two instances of each service, as --instances or the instance tests may start.
        two = replace(system, instances=dict.fromkeys((s.name for s in system.specs()), 2))
        services = two.all_ports()
        assert len(services) == len(set(services)) and not infra & set(services)
        return infra | set(services)

    bench = ports(benchkit.system_config(), benchkit.stack_config(ROOT))
    test = ports(TEST_SYSTEM, stack_config_for_tests(ROOT))
    assert bench.isdisjoint(test)
