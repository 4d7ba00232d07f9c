#!/usr/bin/env python3
"""An OTLP/HTTP metrics receiver for lambda-lens's tests, written apart from the extension.

It listens on 127.0.0.1 (port 0 unless told), prints `{"port": N}` as its first line on stdout,
and takes `POST /v1/metrics` as the OTLP/HTTP specification defines it: binary protobuf
(`application/x-protobuf`) or JSON protobuf (`application/json`), gzip or not. It decodes with
the OpenTelemetry project's own protobuf definitions (the `opentelemetry-proto` package) and, with
`--sigv4`, checks each request's AWS Signature Version 4 with botocore's signer: the signature is
computed again from the request as received and compared; a mismatch is answered 403.

Every request is one JSON line in the records file (`"kind": "request"`), and every data point
one more (`"kind": "point"`, with `"accepted"`: whether the answer counted it as stored).

It is scripted on stdin, one JSON command a line, each answered by one JSON line on stdout:

  {"fault": {"mode": "ok"}}                                   answer 200
  {"fault": {"mode": "status", "status": 503, "retry_after": "1", "times": 2}}
  {"fault": {"mode": "slow", "ms": 4000}}                     store, answer N ms later
  {"fault": {"mode": "partial", "reject": 3, "message": "..."}}  reject K points, 200
  {"fault": {"mode": "hold"}}                                 store, answer when released
  {"fault": {"mode": "down"}}                                 nothing listens on the port
  {"release": true}                                           answer every held request
  {"wait_requests": N, "timeout_ms": T}                       until N requests arrived
  {"wait_held": N, "timeout_ms": T}                           until N answers are held
  {"wait_idle": true, "timeout_ms": T}                        until no request is in flight
  {"stats": true}                                             counts so far
  {"quit": true}                                              (end of stdin too)

A fault with `"times": K` applies to the next K requests, then the receiver answers 200 again.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import hashlib
import http.server
import json
import socket
import socketserver
import sys
import threading
import time
import zlib
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials
from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as service
from opentelemetry.proto.metrics.v1 import metrics_pb2

PATH = "/v1/metrics"
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
# AWS refuses a request signed more than 15 minutes away from its clock.
SKEW_S = 15 * 60
TEMPORALITY = {
    metrics_pb2.AGGREGATION_TEMPORALITY_UNSPECIFIED: "unspecified",
    metrics_pb2.AGGREGATION_TEMPORALITY_DELTA: "delta",
    metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE: "cumulative",
}


class Refused(Exception):
    """A request the receiver answers with an error status, with the reason recorded."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


# ---------------------------------------------------------------------------------------------
# Decoding


def any_value(v: Any) -> Any:
    """An OTLP AnyValue as a plain Python value."""
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return attributes(v.kvlist_value.values)
    if kind == "bytes_value":
        return v.bytes_value.hex()
    return getattr(v, kind)


def attributes(kvs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in kvs:
        if kv.key in out:
            raise Refused(400, f"attribute {kv.key!r} twice in one list")
        out[kv.key] = any_value(kv.value)
    return out


def decode_body(body: bytes, content_type: str, content_encoding: str) -> service.ExportMetricsServiceRequest:
    """The request message of a body as sent."""
    encoding = content_encoding.strip().lower()
    if encoding == "gzip":
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError, zlib.error) as e:
            raise Refused(400, f"gzip: {e}") from e
    elif encoding not in ("", "identity"):
        raise Refused(415, f"unsupported Content-Encoding {content_encoding!r}")
    media = content_type.split(";")[0].strip().lower()
    message = service.ExportMetricsServiceRequest()
    if media == PROTOBUF:
        try:
            message.ParseFromString(body)
        except Exception as e:  # protobuf's DecodeError and its kin
            raise Refused(400, f"protobuf: {e}") from e
    elif media == JSON:
        try:
            # OTLP/JSON: receivers ignore unknown fields (the specification says so).
            json_format.Parse(body.decode("utf-8"), message, ignore_unknown_fields=True)
        except Exception as e:
            raise Refused(400, f"json: {e}") from e
    else:
        raise Refused(415, f"unsupported Content-Type {content_type!r}")
    return message


