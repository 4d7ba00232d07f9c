"""Seeds a local ministack (cloudwatch, lambda, tagging) for the fleet suite with botocore (not
the SDK the report reads with): Lambda functions with their tags, and metric data. A JSON
request on stdin.

Request: {"endpoint": URL, "region": R,
          "functions": [{"name": N, "tags": {k: v}}],
          "data": {namespace: [{"metric", "function", "timestamp": epoch s, "values": [...],
                                "counts": [...]}]}}
"""
import datetime
import io
import json
import sys
import zipfile

import botocore.session


def main():
    request = json.load(sys.stdin)
    session = botocore.session.get_session()
    kw = dict(
        region_name=request["region"],
        endpoint_url=request["endpoint"],
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    if request.get("functions"):
        lam = session.create_client("lambda", **kw)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("bootstrap", "#!/bin/sh\n")
        for f in request["functions"]:
            lam.create_function(
                FunctionName=f["name"],
                Runtime="provided.al2023",
                Role="arn:aws:iam::000000000000:role/fleet",
                Handler="bootstrap",
                Code={"ZipFile": buf.getvalue()},
                Tags=f["tags"],
            )
    cw = session.create_client("cloudwatch", **kw)
    for namespace, data in request["data"].items():
        data = [
            {
                "MetricName": d["metric"],
                "Dimensions": [{"Name": "FunctionName", "Value": d["function"]}],
                "Timestamp": datetime.datetime.fromtimestamp(d["timestamp"], datetime.timezone.utc),
                "Values": d["values"],
                "Counts": d["counts"],
                "Unit": "None",
            }
            for d in data
        ]
        for start in range(0, len(data), 1000):
            cw.put_metric_data(Namespace=namespace, MetricData=data[start:start + 1000])


main()
