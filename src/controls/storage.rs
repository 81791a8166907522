//! The `storage.*` controls (and the cross-cutting ones that apply to a storage account):
//! evaluation of observed state against what the workspace and store expect, and the plan of
//! the fewest Azure writes that remediate the drifted ones. Pure: no I/O.

use std::collections::BTreeMap;

use k8s_openapi::jiff::Timestamp;

use super::finding::{Finding, Found, shown};
use crate::azure::insights::DiagnosticSetting;
use crate::azure::keyvault::RotationPolicy;
use crate::azure::storage::{
    BlobServiceProperties, ChangeFeed, Encryption, EncryptionIdentity, FileServiceProperties,
    KeyVaultProperties, ProtocolSettings, RetentionPolicy, SmbSettings, StorageAccount,
    StorageAccountPatch, StorageAccountPatchProperties,
};

/// Geo-redundant SKUs (`storage.geo-redundant`).
const GEO_REDUNDANT: &[&str] = &[
    "Standard_GRS",
    "Standard_RAGRS",
    "Standard_GZRS",
    "Standard_RAGZRS",
];

/// Account-key and SAS lifetimes the catalog asks for.
const MAX_KEY_EXPIRATION_DAYS: i64 = 90;
const SAS_EXPIRATION: &str = "7.00:00:00";
/// Days a key rotation may be late before the in-use version counts as stale.
const ROTATION_GRACE_DAYS: i64 = 7;

/// The customer-managed key a store must use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedKey {
    /// `https://{vault}.vault.azure.net/` (compared without trailing slash, case-insensitively).
    pub vault_uri: String,
    /// ARM id of the vault (role assignments on the key live below it).
    pub vault_id: String,
    pub key_name: String,
    /// ARM id of a user-assigned identity to reach the key; `None` for the system identity.
    pub user_assigned_identity: Option<String>,
    /// The workspace's rotation cadence in days.
    pub rotate_after_days: i64,
    /// The rotation policy the key must carry (from the workspace's cadence).
    pub rotation_policy: RotationPolicy,
}

/// What the workspace and the PhiStore spec expect of a storage account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageExpectations {
    pub network_bypass: String,
    pub allowed_ip_ranges: Vec<String>,
    /// Private-endpoint sub-resources that must have an Approved connection.
    pub private_endpoint_groups: Vec<String>,
    /// The private DNS zones those endpoints must be registered in.
    pub endpoint_dns: crate::controls::common::EndpointDns,
    pub key: ExpectedKey,
    pub soft_delete_days: i64,
    /// The Log Analytics workspace that must receive the audit logs.
    pub log_analytics_workspace_id: String,
    /// Storage services whose audit logs must be collected (`blob`, `file`, …).
    pub diagnostic_services: Vec<String>,
    pub category_groups: Vec<String>,
    pub categories: Vec<String>,
    pub classification_tag: (String, String),
    /// The store declares Azure Files shares (the `file` service or private-endpoint group):
    /// the file-service controls apply.
    pub file_shares: bool,
}

/// What was read from Azure for one storage account.
#[derive(Clone, Debug, PartialEq)]
pub struct StorageObservation {
    pub account: StorageAccount,
    /// `blobServices/default` properties, when read.
    pub blob_service: Option<BlobServiceProperties>,
    /// `fileServices/default` properties, read only for stores that declare file shares.
    pub file_service: Option<FileServiceProperties>,
    /// Diagnostic settings on each service sub-resource, by service (`blob`, `file`, …).
    pub diagnostics: BTreeMap<String, Vec<DiagnosticSetting>>,
    /// The latest enabled version of the expected key in the vault, when read.
    pub latest_key_version: Option<String>,
    /// Principals that can wrap and unwrap with the expected key (role assignments at its
    /// scope or above), when read; `None` when the key does not exist yet.
    pub key_access: Option<Vec<String>>,
    /// The expected key's rotation policy, when the key exists and has one.
    pub key_rotation_policy: Option<RotationPolicy>,
    /// The group ids of the private endpoints connected to the account, by endpoint id,
    /// when read (the account lists connections, not their group ids).
    pub endpoints: crate::controls::common::SeenEndpoints,
    pub now: Timestamp,
}

fn same(a: &str, b: &str) -> bool {
    a.trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim_end_matches('/'))
}

