//! A plan as people read it: each intent of a [`WritePlan`] as the rows of
//! `status.plannedChanges` — method, resource, property, from → to, and why it is held. Pure.
//! In `Audit` it is the remediation preview (what `Enforce` would write); in `Enforce`, what a
//! grant holds back.

use serde_json::Value;

use super::intent::{Intent, StorageWrites, WritePlan};
use crate::api::phistore::PlannedChange;
use crate::controls::plan::{ArmWrite, at, evidence};

/// Why the planned changes of a pass are not made: the mode, and who decided it. `enforcing`:
/// the pass runs in Enforce, so what is held is what the grants do not allow.
pub fn held_reason(permit: &super::trust::Permit, enforcing: bool) -> String {
    let grants = permit.grants.join(", ");
    if enforcing {
        format!(
            "irreversible: no AzureScopeGrant of {grants} allows irreversible changes (allowIrreversible)"
        )
    } else if permit.allow_enforce {
        "Audit mode: Enforce would make it".to_string()
    } else {
        format!(
            "Audit mode: Enforce would make it, and no AzureScopeGrant of {grants} allows Enforce yet"
        )
    }
}

/// At most this many rows; the last one then says how many more there are.
pub const MAX_ROWS: usize = 32;
/// Values longer than this are cut (with `…`).
const MAX_VALUE: usize = 200;

/// The rows of `plan`, each held for `held`. `observed` gives the body the pass read for an
/// ARM id (the resource or one of its sub-resources), for the `from` column.
pub fn rows(
    plan: &WritePlan,
    held: &str,
    observed: &dyn Fn(&str) -> Option<Value>,
) -> Vec<PlannedChange> {
    let mut out: Vec<PlannedChange> = plan
        .intents
        .iter()
        .flat_map(|intent| describe(intent, observed))
        .map(|(method, resource, property, from, to)| PlannedChange {
            method: method.into(),
            resource: cut(&resource),
            property: cut(&property),
            from: cut(&from),
            to: cut(&to),
            held: held.to_string(),
        })
        .collect();
    if out.len() > MAX_ROWS {
        let more = out.len() - (MAX_ROWS - 1);
        out.truncate(MAX_ROWS - 1);
        out.push(PlannedChange {
            method: "-".into(),
            resource: "-".into(),
            property: format!("{more} more changes"),
            from: "-".into(),
            to: "-".into(),
            held: held.to_string(),
        });
    }
    out
}

