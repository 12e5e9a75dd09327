//! The AWS quotas the fleet spends besides its stack count: each quota's AWS default and page, what spends it, the fleet's use counted from the manifests and the lock without rendering (a test keeps it equal to the rendered templates), and the diagnostics for a fleet over one or near it.
//!
//! Defaults are AWS's, from each service's quota page (cited beside each entry of
//! [`QUOTAS`]). Account-wide quotas are shared with everything else in the account and
//! region, so the fleet's use is a floor: a warning comes at 80 %.

use serde::Serialize;

use crate::diag::Diagnostic;
use crate::model::Quotas;
use crate::repo::Repo;
use crate::stacks::Spend;

/// One AWS quota the fleet spends.
#[derive(Debug)]
pub struct Quota {
    /// Its key under `quotas:` in `tenantops.yaml`.
    pub key: &'static str,
    /// Its name in Service Quotas (or on the service's quota page).
    pub name: &'static str,
    /// AWS's default.
    pub default: u32,
    /// Whether Service Quotas raises it (then up to `max`, where AWS sets a ceiling).
    pub adjustable: bool,
    /// The highest value AWS grants.
    pub max: Option<u32>,
    /// The CloudFormation resource type that spends it (a load balancer's `Type`
    /// after a slash).
    pub resource: &'static str,
    /// What in the fleet spends it.
    pub spent_by: &'static str,
    /// What to change instead when raising it cannot help.
    pub instead: &'static str,
}

