//! Microsoft.KeyVault (management plane): vault properties, defaults and the irreversible
//! soft-delete and purge-protection settings.

use serde_json::{Map, Value, json};

use crate::errors::{ArmError, ArmResult};
use crate::ids::ProviderPath;
use crate::state::{Resource, State};

fn irreversible(prop: &str, what: &str) -> ArmError {
    ArmError::bad_request(
        "BadRequest",
        format!(
            "The property \"{prop}\" cannot be set to false. Enabling the {what} for a vault is an irreversible action."
        ),
    )
}

pub fn on_put(
    st: &State,
    p: &ProviderPath,
    existing: Option<&Resource>,
    body: &mut Value,
) -> ArmResult<()> {
    let name = p.name().unwrap_or_default().to_string();
    let valid = (3..=24).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !valid {
        return Err(ArmError::bad_request(
            "VaultNameNotValid",
            format!(
                "The vault name '{name}' is invalid. A vault's name must be between 3-24 alphanumeric characters."
            ),
        ));
    }
    if body.get("tags").is_none_or(Value::is_null) {
        body["tags"] = json!({});
    }
    let props = &mut body["properties"];
    if !props.is_object() {
        return Err(ArmError::bad_request(
            "BadRequest",
            "The 'properties' of a vault are required.",
        ));
    }
    if props["tenantId"].as_str().is_none() || !props["sku"].is_object() {
        return Err(ArmError::bad_request(
            "BadRequest",
            "The vault properties 'tenantId' and 'sku' are required.",
        ));
    }
    if let Some(days) = props["softDeleteRetentionInDays"].as_i64()
        && !(7..=90).contains(&days)
    {
        return Err(ArmError::bad_request(
            "BadRequest",
            "The property \"softDeleteRetentionInDays\" must be between 7 and 90.",
        ));
    }
    let old = existing.map(|e| &e.body["properties"]);
    let was = |k: &str| old.and_then(|o| o[k].as_bool()).unwrap_or(false);
    if was("enablePurgeProtection") && props["enablePurgeProtection"].as_bool() == Some(false) {
        return Err(irreversible("enablePurgeProtection", "purge protection"));
    }
    if was("enablePurgeProtection") && props.get("enablePurgeProtection").is_none() {
        props["enablePurgeProtection"] = json!(true);
    }
    if old.is_some()
        && was("enableSoftDelete")
        && props["enableSoftDelete"].as_bool() == Some(false)
    {
        return Err(irreversible("enableSoftDelete", "soft delete"));
    }
    props["vaultUri"] = json!(crate::keyvault::vault_base(st, &name));
    props["hsmPoolResourceId"] = json!("00000000-0000-0000-0000-000000000000");
    // Key Vault stores IP rules as CIDR ranges.
    if let Some(rules) = props["networkAcls"]["ipRules"].as_array_mut() {
        for r in rules {
            if let Some(v) = r["value"].as_str()
                && v.parse::<std::net::IpAddr>().is_ok()
            {
                r["value"] = json!(format!("{v}/32"));
            }
        }
    }
    let defaults = [
        ("enableSoftDelete", json!(true)),
        ("softDeleteRetentionInDays", json!(90)),
        ("enableRbacAuthorization", json!(false)),
        ("accessPolicies", json!([])),
        ("publicNetworkAccess", json!("Enabled")),
    ];
    for (k, v) in defaults {
        if props.get(k).is_none_or(Value::is_null) {
            props[k] = v;
        }
    }
    if let Some(pec) = old.and_then(|o| o.get("privateEndpointConnections")) {
        props["privateEndpointConnections"] = pec.clone();
    }
    Ok(())
}

pub fn on_patch(
    existing: &Resource,
    patch: &Map<String, Value>,
    _merged: &mut Value,
) -> ArmResult<()> {
    let old = &existing.body["properties"];
    let new = patch.get("properties").cloned().unwrap_or(Value::Null);
    if old["enablePurgeProtection"].as_bool() == Some(true)
        && new["enablePurgeProtection"].as_bool() == Some(false)
    {
        return Err(irreversible("enablePurgeProtection", "purge protection"));
    }
    if old["enableSoftDelete"].as_bool() == Some(true)
        && new["enableSoftDelete"].as_bool() == Some(false)
    {
        return Err(irreversible("enableSoftDelete", "soft delete"));
    }
    Ok(())
}
