//! The AWS edge: the SDK's configuration, the clients, errors and call counting; `cloudformation.rs`, `ecs.rs` and `s3.rs` make the calls and return tenantops' own types (`types.rs`), so no SDK type leaks past this module.
//!
//! Each call is counted ([`Calls`]), and marked mutating or not, so a run can report
//! how many requests it made and a second `apply` can prove it changed nothing.
//! Throttling and 5xx errors are retried by the SDK itself (standard retry mode,
//! exponential backoff with full jitter, [`RETRY_ATTEMPTS`] attempts).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_sdk_cloudformation::error::ProvideErrorMetadata;

pub mod attempts;
mod cloudformation;
mod dynamodb;
mod ecs;
pub mod redact;
mod s3;
mod types;

pub use types::{
    ChangeSetState, LiveStack, ResourceChange, ServiceState, StackResource, TemplateSource,
};

/// Attempts per request (the first and its retries) on throttling and 5xx errors.
pub const RETRY_ATTEMPTS: u32 = 8;

/// How tenantops finds AWS: the SDK's standard configuration (credential chain,
/// `AWS_PROFILE`, `AWS_REGION`, `AWS_ENDPOINT_URL`), with the command line's overrides.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    pub endpoint_url: Option<String>,
    pub region: Option<String>,
    pub profile: Option<String>,
    /// The region of `tenantops.yaml`, used when neither the command line nor the
    /// environment names one.
    pub fallback_region: Option<String>,
    /// How long one attempt of a request may take ([`REQUEST_TIMEOUT_SECS`] when
    /// `None`).
    pub request_timeout: Option<Duration>,
    /// The CloudFormation service role passed as `RoleARN` to every call that creates,
    /// changes or deletes a stack.
    pub service_role: Option<String>,
}

/// Default seconds one attempt of an AWS request may take: far above any answer
/// CloudFormation, ECS, S3 or DynamoDB give (a `DescribeStacks` page of 100 stacks
/// with their outputs included), far below "forever".
pub const REQUEST_TIMEOUT_SECS: u64 = 60;

/// A failed AWS call, with the service's error code when it gave one.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{op}: {message}")]
pub struct AwsError {
    pub op: &'static str,
    pub code: Option<String>,
    pub message: String,
}

impl AwsError {
    fn from_sdk<E>(op: &'static str, e: &E) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let mut message = redact::redact(&match e.message() {
            Some(m) => m.to_owned(),
            None => chain(e),
        });
        if message.contains("no credentials found in chain") {
            message = no_credentials(&message);
        }
        AwsError {
            op,
            code: e.code().map(str::to_owned),
            message,
        }
    }

    /// A stack (or change set) that does not exist.
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        self.message.contains("does not exist")
            || matches!(
                self.code.as_deref(),
                Some("ChangeSetNotFound" | "ChangeSetNotFoundException" | "NoSuchKey")
            )
    }

    /// A read that failed for no reason of the request's: a response that could not be
    /// parsed (an error page from a proxy or an overloaded endpoint; it has no error
    /// code) or a server error that outlived the SDK's own retries. Waits read again.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self.code.as_deref() {
            None => !self.is_not_found(),
            Some(code) => matches!(
                code,
                "InternalFailure"
                    | "InternalError"
                    | "ServiceUnavailable"
                    | "Throttling"
                    | "ThrottlingException"
                    | "RequestLimitExceeded"
            ),
        }
    }

    /// A create that lost the race: the name is taken.
    #[must_use]
    pub fn is_already_exists(&self) -> bool {
        self.code.as_deref() == Some("AlreadyExistsException")
            || self.message.contains("already exists")
    }

    /// CloudFormation's refusal of an update that changes nothing.
    #[must_use]
    pub fn is_no_updates(&self) -> bool {
        self.message.contains("No updates are to be performed")
    }
}

/// The profile the SDK reads credentials from: `--profile`, else `AWS_PROFILE`, else
/// `default` (set by [`Aws::connect`]).
static PROFILE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The SDK's "no credentials found in chain" (one line per provider it tried), led by
/// what it means and what to do, naming the profile it looked in.
fn no_credentials(chain: &str) -> String {
    let profile = PROFILE.get().map_or("default", String::as_str);
    format!(
        "no AWS credentials found: not in the environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), not in profile `{profile}` (AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE, by default ~/.aws/config and ~/.aws/credentials), and none from web identity, ECS or EC2 instance metadata. Set up that profile (`aws configure --profile {profile}` or `aws sso login --profile {profile}`), pick another with --profile or AWS_PROFILE, or export credentials. What the SDK tried: {chain}"
    )
}

/// An error and its causes, each once: `dispatch failure: io error: ... Connection refused`.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = err.source();
    }
    parts.join(": ")
}

/// Counts of requests made, per operation.
#[derive(Debug, Default)]
pub struct Calls {
    counts: Mutex<BTreeMap<&'static str, u64>>,
    /// What went over the wire: every attempt, retries included (`attempts::Counter`).
    pub attempts: std::sync::Arc<attempts::Attempts>,
}

