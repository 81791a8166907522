//! The `cosmos.*` controls of a Cosmos DB account (and its classification tag): evaluation
//! and the plan of the fewest writes (one PATCH of the account, the private endpoint, the
//! diagnostic setting). Pure.

use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::common;
use super::finding::{Finding, Found};
use super::plan::{ArmWrite, Plan, at, evidence};
use super::setting::{Absent, Fix, Lit, Setting};
use crate::azure::insights::{DesiredDiagnosticSetting, DiagnosticSetting};
use crate::azure::resources::{ArmResource, api_version};
use crate::azure::types::ArmOp;

pub const PATCH_ACCOUNT: ArmOp = ArmOp::new(
    "DatabaseAccounts_Update",
    "Microsoft.DocumentDB",
    api_version::COSMOS,
);

/// Days after which an account key counts as old (`cosmos.key-age`, the Azure Policy default).
const MAX_KEY_AGE_DAYS: i64 = 60;

/// Cosmos DB controls this module does not evaluate, and why.
pub const NOT_YET_EVALUATED: &[(&str, &str)] = &[];

/// The account's controls that one property decides, declared once for evaluation and PATCH.
pub const SETTINGS: &[Setting] = &[
    Setting::new(
        "cosmos.min-tls-1-2",
        "properties.minimalTlsVersion",
        &[Lit::Str("Tls12"), Lit::Str("Tls13")],
    )
    .absent(Absent::Shown("(not set: Tls)")),
    // Public access closes only once the private endpoint is in place.
    Setting::new(
        "cosmos.public-network-disabled",
        "properties.publicNetworkAccess",
        &[Lit::Str("Disabled"), Lit::Str("SecuredByPerimeter")],
    )
    .absent(Absent::Means(Lit::Str("Enabled")))
    .fix(Fix::After("cosmos.private-endpoint")),
    Setting::new(
        "cosmos.local-auth-disabled",
        "properties.disableLocalAuth",
        &[Lit::Bool(true)],
    ),
    Setting::new(
        "cosmos.metadata-write-disabled",
        "properties.disableKeyBasedMetadataWriteAccess",
        &[Lit::Bool(true)],
    ),
    // A one-way migration Azure allows in place.
    Setting::new(
        "cosmos.continuous-backup",
        "properties.backupPolicy.type",
        &[Lit::Str("Continuous")],
    )
    .absent(Absent::Means(Lit::Str("Periodic")))
    .fix(Fix::Replace("properties.backupPolicy", continuous_backup)),
];

fn continuous_backup() -> Value {
    json!({"type": "Continuous", "continuousModeProperties": {"tier": "Continuous30Days"}})
}

/// What the workspace and the store expect of a Cosmos DB account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CosmosExpectations {
    pub account_id: String,
    pub log_analytics_id: String,
    pub private_endpoint_groups: Vec<String>,
    /// The private DNS zones those endpoints must be registered in.
    pub endpoint_dns: super::common::EndpointDns,
    /// `https://{vault}.vault.azure.net/` of the workspace vault.
    pub vault_uri: String,
    pub allowed_ip_ranges: Vec<String>,
    pub classification_tag: (String, String),
    pub category_groups: Vec<String>,
    pub categories: Vec<String>,
}

impl CosmosExpectations {
    pub fn diagnostics(&self) -> DesiredDiagnosticSetting {
        DesiredDiagnosticSetting {
            resource_id: self.account_id.clone(),
            workspace_id: self.log_analytics_id.clone(),
            category_groups: self.category_groups.clone(),
            categories: self.categories.clone(),
        }
    }
}

/// What was read for one account.
#[derive(Clone, Debug, PartialEq)]
pub struct CosmosObservation {
    pub account: ArmResource,
    pub diagnostics: Vec<DiagnosticSetting>,
    pub endpoints: super::common::SeenEndpoints,
    pub now: Timestamp,
}

fn body(obs: &CosmosObservation) -> Value {
    json!({ "properties": obs.account.properties })
}

