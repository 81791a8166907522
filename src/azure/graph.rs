//! Azure Resource Graph: many resources' envelopes in one paged query, for drift detection that
//! does not cost a GET per resource per interval; and the fingerprint that compares what Resource
//! Graph shows with what a GET returned.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::client::{Audience, AzureClient, Call};
use super::error::AzureError;
use super::types::ArmOp;

/// `POST /providers/Microsoft.ResourceGraph/resources`: a read, although Azure makes it a POST.
pub const QUERY_RESOURCES: ArmOp = ArmOp::new("Resources", "Microsoft.ResourceGraph", "2024-04-01");
const PATH: &str = "/providers/Microsoft.ResourceGraph/resources";
/// Rows per page: Resource Graph's maximum.
const PAGE: u64 = 1000;
/// Pages one query may take (a million rows): a bound, not an expectation.
const MAX_PAGES: usize = 1000;
/// Ids per query, so a query's text stays a few tens of kilobytes.
pub const IDS_PER_QUERY: usize = 200;

/// The columns drift detection reads: the envelope a GET also returns.
const ENVELOPE: &str = "id, kind, location, sku, identity, tags, properties";

/// One page of a Resource Graph answer, rows kept as JSON.
#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    data: Vec<Value>,
    #[serde(rename = "$skipToken", default)]
    skip_token: Option<String>,
    #[serde(rename = "resultTruncated", default)]
    result_truncated: Option<Value>,
}

impl AzureClient {
    /// Runs `query` over `subscriptions`, following `$skipToken` to the last page, and hands
    /// each row to `row` as its page arrives (so at most one page of rows is held at once). The
    /// query must project `id` (Resource Graph pages only such results).
    pub async fn query_resources(
        &self,
        subscriptions: &[String],
        query: &str,
        mut row: impl FnMut(Value),
    ) -> Result<(), AzureError> {
        let url = self.arm_url(PATH, QUERY_RESOURCES.api_version)?;
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut options = json!({ "$top": PAGE });
            if let Some(t) = &token {
                options["$skipToken"] = json!(t);
            }
            let reply = self
                .send(Call {
                    operation: QUERY_RESOURCES.operation,
                    provider: QUERY_RESOURCES.provider,
                    method: azure_core::http::Method::Post,
                    url: url.clone(),
                    resource: PATH,
                    body: Some(
                        json!({ "subscriptions": subscriptions, "query": query, "options": options }),
                    ),
                    if_match: None,
                    audience: Audience::ResourceManager,
                })
                .await?;
            let page: Page = reply.json(QUERY_RESOURCES.operation, PATH)?;
            let truncated = match &page.result_truncated {
                Some(Value::String(t)) => t == "true",
                Some(Value::Bool(t)) => *t,
                _ => false,
            };
            if truncated {
                return Err(AzureError::Unexpected {
                    operation: QUERY_RESOURCES.operation.into(),
                    resource: PATH.into(),
                    detail: "Resource Graph truncated the results (the query must project id)"
                        .into(),
                });
            }
            page.data.into_iter().for_each(&mut row);
            match page.skip_token {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => return Ok(()),
            }
        }
        Ok(())
    }

    /// The envelopes of `ids` (resource ids; any subscriptions), each handed to `row` as it
    /// arrives. Resources that share a resource group and a type are read together by group
    /// and type when there are more than [`BY_GROUP_AFTER`] of them (the rows of that type's
    /// other resources in the group are dropped); the rest by id, [`IDS_PER_QUERY`] at a time.
    /// A resource Resource Graph does not show gets no row.
    pub async fn envelopes(
        &self,
        ids: &[String],
        mut row: impl FnMut(Value),
    ) -> Result<(), AzureError> {
        let wanted: std::collections::HashSet<String> =
            ids.iter().map(|i| i.to_ascii_lowercase()).collect();
        let mut groups: std::collections::BTreeMap<(String, String, String), Vec<String>> =
            Default::default();
        for id in &wanted {
            if let Some(key) = group_and_type(id) {
                groups.entry(key).or_default().push(id.clone());
            }
        }
        let mut singles = Vec::new();
        for ((sub, group, kind), members) in groups {
            if members.len() <= BY_GROUP_AFTER {
                singles.extend(members);
                continue;
            }
            let query = format!(
                "Resources | where type =~ '{}' and resourceGroup =~ '{}' | project {ENVELOPE}",
                quote(&kind),
                quote(&group)
            );
            self.query_resources(&[sub], &query, |r| {
                if r["id"]
                    .as_str()
                    .is_some_and(|i| wanted.contains(&i.to_ascii_lowercase()))
                {
                    row(r);
                }
            })
            .await?;
        }
        singles.sort();
        for chunk in singles.chunks(IDS_PER_QUERY) {
            let mut subscriptions: Vec<String> = chunk
                .iter()
                .filter_map(|id| super::client::subscription_of(id))
                .map(str::to_ascii_lowercase)
                .collect();
            subscriptions.sort();
            subscriptions.dedup();
            self.query_resources(&subscriptions, &envelope_query(chunk), &mut row)
                .await?;
        }
        Ok(())
    }
}

