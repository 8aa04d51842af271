"""Records sender-to-handler latency for each record of a batch (one S3 object per batch)."""

import json
import os
import time

import boto3

s3 = boto3.client("s3")


def latency(event, context):
    now = time.time()
    lat = [now - json.loads(r["body"])["sent"] for r in event["Records"]]
    s3.put_object(Bucket=os.environ["BENCH_BUCKET"], Key=f"lat/{context.aws_request_id}",
                  Body=json.dumps(lat).encode())
    return {}
