//! Tests of the storage evaluator and planner, against recorded and hand-built accounts.

use std::collections::BTreeMap;

use k8s_openapi::jiff::Timestamp;

use super::evaluate::sas_days;
use super::*;
use crate::azure::insights::DiagnosticSetting;
use crate::azure::keyvault::RotationPolicy;
use crate::azure::storage::{
    BlobServiceProperties, ChangeFeed, FileServiceProperties, ProtocolSettings, RetentionPolicy,
    SmbSettings, StorageAccount,
};
use crate::controls::finding::{Finding, Found};

/// The control ids this module's evaluator reports, for the catalog coverage test.
pub(crate) fn evaluated_ids() -> Vec<&'static str> {
    evaluate(&expectations(), &compliant())
        .iter()
        .map(Finding::id)
        .collect()
}
use crate::azure::insights::{DiagnosticSettingProperties, LogSetting};
use crate::azure::storage::ConnectionState;
use crate::catalog::Remediation;

const ACCOUNT: &str = "/subscriptions/6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/streferral";
const LAW: &str = "/subscriptions/6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/law";
const PE: &str = "/subscriptions/6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b/resourceGroups/rg/providers/Microsoft.Network/privateEndpoints/pe-streferral-blob";

fn expectations() -> StorageExpectations {
    StorageExpectations {
        network_bypass: "AzureServices".into(),
        allowed_ip_ranges: vec![],
        private_endpoint_groups: vec!["blob".into()],
        endpoint_dns: crate::controls::common::fixtures::dns(&["blob"]),
        key: ExpectedKey {
            vault_uri: "https://kv-clinical.vault.azure.net/".into(),
            vault_id:
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-clinical"
                    .into(),
            key_name: "referral-cmk".into(),
            user_assigned_identity: None,
            rotate_after_days: 90,
            rotation_policy: RotationPolicy::new("P90D", "P1Y", "P30D"),
        },
        soft_delete_days: 14,
        log_analytics_workspace_id: LAW.into(),
        diagnostic_services: vec!["blob".into()],
        category_groups: vec!["audit".into()],
        categories: vec![],
        classification_tag: ("data-classification".into(), "phi".into()),
        file_shares: true,
    }
}

fn now() -> Timestamp {
    "2026-11-22T08:00:00Z".parse().expect("timestamp")
}

/// The recorded `StorageAccountGetPropertiesCMKEnabled` response, as Azure returns it.
fn recorded() -> StorageObservation {
    let example: serde_json::Value = serde_json::from_str(include_str!(
        "../../../../shared/azure-rest-examples/Microsoft.Storage/2025-01-01/StorageAccountGetPropertiesCMKEnabled.json"
    ))
    .expect("example JSON");
    let account: StorageAccount =
        serde_json::from_value(example["responses"]["200"]["body"].clone())
            .expect("a storage account");
    StorageObservation {
        account,
        blob_service: Some(BlobServiceProperties::default()),
        file_service: None,
        diagnostics: BTreeMap::new(),
        latest_key_version: None,
        key_bundle: None,
        key_access: None,
        key_rotation_policy: None,
        endpoints: BTreeMap::new(),
        now: now(),
    }
}