/// Every quota `quotas:` holds, in the order reports list them.
pub const QUOTAS: &[Quota] = &[
    // AWS Cloud Map service quotas (docs.aws.amazon.com/cloud-map/latest/dg/cloud-map-limits.html):
    // "Namespaces per Region", 50, adjustable.
    Quota {
        key: "cloud_map_namespaces",
        name: "Cloud Map namespaces per Region",
        default: 50,
        adjustable: true,
        max: None,
        resource: "AWS::ServiceDiscovery::HttpNamespace",
        spent_by: "one per bridge or silo tenant and one per pool tier (ECS Service Connect)",
        instead: "",
    },
    // IAM and AWS STS quotas (docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html):
    // "Roles in an AWS account", 1,000, increasable to 5,000; moto's GetAccountSummary
    // reports the same RolesQuota (moto/iam/models.py).
    Quota {
        key: "iam_roles",
        name: "IAM roles per account",
        default: 1000,
        adjustable: true,
        max: Some(5000),
        resource: "AWS::IAM::Role",
        spent_by: "a task role in each workload (each bridge or silo tenant, each pool tier), an execution role per tier, one per EC2 capacity, and the pool tiers' tenant-access roles",
        instead: "fewer bridge and silo tenants per account, or fewer services in the catalog",
    },
    // Quotas in Amazon Cognito, "Quotas on resource number and size"
    // (docs.aws.amazon.com/cognito/latest/developerguide/quotas.html): user pools per
    // Region, 1,000, adjustable.
    Quota {
        key: "cognito_user_pools",
        name: "Cognito user pools per Region",
        default: 1000,
        adjustable: true,
        max: None,
        resource: "AWS::Cognito::UserPool",
        spent_by: "one per bridge or silo tenant and one per pool tier",
        instead: "",
    },
    // Quotas in Amazon DynamoDB, "Tables" (docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html):
    // 2,500 tables per account and Region, increasable to at most 10,000
    // ("Best practices for DynamoDB table design").
    Quota {
        key: "dynamodb_tables",
        name: "DynamoDB tables per Region",
        default: 2500,
        adjustable: true,
        max: Some(10_000),
        resource: "AWS::DynamoDB::Table",
        spent_by: "each bridge or silo tenant's silo tables and each tier's pooled ones",
        instead: "pooled storage (`storage: <service>: pooled`) for the tiers with the most tenants",
    },
    // Quotas for your Application Load Balancers (docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-limits.html):
    // "Application Load Balancers per Region", 50, adjustable.
    Quota {
        key: "application_load_balancers",
        name: "Application Load Balancers per Region",
        default: 50,
        adjustable: true,
        max: None,
        resource: "AWS::ElasticLoadBalancingV2::LoadBalancer/application",
        spent_by: "one per router: each router shard, each pool tier, each dedicated ALB",
        instead: "",
    },
    // Quotas for your Network Load Balancers (docs.aws.amazon.com/elasticloadbalancing/latest/network/load-balancer-limits.html):
    // "Network Load Balancers per Region", 50, adjustable.
    Quota {
        key: "network_load_balancers",
        name: "Network Load Balancers per Region",
        default: 50,
        adjustable: true,
        max: None,
        resource: "AWS::ElasticLoadBalancingV2::LoadBalancer/network",
        spent_by: "one per `routing.shards_per_nlb` router shards (a link stack's, a listener per shard) and one per pool tier and dedicated ALB (API Gateway's VPC link reaches the ALB through it)",
        instead: "",
    },
    // Application Load Balancer quotas, "Target groups": "Target Groups per Region",
    // 3,000, adjustable, shared by Application and Network Load Balancers.
    Quota {
        key: "target_groups",
        name: "Target Groups per Region",
        default: 3000,
        adjustable: true,
        max: None,
        resource: "AWS::ElasticLoadBalancingV2::TargetGroup",
        spent_by: "one per workload (each bridge or silo tenant, each pool tier) and one per router",
        instead: "",
    },
    // Amazon VPC quotas, "Security groups" (docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html):
    // "VPC security groups per Region", 2,500, "The maximum is 10000".
    Quota {
        key: "security_groups",
        name: "VPC security groups per Region",
        default: 2500,
        adjustable: true,
        max: Some(10_000),
        resource: "AWS::EC2::SecurityGroup",
        spent_by: "one per workload (each bridge or silo tenant, each pool tier), per router ALB, per NLB, per EC2 capacity, and the network's endpoints",
        instead: "fewer bridge and silo tenants per region, or more tenants per shard",
    },
    // Amazon ECS service quotas (docs.aws.amazon.com/AmazonECS/latest/developerguide/service-quotas.html):
    // "Services per cluster", 5,000, per cluster, not per Region (the row was not in
    // the excerpts read here; 5,000 and adjustable are from its mirrors).
    Quota {
        key: "ecs_services_per_cluster",
        name: "ECS services per cluster",
        default: 5000,
        adjustable: true,
        max: None,
        resource: "AWS::ECS::Service",
        spent_by: "the largest cluster's: a bridge tier's shared cluster runs the catalog's services and the rproxy of every tenant of the tier",
        instead: "fewer tenants per bridge tier (a second bridge tier), or silo isolation",
    },
    // Quotas for configuring and running a REST API in API Gateway
    // (docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-execution-service-limits-table.html):
    // "VPC links per account per Region", 20, adjustable.
    Quota {
        key: "vpc_links",
        name: "API Gateway VPC links per Region",
        default: 20,
        adjustable: true,
        max: None,
        resource: "AWS::ApiGateway::VpcLink",
        spent_by: "one per NLB: per `routing.shards_per_nlb` router shards, per pool tier, per dedicated ALB",
        instead: "",
    },
    // The same page: "Usage plans per account per Region", 300, adjustable.
    Quota {
        key: "usage_plans",
        name: "API Gateway usage plans per Region",
        default: 300,
        adjustable: true,
        max: None,
        resource: "AWS::ApiGateway::UsagePlan",
        spent_by: "one per tier",
        instead: "",
    },
    // The same page: "API keys per account per Region", 10000, not adjustable.
    Quota {
        key: "api_keys",
        name: "API Gateway API keys per Region",
        default: 10_000,
        adjustable: false,
        max: Some(10_000),
        resource: "AWS::ApiGateway::ApiKey",
        spent_by: "one per tenant",
        instead: "a region holds at most 10,000 tenants: serve the rest from another region or account (a second fleet repository)",
    },
    // The same page: "Regional APIs per Region", 600, not adjustable.
    Quota {
        key: "regional_apis",
        name: "API Gateway Regional APIs per Region",
        default: 600,
        adjustable: false,
        max: Some(600),
        resource: "AWS::ApiGateway::RestApi",
        spent_by: "one REST API per router",
        instead: "fewer routers: more tenants per shard (at most 100), fewer dedicated ALBs",
    },
];

