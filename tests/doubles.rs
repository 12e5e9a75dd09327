//! Failure states moto cannot produce, through the SDK's own test doubles (aws-smithy-mocks): a failed create left in `ROLLBACK_COMPLETE`, `UPDATE_ROLLBACK_FAILED`, bursts of throttling, an empty change set, a stack deleted out of band, a stack busy with another actor, and ECS services that never get steady.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_cloudformation::Client as Cfn;
use aws_sdk_cloudformation::config::retry::RetryConfig;
use aws_sdk_cloudformation::error::ErrorMetadata;
use aws_sdk_cloudformation::operation::continue_update_rollback::ContinueUpdateRollbackOutput;
use aws_sdk_cloudformation::operation::create_change_set::{
    CreateChangeSetError, CreateChangeSetOutput,
};
use aws_sdk_cloudformation::operation::create_stack::{CreateStackError, CreateStackOutput};
use aws_sdk_cloudformation::operation::delete_change_set::DeleteChangeSetOutput;
use aws_sdk_cloudformation::operation::delete_stack::DeleteStackOutput;
use aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput;
use aws_sdk_cloudformation::operation::describe_stack_events::DescribeStackEventsOutput;
use aws_sdk_cloudformation::operation::describe_stacks::{
    DescribeStacksError, DescribeStacksOutput,
};
use aws_sdk_cloudformation::operation::execute_change_set::ExecuteChangeSetOutput;
use aws_sdk_cloudformation::operation::list_stack_resources::ListStackResourcesOutput;
use aws_sdk_cloudformation::operation::update_stack::{UpdateStackError, UpdateStackOutput};
use aws_sdk_cloudformation::types::{
    Change, ChangeAction, ChangeSetStatus, Replacement, ResourceChange, ResourceStatus, Stack,
    StackEvent, StackResourceSummary, StackStatus, Tag,
};
use aws_sdk_ecs::Client as Ecs;
use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
use aws_sdk_ecs::types::{Deployment, Service};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use tenantops::apply::progress::Progress;
use tenantops::apply::{Options, Outcome, Runner};
use tenantops::aws::{Aws, LiveStack};
use tenantops::plan::{DesiredStack, TAG_HASH};
use tenantops::stacks::{Param, StackKind};

const NAME: &str = "saas-prod-tenant-acme";

fn desired() -> DesiredStack {
    DesiredStack {
        name: NAME.to_owned(),
        kind: StackKind::Tenant,
        tenant: Some("acme".to_owned()),
        tier: Some("advanced".to_owned()),
        wave: 0,
        template: r#"{"Resources":{"Topic":{"Type":"AWS::SNS::Topic"}}}"#.to_owned(),
        inputs: String::new(),
        upload_s3: false,
        parameters: BTreeMap::from([(
            "Size".to_owned(),
            Param::Value {
                value: "2".to_owned(),
            },
        )]),
        tags: BTreeMap::from([
            ("tenantops:managed".to_owned(), "true".to_owned()),
            ("tenantops:tenant".to_owned(), "acme".to_owned()),
        ]),
        depends_on: Vec::new(),
    }
}

fn desired_hash() -> String {
    let d = desired();
    d.hash(&d.resolve(&BTreeMap::new()).expect("literal parameters"))
}

fn live(status: &str, hash: &str) -> LiveStack {
    LiveStack {
        name: NAME.to_owned(),
        status: status.to_owned(),
        reason: None,
        tags: BTreeMap::from([(TAG_HASH.to_owned(), hash.to_owned())]),
        outputs: BTreeMap::new(),
    }
}

fn stack(status: StackStatus, hash: &str) -> DescribeStacksOutput {
    DescribeStacksOutput::builder()
        .stacks(
            Stack::builder()
                .stack_name(NAME)
                .stack_status(status)
                .tags(Tag::builder().key(TAG_HASH).value(hash).build())
                .build(),
        )
        .build()
}

fn not_found() -> DescribeStacksError {
    DescribeStacksError::generic(
        ErrorMetadata::builder()
            .code("ValidationError")
            .message(format!("Stack with id {NAME} does not exist"))
            .build(),
    )
}