/// Evaluates every storage control this module knows.
pub fn evaluate(expect: &StorageExpectations, obs: &StorageObservation) -> Vec<Finding> {
    let p = &obs.account.properties;
    let mut out = vec![
        Finding::check(
            "storage.min-tls-1-2",
            matches!(p.minimum_tls_version.as_deref(), Some("TLS1_2" | "TLS1_3")),
            "TLS1_2",
            shown(p.minimum_tls_version.as_deref()),
        ),
        Finding::check(
            "storage.https-only",
            p.supports_https_traffic_only == Some(true),
            "true",
            shown(p.supports_https_traffic_only),
        ),
        Finding::check(
            "storage.public-network-disabled",
            matches!(
                p.public_network_access.as_deref(),
                Some("Disabled" | "SecuredByPerimeter")
            ),
            "Disabled",
            shown(p.public_network_access.as_deref()),
        ),
        network_default_deny(expect, obs),
        Finding::check(
            "storage.network-bypass",
            p.network_acls
                .as_ref()
                .and_then(|a| a.bypass.as_deref())
                .is_some_and(|b| same(b, &expect.network_bypass)),
            expect.network_bypass.clone(),
            shown(p.network_acls.as_ref().and_then(|a| a.bypass.as_deref())),
        ),
        private_endpoint(expect, obs),
        Finding::check(
            "storage.blob-anonymous-disabled",
            p.allow_blob_public_access == Some(false),
            "false",
            shown(p.allow_blob_public_access),
        ),
        Finding::check(
            "storage.shared-key-disabled",
            p.allow_shared_key_access == Some(false),
            "false",
            shown(p.allow_shared_key_access),
        ),
        Finding::check(
            "storage.entra-default-auth",
            p.default_to_o_auth_authentication == Some(true),
            "true",
            shown(p.default_to_o_auth_authentication),
        ),
        Finding::check(
            "storage.cross-tenant-replication-disabled",
            p.allow_cross_tenant_replication == Some(false),
            "false",
            shown(p.allow_cross_tenant_replication),
        ),
        cmk(expect, obs),
        {
            let infra = p
                .encryption
                .as_ref()
                .and_then(|e| e.require_infrastructure_encryption);
            let f = Finding::check(
                "storage.infrastructure-encryption",
                infra == Some(true),
                "true",
                shown(infra),
            );
            if infra == Some(true) {
                f
            } else {
                f.with_message("infrastructure encryption can only be chosen when an account is created: recreate the account and migrate the data, or exempt the control")
            }
        },
        account_key_expiry(obs),
        {
            let sas = p.sas_policy.as_ref();
            Finding::check(
                "storage.sas-expiry-policy",
                sas.is_some_and(|s| {
                    sas_days(&s.sas_expiration_period).is_some_and(|d| d <= 7.0)
                        && s.expiration_action == "Block"
                }),
                format!("sasExpirationPeriod <= {SAS_EXPIRATION}, expirationAction Block"),
                sas.map(|s| format!("{} {}", s.sas_expiration_period, s.expiration_action))
                    .unwrap_or_else(|| "(not set)".into()),
            )
        },
        {
            let sku = obs.account.sku.as_ref().map(|s| s.name.as_str());
            Finding::check(
                "storage.geo-redundant",
                sku.is_some_and(|s| GEO_REDUNDANT.contains(&s)),
                GEO_REDUNDANT.join(" or "),
                shown(sku),
            )
        },
        diagnostics(expect, obs),
        cmk_rotation_observed(expect, obs),
        key_rotation_policy(expect, obs),
        classification_tag(expect, obs),
    ];
    out.extend(blob_service(expect, obs));
    out.extend(file_service(expect, obs));
    out
}

fn network_default_deny(expect: &StorageExpectations, obs: &StorageObservation) -> Finding {
    let acls = obs.account.properties.network_acls.as_ref();
    let action = acls.map(|a| a.default_action.as_str());
    let stray: Vec<&str> = acls
        .map(|a| {
            a.ip_rules
                .iter()
                .map(|r| r.value.as_str())
                .filter(|ip| !expect.allowed_ip_ranges.iter().any(|allowed| allowed == ip))
                .collect()
        })
        .unwrap_or_default();
    let observed = match (action, stray.is_empty()) {
        (Some(a), true) => a.to_string(),
        (Some(a), false) => format!("{a}; ipRules not allow-listed: {}", stray.join(", ")),
        (None, _) => "(not set)".into(),
    };
    Finding::check(
        "storage.network-default-deny",
        action == Some("Deny") && stray.is_empty(),
        "Deny; no ipRules unless allow-listed",
        observed,
    )
}

