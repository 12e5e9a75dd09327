"""Seeds a moto server with what a real account has before tenantops runs: the control
plane's Lambda authorizer that every router's API uses. Usage: seed.py ENDPOINT REGION ARN"""
import io
import sys
import zipfile

import boto3

endpoint, region, arn = sys.argv[1], sys.argv[2], sys.argv[3]
name = arn.rsplit(":", 1)[-1]
kw = dict(endpoint_url=endpoint, region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing")
iam = boto3.client("iam", **kw)
role = iam.create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
code = io.BytesIO()
with zipfile.ZipFile(code, "w") as z:
    z.writestr("index.py", "def handler(event, context):\n    return {}\n")
boto3.client("lambda", **kw).create_function(
    FunctionName=name, Runtime="python3.12", Role=role, Handler="index.handler",
    Code={"ZipFile": code.getvalue()},
)