/// A storage account that meets every control this module evaluates.
fn compliant() -> StorageObservation {
    let json = serde_json::json!({
        "id": ACCOUNT, "name": "streferral", "location": "eastus2",
        "sku": {"name": "Standard_RAGZRS"},
        "tags": {"data-classification": "phi", "owner": "radiology"},
        "identity": {"type": "SystemAssigned", "principalId": "911871cc-ffd1-4fc4-ac11-7a316433ea66"},
        "properties": {
            "minimumTlsVersion": "TLS1_2", "supportsHttpsTrafficOnly": true, "publicNetworkAccess": "Disabled",
            "networkAcls": {"bypass": "AzureServices", "defaultAction": "Deny", "ipRules": [], "virtualNetworkRules": []},
            "allowBlobPublicAccess": false, "allowSharedKeyAccess": false, "defaultToOAuthAuthentication": true,
            "allowCrossTenantReplication": false,
            "keyPolicy": {"keyExpirationPeriodInDays": 60},
            "sasPolicy": {"sasExpirationPeriod": "1.00:00:00", "expirationAction": "Block"},
            "encryption": {"keySource": "Microsoft.Keyvault", "requireInfrastructureEncryption": true,
                "keyvaultproperties": {"keyname": "referral-cmk", "keyversion": "", "keyvaulturi": "https://KV-CLINICAL.vault.azure.net",
                    "currentVersionedKeyIdentifier": "https://kv-clinical.vault.azure.net/keys/referral-cmk/v2",
                    "lastKeyRotationTimestamp": "2026-10-01T00:00:00Z"}},
            "privateEndpointConnections": [{"properties": {
                "privateEndpoint": {"id": PE},
                "privateLinkServiceConnectionState": {"status": "Approved"}}}]
        }
    });
    let account: StorageAccount = serde_json::from_value(json).expect("account");
    let setting = DiagnosticSetting {
        id: None,
        name: Some("hipaa-operator-audit".into()),
        properties: DiagnosticSettingProperties {
            workspace_id: Some(LAW.into()),
            logs: vec![LogSetting {
                category: None,
                category_group: Some("audit".into()),
                enabled: true,
            }],
        },
    };
    StorageObservation {
        account,
        file_service: Some(FileServiceProperties {
            share_delete_retention_policy: Some(RetentionPolicy {
                enabled: true,
                days: Some(30),
            }),
            protocol_settings: Some(ProtocolSettings {
                smb: Some(SmbSettings {
                    versions: Some("SMB3.1.1".into()),
                    channel_encryption: Some("AES-256-GCM".into()),
                }),
            }),
        }),
        blob_service: Some(BlobServiceProperties {
            delete_retention_policy: Some(RetentionPolicy {
                enabled: true,
                days: Some(30),
            }),
            container_delete_retention_policy: Some(RetentionPolicy {
                enabled: true,
                days: Some(14),
            }),
            is_versioning_enabled: Some(true),
            change_feed: Some(ChangeFeed {
                enabled: true,
                retention_in_days: None,
            }),
        }),
        diagnostics: [("blob".to_string(), vec![setting])].into(),
        latest_key_version: Some("v2".into()),
        key_bundle: Some(key_bundle("RSA", 3072, Some(now().as_second() + 86_400))),
        key_access: Some(vec!["911871cc-ffd1-4fc4-ac11-7a316433ea66".into()]),
        key_rotation_policy: Some(RotationPolicy::new("P90D", "P1Y", "P30D")),
        endpoints: crate::controls::common::fixtures::registered(PE, "blob"),
        now: now(),
    }
}

/// Version `v2` of the store's key: `bits` of modulus, made 10 days before [`now`].
fn key_bundle(kty: &str, bits: usize, exp: Option<i64>) -> crate::azure::keyvault::KeyBundle {
    use crate::azure::keyvault::{JsonWebKey, KeyAttributes, KeyBundle};
    KeyBundle {
        key: JsonWebKey {
            kid: "https://kv.vault.azure.net/keys/n-st/v2".into(),
            kty: kty.into(),
            n: Some("A".repeat((bits / 8 * 4).div_ceil(3))),
        },
        attributes: KeyAttributes {
            enabled: Some(true),
            created: Some(now().as_second() - 10 * 86_400),
            updated: None,
            exp,
        },
    }
}

