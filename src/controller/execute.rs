//! The executor: the only code that writes to Azure or creates Kubernetes objects on behalf of a
//! reconcile. A [`WritePlan`] built by pure planners becomes calls here, behind three checks
//! made on the whole plan before its first write:
//!
//! * no Azure write in `Audit` (a planner that forgot the mode cannot make one);
//! * every ARM id an intent writes or points at parses as an ARM id and lies inside the scopes
//!   the admin's grants allow ([`Permit::covers`]) — a user-written string cannot aim a write;
//! * no irreversible remediation without a grant that allows it.
//!
//! A refused plan writes nothing. Intents run in order and stop at the first error, or at the
//! first write Azure is still working on (handed over as a running operation, polled later).

use azure_core::http::Method;
use serde_json::Value;

use super::intent::{Intent, StorageWrites, WritePlan};
use super::trust::{IRREVERSIBLE, Permit};
use crate::api::AccessReview;
use crate::api::common::Mode;
use crate::azure::authorization::KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER;
use crate::azure::id::ArmId;
use crate::azure::{AzureClient, AzureError};
use crate::controls::plan::ArmWrite;

/// Why a plan was not (fully) executed.
#[derive(Debug, thiserror::Error)]
pub enum ExecuteError {
    /// The plan broke a rule the executor enforces; nothing was written.
    #[error("refused before any write: {0}")]
    Refused(String),
    #[error(transparent)]
    Azure(#[from] AzureError),
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
}

/// What an executed plan made that the report needs, and the error that stopped it, if one
/// did: what was made before the error is kept (a cycle opened, an assignment removed).
#[derive(Debug, Default)]
pub struct Executed {
    /// Review cycles created, as the API server returned them.
    pub opened: Vec<AccessReview>,
    /// Review cycles whose decisions were updated (mirrored from Azure).
    pub updated: Vec<AccessReview>,
    /// Role assignments removed.
    pub removed: Vec<String>,
    /// Whether any Azure write was made.
    pub wrote_azure: bool,
    /// A write Azure accepted and is still working on: the plan stopped there (what follows
    /// may depend on it) and the operation is polled on a later pass.
    pub running: Option<crate::azure::lro::RunningOperation>,
    pub error: Option<ExecuteError>,
}

/// Writes one plan for one workspace's identity.
pub struct Executor<'a> {
    azure: Option<&'a AzureClient>,
    kube: &'a kube::Client,
    permit: &'a Permit,
    mode: Mode,
}