type Row = (&'static str, String, String, String, String);

fn describe(intent: &Intent, observed: &dyn Fn(&str) -> Option<Value>) -> Vec<Row> {
    match intent {
        Intent::Arm(ArmWrite::Patch { id, body, .. }) => leaves("PATCH", id, body, observed),
        Intent::Arm(ArmWrite::Put { id, body, .. }) => leaves("PUT", id, body, observed),
        Intent::Arm(ArmWrite::Merge { id, set, .. }) => {
            let before = observed(id);
            set.iter()
                .map(|(pointer, value)| {
                    let path = pointer.trim_start_matches('/').replace('/', ".");
                    (
                        "PUT",
                        id.clone(),
                        path.clone(),
                        from(before.as_ref(), &path),
                        shown(value),
                    )
                })
                .collect()
        }
        Intent::Arm(ArmWrite::Post { op, id, .. }) => vec![(
            "POST",
            id.clone(),
            "(action)".into(),
            "-".into(),
            op.operation.to_string(),
        )],
        Intent::Arm(ArmWrite::Delete { id, .. }) => vec![(
            "DELETE",
            id.clone(),
            "(the resource)".into(),
            "exists".into(),
            "(deleted)".into(),
        )],
        Intent::EnsureKey {
            vault_id,
            name,
            kty,
            bits,
            policy,
            ..
        } => vec![(
            "PUT",
            super::intent::key_id(vault_id, name),
            "key and rotation policy".into(),
            "(as read)".into(),
            format!(
                "{kty} {bits}, rotate after {}",
                policy.rotate_after().unwrap_or("(none)")
            ),
        )],
        Intent::SetKeyExpiry {
            vault_id,
            name,
            version,
            exp,
        } => vec![(
            "PATCH",
            format!("{}/{version}", super::intent::key_id(vault_id, name)),
            "attributes.exp".into(),
            "(not set)".into(),
            k8s_openapi::jiff::Timestamp::from_second(*exp)
                .map(|t| t.to_string())
                .unwrap_or_else(|_| exp.to_string()),
        )],
        Intent::RotateKey { vault_id, name } => vec![(
            "POST",
            super::intent::key_id(vault_id, name),
            "(rotate)".into(),
            "older than the rotation cadence".into(),
            "a new key version".into(),
        )],
        Intent::PrivateEndpoint(pe) => vec![(
            "PUT",
            pe.id.clone(),
            "private endpoint".into(),
            "(none Approved)".into(),
            format!("{} of {} in {}", pe.group_id, pe.target_id, pe.subnet_id),
        )],
        Intent::Storage(w) => storage(w, observed),
        Intent::Diagnostic(d) => vec![(
            "PUT",
            format!(
                "{}/providers/Microsoft.Insights/diagnosticSettings",
                d.resource_id
            ),
            "diagnostic setting".into(),
            "(missing or different)".into(),
            format!(
                "{} → {}",
                d.category_groups
                    .iter()
                    .chain(&d.categories)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
                d.workspace_id
            ),
        )],
        Intent::GrantRole(g) => vec![(
            "PUT",
            g.scope.clone(),
            "role assignment".into(),
            "(not held)".into(),
            format!("role {} for {}", g.role_guid, g.principal_id),
        )],
        Intent::RemoveRoleAssignment(id) => vec![(
            "DELETE",
            id.as_str().to_string(),
            "role assignment".into(),
            "unreviewed or denied access".into(),
            "(removed)".into(),
        )],
        Intent::RemovePrivateEndpoint(id) => vec![(
            "DELETE",
            id.clone(),
            "private endpoint".into(),
            "-".into(),
            "(removed)".into(),
        )],
        Intent::RemoveDiagnosticSetting(id) => vec![(
            "DELETE",
            id.clone(),
            "diagnostic setting".into(),
            "-".into(),
            "(removed)".into(),
        )],
        Intent::AssignPolicy { scope, name, .. } => vec![(
            "PUT",
            format!("{scope}/providers/Microsoft.Authorization/policyAssignments/{name}"),
            "policy assignment".into(),
            "(missing or different)".into(),
            "the HIPAA HITRUST initiative, enforced".into(),
        )],
        // Review cycles are Kubernetes objects, opened in every mode.
        Intent::OpenCycle(_) | Intent::SetCycleDecisions(_) => vec![],
    }
}

fn storage(w: &StorageWrites, observed: &dyn Fn(&str) -> Option<Value>) -> Vec<Row> {
    let mut out = Vec::new();
    let mut patch = serde_json::to_value(&w.patch).unwrap_or_default();
    if w.close_public {
        patch["properties"]["publicNetworkAccess"] = Value::from("Disabled");
    }
    out.extend(leaves("PATCH", &w.account_id, &patch, observed));
    if let Some(grant) = &w.key_grant {
        out.push((
            "PUT",
            grant.key_scope.clone(),
            "role assignment".into(),
            "(not held)".into(),
            "Key Vault Crypto Service Encryption User for the account's identity".into(),
        ));
    }
    for (service, properties) in [
        (
            "blobServices",
            w.blob_service.as_ref().map(serde_json::to_value),
        ),
        (
            "fileServices",
            w.file_service.as_ref().map(serde_json::to_value),
        ),
    ] {
        if let Some(Ok(properties)) = properties {
            let id = format!("{}/{service}/default", w.account_id);
            out.extend(leaves(
                "PUT",
                &id,
                &serde_json::json!({ "properties": properties }),
                observed,
            ));
        }
    }
    out
}

/// One row per leaf of `body` (arrays are one value), `from` read at the same path.
fn leaves(
    method: &'static str,
    id: &str,
    body: &Value,
    observed: &dyn Fn(&str) -> Option<Value>,
) -> Vec<Row> {
    let before = observed(id);
    let mut paths = Vec::new();
    flatten(body, String::new(), &mut paths);
    paths
        .into_iter()
        .map(|(path, value)| {
            (
                method,
                id.to_string(),
                path.clone(),
                from(before.as_ref(), &path),
                shown(value),
            )
        })
        .collect()
}

fn flatten<'v>(value: &'v Value, prefix: String, out: &mut Vec<(String, &'v Value)>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, v) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(v, path, out);
            }
        }
        leaf => out.push((prefix, leaf)),
    }
}

