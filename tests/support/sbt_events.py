#!/usr/bin/env python3
"""Control-plane events exactly as the AWS SaaS Builder Toolkit builds them, and what SBT does with the results.

A faithful reduction of awslabs/sbt-aws 0.9.1 (the version aws-samples/
saas-reference-architecture-ecs pins in server/package.json), read from its sources:

- resources/functions/tenant-registrations/index.py, create_tenant_registration:
  tenant_data = body["tenantData"]; tenant_data["tenantRegistrationId"] = uuid4;
  detail = tenant_registration_data | tenant_data | {"tenantId": tenant_id}, put with
  Source EVENT_SOURCE (EventManager.controlPlaneEventSource, default
  "sbt.control.plane") and DetailType "sbt_aws_onboardingRequest"
  (src/utils/event-manager.ts prefixes every standard event with "sbt_aws_").
- the same file, delete_tenant_registration: detail = (the tenant record the tenant-
  management DELETE returns) | (the registration item), DetailType
  "sbt_aws_offboardingRequest".
- resources/functions/tenant-management/index.py: a tenant's id is str(uuid.uuid4()),
  its record is the request's tenantData plus tenantId and sbtaws_active.
- The body the reference architecture's admin console sends (client/AdminWeb/src/pages/
  Tenants/TenantCreate.tsx): tenantData {tenantName, email, tier, prices: [],
  useFederation, useEc2, useRProxy (strings)}, tenantRegistrationData
  {registrationStatus: "In progress"}.
- src/utils/event-manager.ts, getOrCreateRule: every rule's pattern is
  {source: [source], detail-type: [detailType]}.
- src/control-plane/tenant-registration/tenant-registration.service.ts: the results
  (provisionSuccess/Failure, deprovisionSuccess/Failure, source
  "sbt.application.plane") go to an API destination, PATCH
  /tenant-registrations/{$.detail.tenantRegistrationId} with body $.detail.jobOutput.
- index.py, update_tenant_registration: a non-empty jobOutput.tenantRegistrationData
  is SET on the registration item (which must exist); a non-empty jobOutput.tenantData
  is PUT on /tenants/{tenantId} (tenant-management __update_tenant: SET each key).

Used three ways:
  sbt_events.py fixtures DIR
      writes the event fixtures of tests/fixtures/events/sbt/ (a test keeps the
      committed files equal to this output);
  sbt_events.py consume ENDPOINT ENTRIES.json STATE.json
      puts the PutEvents entries of `tenantops apply --events` on a moto EventBridge bus
      that carries SBT's four result rules (each with an SQS target standing in for the
      API destination), reads what each rule delivered, and applies SBT's PATCH handler
      to the registrations and tenants of STATE.json (moto DynamoDB tables); prints the
      resulting registrations and tenants as JSON;
  sbt_events.py deliver ENDPOINT TEMPLATE.json RULE EVENT.json
      puts EVENT.json's request on a moto bus as SBT's registration function does
      (Source, DetailType, Detail = json.dumps(detail)) with rule RULE of the rendered
      pipeline TEMPLATE.json (its EventPattern, matched by moto) and prints what the
      rule's target (CodeBuild StartBuild) receives: its InputTransformer applied as
      EventBridge documents it (eb-transform-target-input: each InputPathsMap path read
      from the delivered event, a placeholder outside quotes replaced by the value as
      JSON), or `null` when the pattern does not match.
"""

import json
import sys
from pathlib import Path

CONTROL_PLANE = "sbt.control.plane"
APPLICATION_PLANE = "sbt.application.plane"


def registration_request(name, email, tier, use_ec2="false"):
    """What the reference architecture's admin console POSTs to /tenant-registrations."""
    return {
        "tenantData": {
            "tenantName": name,
            "email": email,
            "tier": tier,
            "prices": [],
            "useFederation": "false",
            "useEc2": use_ec2,
            "useRProxy": "true",
        },
        "tenantRegistrationData": {"registrationStatus": "In progress"},
    }


def onboarding_detail(body, tenant_registration_id, tenant_id):
    """create_tenant_registration's merge, in its order."""
    tenant_data = dict(body.get("tenantData", {}))
    tenant_data["tenantRegistrationId"] = tenant_registration_id
    tenant_registration_data = body.get("tenantRegistrationData", {})
    return tenant_registration_data | tenant_data | {"tenantId": tenant_id}


def tenant_record(body, tenant_registration_id, tenant_id):
    """The tenant-management record: the POSTed tenantData plus tenantId and sbtaws_active."""
    record = dict(body["tenantData"])
    record["tenantRegistrationId"] = tenant_registration_id
    record["tenantId"] = tenant_id
    record["sbtaws_active"] = True
    return record


def registration_item(body, tenant_registration_id, tenant_id):
    return (
        {"tenantRegistrationId": tenant_registration_id, "sbtaws_active": True}
        | body.get("tenantRegistrationData", {})
        | {"tenantId": tenant_id}
    )