/// A key without an expiry gets one (its creation plus the workspace's lifetime, never
/// sooner than a month away); a weak key is reported and never replaced.
#[test]
fn the_keys_expiry_is_set_and_its_strength_reported() {
    let mut obs = compliant();
    let e = expectations();
    let findings = evaluate(&e, &obs);
    assert_eq!(
        by_id(&findings)["kv.key-expiry-set"].found,
        Found::Compliant
    );
    assert_eq!(by_id(&findings)["kv.key-strength"].found, Found::Compliant);

    obs.key_bundle = Some(key_bundle("RSA", 2048, None));
    let findings = evaluate(&e, &obs);
    let f = by_id(&findings);
    assert_eq!(f["kv.key-expiry-set"].found, Found::Drifted);
    assert_eq!(f["kv.key-expiry-set"].observed, "no expiry");
    assert_eq!(f["kv.key-strength"].found, Found::Drifted);
    assert_eq!(f["kv.key-strength"].observed, "RSA, 2048 bits");
    assert_eq!(
        f["kv.key-strength"].awaiting(),
        crate::api::common::Awaiting::Person
    );
    let planned = plan(&e, &obs, &findings.iter().collect::<Vec<_>>());
    let created = now().as_second() - 10 * 86_400;
    assert_eq!(
        planned.set_key_expiry,
        Some(("v2".to_string(), created + 365 * 86_400))
    );
    assert!(planned.remediates.contains(&"kv.key-expiry-set"));
    assert!(!planned.remediates.contains(&"kv.key-strength"));

    // A key older than its lifetime is not expired by the fix: a month's notice at least.
    obs.key_bundle.as_mut().expect("key").attributes.created =
        Some(now().as_second() - 400 * 86_400);
    let findings = evaluate(&e, &obs);
    let planned = plan(&e, &obs, &findings.iter().collect::<Vec<_>>());
    assert_eq!(
        planned.set_key_expiry,
        Some(("v2".to_string(), now().as_second() + 30 * 86_400))
    );
}

fn by_id(findings: &[Finding]) -> BTreeMap<&'static str, &Finding> {
    findings.iter().map(|f| (f.id(), f)).collect()
}

#[test]
fn a_compliant_account_passes_every_control() {
    let findings = evaluate(&expectations(), &compliant());
    let failing: Vec<_> = findings
        .iter()
        .filter(|f| f.found != Found::Compliant)
        .collect();
    assert!(failing.is_empty(), "{failing:#?}");
    assert_eq!(findings.len(), 27);
}

#[test]
fn every_storage_control_is_evaluated_or_listed_as_not_yet() {
    // The Defender plan is the subscription's, evaluated beside the kind's controls.
    let evaluated: std::collections::BTreeSet<&str> = evaluate(&expectations(), &compliant())
        .iter()
        .map(|f| f.id())
        .chain(crate::controls::defender::plan_for("storage.defender").map(|p| p.0))
        .collect();
    for control in crate::catalog::CATALOG
        .iter()
        .filter(|c| c.id.starts_with("storage."))
    {
        let listed = NOT_YET_EVALUATED.iter().any(|(id, _)| *id == control.id);
        assert!(
            evaluated.contains(control.id) ^ listed,
            "{} must be evaluated or listed, not both",
            control.id
        );
    }
}

#[test]
fn the_recorded_account_shows_its_real_drift() {
    let findings = evaluate(&expectations(), &recorded());
    let f = by_id(&findings);
    // What the recorded response really says.
    assert_eq!(f["storage.https-only"].found, Found::Drifted);
    assert_eq!(f["storage.https-only"].observed, "false");
    assert_eq!(f["storage.network-default-deny"].observed, "Allow");
    assert_eq!(f["storage.min-tls-1-2"].observed, "(not set)");
    assert_eq!(
        f["storage.geo-redundant"].found,
        Found::Compliant,
        "Standard_GRS"
    );
    assert_eq!(f["storage.network-bypass"].found, Found::Compliant);
    // It uses a customer-managed key, but from another vault than the workspace's.
    assert_eq!(f["storage.cmk"].found, Found::Drifted);
    assert!(
        f["storage.cmk"]
            .observed
            .starts_with("https://myvault8569.vault.azure.net/keys/wrappingKey"),
        "{}",
        f["storage.cmk"].observed
    );
    assert!(
        f["storage.cmk-rotation-observed"]
            .observed
            .starts_with("version 0682afdd9c104f4285df20107e956cad, rotated")
    );
    assert_eq!(
        f["storage.cmk-rotation-observed"].found,
        Found::Drifted,
        "rotated in 2019"
    );
    assert_eq!(
        f["storage.private-endpoint"].observed,
        "no Approved private endpoint connection"
    );
    assert!(
        f["storage.infrastructure-encryption"]
            .message
            .as_deref()
            .is_some_and(|m| m.contains("when an account is created"))
    );
    assert_eq!(
        f["common.phi-classification-tag"].observed,
        "no data-classification tag"
    );
}

