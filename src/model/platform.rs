//! `tenantops.yaml`: the platform a fleet runs on (stage, region, naming, routing, API, service catalog).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Platform settings shared by every tier and tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "tenantops platform (tenantops.yaml)")]
pub struct Platform {
    /// The tenantops versions this repository is written for, as a semver requirement
    /// (for example `">=0.1, <0.2"`): every command refuses to run under another
    /// version, so an upgrade (which may change the built-in templates, and so every
    /// stack) is a reviewed change of this line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 200))]
    pub tenantops: Option<String>,
    /// Deployment stage, part of every resource name (for example `prod`).
    #[schemars(regex(pattern = r"^[a-z][a-z0-9]{0,9}$"))]
    pub stage: String,
    /// AWS region the fleet is deployed to (for example `us-east-1`).
    #[schemars(regex(pattern = r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$"))]
    pub region: String,
    /// How resource names are formed.
    pub naming: Naming,
    /// How requests reach tenants: the ALB header and the size of router shards.
    #[serde(default)]
    pub routing: Routing,
    /// The REST API in front of the router shards.
    pub api: Api,
    /// The service catalog: every application service a tenant runs, by name.
    #[schemars(length(min = 1))]
    pub services: BTreeMap<String, Service>,
    /// The per-tenant nginx reverse proxy (`rproxy`) that routes to the services.
    pub router: Router,
    /// The VPC the fleet runs in: one tenantops creates, or an existing one.
    #[serde(default)]
    pub network: Network,
    /// CloudFormation account settings: the artifact bucket for large templates and
    /// the region's stack quota.
    #[serde(default)]
    pub cloudformation: CloudFormation,
    /// The AWS delivery pipeline `tenantops bootstrap` deploys: CodePipeline from the
    /// git repository through a CodeStar connection, CodeBuild running `buildspec.yml`,
    /// and an EventBridge rule that turns the control plane's onboarding events into
    /// commits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<Pipeline>,
    /// How user pools send email (invitations, password resets). Without it, Cognito's
    /// default sender, which sends at most 50 emails a day per account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
    /// The AWS quotas the fleet spends besides the stack count
    /// (`cloudformation.stack_quota`), as this account has them: each unset key is AWS's
    /// default. `validate` counts what the fleet needs of each and refuses a fleet over
    /// one; raise a quota in Service Quotas first, then here.
    #[serde(default, skip_serializing_if = "Quotas::is_unset")]
    pub quotas: Quotas,
}

/// The account's applied value of each AWS quota the fleet spends (`quotas:`); unset
/// keys are AWS's defaults (`crate::quotas::QUOTAS` names each quota and its page).
/// A quota AWS does not raise cannot be set above its default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Quotas {
    /// Cloud Map "Namespaces per Region" (default 50): one per bridge or silo tenant
    /// and one per pool tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1_000_000))]
    pub cloud_map_namespaces: Option<u32>,
    /// IAM "Roles per account" (default 1,000, at most 5,000): a task role in each
    /// workload, an execution role per tier, and one per EC2 capacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 5_000))]
    pub iam_roles: Option<u32>,
    /// Cognito "User pools per Region" (default 1,000): one per bridge or silo tenant
    /// and one per pool tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1_000_000))]
    pub cognito_user_pools: Option<u32>,
    /// DynamoDB tables per Region (default 2,500, at most 10,000): each tenant's silo
    /// tables and each tier's pooled ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10_000))]
    pub dynamodb_tables: Option<u32>,
    /// "Application Load Balancers per Region" (default 50): one per router.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1_000_000))]
    pub application_load_balancers: Option<u32>,
    /// "Network Load Balancers per Region" (default 50): one per group of
    /// `routing.shards_per_nlb` shards, per pool tier, per dedicated ALB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1_000_000))]
    pub network_load_balancers: Option<u32>,
    /// "Target Groups per Region" (default 3,000, shared by ALBs and NLBs): one per
    /// workload and one per router.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1_000_000))]
    pub target_groups: Option<u32>,
    /// "VPC security groups per Region" (default 2,500, at most 10,000): one per
    /// workload, router ALB, NLB and EC2 capacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10_000))]
    pub security_groups: Option<u32>,
    /// ECS "Services per cluster" (default 5,000): a bridge tier's shared cluster runs
    /// every one of its tenants' services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1_000_000))]
    pub ecs_services_per_cluster: Option<u32>,
    /// API Gateway "VPC links per account per Region" (default 20): one per NLB (per
    /// group of shards, per pool tier, per dedicated ALB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1_000_000))]
    pub vpc_links: Option<u32>,
    /// API Gateway "Usage plans per account per Region" (default 300): one per tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1_000_000))]
    pub usage_plans: Option<u32>,
    /// API Gateway "API keys per account per Region" (10,000, not adjustable): one per
    /// tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10_000))]
    pub api_keys: Option<u32>,
    /// API Gateway "Regional APIs per Region" (600, not adjustable): one REST API per
    /// router.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 600))]
    pub regional_apis: Option<u32>,
}