def offboarding_detail(body, tenant_registration_id, tenant_id, provisioned):
    """delete_tenant_registration's merge: the deleted tenant (sbtaws_active now False,
    with what provisioning stored) | the registration item read before the delete."""
    deleted = tenant_record(body, tenant_registration_id, tenant_id) | provisioned
    deleted["sbtaws_active"] = False
    item = registration_item(body, tenant_registration_id, tenant_id)
    return deleted | item


def delivered(detail_type, source, detail, event_id):
    """The event as EventBridge delivers it to a rule's target."""
    return {
        "version": "0",
        "id": event_id,
        "detail-type": detail_type,
        "source": source,
        "account": "123456789012",
        "time": "2026-11-30T09:30:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }


# Fixed ids: uuid4s, one starting with a digit (as ~10 in 16 do) and one with a letter.
TENANTS = {
    "basic": ("Soylent Corp", "sol@soylent.example.com", "BASIC",
              "5d0c2f4e-9b1a-4c3d-8e7f-0a1b2c3d4e5f", "1f7a9c3e-2b4d-4e6f-8a0b-c1d2e3f4a5b6"),
    "advanced": ("Initrode Global", "admin@initrode.example.com", "ADVANCED",
                 "0b9e8d7c-6a5f-4e3d-9c2b-1a0f9e8d7c6b", "c3f1a2b4-5d6e-4f70-8a9b-0c1d2e3f4a5b"),
    "premium": ("Vandelay Industries", "art@vandelay.example.com", "PREMIUM",
                "7e6d5c4b-3a29-4817-b6a5-f4e3d2c1b0a9", "8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d"),
}


def fixtures(out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for key, (name, email, tier, registration, tenant) in TENANTS.items():
        body = registration_request(name, email, tier)
        detail = onboarding_detail(body, registration, tenant)
        files[f"onboarding-{key}.json"] = delivered(
            "sbt_aws_onboardingRequest", CONTROL_PLANE, detail, f"e0000000-0000-4000-8000-00000000000{len(files)}")
    name, email, tier, registration, tenant = TENANTS["advanced"]
    body = registration_request(name, email, tier)
    provisioned = {
        "tenantConfig": json.dumps({"userPoolId": "us-east-1_AbCdEfGhI", "appClientId": "1example23456789",
                                    "apiGatewayUrl": "https://abc123.execute-api.us-east-1.amazonaws.com/prod"}),
        "tenantName": name,
        "email": email,
        "prices": [],
    }
    files["offboarding-advanced.json"] = delivered(
        "sbt_aws_offboardingRequest", CONTROL_PLANE,
        offboarding_detail(body, registration, tenant, provisioned), "e0000000-0000-4000-8000-000000000010")
    # No function of sbt-aws 0.9.1 emits these (event-manager.ts only defines them); the
    # control plane that adds suspension sends the tenant's ids, as offboarding does.
    for kind in ["deactivate", "activate"]:
        files[f"{kind}-advanced.json"] = delivered(
            f"sbt_aws_{kind}Request", CONTROL_PLANE,
            {"tenantId": tenant, "tenantRegistrationId": registration},
            f"e0000000-0000-4000-8000-00000000002{len(kind)}")
    for name, event in files.items():
        (out / name).write_text(json.dumps(event, indent=2) + "\n")


def consume(endpoint, entries_file, state_file):
    import boto3

    kwargs = dict(endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
    events = boto3.client("events", **kwargs)
    sqs = boto3.client("sqs", **kwargs)
    dynamodb = boto3.resource("dynamodb", **kwargs)
    entries = json.loads(Path(entries_file).read_text())
    state = json.loads(Path(state_file).read_text())
    bus = entries[0].get("EventBusName", "default") if entries else "default"
    if bus != "default":
        try:
            events.create_event_bus(Name=bus)
        except events.exceptions.ResourceAlreadyExistsException:
            pass

    # SBT's rules for the four results, each as getOrCreateRule builds its pattern.
    queues = {}
    for detail_type in ["sbt_aws_provisionSuccess", "sbt_aws_provisionFailure",
                        "sbt_aws_deprovisionSuccess", "sbt_aws_deprovisionFailure"]:
        rule = f"sbt_application_plane_{detail_type}Rule"
        events.put_rule(Name=rule, EventBusName=bus, State="ENABLED",
                        EventPattern=json.dumps({"source": [APPLICATION_PLANE], "detail-type": [detail_type]}))
        url = sqs.create_queue(QueueName=rule)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "registration", "Arn": arn}])
        queues[detail_type] = url

    # A fresh control plane each time: the registrations and tenants of STATE.json only.
    for name in ["TenantRegistration", "TenantDetails"]:
        try:
            dynamodb.Table(name).delete()
        except dynamodb.meta.client.exceptions.ResourceNotFoundException:
            pass
    registrations = dynamodb.create_table(
        TableName="TenantRegistration", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "tenantRegistrationId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "tenantRegistrationId", "AttributeType": "S"}])
    tenants = dynamodb.create_table(
        TableName="TenantDetails", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "tenantId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "tenantId", "AttributeType": "S"}])
    for item in state["registrations"]:
        registrations.put_item(Item=item)
    for item in state["tenants"]:
        tenants.put_item(Item=item)

    for i in range(0, len(entries), 10):
        result = events.put_events(Entries=entries[i:i + 10])
        if result["FailedEntryCount"]:
            raise SystemExit(f"PutEvents failed: {result['Entries']}")

    delivered_events = []
    for detail_type, url in queues.items():
        for _ in range(3):
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                break
            for m in messages:
                delivered_events.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    handled = []
    for event in delivered_events:
        # The API destination: path parameter $.detail.tenantRegistrationId, body $.detail.jobOutput.
        registration_id = event["detail"]["tenantRegistrationId"]
        body = event["detail"]["jobOutput"]
        handled.append({"detail-type": event["detail-type"], "tenantRegistrationId": registration_id})
        patch(registrations, tenants, registration_id, body)
    print(json.dumps({
        "delivered": sorted(handled, key=lambda h: (h["detail-type"], h["tenantRegistrationId"])),
        "registrations": sorted(registrations.scan()["Items"], key=lambda r: r["tenantRegistrationId"]),
        "tenants": sorted(tenants.scan()["Items"], key=lambda t: t["tenantId"]),
    }, default=str, sort_keys=True))


def deliver(endpoint, template_file, rule_name, event_file):
    import boto3

    kwargs = dict(endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
    events = boto3.client("events", **kwargs)
    sqs = boto3.client("sqs", **kwargs)
    rule = json.loads(Path(template_file).read_text())["Resources"][rule_name]["Properties"]
    event = json.loads(Path(event_file).read_text())
    bus = rule["EventBusName"]
    try:
        events.create_event_bus(Name=bus)
    except events.exceptions.ResourceAlreadyExistsException:
        pass
    name = f"{rule_name}-{event['id'][-12:]}"
    events.put_rule(Name=name, EventBusName=bus, State="ENABLED", EventPattern=json.dumps(rule["EventPattern"]))
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "build", "Arn": arn}])
    result = events.put_events(Entries=[{
        "EventBusName": bus, "Source": event["source"], "DetailType": event["detail-type"],
        "Detail": json.dumps(event["detail"]),
    }])
    assert result["FailedEntryCount"] == 0, result
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    if not messages:
        print("null")
        return
    delivered_event = json.loads(messages[0]["Body"])
    transformer = rule["Targets"][0]["InputTransformer"]
    text = transformer["InputTemplate"]
    for key, path in transformer["InputPathsMap"].items():
        value = delivered_event
        for part in path.removeprefix("$.").split("."):
            value = value.get(part) if isinstance(value, dict) else None
        text = text.replace(f"<{key}>", json.dumps(value))
    print(json.dumps(json.loads(text)))


