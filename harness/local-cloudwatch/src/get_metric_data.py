"""GetMetricData against a local CloudWatch endpoint with botocore (rpc-v2-cbor), for the
lambda-lens-harness: a JSON request on stdin, a JSON answer on stdout.

Request: {"endpoint": URL, "region": R, "start": epoch s, "end": epoch s,
          "queries": [{"id", "namespace", "metric", "dimensions": {k: v}, "stat", "period"}]}
Answer: {"results": {id: {"values": [...], "timestamps": [epoch s...]}}}
"""
import datetime
import json
import sys

import botocore.session


def main():
    request = json.load(sys.stdin)
    session = botocore.session.get_session()
    client = session.create_client(
        "cloudwatch",
        region_name=request["region"],
        endpoint_url=request["endpoint"],
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    queries = [
        {
            "Id": q["id"],
            "MetricStat": {
                "Metric": {
                    "Namespace": q["namespace"],
                    "MetricName": q["metric"],
                    "Dimensions": [{"Name": k, "Value": v} for k, v in q["dimensions"].items()],
                },
                "Period": q["period"],
                "Stat": q["stat"],
            },
        }
        for q in request["queries"]
    ]
    utc = datetime.timezone.utc
    answer = client.get_metric_data(
        MetricDataQueries=queries,
        StartTime=datetime.datetime.fromtimestamp(request["start"], utc),
        EndTime=datetime.datetime.fromtimestamp(request["end"], utc),
    )
    results = {
        r["Id"]: {
            "values": r.get("Values", []),
            "timestamps": [t.timestamp() for t in r.get("Timestamps", [])],
        }
        for r in answer["MetricDataResults"]
    }
    json.dump({"results": results}, sys.stdout)


main()
