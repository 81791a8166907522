//! The PhiStore controller end to end: the operator binary, the real API server and azure-sim.
//! A non-compliant storage account stays untouched in Audit mode and converges in Enforce mode;
//! out-of-band drift is found and reverted within one interval; a steady state writes nothing;
//! failures show a reason a person can act on.

mod support;

use std::time::{Duration, Instant};

use hipaa_operator::api::PhiStore;
use hipaa_operator::azure::storage::{StorageAccountPatch, StorageAccountPatchProperties};
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;
use support::estate::{
    Estate, INTERVAL_SECS, WORKSPACE, has_reason, is_ready, ready, ready_message, states,
};
use support::helm;
use support::secs;
use support::sim::{self, Sim};
use support::store::{PRIVACY_OFFICER, StoreBuilder, StoreFixture};

const STORE: &str = "referral-letters";

/// The storage example without the exemption, so every control counts.
fn store() -> StoreBuilder {
    PhiStore::test("phistore-storage.yaml").without_exemptions()
}

#[tokio::test]
async fn audit_mode_reports_every_failing_control_and_writes_nothing() {
    let e = Estate::test("audit").audit().start().await;
    e.sim.clear_log().await;
    e.create(&store().build()).await;
    let s = e
        .wait_store(STORE, "Drifted", secs(60), |s| {
            ready(s).is_some_and(|(status, reason)| status == "False" && reason == "Drifted")
        })
        .await;
    let states = states(&s);
    for id in [
        "storage.min-tls-1-2",
        "storage.https-only",
        "storage.public-network-disabled",
        "storage.cmk",
        "storage.private-endpoint",
        "storage.diag-audit-logs",
    ] {
        assert_eq!(
            states.get(id).map(String::as_str),
            Some("Drifted"),
            "{id}: {states:?}"
        );
    }
    let status = s.status.expect("status");
    let tls = status
        .controls
        .iter()
        .find(|c| c.id == "storage.min-tls-1-2")
        .expect("tls");
    assert_eq!(
        (tls.expected.as_str(), tls.observed.as_str()),
        ("TLS1_2", "TLS1_0")
    );
    assert!(tls.hipaa.contains(&"164.312(e)(1)".to_string()));
    assert!(
        status
            .conditions
            .iter()
            .any(|c| c.type_ == "EncryptedInTransit" && c.status == "False")
    );
    assert_eq!(status.mode, Some(hipaa_operator::api::Mode::Audit));
    // The remediation preview: what Enforce would write, property by property, from what was
    // read, and why it is not written now.
    let planned = |property: &str| {
        status
            .planned_changes
            .iter()
            .find(|c| c.property == property)
            .unwrap_or_else(|| panic!("{property} planned: {:#?}", status.planned_changes))
    };
    let tls = planned("properties.minimumTlsVersion");
    assert_eq!(
        (tls.method.as_str(), tls.from.as_str(), tls.to.as_str()),
        ("PATCH", "TLS1_0", "TLS1_2")
    );
    assert!(
        tls.resource.eq_ignore_ascii_case(&sim::account_id()),
        "{}",
        tls.resource
    );
    assert!(tls.held.starts_with("Audit mode"), "{}", tls.held);
    assert_eq!(planned("properties.supportsHttpsTrafficOnly").to, "true");
    assert!(
        status
            .planned_changes
            .iter()
            .any(|c| c.property == "private endpoint" && c.method == "PUT"),
        "{:#?}",
        status.planned_changes
    );
    // Wait one more interval: still nothing written to Azure.
    tokio::time::sleep(Duration::from_secs(INTERVAL_SECS + 2)).await;
    e.assert_no_azure_writes("Audit mode").await;
    e.ns.delete().await.expect("delete namespace");
}

#[tokio::test]
async fn missing_account_and_missing_role_are_reported_with_what_to_do() {
    let mut e = Estate::test("failures").enforce().start().await;
    let missing = store()
        .named(STORE)
        .over(&format!(
            "{}/providers/Microsoft.Storage/storageAccounts/stdoesnotexist",
            sim::RG
        ))
        .build();
    e.create(&missing).await;
    let s = e
        .wait_store(STORE, "ResourceNotFound", secs(60), |s| {
            has_reason(s, "ResourceNotFound")
        })
        .await;
    let message = ready_message(&s);
    assert!(
        message.contains("stdoesnotexist does not exist"),
        "{message}"
    );
    assert!(e.operator.running());
    e.ns.delete().await.expect("delete namespace");
}