impl Quotas {
    /// Whether no quota is set (every one is AWS's default).
    #[must_use]
    pub fn is_unset(&self) -> bool {
        *self == Quotas::default()
    }
}

/// The delivery pipeline on AWS (`tenantops bootstrap`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    /// ARN of the CodeStar (CodeConnections) connection to the git host, created and
    /// authorized once in the console.
    #[schemars(regex(
        pattern = r"^arn:aws[a-z-]*:(codestar-connections|codeconnections):[a-z0-9-]+:[0-9]{12}:connection/[0-9a-f-]{36}$"
    ))]
    pub connection_arn: String,
    /// The shell command that puts `tenantops` on the PATH of a CodeBuild build (for
    /// example the release's installer: `curl -fsSL <releases>/v0.1.0/install.sh -o
    /// /tmp/i.sh && bash /tmp/i.sh v0.1.0 /usr/local`, which verifies the archive's
    /// SHA-256); skipped when the image already has it.
    #[schemars(length(min = 1, max = 1024))]
    pub install: String,
    /// The repository on the git host, `owner/name`.
    #[schemars(regex(pattern = r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"))]
    pub repository: String,
    /// The branch whose commits are applied.
    #[serde(default = "default_branch")]
    #[schemars(length(min = 1, max = 255))]
    pub branch: String,
    /// The build specification the apply project runs, in the repository.
    #[serde(default = "default_buildspec")]
    #[schemars(length(min = 1, max = 255))]
    pub buildspec: String,
    /// CodeBuild compute type.
    #[serde(default = "default_compute")]
    #[schemars(regex(pattern = r"^BUILD_GENERAL1_(SMALL|MEDIUM|LARGE|XLARGE|2XLARGE)$"))]
    pub compute_type: String,
    /// CodeBuild image.
    #[serde(default = "default_image")]
    #[schemars(length(min = 1, max = 255))]
    pub image: String,
    /// The EventBridge bus the control plane publishes lifecycle requests on, and where
    /// provisioning results are put: its name, or its ARN (as sbt-aws's `EventManager`
    /// outputs it).
    #[serde(default = "default_bus")]
    #[schemars(regex(
        pattern = r"^([A-Za-z0-9._/-]{1,256}|arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus/[A-Za-z0-9._/-]{1,256})$"
    ))]
    pub event_bus: String,
    /// Where an onboarding commit goes: `branch` (the pipeline applies it at once) or
    /// `review` (a branch `onboard/<id>` is pushed for a pull request).
    #[serde(default)]
    pub onboarding: Onboarding,
}

/// Where an onboarding event's commit goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Onboarding {
    /// Onto the pipeline's branch, which the pipeline then applies.
    #[default]
    Branch,
    /// Onto a new branch `onboard/<id>`, for review in a pull request.
    Review,
}

fn default_branch() -> String {
    "main".to_owned()
}

fn default_buildspec() -> String {
    "buildspec.yml".to_owned()
}

fn default_compute() -> String {
    "BUILD_GENERAL1_SMALL".to_owned()
}

fn default_image() -> String {
    "aws/codebuild/standard:7.0".to_owned()
}

fn default_bus() -> String {
    "default".to_owned()
}

/// The VPC: by default tenantops creates one (`cidr`, private subnets in two
/// availability zones); give `vpc_id` and `subnet_ids` to use an existing VPC instead.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// CIDR block of the VPC tenantops creates (default `10.0.0.0/16`); its two private
    /// subnets are its first two quarters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]{1,3}\.){3}[0-9]{1,3}/(1[6-9]|2[0-4])$"))]
    pub cidr: Option<String>,
    /// An existing VPC to deploy into instead of creating one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^vpc-[0-9a-f]{8,17}$"))]
    pub vpc_id: Option<String>,
    /// Private subnets of `vpc_id`, in at least two availability zones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subnet_ids: Vec<SubnetId>,
}

/// A subnet id (`subnet-0abc...`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct SubnetId(#[schemars(regex(pattern = r"^subnet-[0-9a-f]{8,17}$"))] pub String);

/// The default CIDR of the VPC tenantops creates.
pub const DEFAULT_CIDR: &str = "10.0.0.0/16";