#[test]
fn each_account_property_control_drifts_on_its_own() {
    type Breaks = fn(&mut StorageObservation);
    let cases: &[(&str, Breaks)] = &[
        ("storage.min-tls-1-2", |o| {
            o.account.properties.minimum_tls_version = Some("TLS1_0".into())
        }),
        ("storage.https-only", |o| {
            o.account.properties.supports_https_traffic_only = Some(false)
        }),
        ("storage.public-network-disabled", |o| {
            o.account.properties.public_network_access = Some("Enabled".into())
        }),
        ("storage.network-default-deny", |o| {
            o.account
                .properties
                .network_acls
                .as_mut()
                .expect("acls")
                .ip_rules
                .push(crate::azure::storage::IpRule {
                    value: "198.51.100.7".into(),
                    action: None,
                })
        }),
        ("storage.network-bypass", |o| {
            o.account
                .properties
                .network_acls
                .as_mut()
                .expect("acls")
                .bypass = Some("None".into())
        }),
        ("storage.private-endpoint", |o| {
            o.account.properties.private_endpoint_connections[0]
                .properties
                .private_link_service_connection_state = Some(ConnectionState {
                status: "Pending".into(),
            })
        }),
        ("storage.blob-anonymous-disabled", |o| {
            o.account.properties.allow_blob_public_access = Some(true)
        }),
        ("storage.shared-key-disabled", |o| {
            o.account.properties.allow_shared_key_access = None
        }),
        ("storage.entra-default-auth", |o| {
            o.account.properties.default_to_o_auth_authentication = Some(false)
        }),
        ("storage.cross-tenant-replication-disabled", |o| {
            o.account.properties.allow_cross_tenant_replication = Some(true)
        }),
        ("storage.cmk", |o| {
            o.account
                .properties
                .encryption
                .as_mut()
                .expect("enc")
                .keyvaultproperties
                .as_mut()
                .expect("kv")
                .keyversion = Some("v1".into())
        }),
        ("storage.cmk", |o| o.account.identity = None),
        ("storage.infrastructure-encryption", |o| {
            o.account
                .properties
                .encryption
                .as_mut()
                .expect("enc")
                .require_infrastructure_encryption = Some(false)
        }),
        ("storage.account-key-expiry", |o| {
            o.account.properties.allow_shared_key_access = Some(false);
            o.account.properties.key_policy = Some(crate::azure::storage::KeyPolicy {
                key_expiration_period_in_days: 365,
            });
        }),
        ("storage.sas-expiry-policy", |o| {
            o.account.properties.sas_policy = Some(crate::azure::storage::SasPolicy {
                sas_expiration_period: "30.00:00:00".into(),
                expiration_action: "Block".into(),
            })
        }),
        ("storage.geo-redundant", |o| {
            o.account.sku = Some(crate::azure::storage::Sku {
                name: "Standard_LRS".into(),
            })
        }),
        ("storage.diag-audit-logs", |o| o.diagnostics.clear()),
        ("storage.diag-audit-logs", |o| {
            o.diagnostics.get_mut("blob").expect("blob")[0].properties.workspace_id = Some("/subscriptions/x/resourceGroups/y/providers/Microsoft.OperationalInsights/workspaces/other".into())
        }),
        ("storage.cmk-rotation-observed", |o| {
            o.latest_key_version = Some("v3".into())
        }),
        ("storage.cmk-rotation-observed", |o| {
            o.now = "2027-03-01T00:00:00Z".parse().expect("timestamp")
        }),
        ("common.phi-classification-tag", |o| {
            o.account
                .tags
                .as_mut()
                .expect("tags")
                .insert("data-classification".into(), "public".into());
        }),
        ("storage.blob-soft-delete", |o| {
            o.blob_service
                .as_mut()
                .expect("blob")
                .delete_retention_policy = Some(RetentionPolicy {
                enabled: true,
                days: Some(7),
            })
        }),
        ("storage.container-soft-delete", |o| {
            o.blob_service
                .as_mut()
                .expect("blob")
                .container_delete_retention_policy = None
        }),
        ("storage.blob-versioning", |o| {
            o.blob_service.as_mut().expect("blob").is_versioning_enabled = Some(false)
        }),
        ("storage.change-feed", |o| {
            o.blob_service.as_mut().expect("blob").change_feed = None
        }),
        ("kv.key-rotation-policy", |o| o.key_rotation_policy = None),
        ("kv.key-rotation-policy", |o| {
            o.key_rotation_policy = Some(RotationPolicy::new("P2Y", "P3Y", "P30D"))
        }),
    ];
    for (id, breaks) in cases {
        let mut obs = compliant();
        breaks(&mut obs);
        let findings = evaluate(&expectations(), &obs);
        let not_compliant: Vec<&str> = findings
            .iter()
            .filter(|f| f.found != Found::Compliant)
            .map(|f| f.id())
            .collect();
        let expected_state = if *id == "storage.account-key-expiry" {
            Found::NotApplicable
        } else {
            Found::Drifted
        };
        assert_eq!(
            not_compliant,
            vec![*id],
            "breaking {id} changed other controls"
        );
        assert_eq!(by_id(&findings)[id].found, expected_state, "{id}");
    }
}

