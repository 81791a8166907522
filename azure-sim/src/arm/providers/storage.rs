//! Microsoft.Storage: accounts (computed endpoints, encryption, CMK key identifiers), the implicit
//! blob service, containers and immutability policies (Unlocked / Locked rules).

use axum::http::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::arm::registry::TypeSpec;
use crate::clock::arm_timestamp;
use crate::errors::{ArmError, ArmResult};
use crate::ids::ProviderPath;
use crate::state::{Resource, State};

pub const ACCOUNT: &str = "Microsoft.Storage/storageAccounts";
pub const BLOB_SERVICE: &str = "Microsoft.Storage/storageAccounts/blobServices";
pub const FILE_SERVICE: &str = "Microsoft.Storage/storageAccounts/fileServices";
pub const CONTAINER: &str = "Microsoft.Storage/storageAccounts/blobServices/containers";
pub const POLICY: &str =
    "Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies";

pub fn on_put(
    st: &State,
    spec: &TypeSpec,
    p: &ProviderPath,
    existing: Option<&Resource>,
    body: &mut Value,
    now: OffsetDateTime,
) -> ArmResult<()> {
    match spec.name {
        ACCOUNT => account(st, p, existing, body, now),
        BLOB_SERVICE | FILE_SERVICE => {
            keep_omitted_settings(existing, body);
            Ok(())
        }
        CONTAINER => container(p, existing, body, now),
        POLICY => policy(existing, body),
        _ => Ok(()),
    }
}

fn account(
    st: &State,
    p: &ProviderPath,
    existing: Option<&Resource>,
    body: &mut Value,
    now: OffsetDateTime,
) -> ArmResult<()> {
    let name = p.name().unwrap_or_default().to_string();
    let valid = (3..=24).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !valid {
        return Err(ArmError::bad_request(
            "AccountNameInvalid",
            format!(
                "{name} is not a valid storage account name. Storage account name must be between 3 and 24 characters in length and use numbers and lower-case letters only."
            ),
        ));
    }
    let Some(sku) = body["sku"]["name"].as_str().map(str::to_string) else {
        return Err(ArmError::bad_request(
            "MissingRequiredProperty",
            "The required property 'sku.name' is missing from the request.",
        ));
    };
    if body.get("kind").and_then(Value::as_str).is_none() {
        return Err(ArmError::bad_request(
            "MissingRequiredProperty",
            "The required property 'kind' is missing from the request.",
        ));
    }
    let tier = if sku.starts_with("Premium") {
        "Premium"
    } else {
        "Standard"
    };
    body["sku"]["tier"] = json!(tier);
    if !body["properties"].is_object() {
        body["properties"] = json!({});
    }
    let old = existing.map(|e| &e.body["properties"]);
    // Create-time only: a later write cannot change infrastructure encryption.
    if let Some(old) = old {
        let before = old["encryption"]["requireInfrastructureEncryption"]
            .as_bool()
            .unwrap_or(false);
        let after = body["properties"]["encryption"]["requireInfrastructureEncryption"].as_bool();
        if after.is_some_and(|a| a != before) {
            return Err(ArmError::bad_request(
                "InvalidRequestPropertyValue",
                "The property 'requireInfrastructureEncryption' can only be set when the account is created.",
            ));
        }
    }
    let ts = arm_timestamp(now);
    let props = &mut body["properties"];
    let keep = |k: &str, default: Value| old.and_then(|o| o.get(k).cloned()).unwrap_or(default);
    props["creationTime"] = keep("creationTime", json!(ts));
    props["keyCreationTime"] = keep("keyCreationTime", json!({"key1": ts, "key2": ts}));
    if props.get("supportsHttpsTrafficOnly").is_none() {
        props["supportsHttpsTrafficOnly"] = json!(true);
    }
    if props.get("minimumTlsVersion").is_none() {
        props["minimumTlsVersion"] = json!("TLS1_0");
    }
    if props.get("allowBlobPublicAccess").is_none() {
        props["allowBlobPublicAccess"] = json!(false);
    }
    if !props["networkAcls"].is_object() {
        props["networkAcls"] = json!({"bypass": "AzureServices", "virtualNetworkRules": [], "ipRules": [], "defaultAction": "Allow"});
    }
    encryption(st, props, old, &ts);
    let location = body["location"].as_str().unwrap_or("eastus").to_string();
    let props = &mut body["properties"];
    props["primaryLocation"] = json!(location);
    props["statusOfPrimary"] = json!("available");
    if sku.contains("GRS") {
        props["secondaryLocation"] = json!(paired_region(&location));
        props["statusOfSecondary"] = json!("available");
    }
    props["primaryEndpoints"] = endpoints(&name, &props["routingPreference"]);
    if props.get("privateEndpointConnections").is_none() {
        props["privateEndpointConnections"] = old
            .and_then(|o| o.get("privateEndpointConnections").cloned())
            .unwrap_or_else(|| json!([]));
    }
    Ok(())
}

