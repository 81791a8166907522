//! A pass's Azure reads for a store: the governed resource and everything its kind's controls
//! look at (diagnostic settings, private endpoints, the key in the workspace vault, the SQL
//! server's sub-resources), concurrently where independent. Reads only.

use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use serde_json::json;

use super::kinds::{self, Target};
use crate::api::HipaaWorkspace;
use crate::api::common::condition::Failed;
use crate::api::phistore::{PhiStore, ResourceKind};
use crate::azure::resources;
use crate::azure::{AzureClient, AzureError};
use crate::controller::context::Context;
use crate::controller::intent::{EndpointPlacement, Intent, WritePlan};
use crate::controller::observe::{diagnostic_settings, endpoints, endpoints_of, role_holders};
use crate::controller::pipeline::Failure;
use crate::controller::trust::Permit;
use crate::controls::cosmos::CosmosObservation;
use crate::controls::defender::{self, DefenderExpectations, DefenderObservation};
use crate::controls::healthdata::{HealthObservation, Service};
use crate::controls::keyvault::VaultObservation;
use crate::controls::sql::{self, SqlExpectations, SqlObservation};
use crate::controls::storage::{StorageExpectations, StorageObservation};

/// What a pass read of the governed resource: its kind's view, the Defender plan covering it
/// (for the kinds Defender has a plan for), and the fingerprint of its ARM envelope (the
/// baseline of batched drift detection).
pub struct Observed {
    pub target: Target,
    pub defender: Option<(DefenderExpectations, DefenderObservation)>,
    pub print: u64,
}

impl Observed {
    /// The kind's findings and the Defender plan's.
    pub fn evaluate(&self, ws: &HipaaWorkspace) -> Vec<crate::controls::Finding> {
        let mut findings = self.target.evaluate(ws);
        if let Some((expect, obs)) = &self.defender {
            findings.push(defender::evaluate(expect, obs));
        }
        findings
    }

    /// The kind's writes that fix `to_fix`, then the Defender plan's.
    pub fn plan(
        &self,
        ws: &HipaaWorkspace,
        placement: &EndpointPlacement<'_>,
        to_fix: &[&crate::controls::Finding],
    ) -> Result<WritePlan, String> {
        let mut plan = self.target.plan(ws, placement, to_fix)?;
        if let Some((expect, _)) = &self.defender
            && let Some(write) = defender::plan(expect, to_fix)
        {
            plan.intents.push(Intent::Arm(write));
            plan.remediates.push(expect.control);
        }
        Ok(plan)
    }

    /// The body the pass read for `id`, for the `from` of a planned change.
    pub fn observed(&self, id: &str) -> Option<serde_json::Value> {
        self.target.observed(id).or_else(|| match &self.defender {
            Some((expect, Ok(pricing))) if expect.pricing_id.eq_ignore_ascii_case(id) => {
                serde_json::to_value(pricing).ok()
            }
            _ => None,
        })
    }
}

/// Reads the store's resource, what its kind's controls need and the Defender plan covering
/// it, concurrently.
pub async fn target(
    azure: &AzureClient,
    ctx: &Context,
    store: &PhiStore,
    ws: &HipaaWorkspace,
    permit: &Permit,
) -> Result<Observed, Failure> {
    let (kind, defender) = futures::join!(
        kind_target(azure, ctx, store, ws),
        defender(azure, store, permit)
    );
    let (target, print) = kind?;
    Ok(Observed {
        target,
        defender,
        print,
    })
}

/// The subscription's Defender plan for the store's kind. A plan that cannot be read is
/// reported as such by its control; it does not stop the pass.
async fn defender(
    azure: &AzureClient,
    store: &PhiStore,
    permit: &Permit,
) -> Option<(DefenderExpectations, DefenderObservation)> {
    let (control, _, _) = kinds::defender_plan(store.spec.resource.kind)?;
    let expect = DefenderExpectations::of(control, &store.spec.resource.id, |id| {
        crate::azure::id::ArmId::parse(id).is_ok_and(|id| permit.covers(&id))
    })?;
    let read = crate::controller::observe::defender_plan(azure, &expect).await;
    Some((expect, read))
}

