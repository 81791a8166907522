//! Evaluators every kind read through the generic ARM envelope shares: an Approved private
//! endpoint per required sub-resource, the operator's diagnostic setting, and the PHI
//! classification tag. Pure.

use std::collections::BTreeMap;

use serde_json::Value;

use super::finding::Finding;
use super::plan::at;
use crate::azure::cloud::PrivateDnsZones;
use crate::azure::insights::{DesiredDiagnosticSetting, DiagnosticSetting};

fn same(a: &str, b: &str) -> bool {
    a.trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim_end_matches('/'))
}

/// A private endpoint connected to a resource, as read from the endpoint itself (a
/// connection on the resource says neither its group nor its DNS registration). Only an
/// endpoint whose creation `Succeeded` is recorded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeenEndpoint {
    /// The group ids it connects.
    pub groups: Vec<String>,
    /// The private DNS zones (names) its zone groups register it in, once Azure made them.
    pub zones: Vec<String>,
    /// The name of a zone group on it that the operator did not make, if any: the operator
    /// never adds a second group, and never changes another's.
    pub foreign_zone_group: Option<String>,
}

/// The endpoints connected to a resource, by endpoint id.
pub type SeenEndpoints = BTreeMap<String, SeenEndpoint>;

/// The private DNS registration a kind's endpoints need: the zones of each group (the cloud's
/// names, e.g. `blob` → `privatelink.blob.core.windows.net`) and the zones the workspace lists
/// for the operator to register endpoints in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointDns {
    /// Zone names by group id.
    pub zones: BTreeMap<String, Vec<String>>,
    /// Names of the zones in the workspace's `spec.privateNetworking.privateDnsZoneIds`.
    pub listed: Vec<String>,
}

impl EndpointDns {
    /// The zones `groups` need in `cloud`, and those of `listed_ids` (ARM ids of zones).
    pub fn of(groups: &[String], cloud: &PrivateDnsZones, listed_ids: &[String]) -> EndpointDns {
        EndpointDns {
            zones: groups
                .iter()
                .map(|g| (g.clone(), cloud.for_group(g)))
                .collect(),
            listed: listed_ids
                .iter()
                .filter_map(|id| id.rsplit('/').next())
                .map(str::to_ascii_lowercase)
                .collect(),
        }
    }

    fn needs(&self, group: &str) -> &[String] {
        self.zones
            .iter()
            .find(|(g, _)| g.eq_ignore_ascii_case(group))
            .map(|(_, z)| z.as_slice())
            .unwrap_or_default()
    }
}