fn no_resources() -> Rule {
    mock!(Cfn::list_stack_resources).then_output(|| ListStackResourcesOutput::builder().build())
}

/// The stack's one ECS service, as `ListStackResources` lists it.
fn orders_service_resource() -> Rule {
    mock!(Cfn::list_stack_resources).then_output(|| {
        ListStackResourcesOutput::builder()
            .stack_resource_summaries(
                StackResourceSummary::builder()
                    .logical_resource_id("OrdersService")
                    .resource_type("AWS::ECS::Service")
                    .physical_resource_id(
                        "arn:aws:ecs:us-east-1:123456789012:service/saas-prod-advanced/saas-prod-acme-orders",
                    )
                    .build(),
            )
            .build()
    })
}

/// That service as `DescribeServices` answers: `running` of 2 tasks, with
/// `deployments` deployments.
fn orders_service(running: i32, deployments: usize) -> DescribeServicesOutput {
    let mut service = Service::builder()
        .service_name("saas-prod-acme-orders")
        .status("ACTIVE")
        .desired_count(2)
        .running_count(running)
        .deployments(Deployment::builder().status("PRIMARY").build());
    for _ in 1..deployments {
        service = service.deployments(Deployment::builder().status("ACTIVE").build());
    }
    DescribeServicesOutput::builder()
        .services(service.build())
        .build()
}

const THROTTLING: &str = r#"<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>1</RequestId></ErrorResponse>"#;

fn opts() -> Options {
    Options {
        concurrency: 1,
        steady_timeout: Duration::from_millis(300),
        busy_timeout: Duration::from_millis(300),
        stack_timeout: Duration::from_secs(5),
        poll_initial: Duration::from_millis(1),
        poll_max: Duration::from_millis(10),
        commit: "abc123".to_owned(),
        ..Options::default()
    }
}

fn runner(cfn: &[&Rule], ecs: &[&Rule]) -> Runner {
    runner_with(cfn, ecs, opts())
}

/// A runner of stage `prod`, which refuses stacks without its managed tags.
fn prod_runner(cfn: &[&Rule], ecs: &[&Rule]) -> Runner {
    runner_with(
        cfn,
        ecs,
        Options {
            stage: Some("prod".to_owned()),
            ..opts()
        },
    )
}

fn runner_with(cfn: &[&Rule], ecs: &[&Rule], opts: Options) -> Runner {
    let cfn = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, cfn, |c| c
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(tenantops::aws::RETRY_ATTEMPTS)
                .with_initial_backoff(Duration::from_millis(1))
                .with_max_backoff(Duration::from_millis(5))
        ));
    let ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, ecs);
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, &[]);
    Runner::new(
        Arc::new(Aws::from_clients(cfn, ecs, s3)),
        opts,
        Arc::new(Progress::Silent),
        None,
        &[],
    )
}

#[tokio::test]
async fn a_failed_create_in_rollback_complete_is_deleted_and_created_again() {
    let delete = mock!(Cfn::delete_stack).then_output(|| DeleteStackOutput::builder().build());
    let create = mock!(Cfn::create_stack).then_output(|| CreateStackOutput::builder().build());
    let hash = desired_hash();
    let describe = mock!(Cfn::describe_stacks)
        .sequence()
        .error(not_found)
        .output(move || stack(StackStatus::CreateComplete, &hash))
        .build();
    let resources = no_resources();
    let r = runner(&[&delete, &create, &describe, &resources], &[]);
    let (outcome, reason) = r
        .converge(&desired(), Some(live("ROLLBACK_COMPLETE", "old")))
        .await;
    assert_eq!(outcome, Outcome::Recreated, "{reason:?}");
    assert_eq!(delete.num_calls(), 1);
    assert_eq!(create.num_calls(), 1);
}