/// Reads the store's resource and what its kind's controls need.
async fn kind_target(
    azure: &AzureClient,
    ctx: &Context,
    store: &PhiStore,
    ws: &HipaaWorkspace,
) -> Result<(Target, u64), Failure> {
    let id = &store.spec.resource.id;
    let kind = store.spec.resource.kind;
    let cloud = ctx.azure_cloud();
    match kind {
        ResourceKind::StorageAccount => {
            let account = match azure.get_storage_account(id).await {
                Ok(a) => a,
                Err(AzureError::NotFound { .. }) => return Err(not_found(kind, id)),
                Err(e) => return Err(e.into()),
            };
            let print = crate::controller::drift::storage_print(&account);
            let expect = kinds::storage_expectations(store, ws, cloud);
            let obs = observe_storage(azure, account, &expect).await?;
            Ok((Target::Storage(Box::new((expect, obs))), print))
        }
        ResourceKind::KeyVault => {
            let t = read_target(azure, &resources::GET_VAULT, kind, id, true).await?;
            let print = crate::controller::drift::resource_print(&t.resource);
            let expect = kinds::vault_expectations(store, ws, cloud);
            let role_holders = if VaultObservation::needs_role_holders(&expect, &t.resource) {
                Some(role_holders(azure, id, ctx.role_settle).await?)
            } else {
                None
            };
            let obs = VaultObservation {
                vault: t.resource,
                diagnostics: t.diagnostics,
                endpoints: t.endpoints,
                role_holders,
            };
            Ok((Target::Vault(Box::new((expect, obs))), print))
        }
        ResourceKind::CosmosDbAccount => {
            let t = read_target(azure, &resources::GET_COSMOS_ACCOUNT, kind, id, true).await?;
            let print = crate::controller::drift::resource_print(&t.resource);
            let obs = CosmosObservation {
                account: t.resource,
                diagnostics: t.diagnostics,
                endpoints: t.endpoints,
                now: Timestamp::now(),
            };
            let expect = kinds::cosmos_expectations(store, ws, cloud);
            Ok((Target::Cosmos(Box::new((expect, obs))), print))
        }
        ResourceKind::HealthDataWorkspace
        | ResourceKind::FhirService
        | ResourceKind::DicomService => {
            let (service, get) = match kind {
                ResourceKind::HealthDataWorkspace => {
                    (Service::Workspace, resources::GET_HDS_WORKSPACE)
                }
                ResourceKind::FhirService => (Service::Fhir, resources::GET_FHIR),
                _ => (Service::Dicom, resources::GET_DICOM),
            };
            // The workspace has no diagnostic-setting control of its own.
            let t = read_target(azure, &get, kind, id, service != Service::Workspace).await?;
            let print = crate::controller::drift::resource_print(&t.resource);
            let obs = HealthObservation {
                resource: t.resource,
                diagnostics: t.diagnostics,
                endpoints: t.endpoints,
            };
            let governed_storage: Vec<String> = ctx
                .stores
                .get()
                .map(|cache| {
                    cache
                        .state()
                        .into_iter()
                        .filter(|s| s.namespace() == store.namespace())
                        .filter(|s| s.spec.resource.kind == ResourceKind::StorageAccount)
                        .map(|s| s.spec.resource.id.clone())
                        .collect()
                })
                .unwrap_or_default();
            let expect = kinds::health_expectations(
                store,
                ws,
                cloud,
                governed_storage,
                ctx.azure.default_tenant(),
            );
            Ok((Target::Health(Box::new((expect, obs))), print))
        }
        ResourceKind::SqlServer => {
            let server = azure
                .get_resource(&resources::GET_SQL_SERVER, id)
                .await?
                .ok_or_else(|| not_found(kind, id))?;
            let print = crate::controller::drift::resource_print(&server);
            let expect = kinds::sql_expectations(store, ws, cloud);
            let obs = observe_sql(azure, id, server, &expect).await?;
            Ok((Target::Sql(Box::new((expect, obs))), print))
        }
    }
}

/// A governed resource as its evaluator needs it: the ARM envelope, the diagnostic settings on
/// it (when asked for) and the group ids of the private endpoints connected to it.
struct Read {
    resource: crate::azure::resources::ArmResource,
    diagnostics: Vec<crate::azure::insights::DiagnosticSetting>,
    endpoints: crate::controls::common::SeenEndpoints,
}

async fn read_target(
    azure: &AzureClient,
    op: &crate::azure::types::ArmOp,
    kind: ResourceKind,
    id: &str,
    with_diagnostics: bool,
) -> Result<Read, Failure> {
    let resource = async {
        azure
            .get_resource(op, id)
            .await?
            .ok_or_else(|| not_found(kind, id))
    };
    let diagnostics = async {
        if with_diagnostics {
            Ok(diagnostic_settings(azure, id).await?)
        } else {
            Ok(Vec::new())
        }
    };
    let (resource, diagnostics) = futures::try_join!(resource, diagnostics)?;
    let endpoints = endpoints(azure, &json!({ "properties": resource.properties })).await?;
    Ok(Read {
        resource,
        diagnostics,
        endpoints,
    })
}