/// The endpoint ids of a resource's Approved private-endpoint connections (its ARM body's
/// `properties.privateEndpointConnections`).
pub fn approved_endpoints(body: &Value) -> Vec<String> {
    at(body, "properties.privateEndpointConnections")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|c| {
            at(c, "properties.privateLinkServiceConnectionState.status")
                .and_then(Value::as_str)
                .is_some_and(|s| s.eq_ignore_ascii_case("Approved"))
        })
        .filter_map(|c| at(c, "properties.privateEndpoint.id").and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

/// `id` is compliant when every group of `required` is reached by an endpoint that Azure made
/// (`Succeeded`), whose connection is `Approved`, and that is registered in every private DNS
/// zone the group needs: without the zone the service's name resolves to its public address
/// and clients never use the endpoint. `body` is the resource's ARM body.
pub fn private_endpoint(
    id: &str,
    body: &Value,
    seen: &SeenEndpoints,
    required: &[String],
    dns: &EndpointDns,
) -> Finding {
    endpoint_finding(id, &approved_endpoints(body), seen, required, dns)
}

/// [`private_endpoint`] from the ids of the Approved connections.
pub fn endpoint_finding(
    id: &str,
    approved: &[String],
    seen: &SeenEndpoints,
    required: &[String],
    dns: &EndpointDns,
) -> Finding {
    let reaching = |group: &str| -> Vec<(&String, &SeenEndpoint)> {
        seen.iter()
            .filter(|(pe, _)| approved.iter().any(|a| same(a, pe)))
            .filter(|(_, e)| e.groups.iter().any(|g| g.eq_ignore_ascii_case(group)))
            .collect()
    };
    let unregistered = |e: &SeenEndpoint, group: &str| -> Vec<String> {
        dns.needs(group)
            .iter()
            .filter(|z| !e.zones.iter().any(|h| h.eq_ignore_ascii_case(z)))
            .cloned()
            .collect()
    };
    let mut unapproved = Vec::new();
    // (group, endpoint, zones it misses) for a group reached only by unregistered endpoints.
    let mut unresolved: Vec<(&str, &String, &SeenEndpoint, Vec<String>)> = Vec::new();
    for group in required {
        let endpoints = reaching(group);
        let Some(first) = endpoints.first() else {
            unapproved.push(group.as_str());
            continue;
        };
        if endpoints
            .iter()
            .all(|(_, e)| !unregistered(e, group).is_empty())
        {
            let (pe, e) = *first;
            unresolved.push((group, pe, e, unregistered(e, group)));
        }
    }
    let zones: Vec<&str> = required
        .iter()
        .flat_map(|g| dns.needs(g))
        .map(String::as_str)
        .collect();
    let expected = if zones.is_empty() {
        format!("an Approved private endpoint for {}", required.join(", "))
    } else {
        format!(
            "an Approved private endpoint for {}, registered in {}",
            required.join(", "),
            zones.join(", ")
        )
    };
    let observed = if approved.is_empty() {
        "no Approved private endpoint connection".to_string()
    } else if !unapproved.is_empty() {
        format!("no Approved connection for {}", unapproved.join(", "))
    } else if !unresolved.is_empty() {
        unresolved
            .iter()
            .map(|(group, pe, _, missing)| {
                let name = pe.rsplit('/').next().unwrap_or(pe);
                format!(
                    "Approved for {group} through {name}, not registered in {}",
                    missing.join(", ")
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    } else if zones.is_empty() {
        format!("Approved for {}", required.join(", "))
    } else {
        format!(
            "Approved for {}; registered in {}",
            required.join(", "),
            zones.join(", ")
        )
    };
    let finding = Finding::check(
        id,
        unapproved.is_empty() && unresolved.is_empty(),
        expected,
        observed,
    );
    // Who registers the missing zones: the operator when the workspace lists them and the
    // endpoint has no zone group of someone else's; a person otherwise.
    let foreign = unresolved
        .iter()
        .find_map(|(_, pe, e, _)| e.foreign_zone_group.as_ref().map(|g| (pe, g)));
    let unlisted: Vec<&str> = unresolved
        .iter()
        .flat_map(|(_, _, _, missing)| missing.iter())
        .filter(|z| !dns.listed.iter().any(|l| l.eq_ignore_ascii_case(z)))
        .map(String::as_str)
        .collect();
    if let Some((pe, group)) = foreign {
        let name = pe.rsplit('/').next().unwrap_or(pe);
        finding.awaiting_person(format!(
            "the endpoint {name} has the DNS zone group {group}, which the operator did not make and does not change: add the missing zones to it (or remove it, and the operator makes its own)"
        ))
    } else if !unlisted.is_empty() {
        finding.awaiting_person(format!(
            "add the private DNS zone {} to the workspace's spec.privateNetworking.privateDnsZoneIds (a zone in a hub subscription works when the operator's identity has Microsoft.Network/privateDnsZones/join/action on it), or register the endpoint in it yourself",
            unlisted.join(", ")
        ))
    } else {
        finding
    }
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

/// Fixtures for the evaluators' tests: endpoints registered as Azure would register them.
#[cfg(test)]
pub mod fixtures {
    use super::*;
    use crate::azure::cloud::Cloud;

    /// An endpoint `pe` for `group`, made and registered in the group's public-cloud zones.
    pub fn registered(pe: &str, group: &str) -> SeenEndpoints {
        BTreeMap::from([(
            pe.to_string(),
            SeenEndpoint {
                groups: vec![group.to_string()],
                zones: Cloud::azure_public().private_dns.for_group(group),
                foreign_zone_group: None,
            },
        )])
    }

    /// The public-cloud zones `groups` need, none listed by the workspace.
    pub fn dns(groups: &[&str]) -> EndpointDns {
        let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        EndpointDns::of(&groups, &Cloud::azure_public().private_dns, &[])
    }
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

    const ZONE: &str = "privatelink.vaultcore.azure.net";

    fn seen(groups: &[&str], zones: &[&str]) -> SeenEndpoints {
        BTreeMap::from([(
            PE.to_string(),
            SeenEndpoint {
                groups: groups.iter().map(|g| g.to_string()).collect(),
                zones: zones.iter().map(|z| z.to_string()).collect(),
                foreign_zone_group: None,
            },
        )])
    }

    fn dns(listed: &[&str]) -> EndpointDns {
        EndpointDns {
            zones: BTreeMap::from([("vault".to_string(), vec![ZONE.to_string()])]),
            listed: listed.iter().map(|z| z.to_string()).collect(),
        }
    }

    #[test]
    fn a_private_endpoint_counts_only_when_approved_for_the_required_group() {
        let need = vec!["vault".to_string()];
        let listed = dns(&[ZONE]);
        let ok = private_endpoint(
            "kv.private-endpoint",
            &vault("Approved"),
            &seen(&["vault"], &[ZONE]),
            &need,
            &listed,
        );
        assert_eq!(ok.found, Found::Compliant, "{ok:?}");
        assert_eq!(
            ok.observed,
            "Approved for vault; registered in privatelink.vaultcore.azure.net"
        );
        let pending = private_endpoint(
            "kv.private-endpoint",
            &vault("Pending"),
            &seen(&["vault"], &[ZONE]),
            &need,
            &listed,
        );
        assert_eq!(pending.found, Found::Drifted);
        assert_eq!(pending.observed, "no Approved private endpoint connection");
        let other = private_endpoint(
            "kv.private-endpoint",
            &vault("Approved"),
            &seen(&["blob"], &[ZONE]),
            &need,
            &listed,
        );
        assert_eq!(other.found, Found::Drifted);
        assert_eq!(other.observed, "no Approved connection for vault");
        // Not read back as Succeeded (failed, running, gone): not in `seen`, not met.
        let none = private_endpoint(
            "kv.private-endpoint",
            &vault("Approved"),
            &BTreeMap::new(),
            &need,
            &listed,
        );
        assert_eq!(none.found, Found::Drifted);
    }

    #[test]
    fn an_approved_endpoint_counts_only_once_registered_in_the_zone_the_service_needs() {
        let need = vec!["vault".to_string()];
        // Approved but never registered (an interrupted creation): not met, and the operator
        // registers it because the workspace lists the zone.
        let bare = private_endpoint(
            "kv.private-endpoint",
            &vault("Approved"),
            &seen(&["vault"], &[]),
            &need,
            &dns(&[ZONE]),
        );
        assert_eq!(bare.found, Found::Drifted);
        assert_eq!(
            bare.observed,
            "Approved for vault through pe-kv, not registered in privatelink.vaultcore.azure.net"
        );
        assert_eq!(bare.awaiting(), crate::api::common::Awaiting::Operator);
        // Registered in another zone only: not met. Without the zone listed, a person acts.
        let wrong = private_endpoint(
            "kv.private-endpoint",
            &vault("Approved"),
            &seen(&["vault"], &["privatelink.blob.core.windows.net"]),
            &need,
            &dns(&[]),
        );
        assert_eq!(wrong.found, Found::Drifted);
        assert_eq!(wrong.awaiting(), crate::api::common::Awaiting::Person);
        assert!(
            wrong.message.as_deref().is_some_and(|m| m
                .contains("spec.privateNetworking.privateDnsZoneIds")
                && m.contains(ZONE)),
            "{wrong:?}"
        );
        // Someone else's zone group without the zone: a person, never a second group.
        let mut theirs = seen(&["vault"], &[]);
        theirs
            .values_mut()
            .for_each(|e| e.foreign_zone_group = Some("alz".into()));
        let foreign = private_endpoint(
            "kv.private-endpoint",
            &vault("Approved"),
            &theirs,
            &need,
            &dns(&[ZONE]),
        );
        assert_eq!(foreign.awaiting(), crate::api::common::Awaiting::Person);
        assert!(
            foreign
                .message
                .as_deref()
                .is_some_and(|m| m.contains("alz"))
        );
        // Zone names compare case-insensitively, as DNS does.
        let upper = private_endpoint(
            "kv.private-endpoint",
            &vault("Approved"),
            &seen(&["VAULT"], &["PrivateLink.VaultCore.Azure.Net"]),
            &need,
            &dns(&[]),
        );
        assert_eq!(upper.found, Found::Compliant, "{upper:?}");
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
