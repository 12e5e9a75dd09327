"""A reference Lambda REQUEST authorizer for a tenantops fleet (`api.authorizer` in tenantops.yaml).

The contract (README, "Identity and the authorizer contract"):
- the request carries `Authorization: Bearer <Cognito ID token>` of a user of one of
  the fleet's user pools (a pool whose name begins with `<prefix>-<stage>-`);
- the token is verified (RS256 against the pool's JWKS, issuer, `token_use: id`, expiry,
  the audience a client of that pool);
- the authorizer allows the caller on the whole stage (results are cached 300 s per
  token, across methods) and returns in its context the routing value
  `tenantPath` = the user's `custom:tenantPath` (the tenant's id; a pool tenant's tier
  name), with `tenantId`, `tenantTier` and `userRole` from the token.
API Gateway passes `context.authorizer.tenantPath` to the router as the `tenantPath`
header; the API key (each tenant's own, bound to its tier's usage plan) comes from the
client's `x-api-key` header.

Dependency-free beyond the Lambda runtime's boto3: the RS256 check is PKCS#1 v1.5 with
SHA-256 done with Python integers.

Environment: AWS_REGION; TENANTOPS_USER_POOL_PREFIX (`<prefix>-<stage>-`);
TENANTOPS_ROUTING_HEADER (default `tenantPath`); COGNITO_JWKS_ENDPOINT (optional: where
to fetch `<pool>/.well-known/jwks.json` from instead of the issuer, for a VPC endpoint
or a test).
"""

import base64
import hashlib
import hmac
import json
import os
import time
import urllib.request

import boto3

_JWKS = {}
_POOLS = {}
_CLIENTS = {}
# DER prefix of a SHA-256 DigestInfo (RFC 8017, section 9.2, note 1).
_SHA256_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")


class Unauthorized(Exception):
    pass


def _b64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _int(text):
    return int.from_bytes(_b64(text), "big")


def _rs256_valid(key, message, signature):
    n, e = _int(key["n"]), _int(key["e"])
    size = (n.bit_length() + 7) // 8
    if len(signature) != size:
        return False
    decrypted = pow(int.from_bytes(signature, "big"), e, n).to_bytes(size, "big")
    digest = _SHA256_PREFIX + hashlib.sha256(message).digest()
    expected = b"\x00\x01" + b"\xff" * (size - len(digest) - 3) + b"\x00" + digest
    return hmac.compare_digest(decrypted, expected)


def _jwks(issuer, pool_id):
    if pool_id not in _JWKS:
        base = os.environ.get("COGNITO_JWKS_ENDPOINT", issuer.rsplit("/", 1)[0]).rstrip("/")
        with urllib.request.urlopen(f"{base}/{pool_id}/.well-known/jwks.json", timeout=5) as r:
            _JWKS[pool_id] = {k["kid"]: k for k in json.load(r)["keys"]}
    return _JWKS[pool_id]


def _fleet_pool(cognito, pool_id):
    """Whether `pool_id` is one of this fleet's user pools (by its name)."""
    if pool_id not in _POOLS:
        try:
            name = cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]["Name"]
        except cognito.exceptions.ResourceNotFoundException:
            name = ""
        _POOLS[pool_id] = name.startswith(os.environ["TENANTOPS_USER_POOL_PREFIX"])
    return _POOLS[pool_id]


def _pool_client(cognito, pool_id, client_id):
    key = (pool_id, client_id)
    if key not in _CLIENTS:
        try:
            cognito.describe_user_pool_client(UserPoolId=pool_id, ClientId=client_id)
            _CLIENTS[key] = True
        except cognito.exceptions.ResourceNotFoundException:
            _CLIENTS[key] = False
    return _CLIENTS[key]


def claims(token, now=None):
    """The verified claims of a fleet user's ID token, or Unauthorized."""
    region = os.environ["AWS_REGION"]
    try:
        header_b64, payload_b64, signature_b64 = token.split(".")
        header = json.loads(_b64(header_b64))
        payload = json.loads(_b64(payload_b64))
    except ValueError as e:
        raise Unauthorized(f"not a JWT: {e}") from e
    if header.get("alg") != "RS256":
        raise Unauthorized("not an RS256 token")
    issuer = payload.get("iss", "")
    prefix = f"https://cognito-idp.{region}.amazonaws.com/"
    if not issuer.startswith(prefix):
        raise Unauthorized("not issued by Cognito in this region")
    pool_id = issuer[len(prefix):]
    cognito = boto3.client("cognito-idp", region_name=region)
    if not _fleet_pool(cognito, pool_id):
        raise Unauthorized("not a user pool of this fleet")
    key = _jwks(issuer, pool_id).get(header.get("kid"))
    if key is None or not _rs256_valid(key, f"{header_b64}.{payload_b64}".encode(), _b64(signature_b64)):
        raise Unauthorized("bad signature")
    if payload.get("token_use") != "id":
        raise Unauthorized("not an ID token (custom attributes are only in ID tokens)")
    if payload.get("exp", 0) <= (now or time.time()):
        raise Unauthorized("expired")
    if not _pool_client(cognito, pool_id, payload.get("aud", "")):
        raise Unauthorized("not issued to a client of its pool")
    if not payload.get("custom:tenantPath"):
        raise Unauthorized("the user has no custom:tenantPath")
    return payload


def handler(event, context=None):
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    auth = headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme != "Bearer" or not token:
        raise Exception("Unauthorized")
    try:
        c = claims(token)
    except Unauthorized as e:
        print(f"refused: {e}")
        raise Exception("Unauthorized") from None
    # arn:aws:execute-api:<region>:<account>:<api>/<stage>/<method>/<path>
    arn, _, rest = event["methodArn"].partition("/")
    stage = rest.split("/", 1)[0]
    return {
        "principalId": c["sub"],
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{
                "Action": "execute-api:Invoke",
                "Effect": "Allow",
                "Resource": f"{arn}/{stage}/*/*",
            }],
        },
        "context": {
            os.environ.get("TENANTOPS_ROUTING_HEADER", "tenantPath"): c["custom:tenantPath"],
            "tenantId": c.get("custom:tenantId", ""),
            "tenantTier": c.get("custom:tenantTier", ""),
            "userRole": c.get("custom:userRole", ""),
        },
    }