/// The fleet's use of one quota.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Use {
    /// The quota's key under `quotas:`.
    pub quota: &'static str,
    /// Its name.
    pub name: &'static str,
    /// Where `tenantops.yaml` sets it.
    pub setting: String,
    /// What the fleet needs of it.
    pub used: usize,
    /// The account's value (`quotas:`, or AWS's default).
    pub limit: u32,
    pub adjustable: bool,
}

impl Use {
    /// Whether the fleet needs 80 % or more of the limit: `validate` warns from there.
    #[must_use]
    pub fn near(&self) -> bool {
        self.used * 5 >= self.limit as usize * 4
    }
}

/// The applied value of `quota` in `q` (unset: AWS's default).
fn applied(q: &Quotas, quota: &Quota) -> u32 {
    let set = match quota.key {
        "cloud_map_namespaces" => q.cloud_map_namespaces,
        "iam_roles" => q.iam_roles,
        "cognito_user_pools" => q.cognito_user_pools,
        "dynamodb_tables" => q.dynamodb_tables,
        "application_load_balancers" => q.application_load_balancers,
        "network_load_balancers" => q.network_load_balancers,
        "target_groups" => q.target_groups,
        "security_groups" => q.security_groups,
        "ecs_services_per_cluster" => q.ecs_services_per_cluster,
        "vpc_links" => q.vpc_links,
        "usage_plans" => q.usage_plans,
        "api_keys" => q.api_keys,
        "regional_apis" => q.regional_apis,
        _ => None,
    };
    set.unwrap_or(quota.default)
}

/// What `spend` holds of the quota `key`.
fn spent(spend: &Spend, key: &str) -> usize {
    match key {
        "cloud_map_namespaces" => spend.namespaces,
        "iam_roles" => spend.roles,
        "cognito_user_pools" => spend.user_pools,
        "dynamodb_tables" => spend.tables,
        "application_load_balancers" | "regional_apis" => spend.routers,
        "network_load_balancers" | "vpc_links" => spend.nlbs,
        "target_groups" => spend.target_groups,
        "security_groups" => spend.security_groups,
        "ecs_services_per_cluster" => spend.services_per_cluster,
        "usage_plans" => spend.usage_plans,
        "api_keys" => spend.api_keys,
        _ => 0,
    }
}

/// The fleet's use of every quota in [`QUOTAS`], counted from the manifests and the lock
/// as the built-in templates render them (`stacks::spend`): nothing is rendered.
#[must_use]
pub fn usage(repo: &Repo) -> Vec<Use> {
    let Some(platform) = &repo.platform else {
        return Vec::new();
    };
    let spend = crate::stacks::spend(repo);
    QUOTAS
        .iter()
        .map(|quota| Use {
            quota: quota.key,
            name: quota.name,
            setting: format!("quotas.{}", quota.key),
            used: spent(&spend, quota.key),
            limit: applied(&platform.value.quotas, quota),
            adjustable: quota.adjustable,
        })
        .collect()
}

/// Every quota's use for reports: the stack count first, then [`usage`].
#[must_use]
pub fn all(repo: &Repo) -> Vec<Use> {
    if repo.platform.is_none() {
        return Vec::new();
    }
    std::iter::once(stacks(repo)).chain(usage(repo)).collect()
}

/// The fleet held to every quota: each one's use ([`all`]) and the diagnostics of the
/// stack quota (`render::stack_quota`) and of every other ([`check`]).
#[must_use]
pub fn held(repo: &Repo) -> (Vec<Use>, Vec<Diagnostic>) {
    let uses = all(repo);
    let Some((stacks, others)) = uses.split_first() else {
        return (uses, Vec::new());
    };
    let mut diags = crate::render::stack_quota(repo, stacks.used);
    diags.extend(check(repo, others));
    (uses, diags)
}