/// Operations that change something in AWS.
pub const MUTATING: &[&str] = &[
    "CreateStack",
    "UpdateStack",
    "DeleteStack",
    "CreateChangeSet",
    "ExecuteChangeSet",
    "DeleteChangeSet",
    "ContinueUpdateRollback",
    "PutObject",
];

impl Calls {
    fn count(&self, op: &'static str) {
        if let Ok(mut counts) = self.counts.lock() {
            *counts.entry(op).or_default() += 1;
        }
    }

    /// Requests made so far, per operation.
    #[must_use]
    pub fn snapshot(&self) -> BTreeMap<&'static str, u64> {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Requests that changed something.
    #[must_use]
    pub fn mutating(&self) -> u64 {
        self.snapshot()
            .iter()
            .filter(|(op, _)| MUTATING.contains(op))
            .map(|(_, n)| n)
            .sum()
    }

    #[must_use]
    pub fn total(&self) -> u64 {
        self.snapshot().values().sum()
    }
}

/// The clients tenantops uses, and the count of calls made through them.
#[derive(Debug)]
pub struct Aws {
    cfn: aws_sdk_cloudformation::Client,
    ecs: aws_sdk_ecs::Client,
    s3: aws_sdk_s3::Client,
    dynamodb: Option<aws_sdk_dynamodb::Client>,
    region: String,
    service_role: Option<String>,
    pub calls: Calls,
}

impl Aws {
    /// Clients from the standard AWS configuration and `settings`.
    pub async fn connect(settings: &Settings) -> Aws {
        let attempt = settings
            .request_timeout
            .unwrap_or(Duration::from_secs(REQUEST_TIMEOUT_SECS));
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(RETRY_ATTEMPTS)
                    .with_initial_backoff(Duration::from_millis(200))
                    .with_max_backoff(Duration::from_secs(20)),
            )
            // Every attempt is bounded (a timed-out attempt is retried like a
            // throttled one), and so is connecting.
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(attempt.min(Duration::from_secs(10)))
                    .operation_attempt_timeout(attempt)
                    .build(),
            );
        if let Some(url) = &settings.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some(profile) = &settings.profile {
            loader = loader.profile_name(profile);
        }
        let _ = PROFILE.set(
            settings
                .profile
                .clone()
                .or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()))
                .unwrap_or_else(|| "default".to_owned()),
        );
        if let Some(region) = &settings.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        let mut config = loader.load().await;
        if config.region().is_none()
            && let Some(region) = &settings.fallback_region
        {
            config = config
                .into_builder()
                .region(aws_config::Region::new(region.clone()))
                .build();
        }
        // S3 through a custom endpoint (an emulator) needs path-style addressing.
        let s3_config = aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(settings.endpoint_url.is_some() || config.endpoint_url().is_some())
            .build();
        Aws::from_clients(
            aws_sdk_cloudformation::Client::new(&config),
            aws_sdk_ecs::Client::new(&config),
            aws_sdk_s3::Client::from_conf(s3_config),
        )
        .with_dynamodb(aws_sdk_dynamodb::Client::new(&config))
        .with_service_role(settings.service_role.clone())
    }

    /// Wraps existing clients (tests give clients backed by the SDK's test doubles).
    #[must_use]
    #[allow(clippy::needless_pass_by_value)] // taken whole: each is rebuilt with the counter
    pub fn from_clients(
        cfn: aws_sdk_cloudformation::Client,
        ecs: aws_sdk_ecs::Client,
        s3: aws_sdk_s3::Client,
    ) -> Aws {
        let region = cfn
            .config()
            .region()
            .map_or_else(|| "us-east-1".to_owned(), ToString::to_string);
        let calls = Calls::default();
        let counter = attempts::Counter(std::sync::Arc::clone(&calls.attempts));
        Aws {
            cfn: aws_sdk_cloudformation::Client::from_conf(
                cfn.config()
                    .to_builder()
                    .interceptor(counter.clone())
                    .build(),
            ),
            ecs: aws_sdk_ecs::Client::from_conf(
                ecs.config()
                    .to_builder()
                    .interceptor(counter.clone())
                    .build(),
            ),
            s3: aws_sdk_s3::Client::from_conf(
                s3.config().to_builder().interceptor(counter).build(),
            ),
            dynamodb: None,
            region,
            service_role: None,
            calls,
        }
    }

    /// With a CloudFormation service role: every call that creates, changes or deletes
    /// a stack passes it as `RoleARN`.
    #[must_use]
    pub fn with_service_role(mut self, role: Option<String>) -> Aws {
        self.service_role = role;
        self
    }

    /// With a DynamoDB client (to see tables a stack would create that already exist);
    /// without one, no table is found.
    #[must_use]
    #[allow(clippy::needless_pass_by_value)] // taken whole: rebuilt with the counter
    pub fn with_dynamodb(mut self, dynamodb: aws_sdk_dynamodb::Client) -> Aws {
        let counter = attempts::Counter(std::sync::Arc::clone(&self.calls.attempts));
        self.dynamodb = Some(aws_sdk_dynamodb::Client::from_conf(
            dynamodb.config().to_builder().interceptor(counter).build(),
        ));
        self
    }
}
