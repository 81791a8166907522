//! What each store kind expects, from the store's and the workspace's specs: its key, its
//! private-endpoint groups, its diagnostic categories, its classification tag and the
//! expectations each kind's controls are evaluated against. Pure.

use kube::ResourceExt;

use crate::api::phistore::{NetworkBypass, PhiStore, ResourceKind};
use crate::api::{HipaaWorkspace, duration};
use crate::azure::cloud::Cloud;
use crate::azure::keyvault::RotationPolicy;
use crate::controller::intent::endpoint_dns;
use crate::controls::cosmos::CosmosExpectations;
use crate::controls::healthdata::{HealthExpectations, Service};
use crate::controls::keyvault::VaultExpectations;
use crate::controls::sql::SqlExpectations;
use crate::controls::storage::{ExpectedKey, StorageExpectations};

/// The name of a store's key in the workspace vault: its own, or `{namespace}-{name}`.
pub fn store_key_name(store: &PhiStore) -> String {
    store
        .spec
        .encryption
        .as_ref()
        .and_then(|e| e.key_name.clone())
        .unwrap_or_else(|| {
            format!(
                "{}-{}",
                store.namespace().unwrap_or_default(),
                store.name_any()
            )
        })
}

/// The private-endpoint sub-resources of a store: its own, or its kind's default.
pub fn store_endpoint_groups(store: &PhiStore) -> Vec<String> {
    store
        .spec
        .private_endpoint
        .as_ref()
        .map(|p| p.group_ids.clone())
        .filter(|g| !g.is_empty())
        .unwrap_or_else(|| {
            vec![
                store
                    .spec
                    .resource
                    .kind
                    .default_private_endpoint_group()
                    .to_string(),
            ]
        })
}

