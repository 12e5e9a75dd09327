//! DynamoDB calls: whether tables a stack is about to create already exist (kept by an earlier stack's retention policy).

use aws_sdk_dynamodb::error::ProvideErrorMetadata;

use super::{Aws, AwsError};

impl Aws {
    /// The tables of `names` that exist in the region (`DescribeTable` each).
    ///
    /// # Errors
    /// A call that fails for another reason than the table not existing.
    pub async fn existing_tables(&self, names: &[String]) -> Result<Vec<String>, AwsError> {
        let Some(client) = &self.dynamodb else {
            return Ok(Vec::new());
        };
        let mut found = Vec::new();
        for name in names {
            self.calls.count("DescribeTable");
            match client.describe_table().table_name(name).send().await {
                Ok(_) => found.push(name.clone()),
                Err(e) if e.code() == Some("ResourceNotFoundException") => {}
                Err(e) => return Err(AwsError::from_sdk("DescribeTable", &e)),
            }
        }
        Ok(found)
    }
}