/// A stack of the planned name that appears between the listing and the create, made by
/// someone else (no `tenantops:managed` tag for the stage): the create's `AlreadyExists`
/// must not be taken for another apply's create, whose stack would then be updated.
#[tokio::test]
async fn a_foreign_stack_that_appears_during_the_create_is_left_as_it_is() {
    let create = mock!(Cfn::create_stack).then_error(|| {
        CreateStackError::generic(
            ErrorMetadata::builder()
                .code("AlreadyExistsException")
                .message(format!("Stack [{NAME}] already exists"))
                .build(),
        )
    });
    let describe =
        mock!(Cfn::describe_stacks).then_output(|| stack(StackStatus::CreateComplete, "x"));
    let update =
        mock!(Cfn::create_change_set).then_output(|| CreateChangeSetOutput::builder().build());
    let delete = mock!(Cfn::delete_stack).then_output(|| DeleteStackOutput::builder().build());
    let r = prod_runner(&[&create, &describe, &update, &delete], &[]);
    let (outcome, reason) = r.converge(&desired(), None).await;
    assert_eq!(outcome, Outcome::Failed);
    let reason = reason.unwrap_or_default();
    assert!(reason.contains("does not manage"), "{reason}");
    assert_eq!(create.num_calls(), 1);
    assert_eq!(
        update.num_calls() + delete.num_calls(),
        0,
        "the foreign stack was touched"
    );
}