fn private_endpoint(expect: &StorageExpectations, obs: &StorageObservation) -> Finding {
    let approved: Vec<String> = obs
        .account
        .properties
        .private_endpoint_connections
        .iter()
        .filter(|c| {
            c.properties
                .private_link_service_connection_state
                .as_ref()
                .is_some_and(|s| s.status.eq_ignore_ascii_case("Approved"))
        })
        .filter_map(|c| c.properties.private_endpoint.as_ref())
        .map(|e| e.id.clone())
        .collect();
    super::common::endpoint_finding(
        "storage.private-endpoint",
        &approved,
        &obs.endpoints,
        &expect.private_endpoint_groups,
        &expect.endpoint_dns,
    )
}

/// The principal id of the identity the account reaches its key with, when Azure has one.
pub fn key_principal(expect: &StorageExpectations, obs: &StorageObservation) -> Option<String> {
    principal_of(&obs.account, expect.key.user_assigned_identity.as_deref())
}

/// The principal of the identity `account` encrypts with: the user-assigned identity
/// `user_assigned` when given, its system-assigned identity otherwise.
pub fn principal_of(account: &StorageAccount, user_assigned: Option<&str>) -> Option<String> {
    let identity = account.identity.as_ref()?;
    match user_assigned {
        None => identity.principal_id.clone(),
        Some(uai) => identity
            .user_assigned_identities
            .as_ref()?
            .iter()
            .find(|(id, _)| same(id, uai))
            .and_then(|(_, v)| v.get("principalId"))
            .and_then(|v| v.as_str())
            .map(str::to_string),
    }
}

fn cmk(expect: &StorageExpectations, obs: &StorageObservation) -> Finding {
    let enc = obs.account.properties.encryption.as_ref();
    let kv = enc.and_then(|e| e.keyvaultproperties.as_ref());
    let source = enc.and_then(|e| e.key_source.as_deref());
    let identity_ok = match &expect.key.user_assigned_identity {
        Some(uai) => enc
            .and_then(|e| e.identity.as_ref())
            .and_then(|i| i.user_assigned_identity.as_deref())
            .is_some_and(|u| same(u, uai)),
        None => obs
            .account
            .identity
            .as_ref()
            .is_some_and(|i| i.kind.contains("SystemAssigned")),
    };
    let uses_key = source.is_some_and(|s| s.eq_ignore_ascii_case("Microsoft.Keyvault"))
        && kv
            .and_then(|k| k.keyvaulturi.as_deref())
            .is_some_and(|u| same(u, &expect.key.vault_uri))
        && kv.and_then(|k| k.keyname.as_deref()) == Some(expect.key.key_name.as_str());
    let versionless = kv
        .and_then(|k| k.keyversion.as_deref())
        .is_none_or(str::is_empty);
    // The identity must be able to wrap and unwrap with the key, or the account loses access
    // to its own data at the next key operation.
    let principal = key_principal(expect, obs);
    let unreachable = match (&obs.key_access, &principal) {
        (Some(holders), Some(p)) => !holders.iter().any(|h| h.eq_ignore_ascii_case(p)),
        _ => false,
    };
    let observed = match (source, kv) {
        (Some(s), Some(k)) if s.eq_ignore_ascii_case("Microsoft.Keyvault") => format!(
            "{}keys/{}{}{}",
            k.keyvaulturi
                .as_deref()
                .map(|u| format!("{}/", u.trim_end_matches('/')))
                .unwrap_or_default(),
            shown(k.keyname.as_deref()),
            k.keyversion
                .as_deref()
                .filter(|v| !v.is_empty())
                .map(|v| format!("/{v} (pinned version)"))
                .unwrap_or_default(),
            if !identity_ok {
                " without the expected identity".to_string()
            } else if unreachable {
                format!(
                    " but identity {} cannot wrap/unwrap with the key",
                    principal.as_deref().unwrap_or_default()
                )
            } else {
                String::new()
            }
        ),
        (s, _) => format!("keySource {}", shown(s)),
    };
    Finding::check(
        "storage.cmk",
        uses_key && versionless && identity_ok && !unreachable,
        format!(
            "Microsoft.Keyvault, {}/keys/{} versionless (automatic rotation), via the {} identity holding Key Vault Crypto Service Encryption User on the key",
            expect.key.vault_uri.trim_end_matches('/'),
            expect.key.key_name,
            if expect.key.user_assigned_identity.is_some() {
                "user-assigned"
            } else {
                "system-assigned"
            }
        ),
        observed,
    )
}