/// Resources of one group and type read by id up to this many; more are read by group and type.
pub const BY_GROUP_AFTER: usize = 20;

fn quote(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\'', "\\'")
}

/// `(subscription, resource group, type)` of a resource id, lower case; `None` for ids that
/// are not a resource in a resource group (a child resource has its full type, e.g.
/// `microsoft.sql/servers/databases`).
fn group_and_type(id: &str) -> Option<(String, String, String)> {
    let segments: Vec<&str> = id.trim_start_matches('/').split('/').collect();
    if segments.len() < 8
        || !segments[0].eq_ignore_ascii_case("subscriptions")
        || !segments[2].eq_ignore_ascii_case("resourcegroups")
        || !segments[4].eq_ignore_ascii_case("providers")
        || !segments.len().is_multiple_of(2)
    {
        return None;
    }
    let mut kind = segments[5].to_string();
    for pair in segments[6..].chunks(2) {
        kind.push('/');
        kind.push_str(pair[0]);
    }
    Some((
        segments[1].to_ascii_lowercase(),
        segments[3].to_ascii_lowercase(),
        kind.to_ascii_lowercase(),
    ))
}

/// `Resources | where id in~ (…) | project <envelope>`, with quotes in ids escaped.
pub fn envelope_query(ids: &[String]) -> String {
    let list: Vec<String> = ids.iter().map(|id| format!("'{}'", quote(id))).collect();
    format!(
        "Resources | where id in~ ({}) | project {ENVELOPE}",
        list.join(", ")
    )
}

/// A fingerprint of what the controls read from a resource's envelope: `kind`, `location`,
/// `sku`, `identity`, `tags` and `properties`, after the typed model `T` the evaluator uses (so a
/// field the evaluator does not read cannot make a difference, and a GET and a Resource Graph
/// row of the same resource give the same value). `id`, `name`, `type` and `etag` are left out
/// (Resource Graph lower-cases the type).
pub fn fingerprint<T: Serialize>(envelope: &T) -> u64 {
    let value = serde_json::to_value(envelope).unwrap_or(Value::Null);
    let mut location = None;
    // Canonical text: object keys are sorted (as in a `serde_json::Map`), and written straight
    // into the hash.
    let mut kept = std::collections::BTreeMap::new();
    for key in ["kind", "location", "sku", "identity", "tags", "properties"] {
        match value.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.is_empty() => {}
            Some(Value::String(s)) if key == "location" => {
                location = Some(Value::String(s.to_ascii_lowercase().replace(' ', "")));
            }
            Some(v) => {
                kept.insert(key, v);
            }
        }
    }
    if let Some(location) = &location {
        kept.insert("location", location);
    }
    let mut hash = crate::fingerprint::Fnv::default();
    // Writing into the hash cannot fail, nor can serialising JSON values.
    let _ = serde_json::to_writer(&mut hash, &kept);
    hash.finish()
}

