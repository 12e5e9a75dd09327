//! The reference authorizer (`examples/authorizer/handler.py`) against Cognito as moto runs it: tokens moto's Cognito issues, verified against the JWKS it serves, give the router value of the user's tenant; a forged, foreign, expired-kind or missing token is refused.

mod common;

use common::{Moto, shipped, tool};

/// Runs the handler against moto's Cognito: a fleet pool (`saas-prod-acme`) with its
/// admin, the basic tier's pool with a pool tenant, and a pool of another app.
const DRIVER: &str = r#"
import base64, json, os, sys
import boto3
c = boto3.client("cognito-idp")

def user_pool(name, tenant, path, tier):
    pool = c.create_user_pool(PoolName=name, Schema=[
        {"Name": a, "AttributeDataType": "String", "Mutable": True}
        for a in ["tenantId", "tenantTier", "tenantPath", "userRole"]])["UserPool"]["Id"]
    client = c.create_user_pool_client(UserPoolId=pool, ClientName="app", ExplicitAuthFlows=["ADMIN_NO_SRP_AUTH"])["UserPoolClient"]["ClientId"]
    user = f"admin@{tenant}.example.com"
    c.admin_create_user(UserPoolId=pool, Username=user, TemporaryPassword="Temp12345!aA", UserAttributes=[
        {"Name": "email", "Value": user},
        {"Name": "custom:tenantId", "Value": tenant},
        {"Name": "custom:tenantTier", "Value": tier},
        {"Name": "custom:tenantPath", "Value": path},
        {"Name": "custom:userRole", "Value": "TenantAdmin"}])
    c.admin_set_user_password(UserPoolId=pool, Username=user, Password="Perm12345!aA", Permanent=True)
    auth = c.admin_initiate_auth(UserPoolId=pool, ClientId=client, AuthFlow="ADMIN_NO_SRP_AUTH",
                                 AuthParameters={"USERNAME": user, "PASSWORD": "Perm12345!aA"})["AuthenticationResult"]
    return auth["IdToken"], auth["AccessToken"]

acme_id, acme_access = user_pool("saas-prod-acme", "acme", "acme", "premium")
pooled_id, _ = user_pool("saas-prod-basic", "initech", "basic", "basic")
foreign_id, _ = user_pool("other-app", "mallory", "acme", "premium")

sys.path.insert(0, os.environ["HANDLER_DIR"])
import handler

def call(token):
    event = {"type": "REQUEST", "methodArn": "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/orders",
             "headers": {"Authorization": f"Bearer {token}"} if token else {}}
    try:
        return handler.handler(event)
    except Exception as e:
        return str(e)

def forged(token):
    h, p, s = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    claims["custom:tenantPath"] = "globex"
    p = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{h}.{p}.{s}"

print(json.dumps({
    "acme": call(acme_id),
    "pooled": call(pooled_id),
    "forged": call(forged(acme_id)),
    "foreign": call(foreign_id),
    "access": call(acme_access),
    "none": call(None),
}))
"#;

#[test]
fn the_reference_authorizer_returns_the_users_tenant_path_and_refuses_everything_else() {
    let moto = Moto::start(0.2, &[]);
    let out = std::process::Command::new(tool("python"))
        .args(["-c", DRIVER])
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("TENANTOPS_USER_POOL_PREFIX", "saas-prod-")
        .env("COGNITO_JWKS_ENDPOINT", &moto.endpoint)
        .env("HANDLER_DIR", shipped().join("examples/authorizer"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let got: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let acme = &got["acme"];
    assert_eq!(acme["context"]["tenantPath"], "acme", "{got:#}");
    assert_eq!(acme["context"]["tenantId"], "acme");
    assert_eq!(acme["context"]["tenantTier"], "premium");
    assert_eq!(acme["context"]["userRole"], "TenantAdmin");
    let statement = &acme["policyDocument"]["Statement"][0];
    assert_eq!(statement["Effect"], "Allow");
    assert_eq!(
        statement["Resource"],
        "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/*/*"
    );
    assert_eq!(got["pooled"]["context"]["tenantPath"], "basic");
    for refused in ["forged", "foreign", "access", "none"] {
        assert_eq!(got[refused], "Unauthorized", "{refused}: {got:#}");
    }
    // Why each was refused is logged, never the token.
    for reason in [
        "bad signature",
        "not a user pool of this fleet",
        "not an ID token",
    ] {
        assert!(stdout.contains(reason), "{reason}: {stdout}");
    }
}