def points(message: service.ExportMetricsServiceRequest) -> list[dict[str, Any]]:
    """Every data point of a request, flat, with its resource, scope and metric.

    `billed_bytes` is the point's share of what CloudWatch bills, as its guide counts it ("OTel
    metrics pricing and storage": each data point's serialized size, metric name, labels,
    resource attributes, timestamp and value): the point's own protobuf size (its labels, times
    and value), the metric's name and the resource's protobuf size. The exact accounting is
    not published; this is a reading of that list."""
    out: list[dict[str, Any]] = []
    for rm in message.resource_metrics:
        resource = attributes(rm.resource.attributes)
        resource_bytes = rm.resource.ByteSize()
        for sm in rm.scope_metrics:
            scope = {"name": sm.scope.name, "version": sm.scope.version}
            for m in sm.metrics:
                kind = m.WhichOneof("data")
                base = {
                    "resource": resource,
                    "resource_schema_url": rm.schema_url,
                    "scope": scope,
                    "metric": m.name,
                    "unit": m.unit,
                    "description": m.description,
                    "type": kind,
                }
                if kind is None:
                    raise Refused(400, f"metric {m.name!r} has no data")
                data = getattr(m, kind)
                if kind in ("sum", "histogram", "exponential_histogram"):
                    base["temporality"] = TEMPORALITY.get(data.aggregation_temporality, "unknown")
                if kind == "sum":
                    base["monotonic"] = data.is_monotonic
                for p in data.data_points:
                    point = dict(base)
                    point["attributes"] = attributes(p.attributes)
                    point["billed_bytes"] = p.ByteSize() + len(m.name.encode("utf-8")) + resource_bytes
                    point["start_ns"] = p.start_time_unix_nano
                    point["time_ns"] = p.time_unix_nano
                    if kind in ("sum", "gauge"):
                        which = p.WhichOneof("value")
                        point["value"] = getattr(p, which) if which else None
                    elif kind == "histogram":
                        point["count"] = p.count
                        point["sum"] = p.sum if p.HasField("sum") else None
                        point["min"] = p.min if p.HasField("min") else None
                        point["max"] = p.max if p.HasField("max") else None
                        point["bucket_counts"] = list(p.bucket_counts)
                        point["bounds"] = list(p.explicit_bounds)
                        if p.bucket_counts and len(p.bucket_counts) != len(p.explicit_bounds) + 1:
                            raise Refused(400, f"{m.name}: {len(p.bucket_counts)} buckets for {len(p.explicit_bounds)} bounds")
                        if p.bucket_counts and sum(p.bucket_counts) != p.count:
                            raise Refused(400, f"{m.name}: buckets add up to {sum(p.bucket_counts)}, count {p.count}")
                    elif kind == "exponential_histogram":
                        point["count"] = p.count
                        point["sum"] = p.sum if p.HasField("sum") else None
                        point["min"] = p.min if p.HasField("min") else None
                        point["max"] = p.max if p.HasField("max") else None
                        point["scale"] = p.scale
                    elif kind == "summary":
                        point["count"] = p.count
                        point["sum"] = p.sum
                    out.append(point)
    return out


def answer_body(media: str, rejected: int, message: str) -> bytes:
    """The ExportMetricsServiceResponse, in the request's encoding."""
    response = service.ExportMetricsServiceResponse()
    if rejected or message:
        response.partial_success.rejected_data_points = rejected
        response.partial_success.error_message = message
    if media == JSON:
        return json_format.MessageToJson(response, indent=None).encode("utf-8")
    return response.SerializeToString()


# ---------------------------------------------------------------------------------------------
# SigV4