fn not_found(kind: ResourceKind, id: &str) -> Failure {
    Failure::new(
        Failed::ResourceNotFound,
        format!(
            "{} {id} does not exist, or the operator's identity cannot see it: check spec.resource.id",
            kind.as_str()
        ),
    )
}

/// Everything the `sql.*` controls read for one server.
async fn observe_sql(
    azure: &AzureClient,
    id: &str,
    server: crate::azure::resources::ArmResource,
    expect: &SqlExpectations,
) -> Result<SqlObservation, Failure> {
    use crate::azure::resources::{ArmResource, api_version};
    use crate::azure::types::ArmOp;
    #[derive(serde::Deserialize)]
    struct Page {
        #[serde(default)]
        value: Vec<ArmResource>,
    }
    const fn op(name: &'static str) -> ArmOp {
        ArmOp::new(name, "Microsoft.Sql", api_version::SQL)
    }
    let opt = |op: ArmOp, path: String| async move {
        azure.get_resource(&op, &path).await.map_err(Failure::from)
    };
    // Every read but the databases' own settings is independent: they run concurrently, and
    // each database's three settings once the list is in.
    let databases = async {
        let list: Page = azure
            .get(&op("Databases_ListByServer"), &format!("{id}/databases"))
            .await?;
        let each = list
            .value
            .into_iter()
            .filter(|d| !d.name.eq_ignore_ascii_case("master"))
            .map(|database| async move {
                let db = database.id.clone();
                let (tde, long_term, short_term) = futures::try_join!(
                    opt(
                        op("TransparentDataEncryptions_Get"),
                        format!("{db}/transparentDataEncryption/current"),
                    ),
                    opt(
                        op("LongTermRetentionPolicies_Get"),
                        format!("{db}/backupLongTermRetentionPolicies/default"),
                    ),
                    opt(
                        op("BackupShortTermRetentionPolicies_Get"),
                        format!("{db}/backupShortTermRetentionPolicies/default"),
                    ),
                )?;
                Ok::<_, Failure>(sql::Database {
                    tde,
                    long_term,
                    short_term,
                    database,
                })
            });
        futures::future::try_join_all(each).await
    };
    let firewall = async {
        let page: Page = azure
            .get(
                &op("FirewallRules_ListByServer"),
                &format!("{id}/firewallRules"),
            )
            .await?;
        Ok::<_, Failure>(page.value)
    };
    let latest_key_version = async {
        Ok::<_, Failure>(
            azure
                .get_key(&expect.vault_name, &expect.key_name)
                .await?
                .map(|k| k.key.version().to_string()),
        )
    };
    let endpoints = async {
        endpoints(azure, &json!({ "properties": server.properties }))
            .await
            .map_err(Failure::from)
    };
    let master = format!("{id}/databases/master");
    let (
        (firewall_rules, databases, latest_key_version, endpoints),
        (encryption_protector, auditing, master_diagnostics),
        (administrator, entra_only, alert_policy, vulnerability_assessment, classic_assessment),
    ) = futures::try_join!(
        async { futures::try_join!(firewall, databases, latest_key_version, endpoints) },
        async {
            futures::try_join!(
                opt(
                    op("EncryptionProtectors_Get"),
                    format!("{id}/encryptionProtector/current"),
                ),
                opt(
                    op("ServerBlobAuditingPolicies_Get"),
                    format!("{id}/auditingSettings/default"),
                ),
                async { Ok::<_, Failure>(diagnostic_settings(azure, &master).await?) },
            )
        },
        async {
            futures::try_join!(
                opt(
                    op("ServerAzureADAdministrators_Get"),
                    format!("{id}/administrators/ActiveDirectory"),
                ),
                opt(
                    op("ServerAzureADOnlyAuthentications_Get"),
                    format!("{id}/azureADOnlyAuthentications/Default"),
                ),
                opt(
                    op("ServerSecurityAlertPolicies_Get"),
                    format!("{id}/securityAlertPolicies/Default"),
                ),
                opt(
                    sql::GET_VA_EXPRESS,
                    format!("{id}/sqlVulnerabilityAssessments/default"),
                ),
                opt(
                    sql::GET_VA_CLASSIC,
                    format!("{id}/vulnerabilityAssessments/default"),
                ),
            )
        },
    )?;
    Ok(SqlObservation {
        firewall_rules,
        databases,
        encryption_protector,
        auditing,
        master_diagnostics,
        administrator,
        entra_only,
        alert_policy,
        vulnerability_assessment,
        classic_assessment,
        endpoints,
        latest_key_version,
        server,
    })
}