fn from(before: Option<&Value>, path: &str) -> String {
    match before {
        Some(body) => evidence(at(body, path)),
        None => "(not read)".into(),
    }
}

fn shown(value: &Value) -> String {
    evidence(Some(value))
}

fn cut(text: &str) -> String {
    if text.chars().count() <= MAX_VALUE {
        return text.to_string();
    }
    let mut out: String = text.chars().take(MAX_VALUE - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::types::ArmOp;
    use serde_json::json;

    const SERVER: &str =
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Sql/servers/sql-scheduling";

    fn observed(id: &str) -> Option<Value> {
        (id == SERVER).then(|| {
            json!({"id": SERVER, "properties": {"minimalTlsVersion": "1.0", "publicNetworkAccess": "Enabled"}})
        })
    }

    fn patch(body: Value) -> Intent {
        Intent::Arm(ArmWrite::Patch {
            op: ArmOp::new("Servers_Update", "Microsoft.Sql", "2023-08-01"),
            id: SERVER.into(),
            body,
        })
    }

    #[test]
    fn each_property_of_a_write_is_a_row_with_what_was_read() {
        let plan = WritePlan {
            intents: vec![patch(
                json!({"properties": {"minimalTlsVersion": "1.2", "publicNetworkAccess": "Disabled"}, "tags": {"data-classification": "phi"}}),
            )],
            remediates: vec!["sql.min-tls-1-2"],
        };
        let rows = rows(&plan, "Audit mode", &observed);
        let by_path = |p: &str| rows.iter().find(|r| r.property == p).expect(p);
        let tls = by_path("properties.minimalTlsVersion");
        assert_eq!(
            (tls.method.as_str(), tls.from.as_str(), tls.to.as_str()),
            ("PATCH", "1.0", "1.2")
        );
        assert_eq!(by_path("properties.publicNetworkAccess").from, "Enabled");
        // A property the read did not carry.
        assert_eq!(by_path("tags.data-classification").from, "(not set)");
        assert!(
            rows.iter()
                .all(|r| r.held == "Audit mode" && r.resource == SERVER)
        );
    }

    #[test]
    fn a_long_plan_is_cut_and_says_how_much_more_there_is() {
        let intents = (0..40)
            .map(|i| patch(json!({"properties": {format!("p{i:02}"): i}})))
            .collect();
        let rows = rows(
            &WritePlan {
                intents,
                remediates: vec![],
            },
            "Audit mode",
            &observed,
        );
        assert_eq!(rows.len(), MAX_ROWS);
        assert_eq!(rows[MAX_ROWS - 1].property, "9 more changes");
        let long = cut(&"x".repeat(500));
        assert_eq!(long.chars().count(), MAX_VALUE);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn review_cycles_are_not_listed_and_removals_are() {
        let removal = Intent::RemoveRoleAssignment(
            crate::azure::id::RoleAssignmentId::parse(&format!(
                "{SERVER}/providers/Microsoft.Authorization/roleAssignments/11111111-1111-4111-8111-111111111111"
            ))
            .expect("id"),
        );
        let rows = rows(
            &WritePlan {
                intents: vec![removal],
                remediates: vec!["access.unreviewed-assignment"],
            },
            "Audit mode",
            &observed,
        );
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].method, "DELETE");
    }
}