/// The two private subnets of a VPC with block `cidr`: its first two quarters (a /16
/// gives two /18s), or `None` when `cidr` is not an IPv4 network address.
///
/// tenantops computes them rather than the template calling `Fn::Cidr`, so the plan
/// shows them and every CloudFormation implementation agrees.
#[must_use]
pub fn subnet_cidrs(cidr: &str) -> Option<[String; 2]> {
    let (addr, prefix) = cidr.split_once('/')?;
    let addr: std::net::Ipv4Addr = addr.parse().ok()?;
    let prefix: u32 = prefix.parse().ok()?;
    if !(8..=26).contains(&prefix) {
        return None;
    }
    let base = u32::from(addr);
    let host_bits = 32 - prefix;
    if base & ((1u32 << host_bits) - 1) != 0 {
        return None;
    }
    let quarter = 1u32 << (host_bits - 2);
    let sub = prefix + 2;
    Some([0, 1].map(|i| format!("{}/{sub}", std::net::Ipv4Addr::from(base + i * quarter))))
}

/// CloudFormation settings of the account and region.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloudFormation {
    /// S3 bucket that holds templates larger than CloudFormation's 51,200-byte
    /// `TemplateBody` limit (apply uploads them and passes a `TemplateURL`). Without
    /// it, a template over the limit is an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"))]
    pub artifact_bucket: Option<String>,
    /// The CloudFormation service role every stack is created, updated and deleted
    /// with (`RoleARN`): CloudFormation then acts with this role's permissions, so the
    /// identity that runs tenantops needs only CloudFormation on this stage's stacks
    /// and `iam:PassRole` on this role (`docs/iam/`). Without it, CloudFormation acts
    /// with the caller's own permissions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(
        pattern = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$"
    ))]
    pub service_role_arn: Option<String>,
    /// Stacks this account may hold in the region: CloudFormation's default quota is
    /// 2,000; raise it here after raising it in Service Quotas.
    #[serde(default = "default_stack_quota")]
    #[schemars(range(min = 1, max = 100_000))]
    pub stack_quota: u32,
}

fn default_stack_quota() -> u32 {
    2000
}

impl Default for CloudFormation {
    fn default() -> Self {
        CloudFormation {
            artifact_bucket: None,
            service_role_arn: None,
            stack_quota: default_stack_quota(),
        }
    }
}

/// How resource names are formed: `<prefix>-<stage>-...`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Naming {
    /// Prefix of every resource name (lowercase letters and digits, at most 10).
    #[schemars(regex(pattern = r"^[a-z][a-z0-9]{0,9}$"))]
    pub prefix: String,
}

/// Routing settings: the reference architecture's header-based ALB routing with
/// parallel ALBs ("router shards").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Routing {
    /// HTTP header the ALB listener rules match on; API Gateway sets it from the
    /// authorizer context.
    #[serde(default = "default_header")]
    #[schemars(regex(pattern = r"^[A-Za-z][A-Za-z0-9-]{0,39}$"))]
    pub header: String,
    /// Tenants (listener rules) per router shard (one internal ALB each). The default
    /// ALB quota is 100 rules per load balancer.
    #[serde(default = "default_tenants_per_shard")]
    #[schemars(range(min = 1, max = 1000))]
    pub tenants_per_shard: u32,
    /// Router shards per shared NLB (and its VPC link), each on a listener of its own
    /// (at most 50: "Listeners per Network Load Balancer" is not adjustable). An ALB
    /// behind an NLB counts as 50 targets in each Availability Zone (cross-zone load
    /// balancing off, the NLB's default) against "Targets per Availability Zone per
    /// Network Load Balancer", 500 by default: 10 shards. Raise that quota (and
    /// "Targets per Network Load Balancer", 3,000: 50 per ALB per zone) before going
    /// past 10. A change regroups the shards: each router moves to its new NLB, with a
    /// new listener, target group and API deployment, in one planned update.
    #[serde(default = "default_shards_per_nlb")]
    #[schemars(range(min = 1, max = 50))]
    pub shards_per_nlb: u32,
}

fn default_shards_per_nlb() -> u32 {
    10
}

fn default_header() -> String {
    "tenantPath".to_owned()
}

fn default_tenants_per_shard() -> u32 {
    100
}

impl Default for Routing {
    fn default() -> Self {
        Routing {
            header: default_header(),
            tenants_per_shard: default_tenants_per_shard(),
            shards_per_nlb: default_shards_per_nlb(),
        }
    }
}