def patch(registrations, tenants, tenant_registration_id, update_data):
    """update_tenant_registration, with the tenant-management PUT it calls."""
    from boto3.dynamodb.conditions import Attr

    if update_data.get("tenantRegistrationData", {}) == {}:
        item = registrations.get_item(Key={"tenantRegistrationId": tenant_registration_id})["Item"]
        tenant_id = item.get("tenantId")
        if not tenant_id:
            raise SystemExit("Tenant ID not found for this registration")
    else:
        data = update_data["tenantRegistrationData"]
        response = registrations.update_item(
            Key={"tenantRegistrationId": tenant_registration_id},
            UpdateExpression="SET " + ", ".join(f"#{k}=:{k}" for k in data),
            ExpressionAttributeNames={f"#{k}": k for k in data},
            ExpressionAttributeValues={f":{k}": v for k, v in data.items()},
            ConditionExpression=Attr("tenantRegistrationId").exists(),
            ReturnValues="ALL_NEW")
        tenant_id = response["Attributes"]["tenantId"]
    tenant_data = update_data.get("tenantData", {})
    if tenant_data != {}:
        data = {k: v for k, v in tenant_data.items() if k != "tenantId"}
        tenants.update_item(
            Key={"tenantId": tenant_id},
            ConditionExpression=Attr("tenantId").eq(tenant_id),
            UpdateExpression="set " + ",".join(f"{k} = :{k}Variable" for k in data),
            ExpressionAttributeValues={f":{k}Variable": v for k, v in data.items()},
            ReturnValues="ALL_NEW")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "fixtures":
        fixtures(sys.argv[2])
    elif len(sys.argv) == 5 and sys.argv[1] == "consume":
        consume(sys.argv[2], sys.argv[3], sys.argv[4])
    elif len(sys.argv) == 6 and sys.argv[1] == "deliver":
        deliver(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5])
    else:
        raise SystemExit(__doc__)
