//! ECS calls: the rollout state of a stack's services.

use std::collections::BTreeMap;

use super::{Aws, AwsError, ServiceState};

impl Aws {
    /// The rollout state of ECS services (by ARN) of `cluster`, ten per call.
    ///
    /// # Errors
    /// The first failed call.
    pub async fn describe_services(
        &self,
        cluster: &str,
        services: &[String],
    ) -> Result<Vec<ServiceState>, AwsError> {
        let mut out = Vec::new();
        for chunk in services.chunks(10) {
            self.calls.count("DescribeServices");
            let resp = self
                .ecs
                .describe_services()
                .cluster(cluster)
                .set_services(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("DescribeServices", &e))?;
            for s in resp.services() {
                out.push(ServiceState {
                    name: s.service_name().unwrap_or_default().to_owned(),
                    status: s.status().unwrap_or_default().to_owned(),
                    desired: s.desired_count(),
                    running: s.running_count(),
                    deployments: s.deployments().len(),
                });
            }
            for f in resp.failures() {
                out.push(ServiceState {
                    name: f.arn().unwrap_or_default().to_owned(),
                    status: f.reason().unwrap_or("MISSING").to_owned(),
                    desired: 0,
                    running: 0,
                    deployments: 0,
                });
            }
        }
        Ok(out)
    }

    /// The ECS services of stack `name`, by cluster (ARNs).
    ///
    /// # Errors
    /// The `ListStackResources` call's failure.
    pub async fn services_of(&self, name: &str) -> Result<BTreeMap<String, Vec<String>>, AwsError> {
        let mut by_cluster: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in self
            .stack_resources(name)
            .await?
            .into_iter()
            .filter(|r| r.resource_type == "AWS::ECS::Service")
        {
            by_cluster
                .entry(cluster_of(&r.physical_id))
                .or_default()
                .push(r.physical_id);
        }
        Ok(by_cluster)
    }
}

/// The cluster of an ECS service ARN (`arn:aws:ecs:<region>:<account>:service/<cluster>/<name>`).
fn cluster_of(service_arn: &str) -> String {
    service_arn
        .split_once(":service/")
        .and_then(|(_, rest)| rest.split_once('/'))
        .map_or_else(|| "default".to_owned(), |(cluster, _)| cluster.to_owned())
}

#[cfg(test)]
mod tests {
    use super::cluster_of;

    #[test]
    fn the_cluster_comes_from_the_service_arn() {
        assert_eq!(
            cluster_of(
                "arn:aws:ecs:us-east-1:123456789012:service/saas-prod-advanced/saas-prod-globex-orders"
            ),
            "saas-prod-advanced"
        );
        assert_eq!(
            cluster_of("arn:aws:ecs:us-east-1:123:service/old-format"),
            "default"
        );
    }
}