fn cmk_rotation_observed(expect: &StorageExpectations, obs: &StorageObservation) -> Finding {
    let kv = obs
        .account
        .properties
        .encryption
        .as_ref()
        .and_then(|e| e.keyvaultproperties.as_ref());
    let in_use = kv
        .and_then(|k| k.current_versioned_key_identifier.as_deref())
        .and_then(|kid| kid.rsplit('/').next());
    let rotated = kv
        .and_then(|k| k.last_key_rotation_timestamp.as_deref())
        .and_then(|t| t.parse::<Timestamp>().ok());
    let expected = format!(
        "the latest key version, rotated within {} days",
        expect.key.rotate_after_days + ROTATION_GRACE_DAYS
    );
    let Some(in_use) = in_use else {
        return Finding::new(
            "storage.cmk-rotation-observed",
            Found::Drifted,
            expected,
            "no customer-managed key in use",
        );
    };
    let age_days = rotated.map(|r| obs.now.duration_since(r).as_secs() / 86_400);
    let latest_ok = obs
        .latest_key_version
        .as_deref()
        .is_none_or(|l| l == in_use);
    let age_ok = age_days.is_none_or(|d| d <= expect.key.rotate_after_days + ROTATION_GRACE_DAYS);
    let observed = format!(
        "version {in_use}{}{}",
        age_days
            .map(|d| format!(
                ", rotated {d} days ago, next rotation due in {} days",
                (expect.key.rotate_after_days - d).max(0)
            ))
            .unwrap_or_default(),
        match obs.latest_key_version.as_deref() {
            Some(l) if l != in_use => format!("; the vault's latest version is {l}"),
            _ => String::new(),
        }
    );
    Finding::check(
        "storage.cmk-rotation-observed",
        latest_ok && age_ok,
        expected,
        observed,
    )
}

/// `kv.key-rotation-policy` for the store's own key: it exists and rotates on the workspace's
/// cadence, so a key without a policy (or with another one) is drift.
fn key_rotation_policy(expect: &StorageExpectations, obs: &StorageObservation) -> Finding {
    let describe = |p: &RotationPolicy| {
        let notify = p
            .lifetime_actions
            .iter()
            .find(|a| a.action.kind.eq_ignore_ascii_case("Notify"))
            .and_then(|a| a.trigger.time_before_expiry.clone());
        format!(
            "rotate after {}, expire after {}, notify {} before",
            shown(p.rotate_after()),
            shown(p.attributes.expiry_time.as_deref()),
            shown(notify.as_deref())
        )
    };
    let observed = match (&obs.latest_key_version, &obs.key_rotation_policy) {
        (None, _) => format!("key {} does not exist", expect.key.key_name),
        (Some(_), None) => "no rotation policy".to_string(),
        (Some(_), Some(p)) => describe(p),
    };
    let ok = obs.latest_key_version.is_some()
        && obs
            .key_rotation_policy
            .as_ref()
            .is_some_and(|p| p.matches(&expect.key.rotation_policy));
    Finding::check(
        "kv.key-rotation-policy",
        ok,
        describe(&expect.key.rotation_policy),
        observed,
    )
}

fn account_key_expiry(obs: &StorageObservation) -> Finding {
    let days = obs
        .account
        .properties
        .key_policy
        .as_ref()
        .map(|k| k.key_expiration_period_in_days);
    let shared_key_off = obs.account.properties.allow_shared_key_access == Some(false);
    let f = Finding::check(
        "storage.account-key-expiry",
        days.is_some_and(|d| d <= MAX_KEY_EXPIRATION_DAYS),
        format!("keyExpirationPeriodInDays <= {MAX_KEY_EXPIRATION_DAYS}"),
        shown(days),
    );
    if shared_key_off && f.found == Found::Drifted {
        // Account keys cannot be used at all, so their age does not matter.
        Finding::new(
            "storage.account-key-expiry",
            Found::NotApplicable,
            f.expected,
            f.observed,
        )
        .with_message("shared key access is disabled, so account keys cannot be used")
    } else {
        f
    }
}