/// The lock's `CreateStack` went through but its answer was lost, and the SDK's retry
/// got `AlreadyExists`: the stack it finds is this process's own (its holder and
/// process tags), so the lock is held. Before, apply refused itself (exit 6, naming
/// its own pid) and left the lock for everyone.
#[tokio::test]
async fn a_lock_create_whose_answer_was_lost_is_recognised_as_ones_own() {
    use tenantops::apply::lock;
    let create = mock!(Cfn::create_stack).then_error(|| {
        CreateStackError::generic(
            ErrorMetadata::builder()
                .code("AlreadyExistsException")
                .message("Stack [saas-prod-tenantops-lock] already exists")
                .build(),
        )
    });
    let describe = mock!(Cfn::describe_stacks).then_output(|| {
        DescribeStacksOutput::builder()
            .stacks(
                Stack::builder()
                    .stack_name("saas-prod-tenantops-lock")
                    .stack_status(StackStatus::CreateComplete)
                    .tags(
                        Tag::builder()
                            .key(lock::TAG_HOLDER)
                            .value(lock::me())
                            .build(),
                    )
                    .tags(
                        Tag::builder()
                            .key(lock::TAG_PROCESS)
                            .value(lock::process_identity().expect("/proc"))
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    let delete = mock!(Cfn::delete_stack).then_output(|| DeleteStackOutput::builder().build());
    let cfn = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        &[&create, &describe, &delete]
    );
    let ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, &[]);
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, &[]);
    let aws = Aws::from_clients(cfn, ecs, s3);
    let held = lock::acquire(
        &aws,
        "saas-prod-tenantops-lock",
        "prod",
        None,
        &Options {
            commit: "abc123".to_owned(),
            busy_timeout: Duration::from_millis(10),
            ..Options::default()
        },
        false,
    )
    .await;
    assert_eq!(held.ok().as_deref(), Some("saas-prod-tenantops-lock"));
    assert_eq!(delete.num_calls(), 0);
}

#[tokio::test]
async fn update_rollback_failed_is_continued_then_updated() {
    let cont = mock!(Cfn::continue_update_rollback)
        .then_output(|| ContinueUpdateRollbackOutput::builder().build());
    let describe = mock!(Cfn::describe_stacks)
        .sequence()
        .output(|| stack(StackStatus::UpdateRollbackComplete, "old"))
        .output(|| stack(StackStatus::UpdateComplete, "new"))
        .build();
    let create_cs =
        mock!(Cfn::create_change_set).then_output(|| CreateChangeSetOutput::builder().build());
    let describe_cs = mock!(Cfn::describe_change_set).then_output(|| {
        DescribeChangeSetOutput::builder()
            .status(ChangeSetStatus::CreateComplete)
            .changes(
                Change::builder()
                    .resource_change(
                        ResourceChange::builder()
                            .action(ChangeAction::Modify)
                            .logical_resource_id("Topic")
                            .resource_type("AWS::SNS::Topic")
                            .replacement(Replacement::False)
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    let execute =
        mock!(Cfn::execute_change_set).then_output(|| ExecuteChangeSetOutput::builder().build());
    let resources = no_resources();
    let r = runner(
        &[
            &cont,
            &describe,
            &create_cs,
            &describe_cs,
            &execute,
            &resources,
        ],
        &[],
    );
    let (outcome, reason) = r
        .converge(&desired(), Some(live("UPDATE_ROLLBACK_FAILED", "old")))
        .await;
    assert_eq!(outcome, Outcome::Updated, "{reason:?}");
    assert_eq!(cont.num_calls(), 1);
    assert_eq!(execute.num_calls(), 1);
}

#[tokio::test]
async fn a_burst_of_throttling_is_retried_with_backoff() {
    let create = mock!(Cfn::create_stack)
        .sequence()
        .http_status(400, Some(THROTTLING.to_owned()))
        .times(5)
        .output(|| CreateStackOutput::builder().build())
        .build();
    let hash = desired_hash();
    let describe =
        mock!(Cfn::describe_stacks).then_output(move || stack(StackStatus::CreateComplete, &hash));
    let resources = no_resources();
    let r = runner(&[&create, &describe, &resources], &[]);
    let (outcome, reason) = r.converge(&desired(), None).await;
    assert_eq!(outcome, Outcome::Created, "{reason:?}");
    assert_eq!(create.num_calls(), 6, "5 throttled attempts, then success");
}

/// What went over the wire is counted, not only what tenantops asked for: one
/// `CreateStack` that the SDK sent six times (five throttled) is one request, six
/// attempts and five throttled. Before, reports said one.
#[tokio::test]
async fn attempts_and_throttling_are_counted_beside_requests() {
    let create = mock!(Cfn::create_stack)
        .sequence()
        .http_status(400, Some(THROTTLING.to_owned()))
        .times(5)
        .output(|| CreateStackOutput::builder().build())
        .build();
    let cfn = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        &[&create],
        |c| c.retry_config(
            RetryConfig::standard()
                .with_max_attempts(tenantops::aws::RETRY_ATTEMPTS)
                .with_initial_backoff(Duration::from_millis(1))
                .with_max_backoff(Duration::from_millis(5))
        )
    );
    let ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, &[]);
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, &[]);
    let aws = Aws::from_clients(cfn, ecs, s3);
    aws.create_stack(
        NAME,
        &tenantops::aws::TemplateSource::Body("{}".to_owned()),
        &BTreeMap::new(),
        &BTreeMap::new(),
    )
    .await
    .expect("created after the throttling");
    assert_eq!(aws.calls.total(), 1);
    assert_eq!(aws.calls.attempts.sent(), 6);
    assert_eq!(aws.calls.attempts.throttled(), 5);
}

#[tokio::test]
async fn an_unparseable_status_read_while_waiting_is_read_again() {
    // An endpoint under load answered two polls with a body that is not XML (moto's
    // threaded server does this); the SDK does not retry a response it cannot parse.
    let create = mock!(Cfn::create_stack).then_output(|| CreateStackOutput::builder().build());
    let hash = desired_hash();
    let describe = mock!(Cfn::describe_stacks)
        .sequence()
        .http_status(200, Some("not xml".to_owned()))
        .times(2)
        .output(move || stack(StackStatus::CreateComplete, &hash))
        .build();
    let resources = no_resources();
    let r = runner(&[&create, &describe, &resources], &[]);
    let (outcome, reason) = r.converge(&desired(), None).await;
    assert_eq!(outcome, Outcome::Created, "{reason:?}");
    assert_eq!(describe.num_calls(), 3);

    // Past the bound, the stack fails with the read's error.
    let create = mock!(Cfn::create_stack).then_output(|| CreateStackOutput::builder().build());
    let describe = mock!(Cfn::describe_stacks)
        .sequence()
        .http_status(200, Some("not xml".to_owned()))
        .repeatedly()
        .build();
    let r = runner(&[&create, &describe], &[]);
    let (outcome, reason) = r.converge(&desired(), None).await;
    assert_eq!(outcome, Outcome::Failed);
    assert!(reason.expect("reason").contains("DescribeStacks"));
    assert_eq!(
        describe.num_calls(),
        1 + tenantops::apply::TRANSIENT_READS as usize
    );
}

#[tokio::test]
async fn throttling_past_the_retry_budget_fails_the_stack_with_the_reason() {
    let create = mock!(Cfn::create_stack)
        .sequence()
        .http_status(400, Some(THROTTLING.to_owned()))
        .repeatedly()
        .build();
    let r = runner(&[&create], &[]);
    let (outcome, reason) = r.converge(&desired(), None).await;
    assert_eq!(outcome, Outcome::Failed);
    let reason = reason.expect("a reason");
    assert!(reason.contains("Rate exceeded"), "{reason}");
    assert_eq!(create.num_calls(), tenantops::aws::RETRY_ATTEMPTS as usize);
}

fn no_changes_change_set() -> Rule {
    mock!(Cfn::describe_change_set).then_output(|| {
        DescribeChangeSetOutput::builder()
            .status(ChangeSetStatus::Failed)
            .status_reason("The submitted information didn't contain changes. Submit different information to create a change set.")
            .build()
    })
}

#[tokio::test]
async fn an_empty_change_set_updates_the_tags_only() {
    let create_cs =
        mock!(Cfn::create_change_set).then_output(|| CreateChangeSetOutput::builder().build());
    let describe_cs = no_changes_change_set();
    let delete_cs =
        mock!(Cfn::delete_change_set).then_output(|| DeleteChangeSetOutput::builder().build());
    let update = mock!(Cfn::update_stack)
        .match_requests(|r| r.use_previous_template() == Some(true))
        .then_output(|| UpdateStackOutput::builder().build());
    let execute =
        mock!(Cfn::execute_change_set).then_output(|| ExecuteChangeSetOutput::builder().build());
    let hash = desired_hash();
    let describe =
        mock!(Cfn::describe_stacks).then_output(move || stack(StackStatus::UpdateComplete, &hash));
    let r = runner(
        &[
            &create_cs,
            &describe_cs,
            &delete_cs,
            &update,
            &execute,
            &describe,
        ],
        &[],
    );
    let (outcome, reason) = r
        .converge(&desired(), Some(live("UPDATE_COMPLETE", "old")))
        .await;
    assert_eq!(outcome, Outcome::Updated, "{reason:?}");
    assert_eq!(update.num_calls(), 1);
    assert_eq!(
        delete_cs.num_calls(),
        1,
        "the failed change set is cleaned up"
    );
    assert_eq!(execute.num_calls(), 0);
}

#[tokio::test]
async fn an_empty_change_set_with_nothing_to_update_is_unchanged() {
    let create_cs =
        mock!(Cfn::create_change_set).then_output(|| CreateChangeSetOutput::builder().build());
    let describe_cs = no_changes_change_set();
    let delete_cs =
        mock!(Cfn::delete_change_set).then_output(|| DeleteChangeSetOutput::builder().build());
    let update = mock!(Cfn::update_stack).then_error(|| {
        UpdateStackError::generic(
            ErrorMetadata::builder()
                .code("ValidationError")
                .message("No updates are to be performed.")
                .build(),
        )
    });
    let r = runner(&[&create_cs, &describe_cs, &delete_cs, &update], &[]);
    let (outcome, reason) = r
        .converge(&desired(), Some(live("UPDATE_COMPLETE", "old")))
        .await;
    assert_eq!(outcome, Outcome::Unchanged, "{reason:?}");
}

#[tokio::test]
async fn a_stack_deleted_out_of_band_is_created_again() {
    let create_cs = mock!(Cfn::create_change_set).then_error(|| {
        CreateChangeSetError::generic(
            ErrorMetadata::builder()
                .code("ValidationError")
                .message(format!("Stack [{NAME}] does not exist"))
                .build(),
        )
    });
    let create = mock!(Cfn::create_stack).then_output(|| CreateStackOutput::builder().build());
    let hash = desired_hash();
    let describe =
        mock!(Cfn::describe_stacks).then_output(move || stack(StackStatus::CreateComplete, &hash));
    let resources = no_resources();
    let r = runner(&[&create_cs, &create, &describe, &resources], &[]);
    // The listing still showed it.
    let (outcome, reason) = r
        .converge(&desired(), Some(live("UPDATE_COMPLETE", "old")))
        .await;
    assert_eq!(outcome, Outcome::Created, "{reason:?}");
    assert_eq!(create.num_calls(), 1);
}

#[tokio::test]
async fn a_stack_busy_with_another_actor_is_waited_for() {
    let hash = desired_hash();
    let describe = mock!(Cfn::describe_stacks)
        .sequence()
        .output(|| stack(StackStatus::UpdateInProgress, "other"))
        .times(3)
        .output(move || stack(StackStatus::UpdateComplete, &hash))
        .build();
    let r = runner(&[&describe], &[]);
    let (outcome, reason) = r
        .converge(&desired(), Some(live("UPDATE_IN_PROGRESS", "other")))
        .await;
    // The other actor deployed exactly what tenantops wants.
    assert_eq!(outcome, Outcome::Unchanged, "{reason:?}");
    assert_eq!(describe.num_calls(), 4);
}

#[tokio::test]
async fn a_stack_that_stays_busy_fails_after_the_bounded_wait() {
    let describe = mock!(Cfn::describe_stacks)
        .sequence()
        .output(|| stack(StackStatus::UpdateInProgress, "other"))
        .repeatedly()
        .build();
    let r = runner(&[&describe], &[]);
    let (outcome, reason) = r
        .converge(&desired(), Some(live("UPDATE_IN_PROGRESS", "other")))
        .await;
    assert_eq!(outcome, Outcome::Failed);
    let reason = reason.expect("a reason");
    assert!(reason.contains("stayed busy"), "{reason}");
}

#[tokio::test]
async fn an_ecs_service_that_never_gets_steady_fails_the_tenant() {
    let create = mock!(Cfn::create_stack).then_output(|| CreateStackOutput::builder().build());
    let hash = desired_hash();
    let describe =
        mock!(Cfn::describe_stacks).then_output(move || stack(StackStatus::CreateComplete, &hash));
    let resources = orders_service_resource();
    let services = mock!(Ecs::describe_services)
        .match_requests(|r| r.cluster() == Some("saas-prod-advanced"))
        .then_output(|| orders_service(1, 2));
    let r = runner(&[&create, &describe, &resources], &[&services]);
    let (outcome, reason) = r.converge(&desired(), None).await;
    assert_eq!(outcome, Outcome::Failed);
    let reason = reason.expect("a reason");
    assert!(
        reason.contains("not steady")
            && reason.contains("saas-prod-acme-orders (1 of 2 running, 2 deployments"),
        "{reason}"
    );
    assert!(services.num_calls() >= 2, "polled until the timeout");
}

/// The ECS steady wait reads through throttling as every status poll does: eight
/// throttled `DescribeServices` once failed a healthy stack and skipped its dependents.
#[tokio::test]
async fn the_steady_wait_reads_through_throttled_describe_services() {
    use aws_sdk_ecs::operation::describe_services::DescribeServicesError;
    let create = mock!(Cfn::create_stack).then_output(|| CreateStackOutput::builder().build());
    let hash = desired_hash();
    let describe =
        mock!(Cfn::describe_stacks).then_output(move || stack(StackStatus::CreateComplete, &hash));
    let resources = orders_service_resource();
    let throttled = || {
        DescribeServicesError::generic(
            ErrorMetadata::builder()
                .code("ThrottlingException")
                .message("Rate exceeded")
                .build(),
        )
    };
    let services = mock!(Ecs::describe_services)
        .sequence()
        .error(throttled)
        .error(throttled)
        .error(throttled)
        .output(|| orders_service(2, 1))
        .build();
    // The SDK's own retries off: the waits' reading-through is what is tested.
    let cfn = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        &[&create, &describe, &resources]
    );
    let ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, &[&services], |c| c
        .retry_config(RetryConfig::disabled()));
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, &[]);
    let r = Runner::new(
        Arc::new(Aws::from_clients(cfn, ecs, s3)),
        opts(),
        Arc::new(Progress::Silent),
        None,
        &[],
    );
    let (outcome, reason) = r.converge(&desired(), None).await;
    assert_eq!(outcome, Outcome::Created, "{reason:?}");
    assert_eq!(services.num_calls(), 4);
}