fn paired_region(location: &str) -> &'static str {
    match location {
        "eastus" => "westus",
        "eastus2" => "centralus",
        "westus" => "eastus",
        "westus2" => "westcentralus",
        "centralus" => "eastus2",
        "northeurope" => "westeurope",
        "westeurope" => "northeurope",
        _ => "westus",
    }
}

fn endpoints(name: &str, routing: &Value) -> Value {
    let all = ["web", "dfs", "blob", "file", "queue", "table"];
    let set = |suffix: &str, services: &[&str]| {
        let mut m = serde_json::Map::new();
        for s in services {
            m.insert(
                (*s).to_string(),
                json!(format!("https://{name}{suffix}.{s}.core.windows.net/")),
            );
        }
        Value::Object(m)
    };
    let mut out = set("", &all);
    if routing["publishMicrosoftEndpoints"].as_bool() == Some(true) {
        out["microsoftEndpoints"] = set("-microsoftrouting", &all);
    }
    if routing["publishInternetEndpoints"].as_bool() == Some(true) {
        out["internetEndpoints"] = set("-internetrouting", &["web", "dfs", "blob", "file"]);
    }
    out
}

/// Encryption defaults, `lastEnabledTime` per service, and the versioned key identifier a
/// customer-managed key with auto-rotation (empty `keyversion`) resolves to.
fn encryption(st: &State, props: &mut Value, old: Option<&Value>, ts: &str) {
    if !props["encryption"].is_object() {
        props["encryption"] = json!({
            "services": {"blob": {"keyType": "Account", "enabled": true}, "file": {"keyType": "Account", "enabled": true}},
            "keySource": "Microsoft.Storage"
        });
    }
    let enc = &mut props["encryption"];
    if enc.get("keySource").is_none() {
        enc["keySource"] = json!("Microsoft.Storage");
    }
    if let Some(services) = enc.get_mut("services").and_then(Value::as_object_mut) {
        for (name, svc) in services.iter_mut() {
            if svc["enabled"].as_bool() == Some(true) {
                let prev = old
                    .and_then(|o| o["encryption"]["services"][name]["lastEnabledTime"].as_str())
                    .map(str::to_string);
                svc["lastEnabledTime"] = json!(prev.unwrap_or_else(|| ts.to_string()));
            }
        }
    }
    let cmk = enc["keySource"]
        .as_str()
        .is_some_and(|s| s.eq_ignore_ascii_case("Microsoft.Keyvault"));
    if !cmk {
        if let Some(o) = enc.as_object_mut() {
            o.remove("keyvaultproperties");
        }
        return;
    }
    let Some(kvp) = enc.get_mut("keyvaultproperties").filter(|k| k.is_object()) else {
        return;
    };
    let uri = kvp["keyvaulturi"]
        .as_str()
        .unwrap_or_default()
        .trim_end_matches('/')
        .to_string();
    let key = kvp["keyname"].as_str().unwrap_or_default().to_string();
    let pinned = kvp["keyversion"]
        .as_str()
        .filter(|v| !v.is_empty())
        .map(str::to_string);
    let version = pinned.or_else(|| crate::keyvault::latest_version(st, &uri, &key));
    if let Some(v) = version {
        kvp["currentVersionedKeyIdentifier"] = json!(format!("{uri}/keys/{key}/{v}"));
        kvp["lastKeyRotationTimestamp"] = json!(ts);
    }
}