/// `d.hh:mm:ss` to days.
fn sas_days(period: &str) -> Option<f64> {
    let (days, rest) = period.split_once('.').unwrap_or(("0", period));
    let mut hms = rest.split(':').map(|p| p.parse::<f64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    Some(days.parse::<f64>().ok()? + (h + m / 60.0 + s / 3600.0) / 24.0)
}

fn diagnostics(expect: &StorageExpectations, obs: &StorageObservation) -> Finding {
    let desired = |service: &str| crate::azure::insights::DesiredDiagnosticSetting {
        resource_id: format!("{}/{service}Services/default", obs.account.id),
        workspace_id: expect.log_analytics_workspace_id.clone(),
        category_groups: expect.category_groups.clone(),
        categories: expect.categories.clone(),
    };
    let missing: Vec<&str> = expect
        .diagnostic_services
        .iter()
        .map(String::as_str)
        .filter(|service| {
            let want = desired(service);
            !obs.diagnostics
                .get(*service)
                .is_some_and(|settings| settings.iter().any(|s| want.is_met_by(s)))
        })
        .collect();
    let logs: Vec<String> = expect
        .category_groups
        .iter()
        .chain(&expect.categories)
        .cloned()
        .collect();
    Finding::check(
        "storage.diag-audit-logs",
        missing.is_empty(),
        format!(
            "{} logs of {} to the workspace's Log Analytics",
            logs.join(", "),
            expect.diagnostic_services.join(", ")
        ),
        if missing.is_empty() {
            "sent".to_string()
        } else {
            format!("not sent for {}", missing.join(", "))
        },
    )
}

fn classification_tag(expect: &StorageExpectations, obs: &StorageObservation) -> Finding {
    let (name, value) = &expect.classification_tag;
    let found = obs.account.tags.as_ref().and_then(|t| t.get(name));
    Finding::check(
        "common.phi-classification-tag",
        found.is_some_and(|v| v.eq_ignore_ascii_case(value)),
        format!("{name}={value}"),
        found
            .map(|v| format!("{name}={v}"))
            .unwrap_or_else(|| format!("no {name} tag")),
    )
}

fn blob_service(expect: &StorageExpectations, obs: &StorageObservation) -> Vec<Finding> {
    let Some(blob) = obs.blob_service.as_ref() else {
        let err = |id: &str| {
            Finding::new(id, Found::Error, "", "")
                .with_message("the blob service settings could not be read")
        };
        return [
            "storage.blob-soft-delete",
            "storage.container-soft-delete",
            "storage.blob-versioning",
            "storage.change-feed",
        ]
        .into_iter()
        .map(err)
        .collect();
    };
    let retention = |p: Option<&RetentionPolicy>| {
        (
            p.is_some_and(|p| p.enabled && p.days.unwrap_or(0) >= expect.soft_delete_days),
            p.map(|p| {
                if p.enabled {
                    format!("enabled, {} days", shown(p.days))
                } else {
                    "disabled".into()
                }
            })
            .unwrap_or_else(|| "(not set)".into()),
        )
    };
    let expected_days = format!("enabled, at least {} days", expect.soft_delete_days);
    let (blob_ok, blob_seen) = retention(blob.delete_retention_policy.as_ref());
    let (container_ok, container_seen) = retention(blob.container_delete_retention_policy.as_ref());
    vec![
        Finding::check(
            "storage.blob-soft-delete",
            blob_ok,
            expected_days.clone(),
            blob_seen,
        ),
        Finding::check(
            "storage.container-soft-delete",
            container_ok,
            expected_days,
            container_seen,
        ),
        Finding::check(
            "storage.blob-versioning",
            blob.is_versioning_enabled == Some(true),
            "true",
            shown(blob.is_versioning_enabled),
        ),
        Finding::check(
            "storage.change-feed",
            blob.change_feed.as_ref().is_some_and(|c| c.enabled),
            "enabled",
            shown(blob.change_feed.as_ref().map(|c| c.enabled)),
        ),
    ]
}

/// `storage.*` controls this module does not evaluate yet, and why. The coverage test keeps this
/// list and `evaluate` together covering every storage control of the catalog.
pub const NOT_YET_EVALUATED: &[(&str, &str)] = &[
    (
        "storage.defender",
        "needs Microsoft.Security pricings, which the client layer does not read yet",
    ),
    (
        "storage.immutable-audit-archive",
        "applies to the workspace's audit-archive account, evaluated by the workspace controller",
    ),
];

/// The SMB protocol versions and channel encryption `storage.smb-hardened` accepts.
const SMB_VERSIONS: &str = "SMB3.1.1";
const SMB_CHANNEL_ENCRYPTION: &str = "AES-256-GCM";

fn file_service(expect: &StorageExpectations, obs: &StorageObservation) -> Vec<Finding> {
    let ids = ["storage.file-soft-delete", "storage.smb-hardened"];
    if !expect.file_shares {
        return ids
            .into_iter()
            .map(|id| {
                Finding::new(id, Found::NotApplicable, "applies to stores with file shares", "no file shares declared")
                    .with_message("the store declares no file shares; add `file` to spec.diagnostics.services or spec.privateEndpoint.groupIds when shares hold PHI")
            })
            .collect();
    }
    let Some(file) = obs.file_service.as_ref() else {
        return ids
            .into_iter()
            .map(|id| {
                Finding::new(id, Found::Error, "", "")
                    .with_message("the file service settings could not be read")
            })
            .collect();
    };
    let share = file.share_delete_retention_policy.as_ref();
    let share_ok =
        share.is_some_and(|p| p.enabled && p.days.unwrap_or(0) >= expect.soft_delete_days);
    let share_seen = share
        .map(|p| {
            if p.enabled {
                format!("enabled, {} days", shown(p.days))
            } else {
                "disabled".into()
            }
        })
        .unwrap_or_else(|| "(not set)".into());
    let smb = file.protocol_settings.as_ref().and_then(|p| p.smb.as_ref());
    // Azure's defaults (nothing set) allow every SMB version and cipher.
    let versions = smb
        .and_then(|s| s.versions.clone())
        .unwrap_or_else(|| "(all, by default)".into());
    let ciphers = smb
        .and_then(|s| s.channel_encryption.clone())
        .unwrap_or_else(|| "(all, by default)".into());
    vec![
        Finding::check(
            "storage.file-soft-delete",
            share_ok,
            format!("enabled, at least {} days", expect.soft_delete_days),
            share_seen,
        ),
        Finding::check(
            "storage.smb-hardened",
            versions == SMB_VERSIONS && ciphers == SMB_CHANNEL_ENCRYPTION,
            format!("versions {SMB_VERSIONS}, channelEncryption {SMB_CHANNEL_ENCRYPTION}"),
            format!("versions {versions}, channelEncryption {ciphers}"),
        ),
    ]
}

/// The Azure writes that remediate drifted storage controls.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StoragePlan {
    /// One PATCH of the account with every drifted account property.
    pub account_patch: StorageAccountPatch,
    /// One PUT of `blobServices/default` with every drifted blob-service setting.
    pub blob_service: Option<BlobServiceProperties>,
    /// One PUT of `fileServices/default` with every drifted file-service setting.
    pub file_service: Option<FileServiceProperties>,
    pub ensure_private_endpoint: bool,
    /// Disable public network access once `ensure_private_endpoint` has succeeded.
    pub close_public_after_endpoint: bool,
    /// Create the key if missing and set its rotation policy.
    pub ensure_key: bool,
    /// A new key version now: the key exists and the account's last rotation is older than
    /// the cadence (the versionless reference picks the new version up).
    pub rotate_key: bool,
    /// Grant the account's identity `Key Vault Crypto Service Encryption User` on the key.
    pub grant_key_access: bool,
    /// Services whose diagnostic setting must be (re)written.
    pub ensure_diagnostics: Vec<String>,
    /// Ids of the controls the plan remediates.
    pub remediates: Vec<&'static str>,
}

