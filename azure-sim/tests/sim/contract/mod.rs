//! Contract tests: every recorded example of a served operation is replayed against the
//! simulator (after seeding what it needs) and the answer is compared with the recording:
//! status code, long-running-operation headers, and the body's shape and values. Values the
//! service generates (timestamps, GUIDs, etags, key material) may differ; the few recorded
//! values that cannot be reproduced are listed per case with the reason.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;

const CONTRACT_PRINCIPAL: &str = "c0c0c0c0-0000-4000-8000-000000000001";

mod cases;
mod compare;
mod estate;

use cases::{Case, KvSetup, NOT_SERVED, Target, cases};
use compare::{Cmp, compare};
use estate::{decoded, fill, prepare, seed};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples-data")
}

fn example_files() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let root = data_dir();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("examples-data is readable") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                let rel = path
                    .strip_prefix(&root)
                    .expect("under root")
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel);
            }
        }
    }
    out
}

#[test]
fn every_example_file_is_covered_or_listed_as_not_served() {
    let files = example_files();
    assert_eq!(files.len(), 109, "the crate carries all recorded examples");
    let covered: BTreeSet<String> = cases().iter().map(|c| c.file.to_string()).collect();
    let not_served: BTreeSet<String> = NOT_SERVED.iter().map(|(f, _)| f.to_string()).collect();
    let missing: Vec<&String> = files
        .iter()
        .filter(|f| !covered.contains(*f) && !not_served.contains(*f))
        .collect();
    assert!(
        missing.is_empty(),
        "example files without a contract case: {missing:?}"
    );
    let stale: Vec<&String> = covered.iter().filter(|f| !files.contains(*f)).collect();
    assert!(
        stale.is_empty(),
        "cases for files that do not exist: {stale:?}"
    );
    for (file, type_name) in NOT_SERVED {
        assert!(
            azure_sim::arm::registry::lookup(type_name).is_none(),
            "{type_name} is served now: write the contract case for {file}"
        );
    }
}

#[test]
fn example_files_match_their_recorded_provenance() {
    let sources = std::fs::read_to_string(data_dir().join("SOURCES.tsv")).expect("SOURCES.tsv");
    let mut checked = 0;
    for line in sources.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), 6, "{line}");
        let rel = cols[0]
            .strip_prefix("azure-rest-examples/")
            .expect("path prefix");
        let bytes = std::fs::read(data_dir().join(rel)).expect("listed file exists");
        assert_eq!(bytes.len().to_string(), cols[4], "{rel} size");
        let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
        let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, cols[5], "{rel} sha256");
        checked += 1;
    }
    assert_eq!(checked, 109);
}

fn load(file: &str) -> Value {
    let text = std::fs::read_to_string(data_dir().join(file)).expect("example readable");
    serde_json::from_str(&text).expect("example is JSON")
}

