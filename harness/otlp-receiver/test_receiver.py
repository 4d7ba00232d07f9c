"""The test receiver's own tests: requests made here with the OpenTelemetry protobuf classes and
signed with botocore (as an AWS SDK would sign them), against the receiver run as the suites run
it (a process scripted on stdin). `python -m unittest` in this folder, from the virtualenv with
requirements-cloudwatch.txt; `make test` runs them (make otlp-receiver-check)."""

from __future__ import annotations

import gzip
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as service
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2

HERE = os.path.dirname(os.path.abspath(__file__))
KEY, SECRET, TOKEN = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token"

import receiver  # noqa: E402 (after the path is known)


def kv(key: str, value: object) -> common_pb2.KeyValue:
    v = common_pb2.AnyValue()
    if isinstance(value, bool):
        v.bool_value = value
    elif isinstance(value, int):
        v.int_value = value
    elif isinstance(value, float):
        v.double_value = value
    else:
        v.string_value = str(value)
    return common_pb2.KeyValue(key=key, value=v)


def export(invocations: int = 3, durations: tuple[float, ...] = (0.01, 0.2)) -> service.ExportMetricsServiceRequest:
    req = service.ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    rm.resource.attributes.extend([kv("cloud.provider", "aws"), kv("faas.max_memory", 134217728)])
    sm = rm.scope_metrics.add()
    sm.scope.name = "lambda-lens"
    m = sm.metrics.add(name="faas.invocations", unit="{invocation}")
    m.sum.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
    m.sum.is_monotonic = True
    p = m.sum.data_points.add(start_time_unix_nano=1, time_unix_nano=2, as_int=invocations)
    p.attributes.append(kv("faas.coldstart", True))
    h = sm.metrics.add(name="faas.invoke_duration", unit="s")
    h.histogram.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
    hp = h.histogram.data_points.add(
        start_time_unix_nano=1,
        time_unix_nano=2,
        count=len(durations),
        sum=sum(durations),
        min=min(durations),
        max=max(durations),
        explicit_bounds=[0.1],
        bucket_counts=[sum(d <= 0.1 for d in durations), sum(d > 0.1 for d in durations)],
    )
    del hp
    return req


class Running:
    """The receiver as a process, as the Rust suites run it."""

    def __init__(self, *extra: str):
        self.dir = tempfile.TemporaryDirectory()
        self.records = os.path.join(self.dir.name, "records.jsonl")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "receiver.py"), "--records", self.records, *extra],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.port = json.loads(self.proc.stdout.readline())["port"]

    def tell(self, cmd: dict) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def lines(self) -> list[dict]:
        with open(self.records, encoding="utf-8") as f:
            return [json.loads(line) for line in f]

    def points(self) -> list[dict]:
        return [line for line in self.lines() if line["kind"] == "point"]

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(10)
        if self.proc.stdout:
            self.proc.stdout.close()
        self.dir.cleanup()


