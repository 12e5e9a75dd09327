//! DynamoDB calls: which tables stacks are about to create already exist (kept by an earlier stack's retention policy).

use super::{Aws, AwsError};

impl Aws {
    /// The tables of `names` that exist in the region: one paginated `ListTables` (100
    /// names a page), whatever the number of names asked about.
    ///
    /// # Errors
    /// The first failed page.
    pub async fn existing_tables(&self, names: &[String]) -> Result<Vec<String>, AwsError> {
        let Some(client) = &self.dynamodb else {
            return Ok(Vec::new());
        };
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let wanted: std::collections::BTreeSet<&str> = names.iter().map(String::as_str).collect();
        let mut found = Vec::new();
        let mut start: Option<String> = None;
        loop {
            self.calls.count("ListTables");
            let page = client
                .list_tables()
                .set_exclusive_start_table_name(start.take())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("ListTables", &e))?;
            found.extend(
                page.table_names()
                    .iter()
                    .filter(|t| wanted.contains(t.as_str()))
                    .cloned(),
            );
            match page.last_evaluated_table_name() {
                Some(last) => start = Some(last.to_owned()),
                None => break,
            }
        }
        Ok(found)
    }
}
