//! Microsoft.DocumentDB database accounts: endpoint, network and local-auth defaults, key
//! metadata.

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::fields::{default, ensure_props, keep};
use crate::clock::arm_timestamp;
use crate::errors::ArmResult;
use crate::ids::ProviderPath;
use crate::state::Resource;

/// Only database accounts are served in this namespace.
pub fn on_put(
    p: &ProviderPath,
    existing: Option<&Resource>,
    body: &mut Value,
    now: OffsetDateTime,
) -> ArmResult<()> {
    ensure_props(body);
    let name = p.name().unwrap_or_default().to_string();
    let ts = arm_timestamp(now);
    let props = &mut body["properties"];
    props["documentEndpoint"] = json!(format!("https://{name}.documents.azure.com:443/"));
    default(props, "publicNetworkAccess", json!("Enabled"));
    default(props, "minimalTlsVersion", json!("Tls12"));
    default(props, "disableLocalAuth", json!(false));
    default(props, "disableKeyBasedMetadataWriteAccess", json!(false));
    let generated = json!({"generationTime": ts});
    keep(
        props,
        existing,
        "keysMetadata",
        json!({
            "primaryMasterKey": generated, "secondaryMasterKey": generated,
            "primaryReadonlyMasterKey": generated, "secondaryReadonlyMasterKey": generated
        }),
    );
    default(props, "isVirtualNetworkFilterEnabled", json!(false));
    default(props, "ipRules", json!([]));
    default(props, "virtualNetworkRules", json!([]));
    default(props, "privateEndpointConnections", json!([]));
    keep(
        props,
        existing,
        "instanceId",
        json!(uuid::Uuid::new_v4().to_string()),
    );
    body["kind"] = body
        .get("kind")
        .cloned()
        .filter(Value::is_string)
        .unwrap_or(json!("GlobalDocumentDB"));
    Ok(())
}
