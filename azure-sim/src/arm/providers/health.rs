//! Microsoft.HealthcareApis: workspaces, FHIR and DICOM services (network access follows the
//! workspace; authentication defaults; service URL).

use serde_json::{Value, json};

use super::fields::{default, ensure_props};
use crate::arm::registry::TypeSpec;
use crate::errors::ArmResult;
use crate::ids::ProviderPath;
use crate::state::{Resource, State};

/// FHIR and DICOM services take `publicNetworkAccess` from their workspace (read-only on the
/// service in api-version 2024-03-31).
fn workspace_network_access(st: &State, p: &ProviderPath) -> Value {
    st.get(&p.parent_id())
        .and_then(|w| w.body["properties"]["publicNetworkAccess"].as_str())
        .map_or_else(|| json!("Enabled"), |v| json!(v))
}

/// A workspace's network setting reaches the services in it.
pub fn after_write(st: &mut State, spec: &TypeSpec, r: &Resource) {
    if spec.name != "Microsoft.HealthcareApis/workspaces" {
        return;
    }
    let access = r.body["properties"]["publicNetworkAccess"].clone();
    for child in st.descendants(&r.id) {
        if let Some(c) = st.resources.get_mut(&child)
            && (c.type_name.ends_with("/fhirservices") || c.type_name.ends_with("/dicomservices"))
            && c.body["properties"].is_object()
        {
            c.body["properties"]["publicNetworkAccess"] = access.clone();
        }
    }
}

pub fn on_put(st: &State, spec: &TypeSpec, p: &ProviderPath, body: &mut Value) -> ArmResult<()> {
    ensure_props(body);
    let tenant = st.tenant_id.as_str();
    let name = p.name().unwrap_or_default().to_string();
    let props = &mut body["properties"];
    match spec.name {
        "Microsoft.HealthcareApis/workspaces" => {
            default(props, "publicNetworkAccess", json!("Enabled"));
            default(props, "privateEndpointConnections", json!([]));
        }
        "Microsoft.HealthcareApis/workspaces/fhirservices" => {
            props["publicNetworkAccess"] = workspace_network_access(st, p);
            default(props, "privateEndpointConnections", json!([]));
            props["eventState"] = json!("Disabled");
        }
        "Microsoft.HealthcareApis/workspaces/dicomservices" => {
            props["publicNetworkAccess"] = workspace_network_access(st, p);
            default(props, "privateEndpointConnections", json!([]));
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