async fn run_case(case: &Case) -> Result<(), String> {
    let mut example = load(case.file);
    for (k, v) in case.params {
        example["parameters"][*k] = json!(v);
    }
    let params = &example["parameters"];
    let seed_json = json!({
        "principals": [{"objectId": CONTRACT_PRINCIPAL, "displayName": "contract", "type": "User"},
                       {"objectId": OWNER, "displayName": "owner", "type": "User"},
                       {"objectId": "ce2ce14e-85d7-4629-bdbc-454d0519d987", "displayName": "example user", "type": "User"},
                       {"objectId": MI, "clientId": MI_CLIENT, "type": "ManagedIdentity"}],
        "roleAssignments": [{"scope": "/", "principalId": CONTRACT_PRINCIPAL, "role": "Owner"},
                            {"scope": "/", "principalId": CONTRACT_PRINCIPAL, "role": "Key Vault Administrator"}]
    });
    let h = Harness::with_seed(seed_json).await;
    let token = h.token(CONTRACT_PRINCIPAL).await;
    let request_body = case.request_body(params);
    let (url, resp) = match case.target {
        Target::Arm => {
            let path = fill(case.path, params);
            prepare(&h, case, &example, &path).await;
            let api = params["api-version"].as_str().unwrap_or_default();
            let url = h.url(&format!("{path}?api-version={api}"));
            let method = Method::from_bytes(case.method.as_bytes()).expect("method");
            let mut headers: Vec<(&str, String)> = Vec::new();
            if let Some(im) = params["If-Match"].as_str() {
                // The lock example's If-Match names the recorded etag; send the seeded one.
                let current = h
                    .arm_as(
                        &token,
                        Method::GET,
                        &format!(
                            "{}?api-version={api}",
                            decoded(&path).trim_end_matches("/lock")
                        ),
                        None,
                    )
                    .await;
                headers.push(("If-Match", current.header("etag").unwrap_or(im).to_string()));
            }
            let hdrs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            (
                url.clone(),
                h.send(method, &url, Some(&token), request_body.as_ref(), &hdrs)
                    .await,
            )
        }
        Target::KeyVault(setup) => {
            let vault = params["vaultBaseUrl"]
                .as_str()
                .and_then(|u| u.trim_start_matches("https://").split('.').next())
                .expect("vault")
                .to_string();
            seed(&h, json!({"subscriptions": [{"subscriptionId": SUB}], "resourceGroups": [{"subscriptionId": SUB, "name": RG}],
                "resources": [{"id": format!("/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.KeyVault/vaults/{vault}"),
                               "body": {"location": "eastus", "properties": {"tenantId": h.sim.tenant_id, "sku": {"family": "A", "name": "standard"}, "enableRbacAuthorization": true}}}]})).await;
            let kv_token = h
                .token_for(CONTRACT_PRINCIPAL, "https://vault.azure.net", 600)
                .await;
            let mut params = params.clone();
            let base = h.sim.vault_url(&vault);
            let api = params["api-version"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let key = params["key-name"].as_str().unwrap_or_default().to_string();
            let recorded = &example["responses"]["200"]["body"];
            let set_secret = |name: String, body: Value| {
                let url = format!("{base}/secrets/{name}?api-version={api}");
                let kv_token = kv_token.clone();
                let h = &h;
                async move {
                    let r = h
                        .send(Method::PUT, &url, Some(&kv_token), Some(&body), &[])
                        .await;
                    assert_eq!(r.status, 200, "{:?}", r.body);
                    r.body
                }
            };
            if setup == KvSetup::Secret {
                let name = params["secret-name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let set = set_secret(name, json!({"value": recorded["value"]})).await;
                let version = set["id"]
                    .as_str()
                    .and_then(|k| k.rsplit('/').next())
                    .unwrap_or_default()
                    .to_string();
                params["secret-version"] = json!(version);
            }
            if setup == KvSetup::SecretList {
                let items = recorded["value"].as_array().cloned().unwrap_or_default();
                for (i, item) in items.iter().enumerate() {
                    let name = item["id"]
                        .as_str()
                        .and_then(|k| k.rsplit('/').next())
                        .unwrap_or_default()
                        .to_string();
                    set_secret(
                        name,
                        json!({"value": format!("secret {i}"), "contentType": item["contentType"]}),
                    )
                    .await;
                }
                set_secret("zz-listed-after".to_string(), json!({"value": "more"})).await;
            }
            if matches!(setup, KvSetup::Key | KvSetup::KeyAndPolicy) {
                let created = h.send(Method::POST, &format!("{base}/keys/{key}/create?api-version=7.5"), Some(&kv_token), Some(&json!({"kty": "RSA", "key_size": 2048, "tags": example["responses"]["200"]["body"]["tags"]})), &[]).await;
                assert_eq!(created.status, 200, "{:?}", created.body);
                let version = created.body["key"]["kid"]
                    .as_str()
                    .and_then(|k| k.rsplit('/').next())
                    .unwrap_or_default()
                    .to_string();
                params["key-version"] = json!(version);
            }
            if setup == KvSetup::KeyAndPolicy {
                let recorded = &example["responses"]["200"]["body"];
                let policy = json!({"lifetimeActions": recorded["lifetimeActions"], "attributes": {"expiryTime": recorded["attributes"]["expiryTime"]}});
                let r = h
                    .send(
                        Method::PUT,
                        &format!("{base}/keys/{key}/rotationpolicy?api-version=7.5"),
                        Some(&kv_token),
                        Some(&policy),
                        &[],
                    )
                    .await;
                assert_eq!(r.status, 200, "{:?}", r.body);
            }
            let mut url = format!("{base}{}?api-version={api}", fill(case.path, &params));
            if let Some(m) = params["maxresults"].as_u64() {
                url.push_str(&format!("&maxresults={m}"));
            }
            let method = Method::from_bytes(case.method.as_bytes()).expect("method");
            (
                url.clone(),
                h.send(method, &url, Some(&kv_token), request_body.as_ref(), &[])
                    .await,
            )
        }
        Target::Imds => {
            let url = h.url(&format!(
                "{}?api-version={}&resource={}",
                case.path,
                params["api-version"].as_str().unwrap_or_default(),
                params["resource"].as_str().unwrap_or_default()
            ));
            (
                url.clone(),
                h.send(Method::GET, &url, None, None, &[("Metadata", "true")])
                    .await,
            )
        }
    };
    let responses = example["responses"].as_object().expect("responses");
    let status = resp.status.to_string();
    let Some(recorded) = responses.get(&status) else {
        return Err(format!(
            "{} {url}: status {status} not among recorded {:?}: {:?}",
            case.method,
            responses.keys().collect::<Vec<_>>(),
            resp.body
        ));
    };
    // LRO headers: what the recording shows must be present.
    for (name, _) in recorded["headers"].as_object().into_iter().flatten() {
        if resp.header(&name.to_ascii_lowercase()).is_none() {
            return Err(format!("{}: missing recorded header {name}", case.file));
        }
    }
    let mut actual = resp.body.clone();
    let mut expected = recorded["body"].clone();
    if resp.status == 202 {
        // Follow the operation to its end and compare the final resource with the recorded 200/201.
        let poll = resp
            .header("azure-asyncoperation")
            .or(resp.header("location"))
            .map(str::to_string);
        if let Some(poll) = poll {
            let token = h.token(CONTRACT_PRINCIPAL).await;
            let done = h.send(Method::GET, &poll, Some(&token), None, &[]).await;
            if done.status >= 300
                || done.body["status"]
                    .as_str()
                    .is_some_and(|s| s != "Succeeded")
            {
                return Err(format!(
                    "{}: operation did not succeed: {} {:?}",
                    case.file, done.status, done.body
                ));
            }
        }
        if case.method == "DELETE" {
            return Ok(());
        }
        let get_url = url.clone();
        let g = h.send(Method::GET, &get_url, Some(&token), None, &[]).await;
        actual = g.body;
        expected = responses
            .get("200")
            .or(responses.get("201"))
            .map(|r| r["body"].clone())
            .unwrap_or(Value::Null);
    }
    if expected.is_null() {
        // The recording has no body for this status: status and headers were the contract.
        return Ok(());
    }
    let mut diffs = Vec::new();
    let request = example["parameters"].to_string();
    let ctx = Cmp {
        ignore: case.ignore,
        subset: case.subset,
        key: case.subset_key,
        request: &request,
    };
    compare(&expected, &actual, "", "", &ctx, &mut diffs);
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} ({} {}):\n  {}",
            case.file,
            case.method,
            url,
            diffs.join("\n  ")
        ))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn recorded_examples_replay_against_the_simulator() {
    let mut failures = Vec::new();
    for (i, case) in cases().into_iter().enumerate() {
        let file = case.file;
        // Each case runs in its own task so a failed seed reports instead of stopping the run.
        let outcome = tokio::spawn(async move { run_case(&cases()[i]).await }).await;
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(e),
            Err(panic) => failures.push(format!("{file}: {panic}")),
        }
        let _ = case;
    }
    assert!(
        failures.is_empty(),
        "{} of {} contract cases differ:\n{}",
        failures.len(),
        cases().len(),
        failures.join("\n")
    );
}
