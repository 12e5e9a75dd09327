"""Starts moto's server (the AWS API emulator the tests drive tenantops against), after
correcting nine moto 5.2 gaps that would otherwise stop every stack tenantops renders,
make every update look undone, or let two concurrent calls both win:

- CloudFormation's AWS::ElasticLoadBalancingV2::LoadBalancer ignores `Type`, so an NLB
  is created as an ALB and its TCP listener is refused ("Listener protocol 'TCP' must be
  one of 'HTTP, HTTPS'"). The patch passes `Type` on, as CloudFormation does.
- Resource types moto does not model in CloudFormation (API Gateway usage plans and
  keys, Cloud Map namespaces, ECS capacity providers, Cognito groups, ...) are skipped,
  so a `Ref` or `Fn::GetAtt` to one fails the whole template ("references undefined
  resource") and outputs naming one are dropped. The patch gives each such resource a
  stand-in with a physical id and attributes, as CloudFormation would after creating it;
  nothing behind it exists.
- ExecuteChangeSet leaves the stack's tags as they were; CloudFormation applies the
  change set's tags to the stack (tenantops reads its `tenantops:hash` tag back).
- ExecuteChangeSet leaves the stack's outputs as they were before the update (UpdateStack
  recomputes them); CloudFormation's outputs are those of the new template, which
  consumers' parameters and provisioning results are read from.
- ExecuteChangeSet leaves the stack's parameters as they were too (moto's
  execute_change_set sets the template and status only; Stack.update, behind UpdateStack,
  sets the parameters); CloudFormation's stack then has the change set's parameters
  (DescribeStacks). A later UpdateStack that keeps a parameter the update added
  (`UsePreviousValue`, as tenantops' tags-only update does) fails in moto with a
  KeyError, answered as a 500 without a body. The patch sets them.
- UpdateStack with the stack's template and parameters is refused ("No updates are to
  be performed") even when it changes the stack's tags
  (moto/cloudformation/responses.py, `_validate_different_update`, which compares the
  template and parameters only). CloudFormation takes a changed tag set as an update
  and propagates it (aws-cloudformation-coverage-roadmap#552: "CFT treats even stack
  level tags as a change"; envato/stack_master#302: a tags-only update ends in
  UPDATE_COMPLETE), which tenantops relies on to record that a stack's services were
  seen steady. The patch refuses only an update whose tags are the stack's too.
- Deleting a stack keeps only resources with `DeletionPolicy: Retain`; CloudFormation
  also keeps those with `RetainExceptOnCreate` once the stack was created ("retain the
  resource ... except if the resource was created during a stack create operation that
  failed", the DeletionPolicy attribute's documentation). A stack moto deletes was
  created, so the patch treats them as `Retain`.
- An update that removes a resource from the template deletes it whatever its
  `DeletionPolicy` (moto/cloudformation/parsing.py, ResourceMap.update, which deletes
  every removed resource); CloudFormation keeps it under `Retain` (and
  `RetainExceptOnCreate`, once created): "This capability also applies to stack update
  operations that lead to resources being deleted from stacks. For example, if you
  remove the resource from the stack template, and then update the stack with the
  template" (the DeletionPolicy attribute's documentation). The patch keeps them.
- moto's server handles requests on many threads, but its CloudFormation backend is not
  safe for that: CreateStack checks that the name is free and inserts the stack later
  (moto/cloudformation/models.py, CloudFormationBackend.create_stack), so two concurrent
  creates of one name can both succeed, where CloudFormation lets exactly one succeed
  (the stage lock relies on it); and a stack's resources are created lazily on first
  read (parsing.ResourceMap.__getitem__), so a DescribeStacks while the stack is being
  created creates some of its resources a second time ("The CIDR '10.0.64.0/18'
  conflicts with another subnet", seen when two applies ran at once) and leaves the
  stack CREATE_IN_PROGRESS for good. The patch serves one request at a time, as each
  CloudFormation API call is atomic to its callers.

The request recorder (which the tests read to count requests) appends each request
to its file from whichever server thread handles it; concurrent requests with large
bodies interleave and lose lines, so recording is made one request at a time.

Other gaps (no outputs for stacks created by a CREATE change set, services that never
start tasks) are left as they are; tenantops creates stacks with CreateStack, and
sandbox/ecs_scheduler.py starts tasks. Usage: moto_server.py [moto_server options]
"""
import hashlib
import threading

from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing
from moto.cloudformation import responses as cfn_responses
from moto.core.common_models import CloudFormationModel
from moto.elbv2 import models as elbv2
from moto.moto_api._internal.recorder.models import Recorder
from moto.moto_server import werkzeug_app
from moto.server import main

