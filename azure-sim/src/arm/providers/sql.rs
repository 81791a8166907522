//! Microsoft.Sql: servers (write-only password, TLS values), server keys, encryption protector,
//! auditing, firewall rules, Entra administrator and Entra-only authentication, Defender alert
//! policies, vulnerability assessment (express and classic), databases with TDE and backup
//! retention, and the singletons every server and database has from the start.

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::fields::{default, ensure_props, keep};
use super::insert_implicit;
use crate::arm::registry::TypeSpec;
use crate::clock::arm_timestamp;
use crate::errors::{ArmError, ArmResult};
use crate::ids::ProviderPath;
use crate::state::{Resource, State};

pub const SERVER: &str = "Microsoft.Sql/servers";
pub const DATABASE: &str = "Microsoft.Sql/servers/databases";
pub const VA_CLASSIC: &str = "Microsoft.Sql/servers/vulnerabilityAssessments";
pub const VA_EXPRESS: &str = "Microsoft.Sql/servers/sqlVulnerabilityAssessments";

pub fn on_put(
    st: &State,
    spec: &TypeSpec,
    p: &ProviderPath,
    existing: Option<&Resource>,
    body: &mut Value,
    now: OffsetDateTime,
) -> ArmResult<()> {
    ensure_props(body);
    let name = p.name().unwrap_or_default().to_string();
    let ts = arm_timestamp(now);
    let props = &mut body["properties"];
    match spec.name {
        "Microsoft.Sql/servers" => {
            if let Some(v) = props["minimalTlsVersion"].as_str()
                && !["None", "1.0", "1.1", "1.2", "1.3"].contains(&v)
            {
                return Err(ArmError::bad_request(
                    "InvalidMinimalTlsVersion",
                    format!(
                        "The minimal TLS version '{v}' is not valid. Valid values are 'None', '1.0', '1.1', '1.2' and '1.3'."
                    ),
                ));
            }
            if let Some(o) = props.as_object_mut() {
                // Write-only: never echoed back.
                o.remove("administratorLoginPassword");
            }
            props["fullyQualifiedDomainName"] = json!(format!("{name}.database.windows.net"));
            props["state"] = json!("Ready");
            default(props, "version", json!("12.0"));
            default(props, "publicNetworkAccess", json!("Enabled"));
            default(props, "minimalTlsVersion", json!("1.2"));
            default(props, "restrictOutboundNetworkAccess", json!("Disabled"));
            body["kind"] = json!("v12.0");
        }
        "Microsoft.Sql/servers/keys" => {
            let key_type = props["serverKeyType"]
                .as_str()
                .unwrap_or("ServiceManaged")
                .to_string();
            body["kind"] = json!(key_type.to_ascii_lowercase());
            let props = &mut body["properties"];
            keep(props, existing, "creationDate", json!(ts));
            default(props, "autoRotationEnabled", json!(false));
            if key_type == "AzureKeyVault" {
                let parts: Vec<&str> = name.split('_').collect();
                if parts.len() != 3 || props["uri"].as_str().is_none() {
                    return Err(ArmError::bad_request(
                        "InvalidServerKeyName",
                        "An AzureKeyVault server key is named '{vault}_{key}_{version}' and needs properties.uri.",
                    ));
                }
                props["subregion"] = json!("");
                // A certificate-style thumbprint derived from the key URI (no real key material).
                let uri = props["uri"].as_str().unwrap_or_default().to_string();
                let digest =
                    ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, uri.as_bytes());
                props["thumbprint"] = json!(
                    digest
                        .as_ref()
                        .iter()
                        .map(|b| format!("{b:02X}"))
                        .collect::<String>()
                );
            }
        }
        "Microsoft.Sql/servers/encryptionProtector" => {
            let key_type = props["serverKeyType"]
                .as_str()
                .unwrap_or("ServiceManaged")
                .to_string();
            default(props, "serverKeyName", json!("ServiceManaged"));
            default(props, "autoRotationEnabled", json!(false));
            props["subregion"] = json!("");
            // `uri` and `thumbprint` are read-only ("The URI of the server key"): Azure copies
            // them from the server key the protector names (EncryptionProtectors.json,
            // EncryptionProtectorGet.json), and answers 404 ServerKeyNotFound for a key the
            // server does not have.
            if let Some(o) = props.as_object_mut() {
                o.remove("uri");
                o.remove("thumbprint");
            }
            if key_type == "AzureKeyVault" {
                let key_name = props["serverKeyName"].as_str().unwrap_or_default();
                let key_id = format!("{}/keys/{key_name}", p.parent_id());
                let Some(key) = st.get(&key_id) else {
                    return Err(ArmError::new(
                        axum::http::StatusCode::NOT_FOUND,
                        "ServerKeyNotFound",
                        "The requested server key was not found on the current subscription.",
                    ));
                };
                let key_props = key.body["properties"].clone();
                for k in ["uri", "thumbprint"] {
                    if !key_props[k].is_null() {
                        props[k] = key_props[k].clone();
                    }
                }
            }
            body["kind"] = json!(if key_type == "AzureKeyVault" {
                "azurekeyvault"
            } else {
                "servicemanaged"
            });
        }
        "Microsoft.Sql/servers/auditingSettings" => {
            if let Some(o) = props.as_object_mut() {
                o.remove("storageAccountAccessKey");
            }
            default(props, "state", json!("Disabled"));
            default(props, "retentionDays", json!(0));
            default(props, "auditActionsAndGroups", json!([]));
            default(props, "isAzureMonitorTargetEnabled", json!(false));
        }
        "Microsoft.Sql/servers/firewallRules" => {
            for k in ["startIpAddress", "endIpAddress"] {
                let ok = props[k]
                    .as_str()
                    .is_some_and(|v| v.parse::<std::net::Ipv4Addr>().is_ok());
                if !ok {
                    return Err(ArmError::bad_request(
                        "FirewallRuleNotIPv4Address",
                        format!("The firewall rule needs an IPv4 address in properties.{k}."),
                    ));
                }
            }
        }
        "Microsoft.Sql/servers/administrators" => {
            if props["login"].as_str().is_none() || props["sid"].as_str().is_none() {
                return Err(ArmError::bad_request(
                    "InvalidServerAADAdminParameters",
                    "An Entra administrator needs properties.login and properties.sid.",
                ));
            }
            props["administratorType"] = json!("ActiveDirectory");
            default(props, "tenantId", json!(st.tenant_id));
        }
        "Microsoft.Sql/servers/azureADOnlyAuthentications"
            if props["azureADOnlyAuthentication"].as_bool().is_none() =>
        {
            return Err(ArmError::bad_request(
                "InvalidRequestContent",
                "properties.azureADOnlyAuthentication (true or false) is required.",
            ));
        }
        "Microsoft.Sql/servers/securityAlertPolicies" => {
            let state = props["state"].as_str().unwrap_or_default();
            if state != "Enabled" && state != "Disabled" {
                return Err(ArmError::bad_request(
                    "InvalidRequestContent",
                    "properties.state must be 'Enabled' or 'Disabled'.",
                ));
            }
            keep(props, existing, "creationTime", json!(ts));
            default(props, "disabledAlerts", json!([]));
            default(props, "emailAddresses", json!([]));
            default(props, "emailAccountAdmins", json!(false));
            default(props, "retentionDays", json!(0));
        }
        // Classic (storage-based) vulnerability assessment: the storage key or SAS is write-only
        // and the recorded minimal create reports recurring scans on, without admin emails.
        VA_CLASSIC => {
            if props["storageContainerPath"]
                .as_str()
                .is_none_or(str::is_empty)
            {
                return Err(ArmError::bad_request(
                    "InvalidRequestContent",
                    "A server vulnerability assessment needs properties.storageContainerPath.",
                ));
            }
            if let Some(o) = props.as_object_mut() {
                o.remove("storageAccountAccessKey");
                o.remove("storageContainerSasKey");
            }
            let scans = &mut props["recurringScans"];
            if !scans.is_object() {
                *scans = json!({});
            }
            default(scans, "isEnabled", json!(true));
            default(scans, "emailSubscriptionAdmins", json!(false));
            default(scans, "emails", json!([]));
        }
        // Express configuration (SqlVulnerabilityAssessmentsSettings.json): state Enabled or
        // Disabled, with the error codes that file lists.
        VA_EXPRESS => {
            let state = props["state"].as_str().unwrap_or_default().to_string();
            if state.is_empty() {
                return Err(ArmError::bad_request(
                    "InvalidSqlVulnerabilityAssessmentSettingsInput",
                    "The SQL vulnerability assessment setting input is null or empty",
                ));
            }
            if state != "Enabled" && state != "Disabled" {
                return Err(ArmError::bad_request(
                    "SqlVulnerabilityAssessmentInvalidUserSuppliedParameter",
                    "An invalid parameter value was provided by the client.",
                ));
            }
            let classic = format!("{}/vulnerabilityAssessments/default", p.parent_id());
            let classic_on = st.get(&classic).is_some_and(|c| {
                c.body["properties"]["storageContainerPath"]
                    .as_str()
                    .is_some_and(|s| !s.is_empty())
            });
            if state == "Enabled" && classic_on {
                return Err(ArmError::new(
                    axum::http::StatusCode::CONFLICT,
                    "SqlVulnerabilityAssessmentStoragefullApiIsEnabled",
                    "Vulnerability Assessment is enabled on this server or one of its underlying databases with an incompatible version. Additional troubleshooting information can be found https://aka.ms/SQLVAStoragelessDocumentation.",
                ));
            }
        }
        DATABASE => {
            props["status"] = json!("Online");
            keep(
                props,
                existing,
                "databaseId",
                json!(uuid::Uuid::new_v4().to_string()),
            );
            keep(props, existing, "creationDate", json!(ts));
            default(props, "requestedBackupStorageRedundancy", json!("Geo"));
            let redundancy = props["requestedBackupStorageRedundancy"].clone();
            props["currentBackupStorageRedundancy"] = redundancy;
            // Ledger is chosen at creation only.
            let ledger = existing
                .map(|e| e.body["properties"]["isLedgerOn"].clone())
                .filter(|v| v.is_boolean());
            props["isLedgerOn"] =
                ledger.unwrap_or_else(|| json!(props["isLedgerOn"].as_bool().unwrap_or(false)));
        }
        "Microsoft.Sql/servers/databases/transparentDataEncryption" => {
            let state = props["state"].as_str().unwrap_or_default();
            if state != "Enabled" && state != "Disabled" {
                return Err(ArmError::bad_request(
                    "InvalidRequestContent",
                    "properties.state must be 'Enabled' or 'Disabled'.",
                ));
            }
        }
        "Microsoft.Sql/servers/databases/backupShortTermRetentionPolicies" => {
            let days = props["retentionDays"].as_i64().unwrap_or(7);
            if !(1..=35).contains(&days) {
                return Err(ArmError::bad_request(
                    "InvalidBackupRetentionPeriod",
                    "retentionDays must be between 1 and 35.",
                ));
            }
            props["retentionDays"] = json!(days);
            default(props, "diffBackupIntervalInHours", json!(12));
        }
        "Microsoft.Sql/servers/databases/backupLongTermRetentionPolicies" => {
            for k in ["weeklyRetention", "monthlyRetention", "yearlyRetention"] {
                default(props, k, json!("PT0S"));
            }
            default(props, "weekOfYear", json!(0));
        }
        _ => {}
    }
    Ok(())
}