/// A create whose answer was lost: the SDK's retry gets `AlreadyExists`, and the stack
/// it meets carries this run's hash. That is this run's create, so its services must
/// get steady before it counts; before, it was reported `unchanged`, the steady wait
/// was skipped and a tenant with no running task was reported provisioned.
#[tokio::test]
async fn a_create_whose_answer_was_lost_is_still_waited_steady() {
    let create = mock!(Cfn::create_stack).then_error(|| {
        CreateStackError::generic(
            ErrorMetadata::builder()
                .code("AlreadyExistsException")
                .message(format!("Stack [{NAME}] already exists"))
                .build(),
        )
    });
    let hash = desired_hash();
    let describe = mock!(Cfn::describe_stacks).then_output(move || {
        DescribeStacksOutput::builder()
            .stacks(
                Stack::builder()
                    .stack_name(NAME)
                    .stack_status(StackStatus::CreateComplete)
                    .tags(Tag::builder().key(TAG_HASH).value(hash.clone()).build())
                    .tags(
                        Tag::builder()
                            .key("tenantops:managed")
                            .value("true")
                            .build(),
                    )
                    .tags(Tag::builder().key("tenantops:stage").value("prod").build())
                    .build(),
            )
            .build()
    });
    let resources = orders_service_resource();
    let services = mock!(Ecs::describe_services).then_output(|| orders_service(0, 1));
    let r = prod_runner(&[&create, &describe, &resources], &[&services]);
    let (outcome, reason) = r.converge(&desired(), None).await;
    assert_eq!(outcome, Outcome::Failed, "{reason:?}");
    assert!(reason.unwrap_or_default().contains("0 of 2 running"));
    assert!(services.num_calls() >= 1, "the steady wait ran");
}