def post(port: int, body: bytes, headers: dict[str, str], timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", "/v1/metrics", body=body, headers=headers)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def signed(port: int, body: bytes, headers: dict[str, str], secret: str = SECRET) -> dict[str, str]:
    """The headers botocore's signer adds, as an AWS SDK sends them."""
    request = AWSRequest(method="POST", url=f"http://127.0.0.1:{port}/v1/metrics", data=body, headers=headers)
    SigV4Auth(Credentials(KEY, secret, TOKEN), "monitoring", "us-east-1").add_auth(request)
    out = dict(request.headers.items())
    out["Host"] = f"127.0.0.1:{port}"
    return out


PROTOBUF = {"Content-Type": "application/x-protobuf"}


class ReceiverTests(unittest.TestCase):
    def setUp(self) -> None:
        self.r = Running()

    def tearDown(self) -> None:
        self.r.close()

    def test_protobuf_gzip_points_with_resource_and_values(self) -> None:
        body = gzip.compress(export().SerializeToString())
        status, headers, answer = post(self.r.port, body, {**PROTOBUF, "Content-Encoding": "gzip"})
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "application/x-protobuf")
        response = service.ExportMetricsServiceResponse()
        response.ParseFromString(answer)
        self.assertFalse(response.HasField("partial_success"))
        req = [line for line in self.r.lines() if line["kind"] == "request"]
        self.assertEqual(req[0]["bytes"], len(body))
        self.assertEqual(req[0]["content_encoding"], "gzip")
        by = {p["metric"]: p for p in self.r.points()}
        inv = by["faas.invocations"]
        self.assertEqual((inv["type"], inv["temporality"], inv["monotonic"], inv["value"]), ("sum", "delta", True, 3))
        self.assertEqual(inv["attributes"], {"faas.coldstart": True})
        self.assertEqual(inv["resource"], {"cloud.provider": "aws", "faas.max_memory": 134217728})
        self.assertTrue(inv["accepted"])
        dur = by["faas.invoke_duration"]
        self.assertEqual((dur["count"], dur["bucket_counts"], dur["bounds"]), (2, [1, 1], [0.1]))
        self.assertAlmostEqual(dur["sum"], 0.21)
        # The point, its metric's name and the resource it belongs to.
        msg = export()
        rm = msg.resource_metrics[0]
        point = rm.scope_metrics[0].metrics[0].sum.data_points[0]
        self.assertEqual(inv["billed_bytes"], point.ByteSize() + len("faas.invocations") + rm.resource.ByteSize())

    def test_json_request_gets_a_json_answer(self) -> None:
        body = json_format.MessageToJson(export(5)).encode()
        status, headers, answer = post(self.r.port, body, {"Content-Type": "application/json"})
        self.assertEqual(status, 200, answer)
        self.assertEqual(headers["content-type"], "application/json")
        self.assertEqual(json.loads(answer), {})
        self.assertEqual({p["metric"]: p.get("value") for p in self.r.points()}["faas.invocations"], 5)

    def test_garbage_is_refused_and_recorded(self) -> None:
        status, _, _ = post(self.r.port, b"\xff\xff\xff", PROTOBUF)
        self.assertEqual(status, 400)
        status, _, _ = post(self.r.port, b"not gzip", {**PROTOBUF, "Content-Encoding": "gzip"})
        self.assertEqual(status, 400)
        status, _, _ = post(self.r.port, b"{}", {"Content-Type": "text/plain"})
        self.assertEqual(status, 415)
        self.assertEqual([line["status"] for line in self.r.lines()], [400, 400, 415])
        # A histogram whose buckets do not add up to its count.
        bad = export()
        bad.resource_metrics[0].scope_metrics[0].metrics[1].histogram.data_points[0].count = 7
        status, _, answer = post(self.r.port, bad.SerializeToString(), PROTOBUF)
        self.assertEqual(status, 400, answer)

    def test_status_with_retry_after_for_k_requests_then_ok(self) -> None:
        self.r.tell({"fault": {"mode": "status", "status": 429, "retry_after": "2", "times": 2}})
        body = export().SerializeToString()
        first = post(self.r.port, body, PROTOBUF)
        second = post(self.r.port, body, PROTOBUF)
        third = post(self.r.port, body, PROTOBUF)
        self.assertEqual([first[0], second[0], third[0]], [429, 429, 200])
        self.assertEqual(first[1]["retry-after"], "2")
        accepted = [p["accepted"] for p in self.r.points()]
        self.assertEqual(accepted, [False, False, False, False, True, True])
        self.r.tell({"fault": {"mode": "status", "status": 503}})
        self.assertEqual(post(self.r.port, body, PROTOBUF)[0], 503)
        self.assertNotIn("retry-after", post(self.r.port, body, PROTOBUF)[1])

    def test_partial_success_rejects_k_points_in_both_encodings(self) -> None:
        self.r.tell({"fault": {"mode": "partial", "reject": 1, "message": "too old"}})
        status, _, answer = post(self.r.port, export().SerializeToString(), PROTOBUF)
        self.assertEqual(status, 200)
        response = service.ExportMetricsServiceResponse()
        response.ParseFromString(answer)
        self.assertEqual((response.partial_success.rejected_data_points, response.partial_success.error_message), (1, "too old"))
        status, _, answer = post(self.r.port, json_format.MessageToJson(export()).encode(), {"Content-Type": "application/json"})
        self.assertEqual(json.loads(answer), {"partialSuccess": {"rejectedDataPoints": "1", "errorMessage": "too old"}})
        self.assertEqual([p["accepted"] for p in self.r.points()], [False, True, False, True])

    def test_slow_answers_late_but_stores_at_once(self) -> None:
        self.r.tell({"fault": {"mode": "slow", "ms": 600}})
        started = time.monotonic()
        status, _, _ = post(self.r.port, export().SerializeToString(), PROTOBUF)
        self.assertEqual(status, 200)
        self.assertGreaterEqual(time.monotonic() - started, 0.6)
        # A client that gives up first: the points are stored all the same, and recorded so.
        with self.assertRaises(socket.timeout):
            post(self.r.port, export().SerializeToString(), PROTOBUF, timeout=0.2)
        self.assertTrue(self.r.tell({"wait_idle": True, "timeout_ms": 5000})["ok"])
        self.assertEqual(len(self.r.points()), 4)
        self.assertTrue(all(p["accepted"] for p in self.r.points()))
        self.assertEqual([line for line in self.r.lines() if line["kind"] == "unanswered"][0]["seq"], 2)

    def test_hold_until_released(self) -> None:
        self.r.tell({"fault": {"mode": "hold"}})
        result: list[int] = []
        t = threading.Thread(target=lambda: result.append(post(self.r.port, export().SerializeToString(), PROTOBUF)[0]))
        t.start()
        self.assertEqual(self.r.tell({"wait_held": 1, "timeout_ms": 5000})["held"], 1)
        time.sleep(0.3)
        self.assertEqual(result, [], "no answer while held")
        self.assertEqual(len(self.r.points()), 2, "stored while held")
        self.r.tell({"release": True})
        t.join(5)
        self.assertEqual(result, [200])

    def test_down_refuses_connections_then_up_again(self) -> None:
        self.r.tell({"fault": {"mode": "down"}})
        with self.assertRaises(ConnectionRefusedError):
            post(self.r.port, export().SerializeToString(), PROTOBUF)
        self.r.tell({"fault": {"mode": "ok"}})
        self.assertEqual(post(self.r.port, export().SerializeToString(), PROTOBUF)[0], 200)