impl StoragePlan {
    pub fn is_empty(&self) -> bool {
        self.account_patch.is_empty()
            && self.blob_service.is_none()
            && self.file_service.is_none()
            && !self.ensure_private_endpoint
            && !self.ensure_key
            && !self.grant_key_access
            && self.ensure_diagnostics.is_empty()
    }
}

/// Plans the fewest writes that fix the drifted, automatically remediable findings in
/// `to_fix` (the caller leaves out exempt controls, and plans nothing in Audit mode).
pub fn plan(
    expect: &StorageExpectations,
    obs: &StorageObservation,
    to_fix: &[&Finding],
) -> StoragePlan {
    use crate::catalog::Remediation;
    let mut plan = StoragePlan::default();
    let mut props = StorageAccountPatchProperties::default();
    let mut blob = BlobServiceProperties::default();
    let mut blob_changed = false;
    for finding in to_fix {
        if finding.found != Found::Drifted || finding.control.remediation != Remediation::Automatic
        {
            continue;
        }
        let id = finding.id();
        let handled = match id {
            "storage.min-tls-1-2" => set(&mut props.minimum_tls_version, "TLS1_2".to_string()),
            "storage.https-only" => set(&mut props.supports_https_traffic_only, true),
            // Only once the private endpoint exists: disabling public access first would cut the
            // account off from everyone. When this plan makes the endpoint, public access closes
            // right after it, in the same pass.
            "storage.public-network-disabled" => {
                let endpoint = to_fix.iter().find(|f| f.id() == "storage.private-endpoint");
                match endpoint {
                    None => set(&mut props.public_network_access, "Disabled".to_string()),
                    Some(f) if f.found == Found::Compliant => {
                        set(&mut props.public_network_access, "Disabled".to_string())
                    }
                    Some(f)
                        if f.found == Found::Drifted
                            && f.control.remediation == Remediation::Automatic =>
                    {
                        plan.close_public_after_endpoint = true;
                        true
                    }
                    Some(_) => false,
                }
            }
            "storage.network-default-deny" | "storage.network-bypass" => {
                let current = obs
                    .account
                    .properties
                    .network_acls
                    .clone()
                    .unwrap_or_default();
                let acls = props.network_acls.get_or_insert(current);
                acls.default_action = "Deny".into();
                acls.bypass = Some(expect.network_bypass.clone());
                acls.ip_rules
                    .retain(|r| expect.allowed_ip_ranges.contains(&r.value));
                true
            }
            "storage.blob-anonymous-disabled" => set(&mut props.allow_blob_public_access, false),
            "storage.shared-key-disabled" => set(&mut props.allow_shared_key_access, false),
            "storage.entra-default-auth" => set(&mut props.default_to_o_auth_authentication, true),
            "storage.cross-tenant-replication-disabled" => {
                set(&mut props.allow_cross_tenant_replication, false)
            }
            "kv.key-rotation-policy" => {
                plan.ensure_key = true;
                true
            }
            "storage.cmk" | "storage.cmk-rotation-observed" => {
                plan.ensure_key = true;
                plan.grant_key_access = true;
                // The account reaches the key through an identity: its system-assigned one
                // unless the store names a user-assigned identity.
                let current = obs.account.identity.as_ref();
                let has_system = current.is_some_and(|i| i.kind.contains("SystemAssigned"));
                if expect.key.user_assigned_identity.is_none() && !has_system {
                    let user_assigned = current.and_then(|i| i.user_assigned_identities.clone());
                    plan.account_patch.identity = Some(crate::azure::storage::ManagedIdentity {
                        kind: if user_assigned.as_ref().is_some_and(|u| !u.is_empty()) {
                            "SystemAssigned,UserAssigned".into()
                        } else {
                            "SystemAssigned".into()
                        },
                        principal_id: None,
                        tenant_id: None,
                        user_assigned_identities: user_assigned
                            .map(|u| u.into_keys().map(|k| (k, serde_json::json!({}))).collect()),
                    });
                }
                props.encryption = Some(Encryption {
                    key_source: Some("Microsoft.Keyvault".into()),
                    keyvaultproperties: Some(KeyVaultProperties {
                        keyname: Some(expect.key.key_name.clone()),
                        keyversion: Some(String::new()),
                        keyvaulturi: Some(expect.key.vault_uri.clone()),
                        ..Default::default()
                    }),
                    identity: expect.key.user_assigned_identity.as_ref().map(|u| {
                        EncryptionIdentity {
                            user_assigned_identity: Some(u.clone()),
                        }
                    }),
                    require_infrastructure_encryption: None,
                });
                true
            }
            "storage.account-key-expiry" => {
                props.key_policy = Some(crate::azure::storage::KeyPolicy {
                    key_expiration_period_in_days: MAX_KEY_EXPIRATION_DAYS,
                });
                true
            }
            "storage.sas-expiry-policy" => {
                props.sas_policy = Some(crate::azure::storage::SasPolicy {
                    sas_expiration_period: SAS_EXPIRATION.into(),
                    expiration_action: "Block".into(),
                });
                true
            }
            "storage.geo-redundant" => {
                // Geo-redundancy keeps the account's performance tier and zone redundancy.
                let zone = obs
                    .account
                    .sku
                    .as_ref()
                    .is_some_and(|s| s.name.contains("ZRS"));
                plan.account_patch.sku = Some(crate::azure::storage::Sku {
                    name: if zone {
                        "Standard_GZRS"
                    } else {
                        "Standard_GRS"
                    }
                    .into(),
                });
                true
            }
            "common.phi-classification-tag" => {
                let mut tags = obs.account.tags.clone().unwrap_or_default();
                tags.insert(
                    expect.classification_tag.0.clone(),
                    expect.classification_tag.1.clone(),
                );
                plan.account_patch.tags = Some(tags);
                true
            }
            "storage.blob-soft-delete" => {
                blob.delete_retention_policy = Some(RetentionPolicy {
                    enabled: true,
                    days: Some(expect.soft_delete_days),
                });
                blob_changed = true;
                true
            }
            "storage.container-soft-delete" => {
                blob.container_delete_retention_policy = Some(RetentionPolicy {
                    enabled: true,
                    days: Some(expect.soft_delete_days),
                });
                blob_changed = true;
                true
            }
            "storage.blob-versioning" => {
                blob.is_versioning_enabled = Some(true);
                blob_changed = true;
                true
            }
            "storage.change-feed" => {
                blob.change_feed = Some(ChangeFeed {
                    enabled: true,
                    retention_in_days: None,
                });
                blob_changed = true;
                true
            }
            "storage.file-soft-delete" => {
                plan.file_service
                    .get_or_insert_with(Default::default)
                    .share_delete_retention_policy = Some(RetentionPolicy {
                    enabled: true,
                    days: Some(expect.soft_delete_days),
                });
                true
            }
            "storage.smb-hardened" => {
                plan.file_service
                    .get_or_insert_with(Default::default)
                    .protocol_settings = Some(ProtocolSettings {
                    smb: Some(SmbSettings {
                        versions: Some(SMB_VERSIONS.into()),
                        channel_encryption: Some(SMB_CHANNEL_ENCRYPTION.into()),
                    }),
                });
                true
            }
            "storage.private-endpoint" => {
                plan.ensure_private_endpoint = true;
                true
            }
            "storage.diag-audit-logs" => {
                plan.ensure_diagnostics = expect.diagnostic_services.clone();
                true
            }
            _ => false,
        };
        if handled {
            plan.remediates.push(id);
        }
    }
    plan.account_patch.properties = props;
    if blob_changed {
        plan.blob_service = Some(blob);
    }
    plan.rotate_key = plan.ensure_key && rotation_due(expect, obs);
    plan
}

