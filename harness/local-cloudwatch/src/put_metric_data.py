"""PutMetricData to a local CloudWatch endpoint with botocore (rpc-v2-cbor), for the
lambda-lens-harness (seeding data, such as AWS/Lambda's own metrics): a JSON request on
stdin.

Request: {"endpoint": URL, "region": R, "namespace": N,
          "data": [{"metric", "dimensions": {k: v}, "timestamp": epoch s, "values": [...],
                    "counts": [...], "unit"}]}
"""
import datetime
import json
import sys

import botocore.session


def main():
    request = json.load(sys.stdin)
    client = botocore.session.get_session().create_client(
        "cloudwatch",
        region_name=request["region"],
        endpoint_url=request["endpoint"],
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    data = [
        {
            "MetricName": d["metric"],
            "Dimensions": [{"Name": k, "Value": v} for k, v in d["dimensions"].items()],
            "Timestamp": datetime.datetime.fromtimestamp(d["timestamp"], datetime.timezone.utc),
            "Values": d["values"],
            "Counts": d["counts"],
            "Unit": d["unit"],
        }
        for d in request["data"]
    ]
    for start in range(0, len(data), 1000):
        client.put_metric_data(Namespace=request["namespace"], MetricData=data[start:start + 1000])


main()
