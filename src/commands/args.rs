//! Flag groups that several commands share: where AWS is, which part of the fleet a run handles, and committing what a lifecycle command wrote.

use clap::Args;

/// Where AWS is. Without these, the SDK's standard configuration applies: the default
/// credential chain, `AWS_PROFILE`, `AWS_REGION` (else the region in `tenantops.yaml`)
/// and `AWS_ENDPOINT_URL`.
#[derive(Debug, Args)]
#[allow(clippy::doc_markdown)] // `[env: NAME]` as clap prints its own env notes
pub struct AwsArgs {
    /// Send every AWS request to URL (an emulator, a VPC endpoint) [env: AWS_ENDPOINT_URL].
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// AWS region [env: AWS_REGION; default: `region` in tenantops.yaml].
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Named profile of the shared AWS config files [env: AWS_PROFILE].
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Seconds one attempt of an AWS request may take before it is abandoned and
    /// retried (an unanswered request otherwise held apply, and the stage lock, as
    /// long as the connection stayed open).
    #[arg(long, value_name = "SECS", default_value_t = crate::aws::REQUEST_TIMEOUT_SECS, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_timeout: u64,
}

/// Which part of the fleet a run handles, for spreading a large fleet over a CI matrix.
#[derive(Debug, Args)]
pub struct PartArgs {
    /// Only the tenant stacks of shard I of N: tenants (outside pool tiers) dealt
    /// round-robin by id, so every tenant is in exactly one shard and shard sizes
    /// differ by at most one.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<crate::plan::shard::Shard>,
    /// The platform stacks (network, routers, usage plans, tiers, pool packs): alone,
    /// only those; with `--shard`, those as well. Run them before the shards.
    #[arg(long)]
    pub platform: bool,
}

impl PartArgs {
    #[must_use]
    pub fn part(&self) -> crate::plan::shard::Part {
        crate::plan::shard::Part::from_flags(self.shard, self.platform)
    }
}

/// Committing what `onboard` or `offboard` wrote.
#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Commit the files written (only those) to the current branch.
    #[arg(long)]
    pub commit: bool,
    /// With `--commit`, create branch NAME at HEAD, switch to it and commit there.
    #[arg(long, value_name = "NAME", requires = "commit", value_parser = crate::onboard::commit::parse_branch)]
    pub branch: Option<String>,
    /// With `--commit`, the commit's author [default: git's `user.name` and `user.email`].
    #[arg(long, value_name = "NAME <EMAIL>", requires = "commit", value_parser = crate::onboard::commit::Author::parse)]
    pub author: Option<crate::onboard::commit::Author>,
}

impl CommitArgs {
    /// The commit asked for, if any.
    #[must_use]
    pub fn to(&self) -> Option<crate::onboard::CommitTo> {
        self.commit.then(|| crate::onboard::CommitTo {
            author: self
                .author
                .clone()
                .unwrap_or(crate::onboard::commit::Author::FromConfig),
            branch: self.branch.clone(),
        })
    }
}
