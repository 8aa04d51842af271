"""LIST on the emulator's S3 with a lake of 36,000 objects: moto's own listing against the
index (localcloud.moto_fixes). ``python infra/bench/s3_list_bench.py moto|fixed``."""
import sys
import time

import boto3
from moto import mock_aws

if sys.argv[1] == "fixed":
    from localcloud import moto_fixes

    moto_fixes._list_s3_keys_by_index()
with mock_aws():
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="lake")
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends
    be = s3_backends[DEFAULT_ACCOUNT_ID]["global"]
    for t in range(30):
        for v in range(1000):
            be.put_object("lake", f"t{t}/dt=2026-11-{v%30:02d}/part-{v}.parquet", b"x")
        for v in range(200):
            be.put_object("lake", f"t{t}/_delta_log/{v:020d}.json", b"x")
    for kw in ({"Prefix": "t5/_delta_log/"}, {"Delimiter": "/"},
               {"Prefix": "t5/_delta_log/", "StartAfter": f"t5/_delta_log/{198:020d}.json"}):
        t0 = time.perf_counter()
        for _ in range(20):
            s3.list_objects_v2(Bucket="lake", **kw)
        print(sys.argv[1], kw, f"{(time.perf_counter()-t0)/20*1000:.1f} ms per LIST (36,000 keys)")