class _Verifier(SigV4Auth):
    """botocore's SigV4 signer, made to sign exactly the headers the request says it signed."""

    def __init__(self, credentials: Credentials, service_name: str, region: str, signed: list[str]):
        super().__init__(credentials, service_name, region)
        self._signed = signed

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        picked = HTTPHeaders()
        for name in self._signed:
            for value in request.headers.get_all(name) or []:
                picked[name] = value
        return picked


def parse_authorization(value: str) -> dict[str, str]:
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != "AWS4-HMAC-SHA256":
        raise Refused(403, f"authorization algorithm {algorithm!r}, not AWS4-HMAC-SHA256")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        key, _, val = part.strip().partition("=")
        fields[key] = val
    for key in ("Credential", "SignedHeaders", "Signature"):
        if not fields.get(key):
            raise Refused(403, f"authorization without {key}")
    return fields


def verify_sigv4(
    method: str,
    path: str,
    headers: list[tuple[str, str]],
    body: bytes,
    *,
    access_key: str,
    secret_key: str,
    token: str | None,
    region: str,
    service_name: str,
    now: float | None = None,
) -> None:
    """Raises `Refused(403)` unless the request carries a valid SigV4 signature for these
    credentials, scope and body, signed within the clock skew AWS allows."""
    lower: dict[str, list[str]] = {}
    for name, value in headers:
        lower.setdefault(name.lower(), []).append(value)
    auth = lower.get("authorization")
    if not auth:
        raise Refused(403, "no Authorization header (SigV4 expected)")
    fields = parse_authorization(auth[0])
    amz_date = (lower.get("x-amz-date") or [""])[0]
    try:
        signed_at = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
    except ValueError as e:
        raise Refused(403, f"X-Amz-Date {amz_date!r}: {e}") from e
    now = time.time() if now is None else now
    if abs(signed_at.timestamp() - now) > SKEW_S:
        raise Refused(403, f"signed at {amz_date}, too far from now")
    expected_scope = f"{access_key}/{amz_date[:8]}/{region}/{service_name}/aws4_request"
    if fields["Credential"] != expected_scope:
        raise Refused(403, f"credential scope {fields['Credential']!r}, expected {expected_scope!r}")
    signed = fields["SignedHeaders"].split(";")
    if signed != sorted(signed):
        raise Refused(403, "SignedHeaders not in order")
    for needed in ("host", "x-amz-date"):
        if needed not in signed:
            raise Refused(403, f"{needed} not signed")
    for name in signed:
        if name not in lower:
            raise Refused(403, f"signed header {name} not in the request")
    if token is not None:
        if lower.get("x-amz-security-token") != [token]:
            raise Refused(403, "X-Amz-Security-Token missing or not the session token")
    body_hash = hashlib.sha256(body).hexdigest()
    claimed = lower.get("x-amz-content-sha256")
    if claimed is not None and claimed != [body_hash]:
        raise Refused(403, "X-Amz-Content-SHA256 is not the body's hash")
    request = AWSRequest(method=method, url=f"http://{lower['host'][0]}{path}", data=body)
    for name, value in headers:
        if name.lower() in signed:
            # HTTPHeaders keeps a header given twice twice, as it arrived.
            request.headers[name] = value
    request.context["timestamp"] = amz_date
    signer = _Verifier(Credentials(access_key, secret_key, token), service_name, region, signed)
    # The body as sent (compressed, if it was) is what SigV4 hashes.
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if expected != fields["Signature"]:
        raise Refused(403, "signature does not match")


# ---------------------------------------------------------------------------------------------
# The server