class SigV4Tests(unittest.TestCase):
    def setUp(self) -> None:
        self.r = Running(
            "--sigv4", "--access-key", KEY, "--secret-key", SECRET, "--session-token", TOKEN, "--region", "us-east-1"
        )

    def tearDown(self) -> None:
        self.r.close()

    def test_a_request_signed_by_botocore_is_verified(self) -> None:
        body = gzip.compress(export().SerializeToString())
        headers = signed(self.r.port, body, {**PROTOBUF, "Content-Encoding": "gzip"})
        status, _, answer = post(self.r.port, body, headers)
        self.assertEqual(status, 200, answer)
        self.assertEqual(self.r.lines()[0]["sigv4"], "verified")

    def test_mismatches_are_refused_with_403(self) -> None:
        body = export().SerializeToString()
        cases = {
            "unsigned": (body, dict(PROTOBUF)),
            "wrong secret": (body, signed(self.r.port, body, dict(PROTOBUF), secret="other")),
            "body changed after signing": (body + b"\x08\x01", signed(self.r.port, body, dict(PROTOBUF))),
        }
        headers = signed(self.r.port, body, dict(PROTOBUF))
        headers["X-Amz-Security-Token"] = "another"
        cases["wrong token"] = (body, headers)
        headers = signed(self.r.port, body, dict(PROTOBUF))
        headers["Content-Type"] = "application/json"
        cases["signed header changed"] = (body, headers)
        for name, (b, h) in cases.items():
            with self.subTest(name):
                status, _, answer = post(self.r.port, b, h)
                self.assertEqual(status, 403, f"{name}: {answer!r}")
        self.assertEqual(self.r.points(), [])

    def test_verify_directly_scope_and_clock(self) -> None:
        body = b"x"
        headers = signed(9, body, dict(PROTOBUF))
        headers["Host"] = "127.0.0.1:9"
        common = dict(access_key=KEY, secret_key=SECRET, token=TOKEN, service_name="monitoring")
        receiver.verify_sigv4("POST", "/v1/metrics", list(headers.items()), body, region="us-east-1", **common)
        with self.assertRaises(receiver.Refused):
            receiver.verify_sigv4("POST", "/v1/metrics", list(headers.items()), body, region="eu-west-1", **common)
        with self.assertRaises(receiver.Refused):
            receiver.verify_sigv4(
                "POST", "/v1/metrics", list(headers.items()), body, region="us-east-1", now=time.time() + 3600, **common
            )


if __name__ == "__main__":
    unittest.main()