#[tokio::test]
async fn a_failed_create_is_explained_by_its_resource_events() {
    let create = mock!(Cfn::create_stack).then_output(|| CreateStackOutput::builder().build());
    let describe = mock!(Cfn::describe_stacks).then_output(|| {
        DescribeStacksOutput::builder()
            .stacks(
                Stack::builder()
                    .stack_name(NAME)
                    .stack_status(StackStatus::RollbackComplete)
                    .stack_status_reason(
                        "The following resource(s) failed to create: [OrdersService].",
                    )
                    .build(),
            )
            .build()
    });
    let event = |logical: &str, ty: &str, status: ResourceStatus, reason: &str| {
        StackEvent::builder()
            .stack_name(NAME)
            .logical_resource_id(logical)
            .resource_type(ty)
            .resource_status(status)
            .resource_status_reason(reason)
            .build()
    };
    let events = mock!(Cfn::describe_stack_events).then_output(move || {
        // Newest first, as CloudFormation returns them; the older operation's failure
        // is not this one's.
        DescribeStackEventsOutput::builder()
            .stack_events(event(NAME, "AWS::CloudFormation::Stack", ResourceStatus::RollbackComplete, ""))
            .stack_events(event("Topic", "AWS::SNS::Topic", ResourceStatus::CreateFailed, "Resource creation cancelled"))
            .stack_events(event("OrdersService", "AWS::ECS::Service", ResourceStatus::CreateFailed, "Resource handler returned message: \"Invalid request provided: TaskDefinition is inactive\""))
            .stack_events(event(NAME, "AWS::CloudFormation::Stack", ResourceStatus::CreateInProgress, "User Initiated"))
            .stack_events(event("Old", "AWS::SNS::Topic", ResourceStatus::CreateFailed, "an earlier run"))
            .build()
    });
    let r = runner(&[&create, &describe, &events], &[]);
    let (outcome, reason) = r.converge(&desired(), None).await;
    assert_eq!(outcome, Outcome::Failed);
    let reason = reason.expect("a reason");
    assert_eq!(
        reason,
        "create ended in ROLLBACK_COMPLETE: The following resource(s) failed to create: [OrdersService].; OrdersService (AWS::ECS::Service) CREATE_FAILED: Resource handler returned message: \"Invalid request provided: TaskDefinition is inactive\""
    );
}
