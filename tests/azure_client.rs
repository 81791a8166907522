//! The Azure client layer against azure-sim over HTTPS, through the real azure_identity
//! credential flows: every verb, each long-running-operation style, the classified errors,
//! retries, zero writes when nothing differs, and no secret in the logs.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use azure_core::http::Method;
use base64::Engine as _;
use hipaa_operator::azure::client::ClientSettings;
use hipaa_operator::azure::insights::DesiredDiagnosticSetting;
use hipaa_operator::azure::keyvault::RotationPolicy;
use hipaa_operator::azure::lro::LroOptions;
use hipaa_operator::azure::network::{DesiredPrivateEndpoint, Ensured};
use hipaa_operator::azure::storage::{StorageAccountPatch, StorageAccountPatchProperties};
use hipaa_operator::azure::{AzureError, ErrorClass, Identity};
use serde_json::json;
use support::sim::{self, Sim};

fn law() -> String {
    format!(
        "{}/providers/Microsoft.OperationalInsights/workspaces/law-clinical-audit",
        sim::RG
    )
}

fn tls_patch() -> StorageAccountPatch {
    StorageAccountPatch {
        properties: StorageAccountPatchProperties {
            minimum_tls_version: Some("TLS1_2".into()),
            supports_https_traffic_only: Some(true),
            ..Default::default()
        },
        ..Default::default()
    }
}

#[tokio::test]
async fn client_secret_flow_reads_and_patches_only_what_changes() {
    let sim = Sim::start().await;
    let azure = sim.client(Sim::operator_identity());
    let account = azure
        .get_storage_account(&sim::account_id())
        .await
        .expect("GET");
    assert_eq!(
        account.properties.minimum_tls_version.as_deref(),
        Some("TLS1_0")
    );
    sim.clear_log().await;
    let updated = azure
        .update_storage_account(&sim::account_id(), &tls_patch())
        .await
        .expect("PATCH")
        .expect("the updated account");
    assert_eq!(
        updated.properties.minimum_tls_version.as_deref(),
        Some("TLS1_2")
    );
    assert_eq!(updated.properties.supports_https_traffic_only, Some(true));
    assert_eq!(
        updated.properties.allow_blob_public_access,
        Some(true),
        "untouched properties stay"
    );
    let writes = sim.writes().await;
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(writes[0].0, "PATCH");
    // An empty patch sends nothing.
    sim.clear_log().await;
    assert!(
        azure
            .update_storage_account(&sim::account_id(), &StorageAccountPatch::default())
            .await
            .expect("no-op")
            .is_none()
    );
    assert!(sim.writes().await.is_empty());
}

#[tokio::test]
async fn workload_identity_federated_token_is_exchanged() {
    let sim = Sim::start().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs();
    let b64 = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let assertion = format!(
        "{}.{}.c2lnbmF0dXJl",
        b64(json!({"alg": "RS256", "typ": "JWT"})),
        b64(json!({
            "iss": "https://kubernetes.default.svc.cluster.local",
            "sub": "system:serviceaccount:hipaa-system:hipaa-operator",
            "aud": ["api://AzureADTokenExchange"],
            "exp": now + 3600, "iat": now, "nbf": now
        }))
    );
    let dir = tempfile::tempdir().expect("dir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, assertion).expect("token file");
    let azure = sim.client(Identity::WorkloadIdentity {
        tenant_id: Some(sim::TENANT.into()),
        client_id: Some(sim::OPERATOR_CLIENT_ID.into()),
        token_file: Some(token_file),
    });
    let account = azure
        .get_storage_account(&sim::account_id())
        .await
        .expect("GET with a federated token");
    assert_eq!(account.name, "streferralletters");
    let log = sim.requests().await;
    assert!(
        log.iter()
            .any(|r| r["caller"].as_str() == Some(sim::OPERATOR_OBJECT_ID)
                && r["path"]
                    .as_str()
                    .is_some_and(|p| p.ends_with("streferralletters"))),
        "the ARM call was made as the operator's principal: {log:?}"
    );
}

#[tokio::test]
async fn errors_are_classified_with_what_to_do() {
    let sim = Sim::start().await;
    // 403: the reader may read but not write; the message names the action and the role.
    let reader = sim.client(Identity::ClientSecret {
        tenant_id: sim::TENANT.into(),
        client_id: sim::READER_CLIENT_ID.into(),
        secret: azure_core::credentials::Secret::new(sim::READER_SECRET),
    });
    reader
        .get_storage_account(&sim::account_id())
        .await
        .expect("a reader can read");
    let err = reader
        .update_storage_account(&sim::account_id(), &tls_patch())
        .await
        .expect_err("a reader cannot write");
    assert_eq!(err.class(), ErrorClass::Forbidden);
    let text = err.to_string();
    assert!(
        text.contains("Microsoft.Storage/storageAccounts/write"),
        "{text}"
    );
    assert!(text.contains("Storage Account Contributor"), "{text}");
    // 404.
    let azure = sim.client(Sim::operator_identity());
    let missing = format!(
        "{}/providers/Microsoft.Storage/storageAccounts/stnotthere",
        sim::RG
    );
    let err = azure
        .get_storage_account(&missing)
        .await
        .expect_err("missing");
    assert_eq!(err.class(), ErrorClass::NotFound);
    // 401: a wrong secret never reaches ARM.
    let wrong = sim.client(Identity::ClientSecret {
        tenant_id: sim::TENANT.into(),
        client_id: sim::OPERATOR_CLIENT_ID.into(),
        secret: azure_core::credentials::Secret::new("wrong"),
    });
    let err = wrong
        .get_storage_account(&sim::account_id())
        .await
        .expect_err("wrong secret");
    assert_eq!(err.class(), ErrorClass::Unauthorized, "{err}");
    // 409 and 400 come back as such, with ARM's code.
    sim.fault(json!({"method": "PATCH", "path": "*/storageAccounts/streferralletters", "times": 1,
        "action": {"kind": "status", "status": 409, "code": "StorageAccountOperationInProgress", "message": "busy"}}))
        .await;
    let err = azure
        .update_storage_account(&sim::account_id(), &tls_patch())
        .await
        .expect_err("409");
    assert_eq!(err.class(), ErrorClass::Conflict);
    assert!(
        err.to_string()
            .contains("StorageAccountOperationInProgress"),
        "{err}"
    );
}

#[tokio::test]
async fn throttling_server_errors_and_dropped_connections_are_retried() {
    let sim = Sim::start().await;
    let azure = sim.client(Sim::operator_identity());
    let path = "*/storageAccounts/streferralletters";
    sim.fault(json!({"method": "GET", "path": path, "times": 2,
        "action": {"kind": "status", "status": 429, "code": "SubscriptionRequestsThrottled", "message": "slow down", "retryAfterSecs": 1}}))
        .await;
    let started = std::time::Instant::now();
    azure
        .get_storage_account(&sim::account_id())
        .await
        .expect("succeeds after two 429s");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "Retry-After was honoured: {:?}",
        started.elapsed()
    );
    sim.fault(json!({"method": "GET", "path": path, "times": 1, "action": {"kind": "status", "status": 500, "code": "InternalServerError", "message": "oops"}})).await;
    azure
        .get_storage_account(&sim::account_id())
        .await
        .expect("succeeds after a 500");
    sim.fault(json!({"method": "GET", "path": path, "times": 1, "action": {"kind": "drop"}}))
        .await;
    azure
        .get_storage_account(&sim::account_id())
        .await
        .expect("succeeds after a dropped connection");
    let gets = sim
        .requests()
        .await
        .into_iter()
        .filter(|r| {
            r["method"] == "GET"
                && r["path"]
                    .as_str()
                    .is_some_and(|p| p.ends_with("streferralletters"))
        })
        .count();
    assert!(gets >= 7, "3 + 2 + 2 attempts at least, got {gets}");
    // When the faults do not stop, the error says it was throttled.
    sim.fault(json!({"method": "GET", "path": path, "times": 20,
        "action": {"kind": "status", "status": 429, "code": "SubscriptionRequestsThrottled", "message": "slow down", "retryAfterSecs": 0}}))
        .await;
    let impatient = sim.client_with(
        Sim::operator_identity(),
        ClientSettings {
            max_retries: 1,
            retry_initial_delay: Duration::from_millis(50),
            ..ClientSettings::default()
        },
    );
    let err = impatient
        .get_storage_account(&sim::account_id())
        .await
        .expect_err("still throttled");
    assert_eq!(err.class(), ErrorClass::Throttled, "{err}");
}