/// Everything the `storage.*` controls read besides the account. The reads are independent of
/// one another (the key's rotation policy and users only need the key to exist), so they run
/// concurrently: a pass costs a few round trips, not one per read.
async fn observe_storage(
    azure: &AzureClient,
    account: crate::azure::storage::StorageAccount,
    expect: &StorageExpectations,
) -> Result<StorageObservation, Failure> {
    let blob_service = async {
        match azure.get_blob_service(&account.id).await {
            Ok(b) => Ok(Some(b.properties)),
            Err(AzureError::NotFound { .. }) => Ok(None),
            Err(e) => Err(Failure::from(e)),
        }
    };
    let file_service = async {
        if expect.file_shares {
            Ok(Some(azure.get_file_service(&account.id).await?))
        } else {
            Ok::<_, Failure>(None)
        }
    };
    let account_id = account.id.as_str();
    let diagnostics = futures::future::try_join_all(expect.diagnostic_services.iter().map(
        |service| async move {
            let resource = format!("{account_id}/{service}Services/default");
            // A service the account does not have (yet) has no settings: the finding says so.
            Ok::<_, Failure>((
                service.clone(),
                diagnostic_settings(azure, &resource).await?,
            ))
        },
    ));
    let endpoints = account
        .properties
        .private_endpoint_connections
        .iter()
        .filter_map(|c| c.properties.private_endpoint.as_ref())
        .map(|e| e.id.clone());
    let endpoints = async { endpoints_of(azure, endpoints).await.map_err(Failure::from) };
    let key = observe_key(azure, expect);
    let (blob_service, file_service, diagnostics, endpoints, key) =
        futures::try_join!(blob_service, file_service, diagnostics, endpoints, key)?;
    Ok(StorageObservation {
        account,
        blob_service,
        file_service,
        diagnostics: diagnostics.into_iter().collect(),
        latest_key_version: key.latest_version,
        key_bundle: key.bundle,
        key_access: key.access,
        key_rotation_policy: key.rotation_policy,
        endpoints,
        now: Timestamp::now(),
    })
}

/// What a store's customer-managed key looks like in the workspace vault.
struct KeyObservation {
    latest_version: Option<String>,
    bundle: Option<crate::azure::keyvault::KeyBundle>,
    rotation_policy: Option<crate::azure::keyvault::RotationPolicy>,
    /// Who can wrap and unwrap with it; read only once the key exists.
    access: Option<Vec<String>>,
}

async fn observe_key(
    azure: &AzureClient,
    expect: &StorageExpectations,
) -> Result<KeyObservation, Failure> {
    let vault = vault_name(&expect.key.vault_uri);
    let bundle = azure.get_key(&vault, &expect.key.key_name).await?;
    let latest_version = bundle.as_ref().map(|k| k.key.version().to_string());
    if latest_version.is_none() {
        return Ok(KeyObservation {
            latest_version,
            bundle,
            rotation_policy: None,
            access: None,
        });
    }
    let scope = key_scope(expect);
    let (rotation_policy, reaching) = futures::try_join!(
        azure.get_rotation_policy(&vault, &expect.key.key_name),
        azure.role_assignments_reaching(&scope)
    )?;
    let access = reaching
        .into_iter()
        .filter(|(_, role)| role.grants_data(WRAP_KEY) && role.grants_data(UNWRAP_KEY))
        .map(|(a, _)| a.properties.principal_id)
        .collect();
    Ok(KeyObservation {
        latest_version,
        bundle,
        rotation_policy,
        access: Some(access),
    })
}

fn vault_name(vault_uri: &str) -> String {
    vault_uri
        .trim_start_matches("https://")
        .split('.')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The data actions a customer-managed key's user needs.
const WRAP_KEY: &str = "Microsoft.KeyVault/vaults/keys/wrap/action";
const UNWRAP_KEY: &str = "Microsoft.KeyVault/vaults/keys/unwrap/action";

/// The ARM scope of the store's key, below its vault.
fn key_scope(expect: &StorageExpectations) -> String {
    format!(
        "{}/keys/{}",
        expect.key.vault_id.trim_end_matches('/'),
        expect.key.key_name
    )
}