#[test]
fn a_key_older_than_the_cadence_is_planned_for_rotation_and_a_young_one_is_not() {
    let expect = expectations();
    let rotated_days_ago = |days: i64| {
        let mut obs = compliant();
        obs.key_rotation_policy = None;
        let kv = obs
            .account
            .properties
            .encryption
            .as_mut()
            .and_then(|e| e.keyvaultproperties.as_mut())
            .expect("keyvault properties");
        kv.last_key_rotation_timestamp =
            Some((obs.now - k8s_openapi::jiff::SignedDuration::from_hours(24 * days)).to_string());
        obs
    };
    let plan_of = |obs: &StorageObservation| {
        let findings = evaluate(&expect, obs);
        let to_fix: Vec<&Finding> = findings.iter().collect();
        plan(&expect, obs, &to_fix)
    };
    assert!(plan_of(&rotated_days_ago(91)).rotate_key);
    assert!(!plan_of(&rotated_days_ago(30)).rotate_key);
    // A key that does not exist yet is created, not rotated.
    let mut missing = rotated_days_ago(91);
    missing.latest_key_version = None;
    assert!(!plan_of(&missing).rotate_key);
}

#[test]
fn a_missing_key_policy_is_planned_as_ensure_key_only() {
    let mut obs = compliant();
    obs.key_rotation_policy = None;
    let findings = evaluate(&expectations(), &obs);
    assert_eq!(
        by_id(&findings)["kv.key-rotation-policy"].observed,
        "no rotation policy"
    );
    let to_fix: Vec<&Finding> = findings.iter().collect();
    let plan = plan(&expectations(), &obs, &to_fix);
    assert!(plan.ensure_key && plan.account_patch.is_empty(), "{plan:?}");
    assert_eq!(plan.remediates, vec!["kv.key-rotation-policy"]);
}

#[test]
fn an_unreadable_blob_service_is_an_error_not_drift() {
    let mut obs = compliant();
    obs.blob_service = None;
    let findings = evaluate(&expectations(), &obs);
    let errors: Vec<&str> = findings
        .iter()
        .filter(|f| f.found == Found::Error)
        .map(|f| f.id())
        .collect();
    assert_eq!(errors.len(), 4, "{errors:?}");
}

#[test]
fn the_plan_patches_only_what_drifted_in_one_call() {
    let mut obs = compliant();
    obs.account.properties.minimum_tls_version = Some("TLS1_0".into());
    obs.account.properties.allow_blob_public_access = Some(true);
    obs.blob_service
        .as_mut()
        .expect("blob")
        .is_versioning_enabled = Some(false);
    let findings = evaluate(&expectations(), &obs);
    let to_fix: Vec<&Finding> = findings.iter().collect();
    let plan = plan(&expectations(), &obs, &to_fix);
    assert_eq!(
        serde_json::to_value(&plan.account_patch).expect("json"),
        serde_json::json!({"properties": {"minimumTlsVersion": "TLS1_2", "allowBlobPublicAccess": false}})
    );
    assert_eq!(
        plan.blob_service
            .as_ref()
            .and_then(|b| b.is_versioning_enabled),
        Some(true)
    );
    assert!(!plan.ensure_private_endpoint && plan.ensure_diagnostics.is_empty());
    assert_eq!(
        plan.remediates,
        vec![
            "storage.min-tls-1-2",
            "storage.blob-anonymous-disabled",
            "storage.blob-versioning"
        ]
    );
}