_original = elbv2.FakeLoadBalancer.create_from_cloudformation_json.__func__


def _with_type(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    properties = cloudformation_json["Properties"]
    backend = elbv2.elbv2_backends[account_id][region_name]
    return backend.create_load_balancer(
        resource_name,
        properties.get("SecurityGroups") or [],
        properties.get("Subnets"),
        scheme=properties.get("Scheme", "internet-facing"),
        loadbalancer_type=properties.get("Type", "application"),
    )


elbv2.FakeLoadBalancer.create_from_cloudformation_json = classmethod(_with_type)

class StandIn(CloudFormationModel):
    """A resource moto has no model for: an id and attributes, nothing behind them."""

    # moto's model registry names a model's service after its module.
    __module__ = "moto.tenantops_tests"

    def __init__(self, resource_type, name, account_id, region_name):
        digest = hashlib.sha1(f"{resource_type}/{name}".encode()).hexdigest()[:12]
        service = resource_type.split("::")[1].lower()
        self.physical_resource_id = f"{name}-{digest}"
        self.arn = f"arn:aws:{service}:{region_name}:{account_id}:{name}/{digest}"

    @staticmethod
    def cloudformation_name_type():
        return ""

    @staticmethod
    def cloudformation_type():
        return "AWS::TenantopsTests::StandIn"

    @classmethod
    def has_cfn_attr(cls, attr):
        return True

    def get_cfn_attribute(self, attribute_name):
        if attribute_name.endswith("Arn"):
            return self.arn
        return self.physical_resource_id

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        return cls(cloudformation_json["Type"], resource_name, account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        pass

    def is_created(self):
        return True


_resource_class = parsing.resource_class_from_type


def _with_stand_ins(resource_type):
    known = _resource_class(resource_type)
    if known is None and resource_type.startswith("AWS::") and resource_type not in parsing.NULL_MODELS:
        return StandIn
    return known


parsing.resource_class_from_type = _with_stand_ins

_execute = cfn_models.CloudFormationBackend.execute_change_set


def _execute_with_tags(self, change_set_name, stack_name=None):
    change_set = self.change_sets.get(change_set_name) or next(
        (c for c in self.change_sets.values() if c.change_set_name == change_set_name
         and stack_name in (None, c.stack_name, c.stack_id)),
        None,
    )
    _execute(self, change_set_name, stack_name)
    if change_set is None:
        return
    stack = self.stacks[change_set.stack_id]
    if change_set.tags:
        stack.tags = change_set.tags
    stack.parameters = dict(change_set.parameters)
    stack._parse_template()
    stack.output_map = stack._create_output_map()


cfn_models.CloudFormationBackend.execute_change_set = _execute_with_tags

_validate_different_update = cfn_responses.CloudFormationResponse._validate_different_update


def _validate_different_update_with_tags(self, incoming_params, stack_body, old_stack):
    tags = {item["Key"]: item["Value"] for item in self._get_param("Tags", [])}
    if tags and tags != old_stack.tags:
        return
    _validate_different_update(self, incoming_params, stack_body, old_stack)


cfn_responses.CloudFormationResponse._validate_different_update = _validate_different_update_with_tags

_record = Recorder._record_request
_record_lock = threading.Lock()


def _record_serially(self, request, body=None):
    with _record_lock:
        _record(self, request, body)


Recorder._record_request = _record_serially

_delete_resources = parsing.ResourceMap.delete


def _delete_keeping_retain_except_on_create(self):
    for value in self._resource_json_map.values():
        if isinstance(value, dict) and value.get("DeletionPolicy") == "RetainExceptOnCreate":
            value["DeletionPolicy"] = "Retain"
    return _delete_resources(self)


parsing.ResourceMap.delete = _delete_keeping_retain_except_on_create

_delete_one = parsing.ResourceMap._delete_resource


def _delete_unless_retained(self, parsed_resource, resource_json):
    if isinstance(resource_json, dict) and resource_json.get("DeletionPolicy") in (
        "Retain",
        "RetainExceptOnCreate",
    ):
        return None
    return _delete_one(self, parsed_resource, resource_json)


parsing.ResourceMap._delete_resource = _delete_unless_retained

_dispatch = werkzeug_app.DomainDispatcherApplication.__call__
_serve_lock = threading.Lock()


def _serve_serially(self, environ, start_response):
    # The body is produced inside the lock: Flask computes it before returning, and the
    # list() makes sure no part of it is produced after the lock is released.
    with _serve_lock:
        return list(_dispatch(self, environ, start_response))


werkzeug_app.DomainDispatcherApplication.__call__ = _serve_serially

if __name__ == "__main__":
    main()