class Script:
    """The fault the next requests meet, and the requests in progress."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.fault: dict[str, Any] = {"mode": "ok"}
        self.requests = 0
        self.in_flight = 0
        self.held = 0
        self.release_generation = 0

    def take(self) -> dict[str, Any]:
        """The fault for one request that just arrived."""
        with self.cond:
            self.requests += 1
            self.in_flight += 1
            self.cond.notify_all()
            fault = dict(self.fault)
            times = self.fault.get("times")
            if times is not None:
                if times <= 1:
                    self.fault = {"mode": "ok"}
                else:
                    self.fault["times"] = times - 1
            return fault

    def done(self) -> None:
        with self.cond:
            self.in_flight -= 1
            self.cond.notify_all()

    def hold(self, timeout_s: float) -> bool:
        """Waits for a release; false if none came in time."""
        with self.cond:
            generation = self.release_generation
            self.held += 1
            self.cond.notify_all()
            released = self.cond.wait_for(lambda: self.release_generation != generation, timeout_s)
            self.held -= 1
            self.cond.notify_all()
            return released

    def release(self) -> None:
        with self.cond:
            self.release_generation += 1
            self.cond.notify_all()

    def wait(self, predicate: Any, timeout_s: float) -> bool:
        with self.cond:
            return self.cond.wait_for(predicate, timeout_s)


class Records:
    """The JSON lines file the tests read."""

    def __init__(self, path: str):
        self.lock = threading.Lock()
        self.file = open(path, "a", encoding="utf-8")  # noqa: SIM115 (kept open for the run)
        self.seq = 0

    def next_seq(self) -> int:
        with self.lock:
            self.seq += 1
            return self.seq

    def write(self, lines: list[dict[str, Any]]) -> None:
        with self.lock:
            for line in lines:
                self.file.write(json.dumps(line, sort_keys=True) + "\n")
            self.file.flush()


class Receiver:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.script = Script()
        self.records = Records(args.records)
        self.server: socketserver.ThreadingTCPServer | None = None
        self.thread: threading.Thread | None = None
        self.connections: set[socket.socket] = set()
        self.conn_lock = threading.Lock()
        self.port = args.port
        self.listen()

    def listen(self) -> None:
        receiver = self

        class Handler(_Handler):
            pass

        Handler.receiver = receiver
        server = _Server(("127.0.0.1", self.port), Handler)
        self.port = server.server_address[1]
        self.server = server
        self.thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def go_down(self) -> None:
        """Nothing listens any more; open connections are cut."""
        if self.server is None:
            return
        self.server.shutdown()
        self.server.server_close()
        self.server = None
        with self.conn_lock:
            for conn in list(self.connections):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def set_fault(self, fault: dict[str, Any]) -> None:
        mode = fault.get("mode", "ok")
        if mode not in ("ok", "status", "slow", "partial", "hold", "down"):
            raise ValueError(f"unknown fault mode {mode!r}")
        if mode == "down":
            self.go_down()
        elif self.server is None:
            self.listen()
        with self.script.cond:
            self.script.fault = dict(fault, mode=mode)

    def command(self, cmd: dict[str, Any]) -> dict[str, Any]:
        timeout_s = cmd.get("timeout_ms", 30_000) / 1000
        s = self.script
        if "fault" in cmd:
            self.set_fault(cmd["fault"])
        elif cmd.get("release"):
            s.release()
        elif "wait_requests" in cmd:
            n = cmd["wait_requests"]
            if not s.wait(lambda: s.requests >= n, timeout_s):
                return {"ok": False, "requests": s.requests}
        elif "wait_held" in cmd:
            n = cmd["wait_held"]
            if not s.wait(lambda: s.held >= n, timeout_s):
                return {"ok": False, "held": s.held}
        elif cmd.get("wait_idle"):
            if not s.wait(lambda: s.in_flight == 0, timeout_s):
                return {"ok": False, "in_flight": s.in_flight}
        with s.cond:
            return {"ok": True, "requests": s.requests, "held": s.held, "in_flight": s.in_flight, "port": self.port}


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    receiver: Receiver

    def setup(self) -> None:
        super().setup()
        with self.receiver.conn_lock:
            self.receiver.connections.add(self.connection)

    def finish(self) -> None:
        with self.receiver.conn_lock:
            self.receiver.connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        pass

    def read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def answer(self, status: int, body: bytes, media: str, extra: list[tuple[str, str]] = ()) -> bool:
        try:
            self.send_response(status)
            self.send_header("Content-Type", media)
            self.send_header("Content-Length", str(len(body)))
            for name, value in extra:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            return True
        except OSError:
            # The client went away before the answer: for it, an unknown outcome.
            self.close_connection = True
            return False

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        r = self.receiver
        args = r.args
        body = self.read_body()
        fault = r.script.take()
        seq = r.records.next_seq()
        content_type = self.headers.get("Content-Type", "")
        content_encoding = self.headers.get("Content-Encoding", "")
        media = JSON if content_type.split(";")[0].strip().lower() == JSON else PROTOBUF
        request: dict[str, Any] = {
            "kind": "request",
            "seq": seq,
            "at": time.time(),
            "path": self.path,
            "content_type": content_type,
            "content_encoding": content_encoding,
            "user_agent": self.headers.get("User-Agent", ""),
            "header_names": sorted({k.lower() for k in self.headers.keys()}),
            "bytes": len(body),
            "fault": fault["mode"],
        }
        try:
            if self.path.split("?")[0] != args.path:
                raise Refused(404, f"path {self.path!r}, expected {args.path!r}")
            if args.sigv4:
                verify_sigv4(
                    self.command,
                    self.path,
                    list(self.headers.items()),
                    body,
                    access_key=args.access_key,
                    secret_key=args.secret_key,
                    token=args.session_token,
                    region=args.region,
                    service_name=args.service,
                )
                request["sigv4"] = "verified"
            else:
                request["sigv4"] = "absent" if "Authorization" not in self.headers else "unchecked"
            for name, value in args.require_header:
                if self.headers.get(name) != value:
                    raise Refused(401, f"header {name} missing or wrong")
            message = decode_body(body, content_type, content_encoding)
            request["decoded_bytes"] = message.ByteSize()
            found = points(message)
        except Refused as e:
            request.update(status=e.status, error=e.reason, points=0)
            r.records.write([request])
            r.script.done()
            self.answer(e.status, e.reason.encode(), "text/plain")
            return
        mode = fault["mode"]
        rejected = 0
        if mode == "status":
            rejected = len(found)
        elif mode == "partial":
            rejected = min(int(fault.get("reject", 1)), len(found))
        for i, point in enumerate(found):
            point["kind"] = "point"
            point["request"] = seq
            point["accepted"] = i >= rejected
        status = int(fault.get("status", 503)) if mode == "status" else 200
        request.update(status=status, points=len(found), rejected=rejected)
        r.records.write([request, *found])
        try:
            if mode == "status":
                extra = [("Retry-After", str(fault["retry_after"]))] if "retry_after" in fault else []
                self.answer(status, b"fault injected by the test receiver", "text/plain", extra)
                return
            if mode == "slow":
                time.sleep(int(fault.get("ms", 1000)) / 1000)
            elif mode == "hold":
                r.script.hold(fault.get("max_ms", 120_000) / 1000)
            message = fault.get("message", "rejected by the test receiver") if mode == "partial" else ""
            answered = self.answer(200, answer_body(media, rejected, message), media)
            if not answered:
                r.records.write([{"kind": "unanswered", "seq": seq}])
        finally:
            r.script.done()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", required=True, help="the JSON lines file to append to")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--path", default=PATH)
    p.add_argument("--sigv4", action="store_true", help="require and verify SigV4")
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--service", default="monitoring")
    p.add_argument("--access-key", default="")
    p.add_argument("--secret-key", default="")
    p.add_argument("--session-token", default=None)
    p.add_argument(
        "--require-header",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="answer 401 unless the request has this header",
    )
    args = p.parse_args(argv)
    receiver = Receiver(args)
    out = sys.stdout
    out.write(json.dumps({"port": receiver.port}) + "\n")
    out.flush()
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            cmd = json.loads(line)
            if cmd.get("quit"):
                break
            reply = receiver.command(cmd)
        except (ValueError, KeyError, TypeError) as e:
            reply = {"ok": False, "error": str(e)}
        out.write(json.dumps(reply) + "\n")
        out.flush()
    receiver.go_down()
    receiver.script.release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