/// Whether the store's key is older than the rotation cadence: it exists, and the account's
/// last key rotation was more than `rotate_after_days` ago.
pub fn rotation_due(expect: &StorageExpectations, obs: &StorageObservation) -> bool {
    obs.latest_key_version.is_some()
        && obs
            .account
            .properties
            .encryption
            .as_ref()
            .and_then(|e| e.keyvaultproperties.as_ref())
            .and_then(|k| k.last_key_rotation_timestamp.as_deref())
            .and_then(|t| t.parse::<Timestamp>().ok())
            .is_some_and(|t| {
                obs.now.duration_since(t).as_secs() / 86_400 > expect.key.rotate_after_days
            })
}

fn set<T>(slot: &mut Option<T>, value: T) -> bool {
    *slot = Some(value);
    true
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

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
                vault_id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-clinical".into(),
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
            "../../../shared/azure-rest-examples/Microsoft.Storage/2025-01-01/StorageAccountGetPropertiesCMKEnabled.json"
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
            key_access: Some(vec!["911871cc-ffd1-4fc4-ac11-7a316433ea66".into()]),
            key_rotation_policy: Some(RotationPolicy::new("P90D", "P1Y", "P30D")),
            endpoints: crate::controls::common::fixtures::registered(PE, "blob"),
            now: now(),
        }
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
        assert_eq!(findings.len(), 25);
    }

    #[test]
    fn every_storage_control_is_evaluated_or_listed_as_not_yet() {
        let evaluated: std::collections::BTreeSet<&str> = evaluate(&expectations(), &compliant())
            .iter()
            .map(|f| f.id())
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
            kv.last_key_rotation_timestamp = Some(
                (obs.now - k8s_openapi::jiff::SignedDuration::from_hours(24 * days)).to_string(),
            );
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
}