/// The REST API (API Gateway) in front of the router shards.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Api {
    /// Name of the REST API (each shard's API is named `<name>-<shard>`).
    #[schemars(regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$"))]
    pub name: String,
    /// Resources and the methods each accepts; the first path segment names the
    /// service that answers.
    #[schemars(length(min = 1))]
    pub resources: Vec<ApiResource>,
    /// ARN of the Lambda function behind the REQUEST authorizer (identity source
    /// `Authorization`). It returns the tenant's path in its context as the routing
    /// header's name; API Gateway passes it to the router shard's ALB.
    #[schemars(regex(
        pattern = r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9_$-]{1,128})?$"
    ))]
    pub authorizer: String,
    /// Browser clients: API Gateway answers CORS preflights (`OPTIONS`, no authorizer,
    /// no API key) and every response carries `Access-Control-Allow-Origin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<Cors>,
}

/// CORS for browser clients of the API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Cors {
    /// The one origin allowed (`https://app.example.com`), or `*`.
    #[schemars(regex(pattern = r"^(\*|https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?)$"))]
    pub allow_origin: String,
    /// Seconds a browser may cache a preflight's answer.
    #[serde(default = "default_cors_max_age")]
    #[schemars(range(min = 0, max = 86_400))]
    pub max_age: u32,
}

fn default_cors_max_age() -> u32 {
    600
}

/// User pools' email through Amazon SES (Cognito's `DEVELOPER` sending account).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Email {
    /// ARN of the verified SES identity (an address or a domain) to send from.
    #[schemars(regex(pattern = r"^arn:aws[a-z-]*:ses:[a-z0-9-]+:[0-9]{12}:identity/.+$"))]
    pub ses_source_arn: String,
    /// The `From` address (`Name <address>` allowed); default: the identity's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 3, max = 320))]
    pub from: Option<String>,
}

/// One API resource (`/orders`, `/orders/{id}`) and its methods.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiResource {
    /// Resource path: `/<service>` optionally followed by `/{param}`.
    #[schemars(regex(pattern = r"^/[a-z][a-z0-9-]*(/\{[A-Za-z][A-Za-z0-9]*\})?$"))]
    pub path: String,
    /// HTTP methods the resource accepts.
    #[schemars(length(min = 1))]
    pub methods: Vec<HttpMethod>,
}

/// An HTTP method an API resource may accept.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
    Options,
}

impl HttpMethod {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
            HttpMethod::Head => "HEAD",
            HttpMethod::Options => "OPTIONS",
        }
    }
}

/// An application service of the catalog (a container on ECS).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Container image.
    #[schemars(length(min = 1, max = 1024))]
    pub image: String,
    /// Container port the service listens on.
    #[schemars(range(min = 1, max = 65535))]
    pub port: u16,
    /// Task CPU units (1024 = one vCPU).
    #[schemars(range(min = 128, max = 16384))]
    pub cpu: u32,
    /// Task memory in MiB.
    #[schemars(range(min = 128, max = 122_880))]
    pub memory: u32,
    /// Path the container health check requests.
    #[serde(default = "default_health_path")]
    #[schemars(regex(pattern = r"^/[A-Za-z0-9/_.-]*$"))]
    pub health_path: String,
    /// The service's DynamoDB table, if it keeps data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<Table>,
}

fn default_health_path() -> String {
    "/health".to_owned()
}

/// A DynamoDB table's key schema. Pooled tables are partitioned by tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Table {
    /// Partition key attribute; in pooled tables it holds the tenant id.
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_.-]{0,254}$"))]
    pub partition_key: String,
    /// Sort key attribute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_.-]{0,254}$"))]
    pub sort_key: Option<String>,
}

/// The nginx reverse proxy (`rproxy`) each bridge and silo tenant runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Router {
    /// Container image.
    #[schemars(length(min = 1, max = 1024))]
    pub image: String,
    /// Port nginx listens on; the ALB target group forwards here.
    #[schemars(range(min = 1, max = 65535))]
    pub port: u16,
    /// Task CPU units.
    #[schemars(range(min = 128, max = 16384))]
    pub cpu: u32,
    /// Task memory in MiB.
    #[schemars(range(min = 128, max = 122_880))]
    pub memory: u32,
    /// Health check path nginx answers itself.
    #[serde(default = "default_health_path")]
    #[schemars(regex(pattern = r"^/[A-Za-z0-9/_.-]*$"))]
    pub health_path: String,
    /// No longer used, and a warning when set: nginx resolves each Service Connect name
    /// once, at start, through the task's `/etc/hosts` (where ECS writes them; they are
    /// in no DNS), not through a `resolver`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]{1,3}\.){3}[0-9]{1,3}(:[0-9]{1,5})?$"))]
    pub resolver: Option<String>,
}