/// The store with the exemption a team gives a report-only control it cannot fix in place.
fn store_exempting_infrastructure_encryption() -> PhiStore {
    store()
        .exempt(
            "storage.infrastructure-encryption",
            "created before the policy; migration to a new account is planned (CHG-2231)",
            PRIVACY_OFFICER,
        )
        .build()
}

fn tls_drift() -> StorageAccountPatch {
    StorageAccountPatch {
        properties: StorageAccountPatchProperties {
            minimum_tls_version: Some("TLS1_0".into()),
            public_network_access: Some("Enabled".into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

#[tokio::test]
async fn enforce_mode_converges_reverts_drift_rotates_keys_and_then_writes_nothing() {
    // Keys are not in Resource Graph: their age and rotation are read by the full pass, here
    // every two drift intervals (Resource Graph sweeps still run in between).
    let e = Estate::test("enforce")
        .enforce()
        .args([format!("--full-check-interval=PT{}S", INTERVAL_SECS * 2)])
        .start()
        .await;
    // Infrastructure encryption can only be chosen at creation: exempt it, as a team would.
    e.create(&store_exempting_infrastructure_encryption()).await;
    let converged = e.wait_store(STORE, "Ready", secs(120), is_ready).await;
    // Everything planned was made: nothing is left in the preview.
    assert_eq!(
        converged.status.as_ref().map(|st| st.planned_changes.len()),
        Some(0),
        "{:#?}",
        converged.status
    );
    let states = states(&converged);
    assert!(
        states
            .values()
            .all(|v| ["Compliant", "Remediated", "Exempt", "NotApplicable"].contains(&v.as_str())),
        "{states:?}"
    );
    assert_eq!(states["storage.min-tls-1-2"], "Remediated");
    assert_eq!(states["storage.infrastructure-encryption"], "Exempt");
    let azure = e.azure();
    let account = azure
        .get_storage_account(&sim::account_id())
        .await
        .expect("account");
    assert_eq!(
        account.properties.minimum_tls_version.as_deref(),
        Some("TLS1_2")
    );
    assert_eq!(
        account.properties.public_network_access.as_deref(),
        Some("Disabled")
    );
    // The account's own identity can unwrap with its key: the operator granted the role.
    let principal = account
        .identity
        .as_ref()
        .and_then(|i| i.principal_id.clone())
        .expect("a system-assigned identity");
    let key_scope = format!(
        "{}/providers/Microsoft.KeyVault/vaults/kv-clinical-cmk/keys/referral-letters-cmk",
        sim::RG
    );
    let holders = azure
        .role_assignments_reaching(&key_scope)
        .await
        .expect("assignments on the key");
    assert!(
        holders
            .iter()
            .any(|(a, role)| a.properties.principal_id == principal
                && role.properties.role_name == "Key Vault Crypto Service Encryption User"),
        "{holders:?}"
    );
    // The report-only control was never written.
    assert_ne!(
        account
            .properties
            .encryption
            .as_ref()
            .and_then(|e| e.require_infrastructure_encryption),
        Some(true)
    );

    // Out-of-band drift by another principal is found and reverted within one interval.
    let legacy = e.legacy_azure();
    let drifted_at = Instant::now();
    legacy
        .update_storage_account(&sim::account_id(), &tls_drift())
        .await
        .expect("drift");
    legacy
        .ensure_diagnostic_setting_absent(&format!("{}/blobServices/default", sim::account_id()))
        .await
        .expect("delete the diagnostic setting");
    e.eventually(
        "drift not reverted",
        secs(INTERVAL_SECS * 2 + 30),
        async || {
            let a = azure
                .get_storage_account(&sim::account_id())
                .await
                .expect("account");
            let diag = azure
                .list_diagnostic_settings(&format!("{}/blobServices/default", sim::account_id()))
                .await
                .expect("settings");
            a.properties.minimum_tls_version.as_deref() == Some("TLS1_2")
                && a.properties.public_network_access.as_deref() == Some("Disabled")
                && !diag.is_empty()
        },
    )
    .await;
    let took = drifted_at.elapsed();
    assert!(
        took <= Duration::from_secs(INTERVAL_SECS + INTERVAL_SECS / 5 + 10),
        "reverted after {took:?}"
    );
    let events: Api<k8s_openapi::api::events::v1::Event> = e.api();
    let reasons: Vec<String> = events
        .list(&Default::default())
        .await
        .expect("events")
        .items
        .into_iter()
        .filter_map(|ev| ev.reason)
        .collect();
    assert!(reasons.iter().any(|r| r == "DriftDetected"), "{reasons:?}");
    assert!(reasons.iter().any(|r| r == "Remediated"), "{reasons:?}");

    // Key rotation: past the cadence the vault rotates the key, and the account follows.
    let version = |s: &PhiStore| {
        s.status
            .as_ref()
            .and_then(|st| {
                st.controls
                    .iter()
                    .find(|c| c.id == "storage.cmk-rotation-observed")
            })
            .map(|c| c.observed.clone())
            .unwrap_or_default()
    };
    let before = e
        .wait_store(STORE, "Ready again, key read back", secs(60), |s| {
            is_ready(s) && version(s).starts_with("version ")
        })
        .await;
    let old_version = version(&before);
    e.sim.advance_clock("P91D").await;
    let after = e
        .wait_store(
            STORE,
            "rotated",
            secs(INTERVAL_SECS * 2 + 30),
            // Right after a remediation the entry shows what was set; the read-back shows the version.
            |s| version(s) != old_version && version(s).starts_with("version ") && is_ready(s),
        )
        .await;
    assert!(
        version(&after).starts_with("version ") && version(&after).contains("next rotation due in"),
        "{}",
        version(&after)
    );

    // Steady state: several intervals with nothing changing write nothing, anywhere.
    support::estate::workspace_settled(&e, Duration::from_secs(90)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let resource_version = e
        .stores
        .get(STORE)
        .await
        .expect("store")
        .metadata
        .resource_version;
    e.sim.clear_log().await;
    tokio::time::sleep(Duration::from_secs(INTERVAL_SECS * 5 / 2)).await;
    let writes = e.sim.writes().await;
    assert!(
        writes.is_empty(),
        "steady state wrote to Azure: {writes:?}\n{}",
        e.operator.log_text()
    );
    let reads = e.sim.requests().await.len();
    assert!(reads > 0, "the drift checks kept reading");
    let now = e
        .stores
        .get(STORE)
        .await
        .expect("store")
        .metadata
        .resource_version;
    assert_eq!(now, resource_version, "steady state wrote to Kubernetes");
    e.ns.delete().await.expect("delete namespace");
}

#[tokio::test]
async fn deletion_policy_delete_removes_what_the_operator_created_and_retain_keeps_it() {
    let e = Estate::test("deletion").enforce().start().await;
    e.create(&store().deletion_policy("Delete").build()).await;
    e.wait_store(STORE, "converged", secs(120), |s| {
        s.status.as_ref().is_some_and(|st| {
            st.controls.iter().any(|c| {
                c.id == "storage.private-endpoint" && format!("{:?}", c.state) == "Remediated"
            })
        })
    })
    .await;
    let azure = e.azure();
    let pe = format!(
        "{}/providers/Microsoft.Network/privateEndpoints/pe-streferralletters-blob",
        sim::RG
    );
    assert!(
        azure
            .get_private_endpoint(&pe)
            .await
            .expect("get")
            .is_some()
    );
    e.delete_store(STORE, secs(60), "the finalizer did not finish")
        .await;
    assert!(
        azure
            .get_private_endpoint(&pe)
            .await
            .expect("get")
            .is_none(),
        "Delete removes the endpoint"
    );
    assert!(
        azure
            .list_diagnostic_settings(&format!("{}/blobServices/default", sim::account_id()))
            .await
            .expect("list")
            .is_empty(),
        "Delete removes the diagnostic setting"
    );
    assert!(
        azure.get_storage_account(&sim::account_id()).await.is_ok(),
        "the account itself is never deleted"
    );

    // Retain: the same store again, deleted, leaves the endpoint in place.
    e.create(&store().deletion_policy("Retain").build()).await;
    e.wait_store(STORE, "endpoint again", secs(120), |s| {
        s.status.as_ref().is_some_and(|st| {
            st.controls.iter().any(|c| {
                c.id == "storage.private-endpoint" && format!("{:?}", c.state) != "Drifted"
            })
        })
    })
    .await;
    e.delete_store(
        STORE,
        secs(30),
        "a Retain store has no finalizer and goes at once",
    )
    .await;
    assert!(
        azure
            .get_private_endpoint(&pe)
            .await
            .expect("get")
            .is_some(),
        "Retain keeps the endpoint"
    );
    let _ = e
        .workspaces
        .patch(
            WORKSPACE,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"mode": "Audit"}})),
        )
        .await;
    e.ns.delete().await.expect("delete namespace");
}

#[tokio::test]
async fn a_missing_role_names_the_action_and_role_and_outages_are_survived() {
    // The workspace uses the read-only principal through a client secret in a Secret.
    let identity = json!({
        "tenantId": sim::TENANT,
        "clientId": sim::READER_CLIENT_ID,
        "clientSecretRef": {"name": "reader-credentials", "key": "clientSecret"}
    });
    let put_secret = async |client: &kube::Client, ns: &str| {
        let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), ns);
        let secret = serde_json::from_value(json!({
            "metadata": {"name": "reader-credentials"},
            "stringData": {"clientSecret": sim::READER_SECRET}
        }))
        .expect("secret");
        secrets
            .create(&Default::default(), &secret)
            .await
            .expect("create secret");
    };
    let mut e = Estate::test("failures2")
        .enforce()
        .identity(identity)
        .args(["--secret-namespaces-allowed", "{namespace}"])
        .start_after(put_secret)
        .await;
    e.create(&store_exempting_infrastructure_encryption()).await;
    let s = e
        .wait_store(STORE, "Forbidden", secs(60), |s| has_reason(s, "Forbidden"))
        .await;
    let message = ready_message(&s);
    assert!(message.contains("missing action Microsoft."), "{message}");
    assert!(message.contains("grant the identity"), "{message}");
    assert!(
        !message.contains(sim::READER_SECRET)
            && !e.operator.log_text().contains(sim::READER_SECRET)
    );

    // Back to the operator's own identity, with Azure failing for a while: 500s on every write
    // of the account and the vault unreachable. The store reports it and converges once it stops.
    e.sim
        .fault(json!({"method": "PATCH", "path": "*/storageAccounts/streferralletters", "times": 12,
            "action": {"kind": "status", "status": 500, "code": "InternalServerError", "message": "simulated outage"}}))
        .await;
    e.patch_workspace(json!({"identity": null})).await;
    let s = e
        .wait_store(STORE, "outage reported", secs(90), |s| {
            has_reason(s, "AzureUnavailable")
        })
        .await;
    let message = ready_message(&s);
    assert!(
        message.contains("remediation failed") && message.contains("unavailable"),
        "{message}"
    );
    e.wait_store(STORE, "converged after the outage", secs(150), is_ready)
        .await;
    assert!(e.operator.running());
    e.ns.delete().await.expect("delete namespace");
}