/// Every server has its auditing, alert, Entra-only and encryption-protector singletons, and every
/// database its TDE and backup policies, before anyone writes them.
pub fn after_write(st: &mut State, spec: &TypeSpec, r: &Resource) {
    let singletons: Vec<(&str, &str, Value)> = match spec.name {
        SERVER => vec![
            (
                "auditingSettings/default",
                "Microsoft.Sql/servers/auditingSettings",
                json!({"state": "Disabled", "retentionDays": 0, "auditActionsAndGroups": [], "isAzureMonitorTargetEnabled": false}),
            ),
            (
                "securityAlertPolicies/Default",
                "Microsoft.Sql/servers/securityAlertPolicies",
                json!({"state": "Disabled", "disabledAlerts": [], "emailAddresses": [], "emailAccountAdmins": false, "retentionDays": 0}),
            ),
            (
                "azureADOnlyAuthentications/Default",
                "Microsoft.Sql/servers/azureADOnlyAuthentications",
                json!({"azureADOnlyAuthentication": false}),
            ),
            (
                "sqlVulnerabilityAssessments/default",
                VA_EXPRESS,
                json!({"state": "Disabled"}),
            ),
            (
                "encryptionProtector/current",
                "Microsoft.Sql/servers/encryptionProtector",
                json!({"serverKeyType": "ServiceManaged", "serverKeyName": "ServiceManaged", "autoRotationEnabled": false, "subregion": ""}),
            ),
        ],
        DATABASE => vec![
            (
                "transparentDataEncryption/current",
                "Microsoft.Sql/servers/databases/transparentDataEncryption",
                json!({"state": "Enabled"}),
            ),
            (
                "backupShortTermRetentionPolicies/default",
                "Microsoft.Sql/servers/databases/backupShortTermRetentionPolicies",
                json!({"retentionDays": 7, "diffBackupIntervalInHours": 12}),
            ),
            (
                "backupLongTermRetentionPolicies/default",
                "Microsoft.Sql/servers/databases/backupLongTermRetentionPolicies",
                json!({"weeklyRetention": "PT0S", "monthlyRetention": "PT0S", "yearlyRetention": "PT0S", "weekOfYear": 0}),
            ),
        ],
        _ => return,
    };
    for (suffix, type_name, props) in singletons {
        let id = format!("{}/{suffix}", r.id);
        if st.get(&id).is_none() {
            let mut body = json!({"properties": props});
            if type_name.ends_with("/encryptionProtector") {
                body["kind"] = json!("servicemanaged");
            }
            insert_implicit(st, type_name, &id, body);
        }
    }
}