/// The fingerprint of a Resource Graph row, read through the same typed model as the GET.
pub fn row_fingerprint<T: serde::de::DeserializeOwned + Serialize>(mut row: Value) -> Option<u64> {
    // Resource Graph fills absent columns with "" or null; a GET leaves them out.
    if let Some(map) = row.as_object_mut() {
        map.retain(|_, v| !(v.is_null() || v.as_str() == Some("")));
        map.entry("name").or_insert(json!(""));
    }
    serde_json::from_value::<T>(row)
        .ok()
        .map(|t| fingerprint(&t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::resources::ArmResource;
    use crate::azure::storage::StorageAccount;

    #[test]
    fn a_get_and_a_graph_row_of_the_same_resource_fingerprint_alike() {
        let get = json!({
            "id": "/subscriptions/s/resourceGroups/RG/providers/Microsoft.Storage/storageAccounts/st1",
            "name": "st1", "type": "Microsoft.Storage/storageAccounts", "location": "eastus",
            "kind": "StorageV2", "sku": {"name": "Standard_LRS", "tier": "Standard"},
            "tags": {"data-classification": "phi"},
            "properties": {"minimumTlsVersion": "TLS1_2", "supportsHttpsTrafficOnly": true,
                           "primaryEndpoints": {"blob": "https://st1.blob.core.windows.net/"}},
        });
        let row = json!({
            "id": "/subscriptions/s/resourceGroups/RG/providers/Microsoft.Storage/storageAccounts/st1",
            "kind": "StorageV2", "location": "eastus", "sku": {"name": "Standard_LRS", "tier": "Standard"},
            "identity": null, "tags": {"data-classification": "phi"},
            "properties": {"minimumTlsVersion": "TLS1_2", "supportsHttpsTrafficOnly": true,
                           "primaryEndpoints": {"blob": "https://st1.blob.core.windows.net/"}},
        });
        let typed: StorageAccount = serde_json::from_value(get.clone()).unwrap();
        assert_eq!(
            Some(fingerprint(&typed)),
            row_fingerprint::<StorageAccount>(row.clone())
        );
        let generic: ArmResource = serde_json::from_value(get).unwrap();
        assert_eq!(
            Some(fingerprint(&generic)),
            row_fingerprint::<ArmResource>(row.clone())
        );
        // A control's property changing changes the fingerprint.
        let mut drifted = row.clone();
        drifted["properties"]["minimumTlsVersion"] = json!("TLS1_0");
        assert_ne!(
            Some(fingerprint(&typed)),
            row_fingerprint::<StorageAccount>(drifted)
        );
        let mut retagged = row;
        retagged["tags"] = json!({});
        assert_ne!(
            Some(fingerprint(&typed)),
            row_fingerprint::<StorageAccount>(retagged)
        );
    }

    #[test]
    fn resource_ids_give_their_group_and_full_type() {
        assert_eq!(
            group_and_type(
                "/subscriptions/S/resourceGroups/RG/providers/Microsoft.Storage/storageAccounts/st"
            ),
            Some((
                "s".into(),
                "rg".into(),
                "microsoft.storage/storageaccounts".into()
            ))
        );
        assert_eq!(
            group_and_type(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Sql/servers/a/databases/b"
            ),
            Some((
                "s".into(),
                "rg".into(),
                "microsoft.sql/servers/databases".into()
            ))
        );
        assert_eq!(group_and_type("/subscriptions/s/resourceGroups/rg"), None);
    }

    #[test]
    fn the_envelope_query_quotes_ids() {
        let q = envelope_query(&["/subscriptions/s/x/it's".to_string(), "/b".to_string()]);
        assert_eq!(
            q,
            "Resources | where id in~ ('/subscriptions/s/x/it\\'s', '/b') | project id, kind, location, sku, identity, tags, properties"
        );
    }

    /// Fingerprints are kept in `status.driftBaseline`: the same envelope must keep its value
    /// across releases, or every store would be re-read after an upgrade.
    #[test]
    fn a_known_envelope_keeps_its_fingerprint() {
        let get = json!({
            "id": "/subscriptions/s/resourceGroups/RG/providers/Microsoft.Storage/storageAccounts/st1",
            "name": "st1", "type": "Microsoft.Storage/storageAccounts", "location": "East US 2",
            "kind": "StorageV2", "sku": {"name": "Standard_LRS", "tier": "Standard"},
            "identity": {"type": "SystemAssigned", "principalId": "p", "tenantId": "t"},
            "tags": {"data-classification": "phi", "owner": "a \"quoted\" team"},
            "properties": {"minimumTlsVersion": "TLS1_2", "supportsHttpsTrafficOnly": true,
                           "allowBlobPublicAccess": false, "publicNetworkAccess": "Disabled",
                           "primaryEndpoints": {"blob": "https://st1.blob.core.windows.net/"}},
        });
        let typed: StorageAccount = serde_json::from_value(get).unwrap();
        assert_eq!(format!("{:016x}", fingerprint(&typed)), "7ec3f3a6770cb020");
    }
}