/// Installs the chart's ServiceAccount and RBAC in `ns` (release `r-{ns}`) as an admin would, and
/// writes a kubeconfig holding a token of that ServiceAccount to `path`.
fn install_chart_rbac(ns: &str, path: &std::path::Path) {
    let plane = control_plane::shared();
    let admin = plane.kubeconfig_path();
    let release = format!("r-{ns}");
    const RBAC: [&str; 5] = [
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
    ];
    let rbac: Vec<serde_json::Value> = helm::template(
        &release,
        ns,
        &["--set", &format!("watchNamespaces={{{ns}}}")],
    )
    .into_iter()
    .filter(|doc| RBAC.iter().any(|k| doc["kind"] == *k))
    .collect();
    let list = json!({"apiVersion": "v1", "kind": "List", "items": rbac});
    helm::kubectl(
        admin,
        &["apply", "-n", ns, "-f", "-"],
        Some(&list.to_string()),
    )
    .expect_success("applying the chart's RBAC");
    let account = format!("{release}-hipaa-operator");
    helm::service_account_kubeconfig(admin, ns, &account, path);
    // The kubeconfig really is the ServiceAccount's: it cannot read Secrets.
    let denied = helm::kubectl(path, &["get", "secrets", "-n", ns], None);
    assert!(!denied.success && denied.stderr.contains("forbidden"));
}