impl<'a> Executor<'a> {
    /// An executor writing through `azure` (none: the plan may hold Kubernetes intents only)
    /// under `permit`, in `mode`.
    pub fn new(
        azure: Option<&'a AzureClient>,
        kube: &'a kube::Client,
        permit: &'a Permit,
        mode: Mode,
    ) -> Executor<'a> {
        Executor {
            azure,
            kube,
            permit,
            mode,
        }
    }

    /// Checks the whole plan, then makes its writes in order, stopping at the first error.
    pub async fn run(&self, plan: &WritePlan) -> Executed {
        let mut done = Executed::default();
        if let Err(e) = self.check(plan) {
            done.error = Some(e);
            return done;
        }
        for intent in &plan.intents {
            match self.one(intent, &mut done).await {
                Ok(()) => done.wrote_azure |= intent.writes_azure(),
                Err(ExecuteError::Azure(AzureError::Running(running))) => {
                    done.wrote_azure = true;
                    done.running = Some(*running);
                    break;
                }
                Err(e) => {
                    done.error = Some(e);
                    break;
                }
            }
        }
        done
    }

    /// The rules every plan must pass before its first write.
    pub fn check(&self, plan: &WritePlan) -> Result<(), ExecuteError> {
        if !plan.writes_azure() {
            return Ok(());
        }
        if self.mode == Mode::Audit {
            return Err(ExecuteError::Refused(
                "Audit mode makes no Azure writes".into(),
            ));
        }
        if !self.permit.allow_irreversible
            && let Some(id) = plan.remediates.iter().find(|id| IRREVERSIBLE.contains(id))
        {
            return Err(ExecuteError::Refused(format!(
                "{id} cannot be undone and no AzureScopeGrant of {} allows irreversible changes",
                self.permit.grants.join(", ")
            )));
        }
        for intent in &plan.intents {
            for target in intent.targets() {
                let id = ArmId::parse(&target)
                    .map_err(|e| ExecuteError::Refused(format!("{target}: {e}")))?;
                if !self.permit.covers(&id) {
                    return Err(ExecuteError::Refused(format!(
                        "{id} is outside the scopes granted by {}",
                        self.permit.grants.join(", ")
                    )));
                }
            }
        }
        Ok(())
    }

    fn azure(&self) -> Result<&AzureClient, ExecuteError> {
        self.azure.ok_or_else(|| {
            ExecuteError::Refused("no Azure client for a plan with Azure writes".into())
        })
    }

    async fn one(&self, intent: &Intent, done: &mut Executed) -> Result<(), ExecuteError> {
        match intent {
            Intent::OpenCycle(review) => {
                done.opened
                    .push(create_cycle(&self.cycles(review), (**review).clone()).await?);
                return Ok(());
            }
            Intent::SetCycleDecisions(review) => {
                use kube::ResourceExt;
                let patch = serde_json::json!({"spec": {"decisions": review.spec.decisions}});
                let updated = self
                    .cycles(review)
                    .patch(
                        &review.name_any(),
                        &kube::api::PatchParams::default(),
                        &kube::api::Patch::Merge(&patch),
                    )
                    .await?;
                done.updated.push(updated);
                return Ok(());
            }
            _ => {}
        }
        let azure = self.azure()?;
        match intent {
            Intent::EnsureKey {
                vault_id,
                name,
                kty,
                bits,
                policy,
                seen_absent,
            } => {
                if *seen_absent {
                    azure
                        .create_key_with_policy(vault_name(vault_id), name, kty, *bits, policy)
                        .await?;
                } else {
                    azure
                        .ensure_key(vault_name(vault_id), name, kty, *bits, policy)
                        .await?;
                }
            }
            Intent::RotateKey { vault_id, name } => {
                azure.rotate_key(vault_name(vault_id), name).await?;
            }
            Intent::SetKeyExpiry {
                vault_id,
                name,
                version,
                exp,
            } => {
                azure
                    .set_key_expiry(vault_name(vault_id), name, version, *exp)
                    .await?;
            }
            Intent::PrivateEndpoint(desired) => {
                azure.ensure_private_endpoint(desired).await?;
            }
            Intent::Storage(writes) => storage(azure, writes).await?,
            Intent::Arm(write) => arm(azure, write).await?,
            Intent::Diagnostic(setting) => {
                azure.put_diagnostic_setting(setting).await?;
            }
            Intent::GrantRole(g) => {
                // The principal exists already (it holds an access policy): no type is sent,
                // Azure resolves it.
                azure
                    .assign_role(&g.scope, g.role_guid, &g.principal_id, None)
                    .await?;
            }
            Intent::RemoveRoleAssignment(id) => {
                azure.delete_role_assignment(id).await?;
                done.removed.push(id.as_str().to_string());
            }
            Intent::RemovePrivateEndpoint(id) => azure.ensure_private_endpoint_absent(id).await?,
            Intent::RemoveDiagnosticSetting(resource) => {
                azure.ensure_diagnostic_setting_absent(resource).await?;
            }
            Intent::AssignPolicy {
                scope,
                name,
                location,
            } => {
                azure
                    .ensure_policy_assignment(
                        scope,
                        name,
                        location,
                        "HIPAA HITRUST (assigned by hipaa-operator)",
                    )
                    .await?;
            }
            Intent::OpenCycle(_) | Intent::SetCycleDecisions(_) => {}
        }
        Ok(())
    }

    fn cycles(&self, review: &AccessReview) -> kube::Api<AccessReview> {
        let namespace = review.metadata.namespace.clone().unwrap_or_default();
        kube::Api::namespaced(self.kube.clone(), &namespace)
    }
}

/// The vault's name, the last segment of its ARM id.
fn vault_name(vault_id: &str) -> &str {
    vault_id
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
}