/// The storage services whose logs are collected (default `blob`).
pub fn diagnostic_services(store: &PhiStore) -> Vec<String> {
    store
        .spec
        .diagnostics
        .as_ref()
        .map(|d| {
            d.services
                .iter()
                .map(|s| s.as_str().to_string())
                .collect::<Vec<_>>()
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| vec!["blob".into()])
}

/// The diagnostic category groups and categories a store asks for: its own, or the `audit`
/// category group.
pub fn diagnostic_categories(store: &PhiStore) -> (Vec<String>, Vec<String>) {
    let diagnostics = store.spec.diagnostics.as_ref();
    let groups: Vec<String> = diagnostics
        .map(|d| {
            d.category_groups
                .iter()
                .map(|g| g.as_str().to_string())
                .collect()
        })
        .unwrap_or_default();
    let categories = diagnostics
        .map(|d| d.categories.clone())
        .unwrap_or_default();
    if groups.is_empty() && categories.is_empty() {
        (vec!["audit".into()], categories)
    } else {
        (groups, categories)
    }
}

/// The workspace's PHI classification tag, `(name, value)`.
pub fn classification_tag(ws: &HipaaWorkspace) -> (String, String) {
    ws.spec
        .classification_tag
        .as_ref()
        .map(|t| (t.name.clone(), t.value.clone()))
        .unwrap_or_else(|| ("data-classification".into(), "phi".into()))
}

/// The workspace vault's name.
fn vault_name(ws: &HipaaWorkspace) -> String {
    crate::azure::id::ArmId::parse(&ws.spec.key_vault.resource_id)
        .ok()
        .and_then(|id| id.value_of("vaults").map(str::to_string))
        .unwrap_or_default()
}

/// What a storage store expects.
pub fn storage_expectations(
    store: &PhiStore,
    ws: &HipaaWorkspace,
    cloud: &Cloud,
) -> StorageExpectations {
    let rotation = &ws.spec.key_vault.rotation;
    let profile = store.spec.profile.as_ref();
    let (category_groups, categories) = diagnostic_categories(store);
    let services = diagnostic_services(store);
    let groups = store_endpoint_groups(store);
    StorageExpectations {
        network_bypass: match profile.map(|p| p.network_bypass) {
            Some(NetworkBypass::None) => "None".into(),
            _ => "AzureServices".into(),
        },
        allowed_ip_ranges: profile
            .map(|p| p.allowed_ip_ranges.clone())
            .unwrap_or_default(),
        file_shares: services.iter().any(|s| s == "file") || groups.iter().any(|g| g == "file"),
        endpoint_dns: endpoint_dns(ws, cloud, &groups),
        private_endpoint_groups: groups,
        key: ExpectedKey {
            vault_uri: cloud.vault_uri(&vault_name(ws)),
            vault_id: ws.spec.key_vault.resource_id.clone(),
            key_name: store_key_name(store),
            user_assigned_identity: store
                .spec
                .encryption
                .as_ref()
                .and_then(|e| e.user_assigned_identity_id.clone()),
            rotate_after_days: duration::parse(&rotation.rotate_after)
                .map(|d| (d.as_secs() / 86_400) as i64)
                .unwrap_or(90),
            rotation_policy: RotationPolicy::new(
                &rotation.rotate_after,
                &rotation.expire_after,
                &rotation.notify_before,
            ),
        },
        soft_delete_days: profile
            .map(|p| i64::from(p.soft_delete_retention_days))
            .unwrap_or(14),
        log_analytics_workspace_id: ws.spec.log_analytics.resource_id.clone(),
        diagnostic_services: services,
        category_groups,
        categories,
        classification_tag: classification_tag(ws),
    }
}

/// What a Key Vault store expects.
pub fn vault_expectations(
    store: &PhiStore,
    ws: &HipaaWorkspace,
    cloud: &Cloud,
) -> VaultExpectations {
    let (category_groups, categories) = diagnostic_categories(store);
    VaultExpectations {
        vault_id: store.spec.resource.id.clone(),
        log_analytics_id: ws.spec.log_analytics.resource_id.clone(),
        private_networking: ws.spec.private_networking.is_some(),
        endpoint_dns: endpoint_dns(ws, cloud, &["vault".to_string()]),
        classification_tag: Some(classification_tag(ws)),
        category_groups,
        categories,
        migrate_access_policies: ws.spec.key_vault.migrate_access_policies,
    }
}

/// What a Cosmos DB store expects.
pub fn cosmos_expectations(
    store: &PhiStore,
    ws: &HipaaWorkspace,
    cloud: &Cloud,
) -> CosmosExpectations {
    let (category_groups, categories) = diagnostic_categories(store);
    CosmosExpectations {
        account_id: store.spec.resource.id.clone(),
        log_analytics_id: ws.spec.log_analytics.resource_id.clone(),
        private_endpoint_groups: store_endpoint_groups(store),
        endpoint_dns: endpoint_dns(ws, cloud, &store_endpoint_groups(store)),
        vault_uri: cloud.vault_uri(&vault_name(ws)),
        allowed_ip_ranges: store
            .spec
            .profile
            .as_ref()
            .map(|p| p.allowed_ip_ranges.clone())
            .unwrap_or_default(),
        classification_tag: classification_tag(ws),
        category_groups,
        categories,
    }
}

/// What a Health Data Services store expects; `governed_storage` are the storage accounts
/// governed in the store's namespace, `default_tenant` the operator's tenant.
pub fn health_expectations(
    store: &PhiStore,
    ws: &HipaaWorkspace,
    cloud: &Cloud,
    governed_storage: Vec<String>,
    default_tenant: Option<&str>,
) -> HealthExpectations {
    let service = match store.spec.resource.kind {
        ResourceKind::HealthDataWorkspace => Service::Workspace,
        ResourceKind::FhirService => Service::Fhir,
        _ => Service::Dicom,
    };
    HealthExpectations {
        service,
        resource_id: store.spec.resource.id.clone(),
        log_analytics_id: ws.spec.log_analytics.resource_id.clone(),
        private_endpoint_groups: store_endpoint_groups(store),
        endpoint_dns: endpoint_dns(ws, cloud, &store_endpoint_groups(store)),
        key_url: format!(
            "{}/keys/{}",
            cloud.vault_uri(&vault_name(ws)).trim_end_matches('/'),
            store_key_name(store)
        ),
        tenant_id: ws
            .spec
            .identity
            .as_ref()
            .and_then(|i| i.tenant_id.clone())
            .or_else(|| default_tenant.map(str::to_string)),
        governed_storage,
        classification_tag: classification_tag(ws),
    }
}

/// What a SQL server store expects.
pub fn sql_expectations(store: &PhiStore, ws: &HipaaWorkspace, cloud: &Cloud) -> SqlExpectations {
    let vault_name = vault_name(ws);
    SqlExpectations {
        server_id: store.spec.resource.id.clone(),
        log_analytics_id: ws.spec.log_analytics.resource_id.clone(),
        private_endpoint_groups: store_endpoint_groups(store),
        endpoint_dns: endpoint_dns(ws, cloud, &store_endpoint_groups(store)),
        vault_uri: cloud.vault_uri(&vault_name),
        vault_name,
        key_name: store_key_name(store),
        min_pitr_days: 7,
        classification_tag: classification_tag(ws),
    }
}
