//! The vault controls against the recorded vault: evaluation, the plan, no lock-outs, the
//! move from access policies to roles.

use super::*;
use std::collections::BTreeMap;

/// The control ids this module's evaluator reports, for the catalog coverage test.
pub(crate) fn evaluated_ids() -> Vec<&'static str> {
    evaluate(&expect(), &recorded())
        .iter()
        .map(Finding::id)
        .collect()
}
use crate::catalog;

fn expect() -> VaultExpectations {
    VaultExpectations {
        vault_id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-integration-phi".into(),
        log_analytics_id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/law".into(),
        private_networking: true,
        endpoint_dns: crate::controls::common::fixtures::dns(&["vault"]),
        classification_tag: Some(("data-classification".into(), "phi".into())),
        category_groups: vec![],
        categories: vec!["AuditEvent".into()],
        migrate_access_policies: false,
    }
}

fn recorded() -> VaultObservation {
    let path = format!(
        "{}/../shared/azure-rest-examples/Microsoft.KeyVault/2024-11-01/getVault.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("example")).expect("json");
    VaultObservation {
        vault: serde_json::from_value(v["responses"]["200"]["body"].clone()).expect("vault"),
        diagnostics: vec![],
        endpoints: BTreeMap::new(),
        role_holders: None,
    }
}

fn state<'a>(f: &'a [Finding], id: &str) -> &'a Finding {
    f.iter().find(|f| f.id() == id).expect(id)
}