fn is(v: &Value, path: &str, want: bool) -> bool {
    at(v, path).and_then(Value::as_bool) == Some(want)
}

/// Evaluates every Cosmos DB control this module knows.
pub fn evaluate(expect: &CosmosExpectations, obs: &CosmosObservation) -> Vec<Finding> {
    let v = body(obs);
    let open_rules: Vec<String> = at(&v, "properties.ipRules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r["ipAddressOrRange"].as_str())
        .filter(|r| !expect.allowed_ip_ranges.iter().any(|a| a == r))
        .map(str::to_string)
        .collect();
    let filter = is(&v, "properties.isVirtualNetworkFilterEnabled", true);
    let bypass = at(&v, "properties.networkAclBypass")
        .and_then(Value::as_str)
        .unwrap_or("None");
    let local_auth_disabled = is(&v, "properties.disableLocalAuth", true);
    let key_uri = at(&v, "properties.keyVaultKeyUri").and_then(Value::as_str);
    let regions = at(&v, "properties.locations")
        .and_then(Value::as_array)
        .map(Vec::len)
        .unwrap_or(1);
    // `-g {rg} -n {account}`, for the command a person runs.
    let account = crate::azure::id::ArmId::parse(&expect.account_id).ok();
    let rg = account
        .as_ref()
        .and_then(|i| i.resource_group())
        .unwrap_or("<resource group>");
    let name = account
        .as_ref()
        .and_then(|i| i.value_of("databaseAccounts"))
        .unwrap_or("<account>");
    let set_key = format!(
        "az cosmosdb update -g {rg} -n {name} --key-uri {}/keys/<key> (the account's default identity needs access to the key; Azure re-encrypts the account in the background and never goes back), or exempt cosmos.cmk in this PhiStore's spec.exemptions",
        expect.vault_uri.trim_end_matches('/')
    );
    let cmk = match key_uri {
        Some(uri)
            if uri
                .to_ascii_lowercase()
                .starts_with(&expect.vault_uri.trim_end_matches('/').to_ascii_lowercase())
                && uri.trim_end_matches('/').split('/').count() == 5 =>
        {
            Finding::check("cosmos.cmk", true, "a versionless key in the workspace vault", uri)
        }
        Some(uri) => Finding::check(
            "cosmos.cmk",
            false,
            "a versionless key in the workspace vault",
            uri,
        )
        .with_message(format!(
            "the key is pinned to a version or lives outside the workspace vault; the operator does not change an account's key: {set_key}"
        )),
        None => Finding::check(
            "cosmos.cmk",
            false,
            "a versionless key in the workspace vault",
            "service-managed keys",
        )
        .with_message(format!(
            "the operator does not move an account to a customer-managed key (one way, and the re-encryption takes spare throughput): {set_key}"
        )),
    };
    let oldest_key_days = at(&v, "properties.keysMetadata")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|m| m.values())
        .filter_map(|k| k["generationTime"].as_str())
        .filter_map(|t| t.parse::<Timestamp>().ok())
        .map(|t| obs.now.duration_since(t).as_secs() / 86_400)
        .max();
    let key_age = if local_auth_disabled {
        Finding::new(
            "cosmos.key-age",
            Found::NotApplicable,
            format!("keys younger than {MAX_KEY_AGE_DAYS} days"),
            "local (key) authentication is disabled",
        )
    } else {
        Finding::check(
            "cosmos.key-age",
            oldest_key_days.is_some_and(|d| d <= MAX_KEY_AGE_DAYS),
            format!("keys younger than {MAX_KEY_AGE_DAYS} days"),
            oldest_key_days
                .map(|d| format!("oldest key {d} days"))
                .unwrap_or_else(|| "key ages not reported".into()),
        )
        .with_message("regenerating keys breaks every client that uses them: disable local authentication instead (cosmos.local-auth-disabled)")
    };
    let failover = if regions > 1 {
        Finding::check(
            "cosmos.automatic-failover",
            is(&v, "properties.enableAutomaticFailover", true),
            "true",
            evidence(at(&v, "properties.enableAutomaticFailover")),
        )
    } else {
        Finding::new(
            "cosmos.automatic-failover",
            Found::NotApplicable,
            "true on multi-region accounts",
            "one region",
        )
    };
    let mut out = super::setting::evaluate(SETTINGS, &v);
    out.extend([
        Finding::check(
            "cosmos.firewall-restricted",
            filter && open_rules.is_empty() && bypass.eq_ignore_ascii_case("None"),
            "isVirtualNetworkFilterEnabled=true, no ipRules outside the profile, networkAclBypass=None",
            format!(
                "isVirtualNetworkFilterEnabled={filter}, ipRules=[{}], networkAclBypass={bypass}",
                open_rules.join(", ")
            ),
        ),
        common::private_endpoint(
            "cosmos.private-endpoint",
            &v,
            &obs.endpoints,
            &expect.private_endpoint_groups,
            &expect.endpoint_dns,
        ),
        cmk,
        key_age,
        common::diagnostics(
            "cosmos.diag-audit-logs",
            &obs.diagnostics,
            &expect.diagnostics(),
        ),
        failover,
        common::classification_tag(
            obs.account.tags.as_ref(),
            (&expect.classification_tag.0, &expect.classification_tag.1),
        ),
    ]);
    out
}

