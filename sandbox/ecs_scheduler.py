"""Plays the ECS scheduler for a moto server: moto starts every service with 0 running
tasks and never starts any. This brings each service's running count to its desired
count DELAY seconds after it first sees the service, as ECS would once tasks are placed,
except services whose name contains one of the NEVER substrings (a tenant that never
gets steady). Usage: ecs_scheduler.py ENDPOINT REGION DELAY [NEVER...]"""
import sys
import time

import boto3

endpoint, region, delay = sys.argv[1], sys.argv[2], float(sys.argv[3])
never = sys.argv[4:]
kw = dict(endpoint_url=endpoint, region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing")
ecs = boto3.client("ecs", **kw)
first_seen = {}
while True:
    try:
        for cluster in ecs.list_clusters()["clusterArns"]:
            arns = ecs.list_services(cluster=cluster, maxResults=100)["serviceArns"]
            for i in range(0, len(arns), 10):
                for s in ecs.describe_services(cluster=cluster, services=arns[i:i + 10])["services"]:
                    key = s["serviceArn"]
                    seen = first_seen.setdefault(key, time.time())
                    if any(n in s["serviceName"] for n in never):
                        continue
                    if s["runningCount"] != s["desiredCount"] and time.time() - seen >= delay:
                        ecs.update_service(cluster=cluster, service=key, desiredCount=s["desiredCount"])
    except Exception as e:  # the server is starting or stopping
        print(f"scheduler: {e}", file=sys.stderr)
    time.sleep(0.1)