#[test]
fn a_compliant_account_plans_nothing() {
    let obs = compliant();
    let findings = evaluate(&expectations(), &obs);
    let to_fix: Vec<&Finding> = findings.iter().collect();
    assert!(plan(&expectations(), &obs, &to_fix).is_empty());
}

#[test]
fn report_only_controls_never_become_operations() {
    let mut obs = compliant();
    obs.account
        .properties
        .encryption
        .as_mut()
        .expect("enc")
        .require_infrastructure_encryption = Some(false);
    let findings = evaluate(&expectations(), &obs);
    let to_fix: Vec<&Finding> = findings.iter().collect();
    let infra = by_id(&findings)["storage.infrastructure-encryption"];
    assert_eq!(infra.control.remediation, Remediation::ReportOnly);
    assert!(plan(&expectations(), &obs, &to_fix).is_empty());
}

#[test]
fn public_access_is_closed_only_once_the_private_endpoint_exists() {
    let mut obs = recorded();
    obs.account.properties.public_network_access = Some("Enabled".into());
    let findings = evaluate(&expectations(), &obs);
    let to_fix: Vec<&Finding> = findings.iter().collect();
    let first = plan(&expectations(), &obs, &to_fix);
    assert!(first.ensure_private_endpoint);
    assert_eq!(first.account_patch.properties.public_network_access, None);
    assert!(first.close_public_after_endpoint);
    assert!(
        first
            .remediates
            .contains(&"storage.public-network-disabled")
    );

    let mut obs = compliant();
    obs.account.properties.public_network_access = Some("Enabled".into());
    let findings = evaluate(&expectations(), &obs);
    let to_fix: Vec<&Finding> = findings.iter().collect();
    assert_eq!(
        plan(&expectations(), &obs, &to_fix)
            .account_patch
            .properties
            .public_network_access
            .as_deref(),
        Some("Disabled")
    );
}

#[test]
fn the_key_is_set_versionless_from_the_workspace_vault() {
    let mut obs = recorded();
    obs.account
        .properties
        .encryption
        .as_mut()
        .expect("enc")
        .keyvaultproperties
        .as_mut()
        .expect("kv")
        .keyversion = Some("abc".into());
    let findings = evaluate(&expectations(), &obs);
    let to_fix: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.id() == "storage.cmk")
        .collect();
    let plan = plan(&expectations(), &obs, &to_fix);
    let kv = plan
        .account_patch
        .properties
        .encryption
        .and_then(|e| e.keyvaultproperties)
        .expect("key");
    assert_eq!(kv.keyversion.as_deref(), Some(""));
    assert_eq!(kv.keyname.as_deref(), Some("referral-cmk"));
    assert_eq!(
        kv.keyvaulturi.as_deref(),
        Some("https://kv-clinical.vault.azure.net/")
    );
}

#[test]
fn sas_periods_parse() {
    assert_eq!(sas_days("7.00:00:00"), Some(7.0));
    assert_eq!(sas_days("12:00:00"), Some(0.5));
    assert_eq!(sas_days("soon"), None);
}