#[tokio::test]
async fn ensure_verbs_write_once_then_nothing() {
    let sim = Sim::start().await;
    let azure = sim.client(Sim::operator_identity());
    let diag = DesiredDiagnosticSetting {
        resource_id: format!("{}/blobServices/default", sim::account_id()),
        workspace_id: law(),
        category_groups: vec!["audit".into()],
        categories: vec![],
    };
    assert_eq!(
        azure
            .ensure_diagnostic_setting(&diag)
            .await
            .expect("create"),
        Ensured::Written
    );
    sim.clear_log().await;
    assert_eq!(
        azure.ensure_diagnostic_setting(&diag).await.expect("again"),
        Ensured::Unchanged
    );
    assert!(
        sim.writes().await.is_empty(),
        "an already-correct setting makes zero writes"
    );

    // A private endpoint: Network's Azure-AsyncOperation long-running PUT, then the DNS zone group.
    sim.set_config(json!({"lroDurationMs": 1500, "lroRetryAfterSecs": 1}))
        .await;
    let pe = DesiredPrivateEndpoint {
        id: format!(
            "{}/providers/Microsoft.Network/privateEndpoints/pe-streferralletters-blob",
            sim::RG
        ),
        location: "eastus2".into(),
        subnet_id: format!(
            "{}/providers/Microsoft.Network/virtualNetworks/vnet-clinical/subnets/snet-private-endpoints",
            sim::RG
        ),
        target_id: sim::account_id(),
        group_id: "blob".into(),
        dns_zone_ids: vec![format!(
            "{}/providers/Microsoft.Network/privateDnsZones/privatelink.blob.core.windows.net",
            sim::RG
        )],
    };
    sim.clear_log().await;
    // The simulated clock drives the operation: advance it while the client polls.
    let ticker = {
        let base = sim.sim.base_url.clone();
        let http = hipaa_operator::azure::transport::http_client(
            Some(&sim.sim.ca_path),
            Duration::from_secs(5),
        )
        .expect("http");
        tokio::spawn(async move {
            for _ in 0..40 {
                let _ = http
                    .post(format!("{base}/_sim/clock/advance"))
                    .header("content-type", "application/json")
                    .body(r#"{"seconds":1}"#)
                    .send()
                    .await;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    assert_eq!(
        azure
            .ensure_private_endpoint(&pe)
            .await
            .expect("create endpoint"),
        Ensured::Written
    );
    ticker.abort();
    // Reads of a creation: whether the endpoint exists, then only the operations' statuses; a
    // new endpoint has no zone group to read, and neither PUT's result is read back.
    let reads: Vec<String> = sim
        .requests()
        .await
        .iter()
        .filter(|r| r["method"] == "GET" && !r["path"].as_str().unwrap_or("").contains("/oauth2/"))
        .map(|r| r["path"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        reads
            .iter()
            .filter(|p| !p.contains("operationStatuses") && !p.contains("asyncoperations"))
            .count(),
        2,
        "one GET of the endpoint and one of its virtual network (its region) before creating it: {reads:?}"
    );
    let account = azure
        .get_storage_account(&sim::account_id())
        .await
        .expect("GET");
    assert!(
        account
            .properties
            .private_endpoint_connections
            .iter()
            .any(|c| c
                .properties
                .private_link_service_connection_state
                .as_ref()
                .is_some_and(|s| s.status == "Approved")),
        "the account lists an Approved connection"
    );
    sim.clear_log().await;
    assert_eq!(
        azure.ensure_private_endpoint(&pe).await.expect("again"),
        Ensured::Unchanged
    );
    assert!(
        sim.writes().await.is_empty(),
        "zero writes when the endpoint is as desired"
    );
    azure
        .ensure_private_endpoint_absent(&pe.id)
        .await
        .expect("delete");
    azure
        .ensure_private_endpoint_absent(&pe.id)
        .await
        .expect("already gone is success");
    azure
        .ensure_diagnostic_setting_absent(&diag.resource_id)
        .await
        .expect("delete setting");
    azure
        .ensure_diagnostic_setting_absent(&diag.resource_id)
        .await
        .expect("already gone is success");
}

#[tokio::test]
async fn long_running_operations_fail_and_time_out_as_typed_errors() {
    let sim = Sim::start().await;
    let azure = sim.client(Sim::operator_identity());
    let pe = |name: &str| DesiredPrivateEndpoint {
        id: format!(
            "{}/providers/Microsoft.Network/privateEndpoints/{name}",
            sim::RG
        ),
        location: "eastus2".into(),
        subnet_id: format!(
            "{}/providers/Microsoft.Network/virtualNetworks/vnet-clinical/subnets/snet-private-endpoints",
            sim::RG
        ),
        target_id: sim::account_id(),
        group_id: "blob".into(),
        dns_zone_ids: vec![],
    };
    sim.fault(json!({"method": "PUT", "path": "*/privateEndpoints/pe-fails", "times": 1,
        "action": {"kind": "failOperation", "code": "PrivateEndpointCreationFailed", "message": "subnet is full"}}))
        .await;
    let err = azure
        .ensure_private_endpoint(&pe("pe-fails"))
        .await
        .expect_err("the operation fails");
    assert_eq!(err.class(), ErrorClass::OperationFailed, "{err}");
    assert!(
        err.to_string().contains("PrivateEndpointCreationFailed"),
        "{err}"
    );

    // An operation that never finishes (the clock does not move) hits the deadline.
    sim.set_config(json!({"lroDurationMs": 3_600_000, "lroRetryAfterSecs": 1}))
        .await;
    let patient_but_bounded = sim.client_with(
        Sim::operator_identity(),
        ClientSettings {
            lro: LroOptions {
                default_poll_interval: Duration::from_millis(200),
                max_poll_interval: Duration::from_millis(500),
                deadline: Duration::from_secs(2),
                hand_over_after: None,
            },
            ..ClientSettings::default()
        },
    );
    let err = patient_but_bounded
        .ensure_private_endpoint(&pe("pe-never"))
        .await
        .expect_err("deadline");
    assert_eq!(err.class(), ErrorClass::Deadline, "{err}");
}

#[tokio::test]
async fn location_style_operations_are_polled_to_their_end() {
    let sim = Sim::start().await;
    let azure = sim.client(Sim::operator_identity());
    // Storage create answers 202 + Location; the client polls it to the account body.
    let id = format!(
        "{}/providers/Microsoft.Storage/storageAccounts/stnewaccount01",
        sim::RG
    );
    let op = hipaa_operator::azure::types::ArmOp::new(
        "StorageAccounts_Create",
        "Microsoft.Storage",
        "2025-01-01",
    );
    let body = json!({"location": "eastus2", "kind": "StorageV2", "sku": {"name": "Standard_GRS"}});
    let created = azure
        .write(&op, Method::Put, &id, Some(&body), None)
        .await
        .expect("create")
        .expect("a body");
    assert_eq!(created["properties"]["provisioningState"], "Succeeded");
    let log = sim.requests().await;
    assert!(
        log.iter()
            .any(|r| r["method"] == "PUT" && r["status"] == 202),
        "the create was accepted asynchronously: {log:?}"
    );
}

#[tokio::test]
async fn key_vault_keys_rotation_and_policies() {
    let sim = Sim::start().await;
    let azure = sim.client(Sim::operator_identity());
    let vault = "kv-clinical-cmk";
    let policy = RotationPolicy::new("P90D", "P1Y", "P30D");
    let (first, outcome) = azure
        .ensure_key(vault, "referral-cmk", "RSA", 3072, &policy)
        .await
        .expect("create key");
    assert_eq!(outcome, Ensured::Written);
    assert_eq!(first.key.rsa_bits(), Some(3072));
    // The first version expires like the ones rotation makes: a year (the policy) from now.
    let created = first.attributes.created.expect("created");
    let exp = first
        .attributes
        .exp
        .expect("an expiry on the first version");
    assert!(
        (exp - created - 365 * 86_400).abs() < 120,
        "exp {exp}, created {created}"
    );
    // A version without one (made by someone else) gets it set, and nothing else changes.
    let bare = azure
        .create_key(vault, "legacy-cmk", "RSA", 3072, None)
        .await
        .expect("a key without expiry");
    assert_eq!(bare.attributes.exp, None);
    let set = azure
        .set_key_expiry(
            vault,
            "legacy-cmk",
            bare.key.version(),
            created + 86_400 * 60,
        )
        .await
        .expect("expiry set");
    assert_eq!(set.attributes.exp, Some(created + 86_400 * 60));
    assert_eq!(set.key.version(), bare.key.version());
    assert_eq!(set.attributes.enabled, Some(true));
    sim.clear_log().await;
    let (again, outcome) = azure
        .ensure_key(vault, "referral-cmk", "RSA", 3072, &policy)
        .await
        .expect("again");
    assert_eq!(outcome, Ensured::Unchanged);
    assert_eq!(again.key.version(), first.key.version());
    assert!(
        sim.writes().await.is_empty(),
        "zero writes for a key that is as desired"
    );

    let rotated = azure
        .rotate_key(vault, "referral-cmk")
        .await
        .expect("rotate");
    assert_ne!(rotated.key.version(), first.key.version());
    assert_eq!(
        azure
            .list_key_versions(vault, "referral-cmk")
            .await
            .expect("versions")
            .len(),
        2
    );
    // The policy rotates on the simulated clock.
    sim.advance_clock("P91D").await;
    let latest = azure
        .get_key(vault, "referral-cmk")
        .await
        .expect("get")
        .expect("key");
    assert_ne!(
        latest.key.version(),
        rotated.key.version(),
        "the policy rotated the key"
    );
    assert!(
        azure
            .get_key(vault, "no-such-key")
            .await
            .expect("get")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_modify_write_retries_a_412_from_a_fresh_read() {
    let sim = Sim::start().await;
    let azure = sim.client(Sim::operator_identity());
    let workspace = format!(
        "{}/providers/Microsoft.HealthcareApis/workspaces/hdsclinical",
        sim::RG
    );
    let fhir = format!("{workspace}/fhirservices/fhir-patient-record");
    let hds = hipaa_operator::azure::types::ArmOp::new(
        "Workspaces_CreateOrUpdate",
        "Microsoft.HealthcareApis",
        "2024-03-31",
    );
    let put_fhir = hipaa_operator::azure::types::ArmOp::new(
        "FhirServices_CreateOrUpdate",
        "Microsoft.HealthcareApis",
        "2024-03-31",
    );
    azure
        .write(
            &hds,
            Method::Put,
            &workspace,
            Some(&json!({"location": "eastus2", "properties": {}})),
            None,
        )
        .await
        .expect("workspace");
    azure
        .write(&put_fhir, Method::Put, &fhir, Some(&json!({"location": "eastus2", "kind": "fhir-R4", "properties": {"authenticationConfiguration": {"authority": format!("https://login.microsoftonline.com/{}", sim::TENANT), "audience": "https://hdsclinical-fhir-patient-record.fhir.azurehealthcareapis.com"}, "corsConfiguration": {"origins": ["*"]}}})), None)
        .await
        .expect("fhir");
    // Someone else writes between our read and our write, once.
    let other = sim.client(Sim::operator_identity());
    let mut raced = false;
    let changed = azure
        .read_modify_write(
            &hipaa_operator::azure::resources::GET_FHIR,
            &put_fhir,
            &fhir,
            |body| {
                if !raced {
                    raced = true;
                    let other = other.clone();
                    let fhir = fhir.clone();
                    // A concurrent writer changes the etag between our read and our write.
                    tokio::task::block_in_place(|| {
                        tokio::runtime::Handle::current().block_on(async {
                            other
                                .read_modify_write(
                                    &hipaa_operator::azure::resources::GET_FHIR,
                                    &put_fhir_op(),
                                    &fhir,
                                    |b| {
                                        b["tags"] = json!({"changed-by": "someone-else"});
                                        true
                                    },
                                )
                                .await
                        })
                    })
                    .expect("the other write");
                }
                body["properties"]["corsConfiguration"]["origins"] =
                    json!(["https://portal.contoso-health.example"]);
                true
            },
        )
        .await
        .expect("read-modify-write");
    assert!(changed);
    let after: serde_json::Value = azure
        .get(&hipaa_operator::azure::resources::GET_FHIR, &fhir)
        .await
        .expect("get");
    assert_eq!(
        after["properties"]["corsConfiguration"]["origins"][0],
        "https://portal.contoso-health.example"
    );
    assert_eq!(
        after["tags"]["changed-by"], "someone-else",
        "the other writer's change was kept"
    );
    let puts: Vec<_> = sim
        .requests()
        .await
        .into_iter()
        .filter(|r| {
            r["method"] == "PUT"
                && r["path"]
                    .as_str()
                    .is_some_and(|p| p.ends_with("fhir-patient-record"))
        })
        .collect();
    assert!(
        puts.iter().any(|r| r["status"] == 412),
        "a 412 was answered: {puts:?}"
    );
}

fn put_fhir_op() -> hipaa_operator::azure::types::ArmOp {
    hipaa_operator::azure::types::ArmOp::new(
        "FhirServices_CreateOrUpdate",
        "Microsoft.HealthcareApis",
        "2024-03-31",
    )
}

/// A writer that keeps everything the tracing subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn no_secret_token_or_authorization_header_reaches_the_logs() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let sim = Sim::start().await;
    let azure = sim.client(Sim::operator_identity());
    azure
        .get_storage_account(&sim::account_id())
        .await
        .expect("GET");
    azure
        .update_storage_account(&sim::account_id(), &tls_patch())
        .await
        .expect("PATCH");
    let _ = azure
        .get_key("kv-clinical-cmk", "absent")
        .await
        .expect("data plane");
    let log = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("utf-8");
    assert!(
        log.len() > 1000,
        "TRACE logging captured the calls ({} bytes)",
        log.len()
    );
    assert!(
        !log.contains(sim::OPERATOR_SECRET),
        "the client secret was logged"
    );
    assert!(
        !log.contains("eyJ"),
        "a JWT (token or assertion) was logged"
    );
    assert!(
        !log.to_ascii_lowercase().contains("bearer "),
        "an Authorization header was logged"
    );
}

#[test]
fn error_class_names_are_fixed_metric_labels() {
    let err = AzureError::Configuration("x".into());
    assert_eq!(err.class().as_str(), "configuration");
}

#[tokio::test]
async fn role_assignments_reaching_a_resource_come_with_their_role_definitions() {
    let sim = Sim::start().await;
    let azure = sim.client(Sim::operator_identity());
    let assignments = azure
        .list_role_assignments(&law())
        .await
        .expect("role assignments at and above the workspace");
    let scopes: Vec<String> = assignments
        .iter()
        .filter_map(|a| a.properties.scope.clone())
        .collect();
    // Inherited from the resource group and the subscription (legacy-deploy's Contributor).
    assert!(
        scopes.iter().any(|s| s.eq_ignore_ascii_case(sim::RG)),
        "{scopes:?}"
    );
    assert!(
        scopes
            .iter()
            .any(|s| s.eq_ignore_ascii_case(&format!("/subscriptions/{}", sim::SUBSCRIPTION))),
        "{scopes:?}"
    );
    for a in &assignments {
        let role = azure
            .get_role_definition_at(&law(), &a.properties.role_definition_id)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", a.properties.role_definition_id));
        assert!(!role.properties.role_name.is_empty());
    }
}

#[tokio::test]
async fn file_service_settings_round_trip() {
    use hipaa_operator::azure::storage::{
        FileServiceProperties, ProtocolSettings, RetentionPolicy, SmbSettings,
    };
    let sim = Sim::start().await;
    let azure = sim.client(Sim::operator_identity());
    let before = azure
        .get_file_service(&sim::account_id())
        .await
        .expect("read the file service");
    let wanted = FileServiceProperties {
        share_delete_retention_policy: Some(RetentionPolicy {
            enabled: true,
            days: Some(14),
        }),
        protocol_settings: Some(ProtocolSettings {
            smb: Some(SmbSettings {
                versions: Some("SMB3.1.1".into()),
                channel_encryption: Some("AES-256-GCM".into()),
            }),
        }),
    };
    assert_ne!(before, wanted, "a new account is not hardened");
    azure
        .set_file_service(&sim::account_id(), &wanted)
        .await
        .expect("PUT the file service");
    let after = azure
        .get_file_service(&sim::account_id())
        .await
        .expect("read back");
    assert_eq!(after, wanted);
}

/// A service setting the operator changes is merged into the whole set it read: what a person
/// configured beside it (CORS rules, SMB authentication, multichannel, a retention policy's
/// fields the operator does not model) is still there afterwards.
#[tokio::test]
async fn service_settings_change_only_what_the_plan_changes() {
    use hipaa_operator::azure::storage::{
        BlobServiceProperties, FileServiceProperties, ProtocolSettings, RetentionPolicy,
        SmbSettings,
    };
    use hipaa_operator::azure::types::ArmOp;
    let sim = Sim::start().await;
    let azure = sim.client(Sim::operator_identity());
    let account = sim::account_id();
    let cors = json!({"corsRules": [{"allowedOrigins": ["https://portal.clinic.example"],
        "allowedMethods": ["GET"], "maxAgeInSeconds": 60, "exposedHeaders": ["*"], "allowedHeaders": ["*"]}]});
    sim.arm_put(
        &format!("{}{account}/fileServices/default?api-version=2025-01-01", sim.sim.base_url),
        &json!({"properties": {"cors": cors,
            "shareDeleteRetentionPolicy": {"enabled": false},
            "protocolSettings": {"smb": {"versions": "SMB3.0;SMB3.1.1", "authenticationMethods": "Kerberos",
                "multichannel": {"enabled": true}}}}}),
    )
    .await;
    sim.arm_put(
        &format!("{}{account}/blobServices/default?api-version=2025-01-01", sim.sim.base_url),
        &json!({"properties": {"cors": cors, "isVersioningEnabled": true,
            "deleteRetentionPolicy": {"enabled": false, "allowPermanentDelete": false},
            "lastAccessTimeTrackingPolicy": {"enable": true, "name": "AccessTimeTracking", "trackingGranularityInDays": 1}}}),
    )
    .await;
    azure
        .set_file_service(
            &account,
            &FileServiceProperties {
                share_delete_retention_policy: None,
                protocol_settings: Some(ProtocolSettings {
                    smb: Some(SmbSettings {
                        versions: Some("SMB3.1.1".into()),
                        channel_encryption: Some("AES-256-GCM".into()),
                    }),
                }),
            },
        )
        .await
        .expect("PUT the file service");
    azure
        .set_blob_service(
            &account,
            &BlobServiceProperties {
                delete_retention_policy: Some(RetentionPolicy {
                    enabled: true,
                    days: Some(14),
                }),
                ..Default::default()
            },
        )
        .await
        .expect("PUT the blob service");
    let read = |path: &'static str| {
        let azure = azure.clone();
        let id = format!("{account}/{path}");
        async move {
            let op = ArmOp::new("Services_Get", "Microsoft.Storage", "2025-01-01");
            azure
                .get_opt::<serde_json::Value>(&op, &id)
                .await
                .expect("GET")
                .expect("exists")
        }
    };
    let file = read("fileServices/default").await;
    let smb = &file["properties"]["protocolSettings"]["smb"];
    assert_eq!(smb["versions"], "SMB3.1.1");
    assert_eq!(smb["channelEncryption"], "AES-256-GCM");
    assert_eq!(smb["authenticationMethods"], "Kerberos", "{file}");
    assert_eq!(smb["multichannel"]["enabled"], true, "{file}");
    assert_eq!(file["properties"]["cors"], cors);
    let blob = read("blobServices/default").await;
    let p = &blob["properties"];
    assert_eq!(p["deleteRetentionPolicy"]["enabled"], true);
    assert_eq!(p["deleteRetentionPolicy"]["days"], 14);
    assert_eq!(
        p["deleteRetentionPolicy"]["allowPermanentDelete"], false,
        "{blob}"
    );
    assert_eq!(p["isVersioningEnabled"], true);
    assert_eq!(p["lastAccessTimeTrackingPolicy"]["enable"], true, "{blob}");
    assert_eq!(p["cors"], cors);
}

#[tokio::test]
async fn a_role_is_granted_once_on_a_single_key() {
    use hipaa_operator::azure::authorization::KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER;
    let sim = Sim::start().await;
    let azure = sim.client(Sim::operator_identity());
    let policy = RotationPolicy::new("P90D", "P1Y", "P30D");
    azure
        .ensure_key("kv-clinical-cmk", "granted-cmk", "RSA", 3072, &policy)
        .await
        .expect("create key");
    let vault = format!(
        "{}/providers/Microsoft.KeyVault/vaults/kv-clinical-cmk",
        sim::RG
    );
    let key_scope = format!("{vault}/keys/granted-cmk");
    let principal = "3f4a5b6c-7d8e-4f90-a1b2-c3d4e5f6a7b8";
    let grant = || {
        azure.ensure_role_assignment(
            &key_scope,
            KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER,
            principal,
            Some("ServicePrincipal"),
        )
    };
    assert_eq!(grant().await.expect("grant"), Ensured::Written);
    sim.clear_log().await;
    assert_eq!(grant().await.expect("again"), Ensured::Unchanged);
    assert!(sim.writes().await.is_empty(), "granted once");
    let reaching = azure
        .role_assignments_reaching(&key_scope)
        .await
        .expect("assignments on the key");
    assert!(
        reaching
            .iter()
            .any(|(a, role)| a.properties.principal_id == principal
                && role.grants_data("Microsoft.KeyVault/vaults/keys/unwrap/action"))
    );
    // Scoped to that key only: the vault itself does not list it.
    let on_vault = azure.list_role_assignments(&vault).await.expect("vault");
    assert!(
        !on_vault
            .iter()
            .any(|a| a.properties.principal_id == principal)
    );
    // A key that does not exist is not a scope.
    let missing = azure
        .ensure_role_assignment(
            &format!("{vault}/keys/no-such-key"),
            KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER,
            principal,
            Some("ServicePrincipal"),
        )
        .await;
    assert!(missing.is_err());
}

#[tokio::test]
async fn resource_graph_envelopes_follow_skip_tokens_page_by_page() {
    let sim = Sim::start().await;
    let azure = sim.client(Sim::operator_identity());
    // One group and type with more accounts than a page holds (1,000 rows): read by group and
    // type, in two pages.
    let ids: Vec<String> = (0..1_050)
        .map(|i| {
            format!(
                "{}/providers/Microsoft.Storage/storageAccounts/stpage{i:04}",
                sim::RG
            )
        })
        .collect();
    let resources: Vec<serde_json::Value> = ids
        .iter()
        .map(|id| {
            json!({"id": id, "body": {
                "location": "eastus2", "kind": "StorageV2", "sku": {"name": "Standard_LRS"},
                "properties": {"minimumTlsVersion": "TLS1_2"}}})
        })
        .collect();
    sim.admin(
        reqwest::Method::POST,
        "seed",
        Some(json!({ "resources": resources })),
    )
    .await;
    sim.clear_log().await;
    let mut seen = Vec::new();
    azure
        .envelopes(&ids, |row| {
            seen.push(row["id"].as_str().expect("id").to_ascii_lowercase());
        })
        .await
        .expect("Resource Graph");
    seen.sort();
    let mut wanted: Vec<String> = ids.iter().map(|i| i.to_ascii_lowercase()).collect();
    wanted.sort();
    assert_eq!(
        seen, wanted,
        "every account once, none of the group's others"
    );
    let queries: Vec<serde_json::Value> = sim
        .requests()
        .await
        .into_iter()
        .filter(|r| r["path"].as_str() == Some("/providers/Microsoft.ResourceGraph/resources"))
        .collect();
    assert_eq!(queries.len(), 2, "one query, two pages: {queries:?}");
}

/// A private endpoint whose creation ended `Failed` is not there for the controls (it carries no
/// traffic), and keeping it makes it again; once `Succeeded` it counts.
#[tokio::test]
async fn a_failed_private_endpoint_is_not_counted_and_is_made_again() {
    let sim = Sim::start().await;
    let azure = sim.client(Sim::operator_identity());
    let subnet = format!(
        "{}/providers/Microsoft.Network/virtualNetworks/vnet-clinical/subnets/snet-private-endpoints",
        sim::RG
    );
    let id = format!(
        "{}/providers/Microsoft.Network/privateEndpoints/pe-failed-blob",
        sim::RG
    );
    let desired = DesiredPrivateEndpoint {
        id: id.clone(),
        location: "eastus2".into(),
        subnet_id: subnet,
        target_id: sim::account_id(),
        group_id: "blob".into(),
        dns_zone_ids: vec![],
    };
    // Its creation ends Failed (the endpoint resource stays, in state Failed).
    sim.fault(json!({"method": "PUT", "path": "*/privateEndpoints/pe-failed-blob", "times": 1,
        "action": {"kind": "failOperation", "code": "PrivateEndpointCreationFailed", "message": "subnet is full"}}))
        .await;
    azure
        .ensure_private_endpoint(&desired)
        .await
        .expect_err("the operation fails");
    let groups = hipaa_operator::controller::observe::endpoints_of(&azure, [id.clone()])
        .await
        .expect("read");
    assert!(groups.is_empty(), "a Failed endpoint counted: {groups:?}");
    assert_eq!(
        azure
            .ensure_private_endpoint(&desired)
            .await
            .expect("ensure"),
        Ensured::Written,
        "a Failed endpoint of the right shape must be made again"
    );
    let groups = hipaa_operator::controller::observe::endpoints_of(&azure, [id.clone()])
        .await
        .expect("read");
    assert_eq!(
        groups.get(&id).map(|e| e.groups.as_slice()),
        Some(&["blob".to_string()][..])
    );
}

/// An endpoint made but never registered in DNS (its zone group's write was lost, as when the
/// operator is killed between the two) is seen as unregistered, and the next ensure registers
/// it without touching the endpoint. A zone group someone else made is used, never doubled.
#[tokio::test]
async fn an_unregistered_endpoint_is_seen_and_registered_and_a_foreign_group_is_never_doubled() {
    use hipaa_operator::controller::observe::endpoints_of;
    let sim = Sim::start().await;
    let azure = sim.client(Sim::operator_identity());
    let zone = format!(
        "{}/providers/Microsoft.Network/privateDnsZones/privatelink.blob.core.windows.net",
        sim::RG
    );
    let endpoint = |name: &str| DesiredPrivateEndpoint {
        id: format!(
            "{}/providers/Microsoft.Network/privateEndpoints/{name}",
            sim::RG
        ),
        location: "eastus2".into(),
        subnet_id: format!(
            "{}/providers/Microsoft.Network/virtualNetworks/vnet-clinical/subnets/snet-private-endpoints",
            sim::RG
        ),
        target_id: sim::account_id(),
        group_id: "blob".into(),
        dns_zone_ids: vec![zone.clone()],
    };
    let lost = endpoint("pe-lost-blob");
    sim.fault(json!({"method": "PUT", "path": "*/privateEndpoints/pe-lost-blob/privateDnsZoneGroups/*",
        "times": 1, "action": {"kind": "status", "status": 400, "code": "Interrupted", "message": "lost"}}))
        .await;
    azure
        .ensure_private_endpoint(&lost)
        .await
        .expect_err("the zone group's write is lost");
    let seen = endpoints_of(&azure, [lost.id.clone()]).await.expect("read");
    let found = seen.get(&lost.id).expect("the endpoint was made");
    assert_eq!(found.groups, ["blob"]);
    assert!(found.zones.is_empty(), "not registered: {found:?}");
    sim.clear_log().await;
    assert_eq!(
        azure.ensure_private_endpoint(&lost).await.expect("ensure"),
        Ensured::Written
    );
    let writes = sim.writes().await;
    assert_eq!(
        writes.len(),
        1,
        "only the zone group is written: {writes:?}"
    );
    assert!(
        writes[0].1.contains("/privateDnsZoneGroups/default"),
        "{writes:?}"
    );
    let seen = endpoints_of(&azure, [lost.id.clone()]).await.expect("read");
    assert_eq!(
        seen[&lost.id].zones,
        ["privatelink.blob.core.windows.net"],
        "registered once the group is read back"
    );

    // A zone group an Azure Landing Zone policy made, under another name: it registers the
    // zone, so the endpoint is registered and nothing is written.
    let theirs = endpoint("pe-alz-blob");
    let no_zone = DesiredPrivateEndpoint {
        dns_zone_ids: vec![],
        ..theirs.clone()
    };
    azure
        .ensure_private_endpoint(&no_zone)
        .await
        .expect("endpoint");
    let group_url = format!(
        "{}{}/privateDnsZoneGroups/deployedByPolicy?api-version=2024-05-01",
        sim.sim.base_url, theirs.id
    );
    let body = json!({"properties": {"privateDnsZoneConfigs": [
        {"name": "blob", "properties": {"privateDnsZoneId": zone}}]}});
    sim.arm_put(&group_url, &body).await;
    sim.clear_log().await;
    assert_eq!(
        azure
            .ensure_private_endpoint(&theirs)
            .await
            .expect("ensure"),
        Ensured::Unchanged
    );
    assert!(sim.writes().await.is_empty(), "no second group");
    let seen = endpoints_of(&azure, [theirs.id.clone()])
        .await
        .expect("read");
    assert_eq!(
        seen[&theirs.id].zones,
        ["privatelink.blob.core.windows.net"]
    );
    assert_eq!(
        seen[&theirs.id].foreign_zone_group.as_deref(),
        Some("deployedByPolicy")
    );
}

/// With a hand-over time, a long-running write is not waited for: it comes back as a running
/// operation, which is then polled once per call until it ends; a URL on another origin (a
/// forged record) is never followed.
#[tokio::test]
async fn a_long_running_write_is_handed_over_and_polled_to_its_end() {
    use hipaa_operator::azure::client::ClientSettings;
    use hipaa_operator::azure::lro::{Polled, RunningOperation};
    let sim = Sim::start().await;
    let azure = sim.client_with(
        Sim::operator_identity(),
        ClientSettings {
            lro: LroOptions {
                default_poll_interval: Duration::from_millis(200),
                max_poll_interval: Duration::from_secs(2),
                deadline: Duration::from_secs(30),
                hand_over_after: Some(Duration::from_millis(500)),
            },
            retry_initial_delay: Duration::from_millis(200),
            ..ClientSettings::default()
        },
    );
    sim.set_config(json!({"lroDurationMs": 3000, "lroRetryAfterSecs": 1}))
        .await;
    let desired = DesiredPrivateEndpoint {
        id: format!(
            "{}/providers/Microsoft.Network/privateEndpoints/pe-slow-blob",
            sim::RG
        ),
        location: "eastus2".into(),
        subnet_id: format!(
            "{}/providers/Microsoft.Network/virtualNetworks/vnet-clinical/subnets/snet-private-endpoints",
            sim::RG
        ),
        target_id: sim::account_id(),
        group_id: "blob".into(),
        dns_zone_ids: vec![],
    };
    let started = std::time::Instant::now();
    let running: RunningOperation = match azure.ensure_private_endpoint(&desired).await {
        Err(AzureError::Running(r)) => *r,
        other => panic!("expected a handed-over operation, got {other:?}"),
    };
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "it was waited for"
    );
    assert_eq!(running.operation, "PrivateEndpoints_CreateOrUpdate");
    assert_eq!(running.resource, desired.id);
    // While it runs, keeping the endpoint writes nothing: the same operation is followed.
    sim.clear_log().await;
    match azure.ensure_private_endpoint(&desired).await {
        Err(AzureError::Running(_)) => {}
        other => panic!("expected the endpoint still running, got {other:?}"),
    }
    assert!(sim.writes().await.is_empty(), "{:?}", sim.writes().await);
    assert!(matches!(
        azure.poll_operation(&running).await.expect("poll"),
        Polled::Running(_)
    ));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        match azure.poll_operation(&running).await.expect("poll") {
            Polled::Succeeded => break,
            Polled::Running(_) => {
                assert!(std::time::Instant::now() < deadline, "never ended");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    // A record pointing elsewhere is refused before any request.
    let forged = RunningOperation {
        poll_url: "https://attacker.example/steal".into(),
        ..running.clone()
    };
    assert!(azure.poll_operation(&forged).await.is_err());
}

/// Hub and spoke: the endpoint goes where its subnet is, in the virtual network's region,
/// whatever the target's region or the region the workspace suggests; Azure refuses an
/// endpoint outside its network's region.
#[tokio::test]
async fn an_endpoint_is_made_in_its_virtual_networks_region() {
    let sim = Sim::start().await;
    let azure = sim.client(Sim::operator_identity());
    let hub = format!(
        "/subscriptions/{}/resourceGroups/rg-hub-network",
        sim::SUBSCRIPTION
    );
    let vnet = format!("{hub}/providers/Microsoft.Network/virtualNetworks/vnet-hub");
    // A hub network in another group and region, where the platform team lets the operator
    // place endpoints.
    sim.admin(
        reqwest::Method::POST,
        "seed",
        Some(json!({
            "resourceGroups": [{"subscriptionId": sim::SUBSCRIPTION, "name": "rg-hub-network", "location": "westus3"}],
            "resources": [{"id": vnet, "body": {"location": "westus3", "properties": {
                "addressSpace": {"addressPrefixes": ["10.90.0.0/16"]},
                "subnets": [{"name": "snet-pe", "properties": {"addressPrefix": "10.90.1.0/24"}}]
            }}}],
            "roleAssignments": [{"scope": hub, "principalId": sim::OPERATOR_OBJECT_ID, "role": "Network Contributor"}]
        })),
    )
    .await;
    let desired = DesiredPrivateEndpoint {
        id: format!("{hub}/providers/Microsoft.Network/privateEndpoints/pe-streferralletters-blob"),
        // The target's region: not where the hub's network is.
        location: "eastus2".into(),
        subnet_id: format!("{vnet}/subnets/snet-pe"),
        target_id: sim::account_id(),
        group_id: "blob".into(),
        dns_zone_ids: vec![],
    };
    azure
        .ensure_private_endpoint(&desired)
        .await
        .expect("endpoint");
    let made = azure
        .get_private_endpoint(&desired.id)
        .await
        .expect("read")
        .expect("made");
    assert_eq!(made.location, "westus3");
}

/// A subscription's Defender plan is read once for every store of the subscription for a
/// minute, and a write of it by the same client makes the next read go to Azure again.
#[tokio::test]
async fn a_defender_plan_read_serves_a_minute_and_a_write_forgets_it() {
    use hipaa_operator::azure::security::{PUT_PRICING, subscription_plan_id};
    let sim = Sim::start().await;
    // Contributor on the subscription: it may write the plan.
    let azure = sim.client(Sim::legacy_identity());
    let plan = subscription_plan_id(&sim::account_id(), "StorageAccounts").expect("id");
    sim.clear_log().await;
    let gets = |log: Vec<serde_json::Value>| {
        log.iter()
            .filter(|r| {
                r["method"] == "GET"
                    && r["path"]
                        .as_str()
                        .is_some_and(|p| p.contains("/Microsoft.Security/pricings/StorageAccounts"))
            })
            .count()
    };
    for _ in 0..3 {
        let read = azure
            .defender_plan(&plan)
            .await
            .expect("read")
            .expect("plan");
        assert_eq!(read.properties["pricingTier"], json!("Standard"));
    }
    assert_eq!(
        gets(sim.requests().await),
        1,
        "one GET serves the three reads"
    );
    azure
        .write(
            &PUT_PRICING,
            Method::Put,
            &plan,
            Some(&json!({"properties": {"pricingTier": "Free"}})),
            None,
        )
        .await
        .expect("PUT");
    let read = azure
        .defender_plan(&plan)
        .await
        .expect("read")
        .expect("plan");
    assert_eq!(
        read.properties["pricingTier"],
        json!("Free"),
        "read again after the write"
    );
    assert_eq!(gets(sim.requests().await), 2);
}
