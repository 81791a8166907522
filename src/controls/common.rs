//! Evaluators every kind read through the generic ARM envelope shares: an Approved private
//! endpoint per required sub-resource, the operator's diagnostic setting, and the PHI
//! classification tag. Pure.

use std::collections::BTreeMap;

use serde_json::Value;

use super::finding::Finding;
use super::plan::at;
use crate::azure::insights::{DesiredDiagnosticSetting, DiagnosticSetting};

fn same(a: &str, b: &str) -> bool {
    a.trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim_end_matches('/'))
}

/// `id` is compliant when every group of `required` has an Approved private-endpoint
/// connection. `body` is the resource's ARM body (its
/// `properties.privateEndpointConnections`); `endpoint_groups` are the group ids of the
/// connected endpoints, by endpoint id, as read from the endpoints themselves.
pub fn private_endpoint(
    id: &str,
    body: &Value,
    endpoint_groups: &BTreeMap<String, Vec<String>>,
    required: &[String],
) -> Finding {
    let connections = at(body, "properties.privateEndpointConnections")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let approved: Vec<String> = connections
        .iter()
        .filter(|c| {
            at(c, "properties.privateLinkServiceConnectionState.status")
                .and_then(Value::as_str)
                .is_some_and(|s| s.eq_ignore_ascii_case("Approved"))
        })
        .filter_map(|c| at(c, "properties.privateEndpoint.id").and_then(Value::as_str))
        .map(str::to_string)
        .collect();
    let approved_groups: Vec<&str> = approved
        .iter()
        .flat_map(|pe| {
            endpoint_groups
                .iter()
                .filter(move |(k, _)| same(k, pe))
                .flat_map(|(_, g)| g.iter().map(String::as_str))
        })
        .collect();
    let missing: Vec<&str> = required
        .iter()
        .map(String::as_str)
        .filter(|g| !approved_groups.iter().any(|h| h.eq_ignore_ascii_case(g)))
        .collect();
    let observed = if approved.is_empty() {
        "no Approved private endpoint connection".to_string()
    } else if missing.is_empty() {
        format!("Approved for {}", required.join(", "))
    } else {
        format!("no Approved connection for {}", missing.join(", "))
    };
    Finding::check(
        id,
        missing.is_empty(),
        format!("an Approved private endpoint for {}", required.join(", ")),
        observed,
    )
}

/// `id` is compliant when one of `found` sends at least the desired logs to the desired
/// workspace.
pub fn diagnostics(
    id: &str,
    found: &[DiagnosticSetting],
    desired: &DesiredDiagnosticSetting,
) -> Finding {
    let wanted: Vec<String> = desired
        .category_groups
        .iter()
        .map(|g| format!("categoryGroup {g}"))
        .chain(desired.categories.iter().map(|c| format!("category {c}")))
        .collect();
    let expected = format!(
        "a diagnostic setting with {} to {}",
        wanted.join(", "),
        desired.workspace_id
    );
    let observed = if found.is_empty() {
        "no diagnostic setting".to_string()
    } else {
        found
            .iter()
            .map(|s| {
                let logs: Vec<String> = s
                    .properties
                    .logs
                    .iter()
                    .filter(|l| l.enabled)
                    .filter_map(|l| l.category_group.clone().or_else(|| l.category.clone()))
                    .collect();
                format!(
                    "{}: [{}] to {}",
                    s.name.as_deref().unwrap_or("(unnamed)"),
                    logs.join(", "),
                    s.properties
                        .workspace_id
                        .as_deref()
                        .unwrap_or("(no workspace)")
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    Finding::check(
        id,
        found.iter().any(|s| desired.is_met_by(s)),
        expected,
        observed,
    )
}

/// `common.phi-classification-tag` on a resource's tags.
pub fn classification_tag(
    tags: Option<&BTreeMap<String, String>>,
    (name, value): (&str, &str),
) -> Finding {
    let found = tags.and_then(|t| t.get(name));
    Finding::check(
        "common.phi-classification-tag",
        found.is_some_and(|v| v.eq_ignore_ascii_case(value)),
        format!("{name}={value}"),
        found
            .map(|v| format!("{name}={v}"))
            .unwrap_or_else(|| format!("no {name} tag")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controls::Found;
    use serde_json::json;

    const PE: &str =
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateEndpoints/pe-kv";

    fn vault(status: &str) -> Value {
        json!({"properties": {"privateEndpointConnections": [
            {"properties": {"privateEndpoint": {"id": PE},
                "privateLinkServiceConnectionState": {"status": status}}}
        ]}})
    }

    #[test]
    fn a_private_endpoint_counts_only_when_approved_for_the_required_group() {
        let groups = BTreeMap::from([(PE.to_string(), vec!["vault".to_string()])]);
        let need = vec!["vault".to_string()];
        let ok = private_endpoint("kv.private-endpoint", &vault("Approved"), &groups, &need);
        assert_eq!(ok.found, Found::Compliant, "{ok:?}");
        let pending = private_endpoint("kv.private-endpoint", &vault("Pending"), &groups, &need);
        assert_eq!(pending.found, Found::Drifted);
        assert_eq!(pending.observed, "no Approved private endpoint connection");
        let other = private_endpoint(
            "kv.private-endpoint",
            &vault("Approved"),
            &BTreeMap::from([(PE.to_string(), vec!["blob".to_string()])]),
            &need,
        );
        assert_eq!(other.found, Found::Drifted);
        assert_eq!(other.observed, "no Approved connection for vault");
        let none = private_endpoint("kv.private-endpoint", &json!({}), &groups, &need);
        assert_eq!(none.found, Found::Drifted);
    }

    #[test]
    fn diagnostics_need_the_categories_and_the_workspace() {
        let desired = DesiredDiagnosticSetting {
            resource_id: "/x".into(),
            workspace_id: "/law".into(),
            category_groups: vec![],
            categories: vec!["AuditEvent".into()],
        };
        let setting = |category: &str, workspace: &str| -> DiagnosticSetting {
            serde_json::from_value(json!({"name": "s", "properties": {"workspaceId": workspace,
                "logs": [{"category": category, "enabled": true}]}}))
            .expect("setting")
        };
        assert_eq!(
            diagnostics(
                "kv.diag-audit-event",
                &[setting("AuditEvent", "/LAW")],
                &desired
            )
            .found,
            Found::Compliant
        );
        let wrong = diagnostics(
            "kv.diag-audit-event",
            &[setting("AuditEvent", "/other")],
            &desired,
        );
        assert_eq!(wrong.found, Found::Drifted);
        assert_eq!(wrong.observed, "s: [AuditEvent] to /other");
        assert_eq!(
            diagnostics("kv.diag-audit-event", &[], &desired).observed,
            "no diagnostic setting"
        );
    }

    #[test]
    fn the_classification_tag_is_compared_without_case() {
        let tags = BTreeMap::from([("data-classification".to_string(), "PHI".to_string())]);
        let f = classification_tag(Some(&tags), ("data-classification", "phi"));
        assert_eq!(f.found, Found::Compliant);
        let f = classification_tag(None, ("data-classification", "phi"));
        assert_eq!(
            (f.found, f.observed.as_str()),
            (Found::Drifted, "no data-classification tag")
        );
    }
}
