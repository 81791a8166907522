//! Microsoft.HealthcareApis: workspaces, FHIR and DICOM services (public network access derived
//! from the workspace's private link; authentication defaults; service URL).

use serde_json::{Value, json};

use super::fields::{default, ensure_props};
use crate::arm::registry::TypeSpec;
use crate::errors::ArmResult;
use crate::ids::ProviderPath;
use crate::state::{Resource, State};

pub const WORKSPACE: &str = "Microsoft.HealthcareApis/workspaces";

/// `publicNetworkAccess` is read-only on the workspace, FHIR and DICOM in api-version 2024-03-31
/// (the shared `ResourcePublicNetworkAccess` definition of healthcare-apis.json is
/// `readOnly: true`): private link is configured at the workspace level for every service in it,
/// and "when an approved private endpoint is created for Azure Health Data Services, public
/// traffic to it is automatically disabled" (Microsoft Learn, "Configure Private Link for Azure
/// Health Data Services"). Whatever a client sends is ignored.
fn derived_access(workspace: Option<&Value>) -> Value {
    let approved = workspace
        .and_then(|w| w["properties"]["privateEndpointConnections"].as_array())
        .into_iter()
        .flatten()
        .any(|c| {
            c["properties"]["privateLinkServiceConnectionState"]["status"]
                .as_str()
                .is_some_and(|s| s.eq_ignore_ascii_case("Approved"))
        });
    json!(if approved { "Disabled" } else { "Enabled" })
}

/// Re-derives a workspace's public network access, and that of every service in it, after its
/// private endpoint connections changed.
pub fn sync_network_access(st: &mut State, workspace_id: &str) {
    let Some(ws) = st.get_mut(workspace_id) else {
        return;
    };
    if ws.type_name != WORKSPACE || !ws.body["properties"].is_object() {
        return;
    }
    let access = derived_access(Some(&ws.body));
    ws.body["properties"]["publicNetworkAccess"] = access.clone();
    let id = ws.id.clone();
    for child in st.descendants(&id) {
        if let Some(c) = st.resources.get_mut(&child)
            && (c.type_name.ends_with("/fhirservices") || c.type_name.ends_with("/dicomservices"))
            && c.body["properties"].is_object()
        {
            c.body["properties"]["publicNetworkAccess"] = access.clone();
        }
    }
}

/// A workspace's network setting reaches the services in it.
pub fn after_write(st: &mut State, spec: &TypeSpec, r: &Resource) {
    if spec.name == WORKSPACE {
        sync_network_access(st, &r.id);
    }
}

pub fn on_put(
    st: &State,
    spec: &TypeSpec,
    p: &ProviderPath,
    existing: Option<&Resource>,
    body: &mut Value,
) -> ArmResult<()> {
    ensure_props(body);
    // Read-only: the connections are the private endpoints' doing, never the client's.
    body["properties"]["privateEndpointConnections"] = existing
        .map(|e| e.body["properties"]["privateEndpointConnections"].clone())
        .filter(Value::is_array)
        .unwrap_or_else(|| json!([]));
    let tenant = st.tenant_id.as_str();
    let name = p.name().unwrap_or_default().to_string();
    let props = &mut body["properties"];
    match spec.name {
        WORKSPACE => {
            props["publicNetworkAccess"] = derived_access(existing.map(|e| &e.body));
        }
        "Microsoft.HealthcareApis/workspaces/fhirservices" => {
            props["publicNetworkAccess"] = derived_access(st.get(&p.parent_id()).map(|w| &w.body));
            props["eventState"] = json!("Disabled");
        }
        "Microsoft.HealthcareApis/workspaces/dicomservices" => {
            props["publicNetworkAccess"] = derived_access(st.get(&p.parent_id()).map(|w| &w.body));
            props["eventState"] = json!("Disabled");
            default(
                props,
                "authenticationConfiguration",
                json!({
                    "audiences": ["https://azurehealthcareapis.com/", "https://azurehealthcareapis.com"],
                    "authority": format!("https://login.microsoftonline.com/{tenant}")
                }),
            );
            let ws = p.names.first().cloned().unwrap_or_default();
            props["serviceUrl"] =
                json!(format!("https://{ws}-{name}.dicom.azurehealthcareapis.com"));
        }
        _ => {}
    }
    Ok(())
}