async fn arm(azure: &AzureClient, write: &ArmWrite) -> Result<(), AzureError> {
    match write {
        ArmWrite::Patch { op, id, body } => {
            azure.write(op, Method::Patch, id, Some(body), None).await?;
        }
        ArmWrite::Put { op, id, body } => {
            azure.write(op, Method::Put, id, Some(body), None).await?;
        }
        ArmWrite::Post {
            op,
            id,
            body,
            if_match,
        } => {
            azure
                .write(op, Method::Post, id, body.as_ref(), if_match.clone())
                .await?;
        }
        ArmWrite::Delete { op, id } => azure.delete(op, id).await?,
        ArmWrite::Merge { get, put, id, set } => {
            azure
                .read_modify_write(get, put, id, |body| merge(body, set))
                .await?;
        }
    }
    Ok(())
}

async fn storage(azure: &AzureClient, w: &StorageWrites) -> Result<(), AzureError> {
    let account_id = &w.account_id;
    let mut patch = w.patch.clone();
    if w.close_public {
        // The private endpoint intent before this one has succeeded.
        patch.properties.public_network_access = Some("Disabled".into());
    }
    if let Some(grant) = &w.key_grant {
        // The identity must exist, and hold the key role, before encryption points at the key.
        // A system-assigned identity the account did not have is created by this PATCH: a new
        // principal holds no role yet, so there is nothing to list before granting it.
        let new_principal = patch.identity.is_some()
            && grant.known_principal.is_none()
            && grant.user_assigned_identity.is_none();
        let principal = match patch.identity.take() {
            Some(identity) => {
                let with_identity = crate::azure::storage::StorageAccountPatch {
                    identity: Some(identity),
                    ..Default::default()
                };
                match azure
                    .update_storage_account(account_id, &with_identity)
                    .await?
                {
                    Some(updated) => crate::controls::storage::principal_of(
                        &updated,
                        grant.user_assigned_identity.as_deref(),
                    ),
                    None => grant.known_principal.clone(),
                }
            }
            None => grant.known_principal.clone(),
        };
        match principal {
            Some(principal) if new_principal => {
                azure
                    .assign_role(
                        &grant.key_scope,
                        KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER,
                        &principal,
                        Some("ServicePrincipal"),
                    )
                    .await?;
            }
            Some(principal) => {
                azure
                    .ensure_role_assignment(
                        &grant.key_scope,
                        KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER,
                        &principal,
                        Some("ServicePrincipal"),
                    )
                    .await?;
            }
            None => tracing::warn!(
                account = %account_id,
                "the account's identity has no principal id yet; the key role is granted at the next pass"
            ),
        }
    }
    if !patch.is_empty() {
        azure.update_storage_account(account_id, &patch).await?;
    }
    if let Some(blob) = &w.blob_service {
        azure.set_blob_service(account_id, blob).await?;
    }
    if let Some(file) = &w.file_service {
        azure.set_file_service(account_id, file).await?;
    }
    Ok(())
}

/// Creates a cycle under its name, or, when an object someone else wrote holds that name, under
/// a name the API server generates from it: a squatted name cannot stop reviews.
async fn create_cycle(
    api: &kube::Api<AccessReview>,
    mut review: AccessReview,
) -> Result<AccessReview, kube::Error> {
    use kube::ResourceExt;
    use kube::api::PostParams;
    match api.create(&PostParams::default(), &review).await {
        Err(kube::Error::Api(e)) if e.code == 409 => {
            review.metadata.generate_name = Some(format!("{}-", review.name_any()));
            review.metadata.name = None;
            api.create(&PostParams::default(), &review).await
        }
        other => other,
    }
}