/// The fewest writes for the drifted, automatically remediable findings of `to_fix`. The
/// customer-managed key (create-time) and key regeneration (breaks clients) are reported only.
pub fn plan(expect: &CosmosExpectations, obs: &CosmosObservation, to_fix: &[&Finding]) -> Plan {
    let mut plan = Plan::default();
    let drifted = |id: &str| super::plan::remediable(to_fix, id);
    let v = body(obs);
    let (writes, mut fixes) =
        super::setting::fixes(SETTINGS, to_fix, |c| super::setting::holds_in(to_fix, c));
    let mut props = super::setting::properties(&writes, &v);
    // Evaluated only on multi-region accounts: not a plain setting.
    if drifted("cosmos.automatic-failover") {
        props.insert("enableAutomaticFailover".into(), json!(true));
        fixes.push("cosmos.automatic-failover");
    }
    if drifted("cosmos.firewall-restricted") {
        let kept: Vec<Value> = at(&v, "properties.ipRules")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|r| {
                r["ipAddressOrRange"]
                    .as_str()
                    .is_some_and(|ip| expect.allowed_ip_ranges.iter().any(|a| a == ip))
            })
            .cloned()
            .collect();
        props.insert("isVirtualNetworkFilterEnabled".into(), json!(true));
        props.insert("ipRules".into(), Value::Array(kept));
        props.insert("networkAclBypass".into(), json!("None"));
        fixes.push("cosmos.firewall-restricted");
    }
    let mut patch = serde_json::Map::new();
    if !props.is_empty() {
        patch.insert("properties".into(), Value::Object(props));
    }
    if drifted("common.phi-classification-tag") {
        let mut tags = obs.account.tags.clone().unwrap_or_default();
        tags.insert(
            expect.classification_tag.0.clone(),
            expect.classification_tag.1.clone(),
        );
        patch.insert("tags".into(), json!(tags));
        fixes.push("common.phi-classification-tag");
    }
    if !patch.is_empty() {
        plan.writes.push(ArmWrite::Patch {
            op: PATCH_ACCOUNT,
            id: expect.account_id.clone(),
            body: Value::Object(patch),
        });
        fixes.into_iter().for_each(|id| plan.remediates(id));
    }
    if drifted("cosmos.private-endpoint") {
        plan.private_endpoint_groups = expect.private_endpoint_groups.clone();
        plan.remediates("cosmos.private-endpoint");
    }
    if drifted("cosmos.diag-audit-logs") {
        plan.diagnostics.push(expect.diagnostics());
        plan.remediates("cosmos.diag-audit-logs");
    }
    plan
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// The control ids this module's evaluator reports, for the catalog coverage test.
    pub(crate) fn evaluated_ids() -> Vec<&'static str> {
        evaluate(&expect(), &compliant())
            .iter()
            .map(Finding::id)
            .collect()
    }
    use crate::catalog;

    const ACCOUNT: &str =
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.DocumentDB/databaseAccounts/ddb1";
    const PE: &str = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateEndpoints/pe-ddb1-sql";

    fn expect() -> CosmosExpectations {
        CosmosExpectations {
            account_id: ACCOUNT.into(),
            log_analytics_id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/law".into(),
            private_endpoint_groups: vec!["Sql".into()],
            endpoint_dns: crate::controls::common::fixtures::dns(&["Sql"]),
            vault_uri: "https://kv-clinical.vault.azure.net/".into(),
            allowed_ip_ranges: vec![],
            classification_tag: ("data-classification".into(), "phi".into()),
            category_groups: vec!["audit".into()],
            categories: vec![],
        }
    }

    fn recorded() -> CosmosObservation {
        let path = format!(
            "{}/../shared/azure-rest-examples/Microsoft.DocumentDB/2025-04-15/CosmosDBDatabaseAccountGet.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("example")).expect("json");
        CosmosObservation {
            account: serde_json::from_value(v["responses"]["200"]["body"].clone())
                .expect("account"),
            diagnostics: vec![],
            endpoints: BTreeMap::new(),
            now: "2026-11-22T08:00:00Z".parse().expect("t"),
        }
    }

    fn compliant() -> CosmosObservation {
        let mut obs = recorded();
        obs.account.tags = Some(BTreeMap::from([(
            "data-classification".into(),
            "phi".into(),
        )]));
        obs.account.properties = json!({
            "minimalTlsVersion": "Tls12", "publicNetworkAccess": "Disabled",
            "isVirtualNetworkFilterEnabled": true, "ipRules": [], "networkAclBypass": "None",
            "disableLocalAuth": true, "disableKeyBasedMetadataWriteAccess": true,
            "keyVaultKeyUri": "https://kv-clinical.vault.azure.net/keys/ddb1-cmk",
            "backupPolicy": {"type": "Continuous"},
            "locations": [{"locationName": "East US"}],
            "privateEndpointConnections": [{"properties": {"privateEndpoint": {"id": PE},
                "privateLinkServiceConnectionState": {"status": "Approved"}}}]
        });
        obs.endpoints = crate::controls::common::fixtures::registered(PE, "Sql");
        obs.diagnostics = vec![
            serde_json::from_value(json!({"name": "hipaa-operator-audit",
            "properties": {"workspaceId": expect().log_analytics_id,
                "logs": [{"categoryGroup": "audit", "enabled": true}]}}))
            .expect("setting"),
        ];
        obs
    }

    fn state(findings: &[Finding], id: &str) -> Found {
        findings
            .iter()
            .find(|f| f.id() == id)
            .map(|f| f.found)
            .expect(id)
    }

    #[test]
    fn a_compliant_account_passes_and_every_cosmos_control_is_evaluated_or_listed() {
        let findings = evaluate(&expect(), &compliant());
        for f in &findings {
            assert!(
                matches!(f.found, Found::Compliant | Found::NotApplicable),
                "{f:?}"
            );
        }
        // The Defender plan is the subscription's, evaluated beside the kind's controls.
        for id in catalog::ids().filter(|i| i.starts_with("cosmos.")) {
            assert!(
                (findings.iter().any(|f| f.id() == id)
                    || crate::controls::defender::plan_for(id).is_some())
                    ^ NOT_YET_EVALUATED.iter().any(|(n, _)| *n == id),
                "{id} must be evaluated or listed, not both"
            );
        }
        assert!(
            plan(
                &expect(),
                &compliant(),
                &findings.iter().collect::<Vec<_>>()
            )
            .is_empty()
        );
    }

    #[test]
    fn the_recorded_account_drifts_and_one_patch_fixes_what_can_be_fixed() {
        let e = expect();
        let obs = recorded();
        let findings = evaluate(&e, &obs);
        for id in [
            "cosmos.min-tls-1-2",
            "cosmos.firewall-restricted",
            "cosmos.local-auth-disabled",
            "cosmos.metadata-write-disabled",
            "cosmos.cmk",
            "cosmos.diag-audit-logs",
            "common.phi-classification-tag",
        ] {
            assert_eq!(state(&findings, id), Found::Drifted, "{id}");
        }
        // The recorded account has an Approved endpoint, but not one of ours for `Sql`.
        assert_eq!(state(&findings, "cosmos.private-endpoint"), Found::Drifted);
        let p = plan(&e, &obs, &findings.iter().collect::<Vec<_>>());
        let patches: Vec<&Value> = p
            .writes
            .iter()
            .filter_map(|w| match w {
                ArmWrite::Patch { body, .. } => Some(body),
                _ => None,
            })
            .collect();
        assert_eq!(patches.len(), 1, "one PATCH: {patches:?}");
        let props = &patches[0]["properties"];
        assert_eq!(props["minimalTlsVersion"], json!("Tls12"));
        assert_eq!(props["disableLocalAuth"], json!(true));
        assert!(
            props.get("keyVaultKeyUri").is_none(),
            "the key is create-time: reported only"
        );
        assert!(!p.remediates.contains(&"cosmos.cmk"));
        assert!(!p.remediates.contains(&"cosmos.key-age"));
        assert_eq!(p.private_endpoint_groups, vec!["Sql"]);
    }

    #[test]
    fn public_access_closes_only_with_the_endpoint_and_keys_matter_only_with_local_auth() {
        let e = expect();
        let mut obs = compliant();
        obs.account.properties["publicNetworkAccess"] = json!("Enabled");
        obs.account.properties["privateEndpointConnections"] = json!([]);
        let findings = evaluate(&e, &obs);
        let p = plan(&e, &obs, &findings.iter().collect::<Vec<_>>());
        assert!(!p.remediates.contains(&"cosmos.public-network-disabled"));
        assert!(p.remediates.contains(&"cosmos.private-endpoint"));

        let mut keys = compliant();
        keys.account.properties["disableLocalAuth"] = json!(false);
        keys.account.properties["keysMetadata"] = json!({
            "primaryMasterKey": {"generationTime": "2026-01-01T00:00:00Z"},
            "secondaryMasterKey": {"generationTime": "2026-11-01T00:00:00Z"}
        });
        let findings = evaluate(&e, &keys);
        assert_eq!(state(&findings, "cosmos.key-age"), Found::Drifted);
        assert_eq!(
            state(&evaluate(&e, &compliant()), "cosmos.key-age"),
            Found::NotApplicable
        );

        let mut multi = compliant();
        multi.account.properties["locations"] =
            json!([{"locationName": "East US"}, {"locationName": "West US"}]);
        assert_eq!(
            state(&evaluate(&e, &multi), "cosmos.automatic-failover"),
            Found::Drifted
        );
    }

    #[test]
    fn a_service_managed_account_needs_a_person_to_choose_its_key() {
        use crate::api::common::Awaiting;
        let findings = evaluate(&expect(), &recorded());
        let cmk = findings
            .iter()
            .find(|f| f.id() == "cosmos.cmk")
            .expect("cmk");
        assert_eq!(
            (cmk.found, cmk.awaiting()),
            (Found::Drifted, Awaiting::Person)
        );
        let message = cmk.message.as_deref().unwrap_or_default();
        assert!(
            message.contains("az cosmosdb update -g rg -n ddb1 --key-uri https://kv-clinical.vault.azure.net/keys/<key>")
                && message.contains("exempt cosmos.cmk"),
            "{message}"
        );
    }
}
