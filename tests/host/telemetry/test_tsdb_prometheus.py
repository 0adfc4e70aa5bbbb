"""Station telemetry into a real time-series store: a Prometheus server (Debian's
`prometheus`) scrapes a station's /metrics every second, and the test reads the values
back through Prometheus's HTTP query API, then changes one and sees the change land.

Prometheus rather than VictoriaMetrics: the station already exposes /metrics, so the
store pulls and the station needs no write path, buffering or credentials of its own;
a scrape that fails shows up in the store itself (`up == 0`)."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from host.telemetry.metrics import StationMetrics
from tests.apt import require
from tests.host.fleet.broker import free_port

pytestmark = pytest.mark.system


def _query(port: int, expr: str) -> list[dict[str, object]]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as reply:  # noqa: S310 (loopback, test)
        body = json.load(reply)
    assert body["status"] == "success", body
    return body["data"]["result"]  # type: ignore[no-any-return]


def _until_value(port: int, expr: str, want: float, timeout: float = 30.0) -> dict[str, object]:
    """Poll the store until `expr` has one series whose value is `want`; return it."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = _query(port, expr)
        except OSError as exc:  # not listening yet
            last = exc
        else:
            if len(last) == 1 and float(last[0]["value"][1]) == want:  # type: ignore[index]
                return last[0]
        time.sleep(0.3)
    raise AssertionError(f"{expr}: wanted {want}, store answered {last}")


def test_prometheus_scrapes_station_and_answers_queries(tmp_path: Path) -> None:
    program = require("prometheus")
    metrics = StationMetrics()
    metrics.grid_frequency.set(49.97)
    metrics.power.labels("1").set(-7400.0)
    metrics.energy_export.labels("1").set(123456.0)
    metrics.link_up.set(1)
    server, _thread = metrics.serve(0)
    station = f"127.0.0.1:{server.server_port}"
    web = free_port()
    (tmp_path / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: station\n"
        f"    static_configs:\n      - targets: ['{station}']\n"
        "        labels: {station: CS1}\n"
    )  # fmt: skip
    log = open(tmp_path / "prometheus.log", "wb")  # noqa: SIM115 (closed in finally)
    proc = subprocess.Popen(
        [program, f"--config.file={tmp_path / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{web}"],
        stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        up = _until_value(web, 'up{job="station"}', 1.0)
        assert up["metric"]["instance"] == station  # type: ignore[index]
        hz = _until_value(web, "v2gate_grid_frequency_hertz", 49.97)
        assert hz["metric"]["station"] == "CS1"  # type: ignore[index]
        power = _until_value(web, 'v2gate_connector_power_watts{connector="1"}', -7400.0)
        assert power["metric"]["job"] == "station"  # type: ignore[index]
        _until_value(web, "v2gate_connector_energy_export_wh", 123456.0)

        # the store follows the station: a new value is scraped and queried back
        metrics.grid_frequency.set(50.02)
        metrics.energy_export.labels("1").set(123470.0)
        _until_value(web, "v2gate_grid_frequency_hertz", 50.02)
        _until_value(web, "v2gate_connector_energy_export_wh", 123470.0)
        # and keeps the history: both frequencies are in the last minute's samples
        seen = _query(web, "v2gate_grid_frequency_hertz[1m]")
        values = {float(v) for _, v in seen[0]["values"]}  # type: ignore[attr-defined]
        assert {49.97, 50.02} <= values, values

        # a station that stops answering is visible in the store as up == 0
        server.shutdown()
        server.server_close()
        _until_value(web, 'up{job="station"}', 0.0)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        server.server_close()