/// Neither the firewall nor RBAC authorization is switched where it would lock someone
/// out: the firewall only behind an Approved private endpoint, RBAC only once no access
/// policy is left.
#[test]
fn no_switch_locks_the_operator_or_clients_out() {
    let mut obs = recorded();
    obs.vault.properties["enableRbacAuthorization"] = json!(false);
    obs.vault.properties["accessPolicies"] = json!([{
        "tenantId": "00000000-0000-0000-0000-000000000000",
        "objectId": "00000000-0000-0000-0000-000000000001",
        "permissions": {"keys": ["get", "wrapKey", "unwrapKey"]}
    }]);
    obs.vault.properties["networkAcls"] = json!({"defaultAction": "Allow", "ipRules": []});
    obs.vault.properties["privateEndpointConnections"] = json!([]);
    let findings = evaluate(&expect(), &obs);
    let to_fix: Vec<&Finding> = findings.iter().collect();
    for id in ["kv.rbac-authorization", "kv.firewall-default-deny"] {
        assert_eq!(state(&findings, id).found, Found::Drifted, "{id}");
        assert!(
            state(&findings, id).message.is_some(),
            "{id} says why it waits"
        );
    }
    let mut plan = Plan::default();
    super::plan(&expect(), &obs, &to_fix, &mut plan);
    let body = plan
        .writes
        .iter()
        .map(|w| format!("{w:?}"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(!body.contains("enableRbacAuthorization"), "{body}");
    assert!(!body.contains("defaultAction"), "{body}");
    assert!(!body.contains("publicNetworkAccess"), "{body}");
    assert!(!plan.remediates.contains(&"kv.firewall-default-deny"));

    // Once the policies are gone and the endpoint is Approved, both are fixed.
    obs.vault.properties["accessPolicies"] = json!([]);
    let pe =
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateEndpoints/kv-pe";
    obs.vault.properties["privateEndpointConnections"] = json!([{
        "properties": {"privateEndpoint": {"id": pe},
                       "privateLinkServiceConnectionState": {"status": "Approved"}}
    }]);
    obs.endpoints = crate::controls::common::fixtures::registered(pe, "vault");
    let findings = evaluate(&expect(), &obs);
    let to_fix: Vec<&Finding> = findings.iter().collect();
    let mut plan = Plan::default();
    super::plan(&expect(), &obs, &to_fix, &mut plan);
    let body = format!("{:?}", plan.writes);
    assert!(body.contains("enableRbacAuthorization"), "{body}");
    assert!(body.contains("defaultAction"), "{body}");
}

/// Opted in, the holders of access policies get their roles in one pass and the switch
/// comes in a later one, once the roles have settled; not opted in, a person is awaited.
#[test]
fn an_opted_in_vault_gets_roles_first_and_the_switch_after_they_settle() {
    use crate::controls::vault_rbac::{HeldRole, RoleHolders};
    use k8s_openapi::jiff::{SignedDuration, Timestamp};
    let mut obs = recorded();
    obs.vault.properties["enableRbacAuthorization"] = json!(false);
    obs.vault.properties["accessPolicies"] = json!([
        {"objectId": "p1", "permissions": {"keys": ["get", "unwrapKey", "wrapKey"]}},
        {"objectId": "p2", "permissions": {"secrets": ["get"], "certificates": ["list"]}}
    ]);
    let rbac = |e: &VaultExpectations, o: &VaultObservation| {
        evaluate(e, o)
            .into_iter()
            .find(|f| f.id() == "kv.rbac-authorization")
            .expect("rbac")
    };
    let plan_of = |e: &VaultExpectations, o: &VaultObservation| {
        let findings = evaluate(e, o);
        let mut p = Plan::default();
        plan(e, o, &findings.iter().collect::<Vec<_>>(), &mut p);
        p
    };
    let switches = |p: &Plan| format!("{:?}", p.writes).contains("enableRbacAuthorization");

    // Not opted in: nothing is given, nothing switched, a person is awaited.
    let f = rbac(&expect(), &obs);
    assert_eq!(f.awaiting(), crate::api::common::Awaiting::Person);
    let p = plan_of(&expect(), &obs);
    assert!(p.role_grants.is_empty() && !switches(&p));

    let opted = VaultExpectations {
        migrate_access_policies: true,
        ..expect()
    };
    assert!(VaultObservation::needs_role_holders(&opted, &obs.vault));
    let now: Timestamp = "2026-12-07T12:00:00Z".parse().expect("now");
    obs.role_holders = Some(RoleHolders {
        held: vec![],
        now,
        settle: SignedDuration::from_mins(10),
    });
    let p = plan_of(&opted, &obs);
    let given: Vec<(&str, &str)> = p
        .role_grants
        .iter()
        .map(|g| (g.principal_id.as_str(), g.role_guid))
        .collect();
    assert_eq!(
        given,
        [
            ("p1", "e147488a-f6f5-4113-8e2d-b22465e65bf6"),
            ("p2", "4633458b-17de-408a-b874-0445c86b69e6"),
            ("p2", "db79e9a7-68ee-4b58-9aeb-b90e7c24fcba"),
        ]
    );
    assert!(p.role_grants.iter().all(|g| g.scope == opted.vault_id));
    assert!(!switches(&p), "no switch in the pass that gives the roles");
    assert!(!p.remediates.contains(&"kv.rbac-authorization"));
    assert_eq!(
        rbac(&opted, &obs).awaiting(),
        crate::api::common::Awaiting::Operator
    );

    // Given a minute ago: held, not yet in effect; the finding asks to be read again.
    let held = |created: Timestamp| {
        given
            .iter()
            .map(|(p, r)| HeldRole {
                principal_id: p.to_string(),
                role_definition_id: format!(
                    "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/{r}"
                ),
                created_on: Some(created),
            })
            .collect::<Vec<_>>()
    };
    let minute_ago = now - SignedDuration::from_mins(1);
    obs.role_holders.as_mut().expect("holders").held = held(minute_ago);
    let p = plan_of(&opted, &obs);
    assert!(p.role_grants.is_empty() && !switches(&p));
    assert_eq!(
        rbac(&opted, &obs).recheck_at,
        Some(minute_ago + SignedDuration::from_mins(10))
    );

    // Settled: the switch.
    obs.role_holders.as_mut().expect("holders").held = held(now - SignedDuration::from_mins(11));
    let p = plan_of(&opted, &obs);
    assert!(switches(&p) && p.role_grants.is_empty());
    assert!(p.remediates.contains(&"kv.rbac-authorization"));
}

#[test]
fn every_vault_control_is_evaluated_or_listed() {
    let findings = evaluate(&expect(), &recorded());
    let ids: Vec<&str> = findings.iter().map(Finding::id).collect();
    for id in catalog::ids().filter(|i| i.starts_with("kv.")) {
        let key_level = matches!(
            id,
            "kv.key-rotation-policy"
                | "kv.key-expiry-set"
                | "kv.key-strength"
                | "kv.key-age-observed"
        );
        assert!(
            ids.contains(&id)
                || key_level
                || crate::controls::defender::plan_for(id).is_some()
                || NOT_YET_EVALUATED.iter().any(|(n, _)| *n == id),
            "{id} is neither evaluated nor listed"
        );
    }
    assert!(ids.contains(&"common.phi-classification-tag"));
}

#[test]
fn a_vault_store_gets_its_tag_merged_into_the_owners_tags() {
    let e = expect();
    let mut obs = recorded();
    obs.vault.tags = Some(BTreeMap::from([(
        "owner".to_string(),
        "integration".to_string(),
    )]));
    let findings = evaluate(&e, &obs);
    let tag = findings
        .iter()
        .find(|f| f.id() == "common.phi-classification-tag")
        .expect("tag");
    assert_eq!(tag.found, Found::Drifted);
    let mut p = Plan::default();
    plan(&e, &obs, &findings.iter().collect::<Vec<_>>(), &mut p);
    let tagged = p
        .writes
        .iter()
        .find_map(|w| match w {
            ArmWrite::Patch { body, .. } if body.get("tags").is_some() => Some(body.clone()),
            _ => None,
        })
        .expect("a tag PATCH");
    assert_eq!(
        tagged["tags"],
        json!({"owner": "integration", "data-classification": "phi"})
    );
    // The workspace's own vault carries no classification expectation.
    let ws = VaultExpectations {
        classification_tag: None,
        ..e
    };
    assert!(
        !evaluate(&ws, &obs)
            .iter()
            .any(|f| f.id() == "common.phi-classification-tag")
    );
}