#[test]
fn file_service_controls_apply_only_to_stores_with_file_shares() {
    let state = |findings: &[Finding], id: &str| {
        findings
            .iter()
            .find(|f| f.id() == id)
            .map(|f| f.found)
            .expect("evaluated")
    };
    let mut e = expectations();
    e.file_shares = false;
    let obs = compliant();
    let findings = evaluate(&e, &obs);
    assert_eq!(
        state(&findings, "storage.file-soft-delete"),
        Found::NotApplicable
    );
    assert_eq!(
        state(&findings, "storage.smb-hardened"),
        Found::NotApplicable
    );

    e.file_shares = true;
    let findings = evaluate(&e, &obs);
    assert_eq!(
        state(&findings, "storage.file-soft-delete"),
        Found::Compliant
    );
    assert_eq!(state(&findings, "storage.smb-hardened"), Found::Compliant);

    // Azure's defaults: no share soft delete, every SMB version and cipher allowed.
    let mut defaults = compliant();
    defaults.file_service = Some(FileServiceProperties::default());
    let findings = evaluate(&e, &defaults);
    let smb = findings
        .iter()
        .find(|f| f.id() == "storage.smb-hardened")
        .expect("smb");
    assert_eq!(smb.found, Found::Drifted);
    assert_eq!(
        smb.observed,
        "versions (all, by default), channelEncryption (all, by default)"
    );
    assert_eq!(state(&findings, "storage.file-soft-delete"), Found::Drifted);
    let p = plan(&e, &defaults, &findings.iter().collect::<Vec<_>>());
    let file = p.file_service.expect("one PUT of the file service");
    assert_eq!(
        file.share_delete_retention_policy.and_then(|r| r.days),
        Some(e.soft_delete_days)
    );
    assert_eq!(
        file.protocol_settings
            .and_then(|p| p.smb)
            .and_then(|s| s.versions)
            .as_deref(),
        Some("SMB3.1.1")
    );
    assert!(p.remediates.contains(&"storage.smb-hardened"));

    // An SMB 3.0 client still allowed is drift.
    let mut weak = compliant();
    weak.file_service.as_mut().expect("file").protocol_settings = Some(ProtocolSettings {
        smb: Some(SmbSettings {
            versions: Some("SMB3.0;SMB3.1.1".into()),
            channel_encryption: Some("AES-256-GCM".into()),
        }),
    });
    assert_eq!(
        state(&evaluate(&e, &weak), "storage.smb-hardened"),
        Found::Drifted
    );

    // Unread file service: an error, not a guess.
    let mut unread = compliant();
    unread.file_service = None;
    assert_eq!(
        state(&evaluate(&e, &unread), "storage.file-soft-delete"),
        Found::Error
    );
}

#[test]
fn the_accounts_identity_must_be_able_to_unwrap_with_the_key() {
    let e = expectations();
    let mut obs = compliant();
    obs.key_access = Some(vec!["someone-else".into()]);
    let findings = evaluate(&e, &obs);
    let cmk = findings
        .iter()
        .find(|f| f.id() == "storage.cmk")
        .expect("cmk");
    assert_eq!(cmk.found, Found::Drifted);
    assert!(
        cmk.observed.ends_with(
            "but identity 911871cc-ffd1-4fc4-ac11-7a316433ea66 cannot wrap/unwrap with the key"
        ),
        "{}",
        cmk.observed
    );
    let p = plan(&e, &obs, &findings.iter().collect::<Vec<_>>());
    assert!(p.grant_key_access && p.remediates.contains(&"storage.cmk"));
    // Not read (the key is new): no claim either way.
    obs.key_access = None;
    let cmk = evaluate(&e, &obs)
        .into_iter()
        .find(|f| f.id() == "storage.cmk")
        .expect("cmk");
    assert_eq!(cmk.found, Found::Compliant);
}

#[test]
fn every_declared_account_setting_reaches_the_typed_patch_when_it_drifts() {
    use crate::controls::setting::Lit;
    let expect = expectations();
    for s in super::SETTINGS {
        // The opposite of what the control wants, as Azure would return it.
        let mut obs = compliant();
        let mut body = serde_json::to_value(&obs.account).expect("json");
        let wrong = match s.wanted() {
            Lit::Bool(b) => serde_json::json!(!b),
            Lit::Str(_) => serde_json::json!("TLS1_0"),
        };
        let key = s.path.strip_prefix("properties.").expect("a property");
        body["properties"][key] = wrong;
        obs.account = serde_json::from_value(body).expect("account");
        let findings = evaluate(&expect, &obs);
        assert_eq!(by_id(&findings)[s.id].found, Found::Drifted, "{}", s.id);
        let plan = plan(&expect, &obs, &findings.iter().collect::<Vec<_>>());
        assert_eq!(plan.remediates, vec![s.id], "{}", s.id);
        let sent = serde_json::to_value(&plan.account_patch).expect("json");
        assert_eq!(
            sent,
            serde_json::json!({"properties": {key: s.wanted().to_value()}}),
            "{}: only the drifted property is sent",
            s.id
        );
    }
}