fn container(
    p: &ProviderPath,
    existing: Option<&Resource>,
    body: &mut Value,
    now: OffsetDateTime,
) -> ArmResult<()> {
    let name = p.name().unwrap_or_default();
    let valid = (3..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.contains("--");
    if !valid && name != "$logs" && name != "$web" {
        return Err(ArmError::bad_request(
            "ContainerNameInvalid",
            format!(
                "The specified container name '{name}' is invalid: 3-63 lower-case letters, digits and single hyphens."
            ),
        ));
    }
    if !body["properties"].is_object() {
        body["properties"] = json!({});
    }
    let old = existing.map(|e| &e.body["properties"]);
    let props = &mut body["properties"];
    if props.get("publicAccess").is_none() {
        props["publicAccess"] = json!("None");
    }
    props["lastModifiedTime"] = json!(arm_timestamp(now));
    props["leaseStatus"] = json!("Unlocked");
    props["leaseState"] = json!("Available");
    props["hasLegalHold"] = json!(false);
    for k in ["hasImmutabilityPolicy", "immutabilityPolicy"] {
        if let Some(v) = old.and_then(|o| o.get(k)) {
            props[k] = v.clone();
        }
    }
    if props.get("hasImmutabilityPolicy").is_none() {
        props["hasImmutabilityPolicy"] = json!(false);
    }
    Ok(())
}

fn policy(existing: Option<&Resource>, body: &mut Value) -> ArmResult<()> {
    let days = body["properties"]["immutabilityPeriodSinceCreationInDays"].as_i64();
    if let Some(d) = days
        && !(1..=146_000).contains(&d)
    {
        return Err(ArmError::bad_request(
            "InvalidImmutabilityPolicyPeriod",
            "immutabilityPeriodSinceCreationInDays must be between 1 and 146000.",
        ));
    }
    let state = existing
        .and_then(|e| e.body["properties"]["state"].as_str())
        .unwrap_or("Unlocked")
        .to_string();
    if state == "Locked" {
        return Err(ArmError::new(
            StatusCode::CONFLICT,
            "ContainerImmutabilityPolicyLocked",
            "The immutability policy is Locked: it can only be extended (POST .../extend), not replaced.",
        ));
    }
    if !body["properties"].is_object() {
        body["properties"] = json!({});
    }
    body["properties"]["state"] = json!(state);
    Ok(())
}

pub fn after_write(st: &mut State, spec: &TypeSpec, r: &Resource, now: OffsetDateTime) {
    match spec.name {
        ACCOUNT => {
            // Every account has its blob and file services; clients address them as `default`.
            let blob = format!("{}/blobServices/default", r.id);
            if st.get(&blob).is_none() {
                let body = json!({
                    "sku": r.body["sku"],
                    "properties": {
                        "cors": {"corsRules": []},
                        "deleteRetentionPolicy": {"enabled": false},
                        "containerDeleteRetentionPolicy": {"enabled": false},
                        "isVersioningEnabled": false,
                        "changeFeed": {"enabled": false}
                    }
                });
                super::insert_implicit(st, BLOB_SERVICE, &blob, body);
            }
            let file = format!("{}/fileServices/default", r.id);
            if st.get(&file).is_none() {
                // New accounts get share soft delete for 7 days, as Azure enables by default.
                let body = json!({
                    "sku": r.body["sku"],
                    "properties": {
                        "cors": {"corsRules": []},
                        "shareDeleteRetentionPolicy": {"enabled": true, "days": 7},
                        "protocolSettings": {"smb": {}}
                    }
                });
                super::insert_implicit(st, FILE_SERVICE, &file, body);
            }
        }
        POLICY => reflect_policy_on_container(st, r, now),
        _ => {}
    }
}

/// The Blob and File services' "Set Service Properties" keep every setting a request leaves
/// out: "If an element is not specified in the request, the existing setting for that
/// functionality is preserved" (Microsoft's Storage REST reference, Set Blob Service
/// Properties and Set File Service Properties). A setting the request names replaces that
/// setting whole.
fn keep_omitted_settings(existing: Option<&Resource>, body: &mut Value) {
    let Some(existing) = existing else {
        return;
    };
    let Some(before) = existing.body["properties"].as_object() else {
        return;
    };
    if !body["properties"].is_object() {
        body["properties"] = json!({});
    }
    if let Some(props) = body["properties"].as_object_mut() {
        for (key, value) in before {
            props.entry(key.clone()).or_insert_with(|| value.clone());
        }
    }
}

/// A container shows whether it has an immutability policy and the policy's state.
pub fn reflect_policy_on_container(st: &mut State, policy: &Resource, now: OffsetDateTime) {
    let container_id = policy
        .id
        .rsplit_once("/immutabilityPolicies/")
        .map(|(c, _)| c.to_string())
        .unwrap_or_default();
    if let Some(c) = st.get_mut(&container_id) {
        let props = &mut c.body["properties"];
        props["hasImmutabilityPolicy"] = json!(true);
        props["immutabilityPolicy"] = json!({
            "etag": policy.etag,
            "properties": policy.body["properties"],
            "updateHistory": [{"update": "put", "timestamp": arm_timestamp(now)}]
        });
    }
}

pub fn on_delete(st: &mut State, spec: &TypeSpec, r: &Resource) -> ArmResult<()> {
    match spec.name {
        POLICY => {
            if r.body["properties"]["state"].as_str() == Some("Locked") {
                return Err(ArmError::new(
                    StatusCode::CONFLICT,
                    "ContainerImmutabilityPolicyLocked",
                    "A Locked immutability policy cannot be deleted.",
                ));
            }
            let container_id =
                r.id.rsplit_once("/immutabilityPolicies/")
                    .map(|(c, _)| c.to_string())
                    .unwrap_or_default();
            if let Some(c) = st.get_mut(&container_id)
                && let Some(props) = c.body["properties"].as_object_mut()
            {
                props.insert("hasImmutabilityPolicy".into(), json!(false));
                props.remove("immutabilityPolicy");
            }
            Ok(())
        }
        CONTAINER => {
            let locked = st
                .get(&format!("{}/immutabilityPolicies/default", r.id))
                .is_some_and(|p| p.body["properties"]["state"].as_str() == Some("Locked"));
            if locked {
                return Err(ArmError::new(
                    StatusCode::CONFLICT,
                    "ContainerProtectedFromDeletion",
                    "The container is protected by a Locked immutability policy and cannot be deleted.",
                ));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