/// Sets each JSON pointer of `set` in `body` (creating objects on the way); whether anything
/// changed.
fn merge(body: &mut Value, set: &[(String, Value)]) -> bool {
    let mut changed = false;
    for (pointer, value) in set {
        let mut at_node = &mut *body;
        let parts: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
        for part in &parts[..parts.len().saturating_sub(1)] {
            if !at_node.get(*part).is_some_and(Value::is_object) {
                at_node[*part] = Value::Object(Default::default());
            }
            at_node = &mut at_node[*part];
        }
        let last = parts.last().copied().unwrap_or_default();
        if at_node.get(last) != Some(value) {
            at_node[last] = value.clone();
            changed = true;
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::id::RoleAssignmentId;
    use serde_json::json;

    #[test]
    fn merges_set_pointers_and_report_changes() {
        let mut body = json!({"properties": {"corsConfiguration": {"origins": ["*"]}}});
        let set = vec![
            (
                "/properties/corsConfiguration/origins".to_string(),
                json!([]),
            ),
            (
                "/properties/encryption/customerManagedKeyEncryption/keyEncryptionKeyUrl"
                    .to_string(),
                json!("https://kv/keys/k"),
            ),
        ];
        assert!(merge(&mut body, &set));
        assert_eq!(
            body["properties"]["corsConfiguration"]["origins"],
            json!([])
        );
        assert_eq!(
            body["properties"]["encryption"]["customerManagedKeyEncryption"]["keyEncryptionKeyUrl"],
            json!("https://kv/keys/k")
        );
        assert!(!merge(&mut body, &set), "a second merge changes nothing");
    }

    const RG: &str = "/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/rg-a";

    fn permit(irreversible: bool) -> Permit {
        Permit::for_test(&[RG], true, irreversible)
    }

    /// A client that is never built: the checks run before any use of it.
    fn kube() -> kube::Client {
        let config = kube::Config::new("http://127.0.0.1:9".parse().expect("url"));
        kube::Client::try_from(config).expect("client")
    }

    fn removal(scope: &str) -> Intent {
        Intent::RemoveRoleAssignment(
            RoleAssignmentId::parse(&format!(
                "{scope}/providers/Microsoft.Authorization/roleAssignments/11111111-1111-4111-8111-111111111111"
            ))
            .expect("id"),
        )
    }

    fn plan(intents: Vec<Intent>, remediates: Vec<&'static str>) -> WritePlan {
        WritePlan {
            intents,
            remediates,
        }
    }

    #[tokio::test]
    async fn audit_mode_refuses_any_azure_write() {
        let (kube, permit) = (kube(), permit(true));
        let audit = Executor::new(None, &kube, &permit, Mode::Audit);
        let err = audit
            .check(&plan(vec![removal(RG)], vec![]))
            .expect_err("refused");
        assert!(err.to_string().contains("Audit"), "{err}");
        // A plan with nothing for Azure passes in Audit.
        audit.check(&plan(vec![], vec![])).expect("empty plan");
    }

    #[tokio::test]
    async fn writes_outside_the_granted_scopes_are_refused_before_any_write() {
        let (kube, permit) = (kube(), permit(true));
        let enforce = Executor::new(None, &kube, &permit, Mode::Enforce);
        let other = "/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/rg-b";
        // The first intent is inside, the second outside: the whole plan is refused.
        let err = enforce
            .check(&plan(vec![removal(RG), removal(other)], vec![]))
            .expect_err("refused");
        assert!(err.to_string().contains("rg-b"), "{err}");
        // A target that is not an ARM id (a query smuggled into it) is refused too.
        let smuggled = Intent::RemovePrivateEndpoint(format!(
            "{RG}/providers/Microsoft.Network/privateEndpoints/pe?x=/subscriptions/s"
        ));
        assert!(enforce.check(&plan(vec![smuggled], vec![])).is_err());
        // A key in a vault of another resource group.
        let key = Intent::RotateKey {
            vault_id: format!("{other}/providers/Microsoft.KeyVault/vaults/kv"),
            name: "k".into(),
        };
        assert!(enforce.check(&plan(vec![key], vec![])).is_err());
    }

    #[tokio::test]
    async fn irreversible_remediations_need_the_grants_permission() {
        let kube = kube();
        let vault = format!("{RG}/providers/Microsoft.KeyVault/vaults/kv");
        let write = Intent::Arm(ArmWrite::Patch {
            op: crate::azure::types::ArmOp::new(
                "Vaults_Update",
                "Microsoft.KeyVault",
                "2023-07-01",
            ),
            id: vault,
            body: json!({"properties": {"enablePurgeProtection": true}}),
        });
        let p = plan(vec![write], vec!["kv.purge-protection"]);
        let without = permit(false);
        let err = Executor::new(None, &kube, &without, Mode::Enforce)
            .check(&p)
            .expect_err("refused");
        assert!(err.to_string().contains("kv.purge-protection"), "{err}");
        let with = permit(true);
        Executor::new(None, &kube, &with, Mode::Enforce)
            .check(&p)
            .expect("allowed");
    }
}