/// The fleet's stacks against `cloudformation.stack_quota` (checked by
/// `render::stack_quota`), as a [`Use`] for reports.
#[must_use]
pub fn stacks(repo: &Repo) -> Use {
    Use {
        quota: "stacks",
        name: "CloudFormation stacks per Region",
        setting: "cloudformation.stack_quota".to_owned(),
        used: crate::stacks::stack_count(repo),
        limit: repo
            .platform
            .as_ref()
            .map_or(0, |p| p.value.cloudformation.stack_quota),
        adjustable: true,
    }
}

/// The quotas the fleet passes (errors) or nears (warnings, at 80 %), each located at
/// its setting under `quotas:` in `tenantops.yaml` (or where it would go).
#[must_use]
pub fn check(repo: &Repo, uses: &[Use]) -> Vec<Diagnostic> {
    let Some(platform) = &repo.platform else {
        return Vec::new();
    };
    let mut diags = Vec::new();
    for (quota, u) in QUOTAS.iter().zip(uses) {
        let span = platform.node.span_of(&format!("/quotas/{}", quota.key));
        let limit = u.limit as usize;
        let setting = format!("`quotas.{}: {}`", quota.key, u.limit);
        if u.used > limit {
            let help = if quota.adjustable && quota.max.is_none_or(|m| m > u.limit) {
                let ceiling = quota
                    .max
                    .map(|m| format!(" (AWS grants at most {m})"))
                    .unwrap_or_default();
                let instead = if quota.instead.is_empty() {
                    String::new()
                } else {
                    format!("; or {}", quota.instead)
                };
                format!(
                    "raise \"{}\" in Service Quotas{ceiling}, then `quotas.{}` here{instead}",
                    quota.name, quota.key
                )
            } else if quota.adjustable {
                format!(
                    "AWS raises \"{}\" no further than {}: {}",
                    quota.name, u.limit, quota.instead
                )
            } else {
                format!("\"{}\" cannot be raised: {}", quota.name, quota.instead)
            };
            diags.push(
                Diagnostic::error(
                    "quota",
                    &platform.file,
                    span,
                    format!(
                        "the fleet needs {} {}, over {setting} ({})",
                        u.used, quota.name, quota.spent_by
                    ),
                )
                .help(help),
            );
        } else if u.near() {
            diags.push(
                Diagnostic::error(
                    "quota-near",
                    &platform.file,
                    span,
                    format!(
                        "the fleet needs {} {}, {} % of {setting}, which the rest of the account spends too",
                        u.used,
                        quota.name,
                        u.used * 100 / limit.max(1)
                    ),
                )
                .warning()
                .help(if quota.adjustable {
                    format!("raise \"{}\" in Service Quotas before it runs out, then `quotas.{}` here", quota.name, quota.key)
                } else {
                    format!("\"{}\" cannot be raised: {}", quota.name, quota.instead)
                }),
            );
        }
    }
    diags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_quota_is_a_key_of_quotas_and_has_a_schema_ceiling_at_its_max() {
        let schema = serde_json::to_value(schemars::schema_for!(Quotas)).unwrap();
        let props = &schema["properties"];
        assert_eq!(
            props.as_object().unwrap().len(),
            QUOTAS.len(),
            "every key of `quotas:` is in QUOTAS and back"
        );
        for q in QUOTAS {
            let prop = &props[q.key];
            assert!(prop.is_object(), "`quotas.{}` is not a setting", q.key);
            if let Some(max) = q.max {
                assert_eq!(prop["maximum"], max, "`quotas.{}`", q.key);
            }
            assert_eq!(q.adjustable, q.max != Some(q.default), "{}", q.key);
            assert!(q.adjustable || !q.instead.is_empty(), "{}", q.key);
        }
    }
}
