//! S3 calls: templates too large for `TemplateBody` go to the artifact bucket.

use super::{Aws, AwsError};

impl Aws {
    /// Puts a template too large for `TemplateBody` into the artifact bucket, and
    /// returns its URL for `TemplateURL`.
    ///
    /// # Errors
    /// The call's failure.
    pub async fn upload_template(
        &self,
        bucket: &str,
        key: &str,
        body: &str,
    ) -> Result<String, AwsError> {
        self.calls.count("PutObject");
        self.s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("application/json")
            .body(body.as_bytes().to_vec().into())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("PutObject", &e))?;
        Ok(format!(
            "https://{bucket}.s3.{}.amazonaws.com/{key}",
            self.region
        ))
    }
}
