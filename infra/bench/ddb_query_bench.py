"""A Query of one key (20 items) on a 600-item table, as the fetchers read their checkpoints:
moto's own answer against the emulator's (localcloud.moto_fixes).
``python infra/bench/ddb_query_bench.py moto|fixed``."""

import sys
import time

import boto3
from moto import mock_aws

from localcloud import moto_fixes

# what the emulator changes in any case; the argument says whether queries read one key only
moto_fixes._write_dynamodb_items_directly()
moto_fixes._project_each_item_once()
moto_fixes._track_no_instances()
if sys.argv[1] == "fixed":
    moto_fixes._query_one_partition_key()
with mock_aws():
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    ddb.create_table(
        TableName="t", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}])
    for i in range(600):
        ddb.put_item(TableName="t", Item={"pk": {"S": f"s{i // 20}"}, "sk": {"S": f"p{i}"},
                                          "n": {"N": "0"}})
    started = time.perf_counter()
    for _ in range(200):
        ddb.query(TableName="t", KeyConditionExpression="pk = :p",
                  ExpressionAttributeValues={":p": {"S": "s3"}})
    print(sys.argv[1], f"{(time.perf_counter() - started) / 200 * 1000:.2f} ms per query of "
          "20 items in a 600-item table")
