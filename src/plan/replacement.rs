//! Which property changes make CloudFormation replace a resource, from the resource provider schemas (`createOnlyProperties`, `conditionalCreateOnlyProperties`) as cfn-lint ships them, for the types tenantops renders (`replacement.json`, written by `scripts/replacement-data`).
//!
//! A replaced resource is a new one: a table, user pool or API key replaced is data or
//! identity lost. And CloudFormation creates the replacement before deleting the old
//! resource, so a resource with a custom name (`TableName`, `RoleName`, ...) cannot be
//! replaced at all ("CloudFormation cannot update a stack when a custom-named resource
//! requires replacing"): the whole update fails and rolls back.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::Value;

#[derive(serde::Deserialize)]
struct Rules {
    replaced: Vec<String>,
    may_be_replaced: Vec<String>,
}

fn rules() -> &'static BTreeMap<String, Rules> {
    static RULES: OnceLock<BTreeMap<String, Rules>> = OnceLock::new();
    RULES.get_or_init(|| serde_json::from_str(include_str!("replacement.json")).unwrap_or_default())
}

/// Whether CloudFormation replaces a resource of `kind` going from `before` to `after`
/// (both the resource's definition), and for which property.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Replacement {
    /// A create-only property changes: `True` in a change set's terms.
    Always(String),
    /// A conditionally create-only property changes: `Conditional`.
    Maybe(String),
}

/// The replacement a change of definition causes, if any.
#[must_use]
pub fn of(kind: &str, before: &Value, after: &Value) -> Option<Replacement> {
    let rules = rules().get(kind)?;
    let changed = |pointer: &String| {
        let at = pointer.replacen("/properties", "/Properties", 1);
        (before.pointer(&at) != after.pointer(&at))
            .then(|| pointer.trim_start_matches("/properties/").to_owned())
    };
    rules
        .replaced
        .iter()
        .find_map(changed)
        .map(Replacement::Always)
        .or_else(|| {
            rules
                .may_be_replaced
                .iter()
                .find_map(changed)
                .map(Replacement::Maybe)
        })
}

/// The custom name a resource of `kind` is given in `definition`: a create-only
/// property named `...Name` set to a string (or a `Fn::Sub` of one), not a reference
/// to another resource.
#[must_use]
pub fn custom_name(kind: &str, definition: &Value) -> Option<String> {
    let rules = rules().get(kind)?;
    rules.replaced.iter().find_map(|pointer| {
        let name = pointer.strip_prefix("/properties/")?;
        if name.contains('/') || !name.ends_with("Name") {
            return None;
        }
        let value = definition.get("Properties")?.get(name)?;
        (value.is_string() || value.get("Fn::Sub").is_some()).then(|| name.to_owned())
    })
}

/// The resource types the data covers.
pub fn kinds() -> impl Iterator<Item = &'static str> {
    rules().keys().map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_key_schema_change_may_replace_a_table_and_a_name_change_does() {
        let table = |sort: &str, name: &str| json!({"Type": "AWS::DynamoDB::Table", "Properties": {"TableName": name, "KeySchema": [{"AttributeName": "tenantId", "KeyType": "HASH"}, {"AttributeName": sort, "KeyType": "RANGE"}]}});
        let kind = "AWS::DynamoDB::Table";
        assert_eq!(
            of(kind, &table("orderId", "t"), &table("orderKey", "t")),
            Some(Replacement::Maybe("KeySchema".to_owned()))
        );
        assert_eq!(
            of(kind, &table("orderId", "t"), &table("orderId", "u")),
            Some(Replacement::Always("TableName".to_owned()))
        );
        assert_eq!(
            of(kind, &table("orderId", "t"), &table("orderId", "t")),
            None
        );
        assert_eq!(
            custom_name(kind, &table("orderId", "t")),
            Some("TableName".to_owned())
        );
        // A reference to another resource is not a custom name.
        let attachment = json!({"Properties": {"GroupName": {"Ref": "Group"}}});
        assert_eq!(
            custom_name("AWS::Cognito::UserPoolUserToGroupAttachment", &attachment),
            None
        );
        assert!(kinds().any(|k| k == "AWS::ECS::TaskDefinition"));
    }
}