/// The chart's RBAC is sufficient: the operator runs end to end with nothing but the chart's
/// ServiceAccount (a token from the API server), leader election included.
#[tokio::test]
async fn the_operator_runs_with_only_the_charts_service_account() {
    let dir = tempfile::tempdir().expect("dir");
    let kubeconfig = dir.path().join("kubeconfig");
    let path = kubeconfig.clone();
    let install = async move |_: &kube::Client, ns: &str| install_chart_rbac(ns, &path);
    let e = Estate::test("chart-rbac")
        .enforce()
        .with_leader_election()
        .args([
            "--lease-namespace",
            "{namespace}",
            "--lease-name",
            "r-{namespace}-hipaa-operator",
        ])
        .env("KUBECONFIG", &kubeconfig.display().to_string())
        .start_after(install)
        .await;
    e.create(&store_exempting_infrastructure_encryption()).await;
    e.wait_store(STORE, "Ready with the chart's RBAC", secs(120), is_ready)
        .await;
    let log = e.operator.log_text();
    assert!(
        !log.to_ascii_lowercase().contains("forbidden"),
        "the chart's RBAC denied something:\n{log}"
    );
    e.ns.delete().await.expect("delete namespace");
}

/// Another controller keeps setting TLS back: after three remediations in a row the operator
/// stops fighting and reports a Conflict instead of flapping.
#[tokio::test]
async fn drift_that_keeps_coming_back_becomes_a_conflict() {
    let e = Estate::test("conflict").enforce().start().await;
    e.create(&store_exempting_infrastructure_encryption()).await;
    e.wait_store(STORE, "Ready", secs(120), is_ready).await;
    let legacy = e.sim.client(Sim::legacy_identity());
    let drift = StorageAccountPatch {
        properties: StorageAccountPatchProperties {
            minimum_tls_version: Some("TLS1_0".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let fighter = tokio::spawn(async move {
        for _ in 0..60 {
            let _ = legacy
                .update_storage_account(&sim::account_id(), &drift)
                .await;
            tokio::time::sleep(Duration::from_millis(1500)).await;
        }
    });
    let s = e
        .wait_store(STORE, "Conflict", secs(90), |s| has_reason(s, "Conflict"))
        .await;
    fighter.abort();
    let status = s.status.expect("status");
    let message = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .expect("Ready")
        .message
        .clone();
    assert!(message.contains("storage.min-tls-1-2"), "{message}");
    let tls = status
        .controls
        .iter()
        .find(|c| c.id == "storage.min-tls-1-2")
        .expect("tls");
    assert!(tls.recent_remediations.unwrap_or(0) >= 3, "{tls:?}");
    // Paused: the next checks report the drift without the operator writing the account again.
    e.sim.clear_log().await;
    tokio::time::sleep(Duration::from_secs(INTERVAL_SECS + 2)).await;
    let patches: Vec<_> = e
        .sim
        .operator_writes()
        .await
        .into_iter()
        .filter(|(m, p)| m == "PATCH" && p.ends_with("streferralletters"))
        .collect();
    assert!(
        patches.is_empty(),
        "the operator kept fighting: {patches:?}"
    );
    e.ns.delete().await.expect("delete namespace");
}

#[tokio::test]
async fn an_unreachable_key_vault_is_reported_and_survived() {
    let e = Estate::test("kv-down").enforce().start().await;
    e.create(&store_exempting_infrastructure_encryption()).await;
    e.wait_store(STORE, "Ready", secs(120), is_ready).await;
    // The vault stops answering: every key request has its connection dropped.
    e.sim
        .fault(json!({"path": "/keys/referral-letters-cmk*", "action": {"kind": "drop"}}))
        .await;
    // A spec change makes the next pass come now rather than at the drift check.
    e.patch_store(
        STORE,
        json!({"metadata": {"labels": {"touched": "yes"}}, "spec": {"profile": {"softDeleteRetentionDays": 15}}}),
    )
    .await;
    let s = e
        .wait_store(STORE, "vault outage reported", secs(90), |s| {
            has_reason(s, "AzureUnavailable")
        })
        .await;
    let message = ready_message(&s);
    assert!(
        message.contains("kv-clinical-cmk") && message.contains("referral-letters-cmk"),
        "the message names the vault and the key: {message}"
    );
    // The controls stay as last evaluated; only Ready says what is wrong.
    assert!(!states(&s).is_empty());
    e.sim.admin(reqwest::Method::DELETE, "faults", None).await;
    e.wait_store(STORE, "Ready after the vault is back", secs(120), is_ready)
        .await;
    e.ns.delete().await.expect("delete namespace");
}

/// Azure's `Retry-After` holds between passes too: a pass that ends throttled waits it out, and
/// its own status write does not bring the same PATCH again at once.
#[tokio::test]
async fn a_throttled_pass_waits_before_the_same_write_goes_out_again() {
    let e = Estate::test("throttled").enforce().start().await;
    // Every PATCH of the account is throttled, with Retry-After 1 s.
    e.sim
        .fault(
            json!({"method": "PATCH", "path": "*/storageAccounts/streferralletters",
            "action": {"kind": "status", "status": 429, "code": "TooManyRequests",
                       "message": "Too many requests", "retryAfterSecs": 1}}),
        )
        .await;
    let account_patches = async || {
        e.sim
            .requests()
            .await
            .iter()
            .filter(|r| {
                r["method"] == "PATCH"
                    && r["path"]
                        .as_str()
                        .is_some_and(|p| p.ends_with("/storageAccounts/streferralletters"))
            })
            .count()
    };
    e.create(&store_exempting_infrastructure_encryption()).await;
    let s = e
        .wait_store(STORE, "throttled", secs(90), |s| has_reason(s, "Throttled"))
        .await;
    assert!(
        ready_message(&s).contains("retry after"),
        "{}",
        ready_message(&s)
    );
    let first = account_patches().await;
    assert!(first > 0);
    // The status write above woke the store; no pass may send the PATCH again before the
    // wait (the later of Retry-After and the failure's backoff, a minute) is over.
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert_eq!(
        account_patches().await,
        first,
        "the same write went out again within the wait\n{}",
        e.operator.log_text()
    );
    e.ns.delete().await.expect("delete namespace");
}

/// A write Azure works on for a while is not waited for: the pass records it in the store's
/// status and comes back when Azure says to; a restarted operator follows it from there,
/// without writing it again; once it ends the store converges and the record is gone.
#[tokio::test]
async fn long_running_writes_are_state_followed_across_passes_and_a_restart() {
    let mut e = Estate::test("lro-state").enforce().start().await;
    // Every long-running operation from now on takes 15 s and asks to be polled every 5 s.
    e.sim
        .set_config(json!({"lroDurationMs": 15000, "lroRetryAfterSecs": 5}))
        .await;
    e.sim.clear_log().await;
    e.create(&store_exempting_infrastructure_encryption()).await;
    let recorded = e
        .wait_store(STORE, "the endpoint's creation recorded", secs(60), |s| {
            s.status.as_ref().is_some_and(|st| {
                st.operations
                    .iter()
                    .any(|o| o.operation == "PrivateEndpoints_CreateOrUpdate")
            })
        })
        .await;
    let op = &recorded.status.as_ref().expect("status").operations[0];
    assert_eq!(op.style, "AsyncOperation");
    assert!(op.poll_url.starts_with(&e.sim.sim.base_url), "{op:?}");
    assert!(
        !is_ready(&recorded),
        "not Ready while Azure works: {:?}",
        ready(&recorded)
    );
    e.restart_operator(async |_| {}).await;
    let converged = e.wait_store(STORE, "Ready", secs(150), is_ready).await;
    let st = converged.status.as_ref().expect("status");
    assert!(st.operations.is_empty(), "{:?}", st.operations);
    assert_eq!(states(&converged)["storage.private-endpoint"], "Remediated");
    // One PUT of the endpoint, whatever the passes and the restart in between.
    let endpoint_puts: Vec<String> = e
        .sim
        .writes()
        .await
        .into_iter()
        .filter(|(m, p)| {
            m == "PUT"
                && p.contains("/privateEndpoints/pe-streferralletters-blob")
                && !p.contains("/privateDnsZoneGroups/")
        })
        .map(|(_, p)| p)
        .collect();
    assert_eq!(endpoint_puts.len(), 1, "{endpoint_puts:?}");
}

/// Issue #20, the first real install: the operator converges a store and its workspace holding
/// nothing but the custom role `hipaa-operator azure-role` prints, assigned at the workspace's
/// resource group, and Azure refuses none of its calls.
#[tokio::test]
async fn the_operator_converges_with_only_its_generated_role() {
    const OBJECT: &str = "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d";
    const CLIENT: &str = "0d1e2f3a-4b5c-4d6e-8f7a-8b9c0d1e2f3a";
    const SECRET: &str = "simulator-only-least-privilege-secret";
    const ROLE: &str = "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f";
    let printed = std::process::Command::new(env!("CARGO_BIN_EXE_hipaa-operator"))
        .args([
            "azure-role",
            "--scope",
            &format!("/subscriptions/{}", sim::SUBSCRIPTION),
        ])
        .output()
        .expect("hipaa-operator azure-role");
    assert!(printed.status.success(), "{printed:?}");
    let role: serde_json::Value = serde_json::from_slice(&printed.stdout).expect("role JSON");
    let role_id = format!(
        "/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{ROLE}",
        sim::SUBSCRIPTION
    );
    let e = Estate::test("least-privilege")
        .enforce()
        .seed(json!({
            "principals": [{"objectId": OBJECT, "clientId": CLIENT, "clientSecret": SECRET,
                            "displayName": "hipaa-operator-least-privilege", "type": "ServicePrincipal"}],
            "resources": [{"id": role_id, "body": {"properties": {
                "roleName": role["Name"], "type": "CustomRole", "description": role["Description"],
                "permissions": [{"actions": role["Actions"], "notActions": [],
                                 "dataActions": role["DataActions"], "notDataActions": []}],
                "assignableScopes": role["AssignableScopes"]}}}],
            // The role at the resource group, and Security Reader on the subscription for its
            // Defender plans (subscription resources the group's role cannot reach).
            "roleAssignments": [{"scope": sim::RG, "principalId": OBJECT, "role": role_id,
                                 "principalType": "ServicePrincipal"},
                                {"scope": format!("/subscriptions/{}", sim::SUBSCRIPTION),
                                 "principalId": OBJECT, "role": "Security Reader",
                                 "principalType": "ServicePrincipal"}]
        }))
        .env("AZURE_CLIENT_ID", CLIENT)
        .env("AZURE_CLIENT_SECRET", SECRET)
        .start()
        .await;
    e.create(&store_exempting_infrastructure_encryption()).await;
    e.wait_store(STORE, "Ready", secs(180), is_ready).await;
    let refused: Vec<serde_json::Value> = e
        .sim
        .requests()
        .await
        .into_iter()
        .filter(|r| r["caller"] == OBJECT && r["status"] == 403)
        .collect();
    assert!(
        refused.is_empty(),
        "refused with the generated role: {refused:#?}"
    );
    assert!(
        e.sim
            .requests()
            .await
            .iter()
            .any(|r| r["caller"] == OBJECT && r["method"] == "PATCH"),
        "the store was remediated as the least-privilege principal"
    );
    e.ns.delete().await.expect("delete namespace");
}

/// Issue #21, `storage.defender`: the subscription's Defender for Storage plan is read on every
/// pass. With only the resource group granted, a `Free` plan waits for a person and nothing is
/// written to it (a plan bills every account of the subscription); once a grant holds the whole
/// subscription, Enforce turns it on.
#[tokio::test]
async fn the_defender_plan_waits_for_a_person_until_a_grant_holds_the_subscription() {
    use hipaa_operator::api::common::{Awaiting, ControlState};
    let subscription = format!("/subscriptions/{}", sim::SUBSCRIPTION);
    let plan_id = format!("{subscription}/providers/Microsoft.Security/pricings/StorageAccounts");
    let e = Estate::test("defender")
        .enforce()
        .seed(json!({
            "resources": [{"id": plan_id, "body": {"properties": {"pricingTier": "Free"}}}],
            // Azure's side of turning a plan on: Security Admin on the subscription.
            "roleAssignments": [{"scope": subscription, "principalId": sim::OPERATOR_OBJECT_ID,
                                 "role": "Security Admin", "principalType": "ServicePrincipal"}]
        }))
        .start()
        .await;
    e.create(&store_exempting_infrastructure_encryption()).await;
    let control = |s: &PhiStore| {
        s.status
            .as_ref()
            .and_then(|st| st.controls.iter().find(|c| c.id == "storage.defender"))
            .cloned()
    };
    let held = e
        .wait_store(
            STORE,
            "storage.defender waiting for a person",
            secs(120),
            |s| {
                control(s).is_some_and(|c| {
                    c.state == ControlState::Drifted && c.awaiting == Some(Awaiting::Person)
                })
            },
        )
        .await;
    let c = control(&held).expect("storage.defender");
    assert_eq!(c.observed, "StorageAccounts: Free", "{c:?}");
    let message = c.message.unwrap_or_default();
    assert!(
        message.contains("az security pricing create -n StorageAccounts --tier Standard --subplan DefenderForStorageV2")
            && message.contains("exempt storage.defender"),
        "{message}"
    );
    let plan_writes = |writes: Vec<(String, String)>| {
        writes
            .into_iter()
            .filter(|(_, p)| {
                p.to_ascii_lowercase()
                    .contains("/microsoft.security/pricings/")
            })
            .count()
    };
    assert_eq!(
        plan_writes(e.sim.writes().await),
        0,
        "no plan write without the subscription"
    );

    // A cluster admin grants the subscription to this namespace.
    let mut whole = support::estate::example_grant(&e.ns.name);
    whole["scopes"] = json!([subscription]);
    support::estate::grant(&e.client, "defender-subscription", whole).await;
    // Fixed, and read back from Azure by the next pass.
    e.wait_store(
        STORE,
        "storage.defender fixed and read back",
        secs(120),
        |s| {
            control(s).is_some_and(|c| {
                matches!(c.state, ControlState::Remediated | ControlState::Compliant)
                    && c.observed.starts_with("StorageAccounts: Standard")
            })
        },
    )
    .await;
    let plan = e
        .resource(&hipaa_operator::azure::security::GET_PRICING, &plan_id)
        .await;
    assert_eq!(
        (
            plan.properties["pricingTier"].as_str(),
            plan.properties["subPlan"].as_str()
        ),
        (Some("Standard"), Some("DefenderForStorageV2"))
    );
    assert_eq!(plan_writes(e.sim.writes().await), 1, "one PUT of the plan");
    let grants: Api<hipaa_operator::api::AzureScopeGrant> = Api::all(e.client.clone());
    grants
        .delete("defender-subscription", &Default::default())
        .await
        .expect("delete the grant");
    e.ns.delete().await.expect("delete namespace");
}

/// A SIGTERM that lands while the first pass is calling Azure: the operator finishes that pass
/// and exits (the harness waits without blocking the runtime that serves azure-sim, or the
/// pass could never end), twice in a row, and the operator started after it takes over.
#[tokio::test]
async fn a_stop_during_the_first_pass_is_prompt_and_the_next_operator_takes_over() {
    let mut e = Estate::test("early-stop").enforce().start().await;
    e.create(&store_exempting_infrastructure_encryption()).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    e.restart_operator(async |_| {}).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    e.restart_operator(async |_| {}).await;
    e.wait_store(STORE, "evaluated by the last operator", secs(120), |s| {
        ready(s).is_some()
    })
    .await;
    e.ns.delete().await.expect("delete namespace");
}
