//! Tests of permits, store scopes, first claims and reservations, against hand-built grants,
//! workspaces and stores.

use super::reservation::listed;
use super::*;
use serde_json::json;

const SUB_A: &str = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b";
const SUB_B: &str = "11111111-2222-4333-8444-555555555555";
const CLIENT_A: &str = "8a9b0c1d-2e3f-4a5b-8c7d-9e0f1a2b3c4d";
const CLIENT_B: &str = "9b0c1d2e-3f4a-4b5c-9d8e-0f1a2b3c4d5e";

fn rg(sub: &str, rg: &str) -> String {
    format!("/subscriptions/{sub}/resourceGroups/{rg}")
}

fn grant(name: &str, spec: serde_json::Value) -> Arc<AzureScopeGrant> {
    Arc::new(
        serde_json::from_value(json!({
            "apiVersion": "hipaa-operator.io/v1alpha1", "kind": "AzureScopeGrant",
            "metadata": {"name": name}, "spec": spec
        }))
        .expect("grant"),
    )
}

fn workspace(namespace: &str, sub: &str, group: &str, client: Option<&str>) -> HipaaWorkspace {
    let mut ws: HipaaWorkspace =
        serde_saphyr::from_str(include_str!("../../../examples/workspace.yaml")).expect("example");
    ws.metadata.namespace = Some(namespace.into());
    ws.spec.subscription_id = sub.into();
    ws.spec.resource_group = group.into();
    let scope = rg(sub, group);
    ws.spec.key_vault.resource_id = format!("{scope}/providers/Microsoft.KeyVault/vaults/kv1");
    ws.spec.log_analytics.resource_id =
        format!("{scope}/providers/Microsoft.OperationalInsights/workspaces/law1");
    ws.spec.audit_archive = None;
    ws.spec.private_networking = None;
    ws.spec.identity = client.map(|c| crate::api::workspace::AzureIdentity {
        tenant_id: None,
        client_id: Some(c.into()),
        client_secret_ref: None,
    });
    ws
}

/// team-a's and team-b's grants, each of its own group and identity, reserving them when
/// `exclusive`.
fn team_grants(exclusive: bool) -> Vec<Arc<AzureScopeGrant>> {
    vec![
        grant(
            "team-a",
            json!({"namespaces": ["team-a"], "scopes": [rg(SUB_A, "rg-a")], "identities": [CLIENT_A], "allowEnforce": true, "exclusive": exclusive}),
        ),
        grant(
            "team-b",
            json!({"namespaces": ["team-b"], "scopes": [rg(SUB_A, "rg-b")], "identities": [CLIENT_B], "exclusive": exclusive}),
        ),
    ]
}

#[test]
fn a_workspace_is_served_only_where_a_grant_covers_namespace_scope_and_identity() {
    // Not exclusive: what the namespace's own grants allow decides alone.
    let grants = team_grants(false);
    let ok = permit(
        &workspace("team-a", SUB_A, "rg-a", Some(CLIENT_A)),
        None,
        &grants,
    )
    .expect("team-a on its own group");
    assert_eq!(ok.grants, ["team-a"]);
    assert_eq!(ok.mode(Mode::Enforce), Mode::Enforce);
    // team-b: Enforce is not granted, so it runs in Audit.
    let b = permit(
        &workspace("team-b", SUB_A, "rg-b", Some(CLIENT_B)),
        None,
        &grants,
    )
    .expect("team-b");
    assert_eq!(b.mode(Mode::Enforce), Mode::Audit);
    for (ws, says) in [
        // team-b aims at team-a's resource group,
        (
            workspace("team-b", SUB_A, "rg-a", Some(CLIENT_B)),
            "does not include",
        ),
        // names team-a's identity,
        (
            workspace("team-b", SUB_A, "rg-b", Some(CLIENT_A)),
            "does not allow identity",
        ),
        // or the operator's own identity, which no grant allows here,
        (
            workspace("team-b", SUB_A, "rg-b", None),
            "operator's own identity",
        ),
        // or a namespace no grant names at all,
        (
            workspace("team-c", SUB_A, "rg-b", Some(CLIENT_B)),
            "no AzureScopeGrant covers namespace team-c",
        ),
        // or a group whose name starts like a granted one.
        (
            workspace("team-a", SUB_A, "rg-a-2", Some(CLIENT_A)),
            "does not include",
        ),
    ] {
        let refusal = permit(&ws, None, &grants).expect_err(says);
        assert_eq!(refusal.reason, Failed::NotPermitted);
        assert!(refusal.message.contains(says), "{}", refusal.message);
    }
}

#[test]
fn a_workspace_whose_safeguards_lie_outside_the_grant_is_refused() {
    let grants = team_grants(false);
    let mut ws = workspace("team-b", SUB_A, "rg-b", Some(CLIENT_B));
    ws.spec.key_vault.resource_id = format!(
        "{}/providers/Microsoft.KeyVault/vaults/kv-a",
        rg(SUB_A, "rg-a")
    );
    let refusal = permit(&ws, None, &grants).expect_err("vault of team-a");
    assert!(
        refusal.message.contains("spec.keyVault.resourceId")
            && refusal.message.contains("outside the scopes granted"),
        "{}",
        refusal.message
    );
}

#[test]
fn grants_select_namespaces_by_label_and_subscription_scopes_cover_their_groups() {
    let grants = vec![grant(
        "clinical",
        json!({"namespaceSelector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["phi"]}]},
               "scopes": [format!("/subscriptions/{SUB_B}")], "allowOperatorIdentity": true}),
    )];
    let ws = workspace("any", SUB_B, "rg-x", None);
    let phi: BTreeMap<String, String> = [("tier".to_string(), "phi".to_string())].into();
    let other: BTreeMap<String, String> = [("tier".to_string(), "web".to_string())].into();
    assert!(permit(&ws, Some(&phi), &grants).is_ok());
    assert!(permit(&ws, Some(&other), &grants).is_err());
    assert!(permit(&ws, None, &grants).is_err());
}

fn store(namespace: &str, name: &str, id: &str, created: &str) -> PhiStore {
    serde_json::from_value(json!({
        "apiVersion": "hipaa-operator.io/v1alpha1", "kind": "PhiStore",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": created},
        "spec": {"workspaceRef": {"name": "ws"}, "resource": {"kind": "StorageAccount", "id": id}}
    }))
    .expect("store")
}

#[test]
fn a_store_governs_only_its_workspaces_group_and_one_resource_has_one_store() {
    let grants = team_grants(false);
    let ws = workspace("team-a", SUB_A, "rg-a", Some(CLIENT_A));
    let p = permit(&ws, None, &grants).expect("permit");
    let own = format!(
        "{}/providers/Microsoft.Storage/storageAccounts/sta",
        rg(SUB_A, "rg-a")
    );
    let theirs = format!(
        "{}/providers/Microsoft.Storage/storageAccounts/stb",
        rg(SUB_A, "rg-b")
    );
    let first = store("team-a", "a", &own, "2026-12-01T00:00:00Z");
    assert!(store_in_scope(&first, &ws, &p).is_ok());
    let refusal = store_in_scope(
        &store("team-a", "x", &theirs, "2026-12-01T00:00:00Z"),
        &ws,
        &p,
    )
    .expect_err("outside");
    assert!(
        refusal.message.contains("outside workspace"),
        "{}",
        refusal.message
    );
    let forged = format!("{own}?api-version=1#x");
    assert!(
        store_in_scope(
            &store("team-a", "y", &forged, "2026-12-01T00:00:00Z"),
            &ws,
            &p
        )
        .is_err()
    );

    let second = store("team-b", "b", &own.to_uppercase(), "2026-12-02T00:00:00Z");
    let all = vec![Arc::new(first.clone()), Arc::new(second.clone())];
    assert!(first_claim(&first, &all).is_none());
    assert_eq!(
        first_claim(&second, &all).map(|s| s.name_any()),
        Some("a".into())
    );
}
/// team-a's exclusive grant of rg-a and CLIENT_A, and a platform team's broad grant of the
/// whole subscription to team-b, not exclusive, which alone would allow team-b everything.
fn reserved_and_platform_grants(team_a_exclusive: bool) -> Vec<Arc<AzureScopeGrant>> {
    vec![
        grant(
            "team-a",
            json!({"namespaces": ["team-a"], "scopes": [rg(SUB_A, "rg-a")], "identities": [CLIENT_A],
                   "exclusive": team_a_exclusive}),
        ),
        grant(
            "platform",
            json!({"namespaces": ["team-b"], "scopes": [format!("/subscriptions/{SUB_A}")],
                   "identities": [CLIENT_A, CLIENT_B], "exclusive": false}),
        ),
    ]
}

#[test]
fn an_exclusive_grant_reserves_its_scopes_and_identities_to_the_namespaces_it_selects() {
    let grants = reserved_and_platform_grants(true);
    let vault_in_a = format!(
        "{}/providers/Microsoft.KeyVault/vaults/kv-a",
        rg(SUB_A, "rg-a")
    );
    let mut vault_of_a = workspace("team-b", SUB_A, "rg-b", Some(CLIENT_B));
    vault_of_a.spec.key_vault.resource_id = vault_in_a.clone();
    for (ws, says) in [
        // team-b's own grant covers rg-a, but team-a's reserves it,
        (
            workspace("team-b", SUB_A, "rg-a", Some(CLIENT_B)),
            format!(
                "spec.resourceGroup: {}, spec.keyVault.resourceId: {}/providers/Microsoft.KeyVault/vaults/kv1, spec.logAnalytics.resourceId: {}/providers/Microsoft.OperationalInsights/workspaces/law1 are reserved by AzureScopeGrant team-a to namespaces team-a; namespace team-b is not among them",
                rg(SUB_A, "rg-a"),
                rg(SUB_A, "rg-a"),
                rg(SUB_A, "rg-a")
            ),
        ),
        // and team-a's identity, whatever its case,
        (
            workspace("team-b", SUB_A, "rg-b", Some(&CLIENT_A.to_uppercase())),
            format!(
                "spec.identity.clientId: {} is reserved by AzureScopeGrant team-a to namespaces team-a; namespace team-b is not among them",
                CLIENT_A.to_uppercase()
            ),
        ),
        // and every safeguard inside rg-a.
        (
            vault_of_a,
            format!("spec.keyVault.resourceId: {vault_in_a} is reserved by AzureScopeGrant team-a"),
        ),
    ] {
        let refusal = permit(&ws, None, &grants).expect_err(&says);
        assert_eq!(refusal.reason, Failed::NotPermitted);
        assert!(refusal.message.contains(&says), "{}", refusal.message);
    }
    // team-a's own workspace is served under its grant; team-b's own group under the
    // platform grant, whose permit still never reaches into rg-a (the executor's check).
    assert!(
        permit(
            &workspace("team-a", SUB_A, "rg-a", Some(CLIENT_A)),
            None,
            &grants
        )
        .is_ok()
    );
    let b = permit(
        &workspace("team-b", SUB_A, "rg-b", Some(CLIENT_B)),
        None,
        &grants,
    )
    .expect("team-b on its own group");
    let parse = |s: &str| ArmId::parse(s).expect("an ARM id");
    assert!(b.covers(&parse(&format!(
        "{}/providers/Microsoft.Storage/storageAccounts/stb",
        rg(SUB_A, "rg-b")
    ))));
    assert!(!b.covers(&parse(&vault_in_a)));
    assert!(!b.covers(&parse(&rg(SUB_A, "rg-a"))));

    // A store of team-b's own workspace on an account in rg-a: refused, naming the grant.
    let account_in_a = format!(
        "{}/providers/Microsoft.Storage/storageAccounts/sta",
        rg(SUB_A, "rg-a")
    );
    let refusal = store_in_scope(
        &store("team-b", "poach", &account_in_a, "2026-12-01T00:00:00Z"),
        &workspace("team-b", SUB_A, "rg-b", Some(CLIENT_B)),
        &b,
    )
    .expect_err("a store in rg-a");
    assert_eq!(refusal.reason, Failed::NotPermitted);
    assert!(
        refusal.message.contains(&format!(
            "spec.resource.id: {account_in_a} is reserved by AzureScopeGrant team-a to namespaces team-a; namespace team-b is not among them"
        )),
        "{}",
        refusal.message
    );

    // Not exclusive, team-a's grant reserves nothing: the platform grant serves team-b.
    let shared = reserved_and_platform_grants(false);
    assert!(
        permit(
            &workspace("team-b", SUB_A, "rg-a", Some(CLIENT_A)),
            None,
            &shared
        )
        .is_ok()
    );
}

#[test]
fn a_reservation_by_label_spares_the_namespaces_its_selector_selects() {
    let grants = vec![
        grant(
            "clinical",
            json!({"namespaces": ["clinical"],
                   "namespaceSelector": {"matchLabels": {"tier": "phi"},
                                         "matchExpressions": [{"key": "legacy", "operator": "DoesNotExist"}]},
                   "scopes": [rg(SUB_B, "rg-clinical")], "allowOperatorIdentity": true}),
        ),
        grant(
            "platform",
            json!({"namespaceSelector": {}, "scopes": [format!("/subscriptions/{SUB_B}")],
                   "allowOperatorIdentity": true, "exclusive": false}),
        ),
    ];
    let ws = workspace("research", SUB_B, "rg-clinical", None);
    let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let phi = labels(&[("tier", "phi")]);
    let p = permit(&ws, Some(&phi), &grants).expect("a namespace the selector selects");
    assert_eq!(p.grants, ["clinical", "platform"]);
    for other in [
        labels(&[("tier", "web")]),
        labels(&[("tier", "phi"), ("legacy", "yes")]),
    ] {
        let refusal = permit(&ws, Some(&other), &grants).expect_err("not selected");
        assert!(
            refusal.message.contains(
                "reserved by AzureScopeGrant clinical to namespaces clinical and those its namespaceSelector selects; namespace research is not among them"
            ),
            "{}",
            refusal.message
        );
    }
    // Elsewhere in the subscription the platform grant serves any namespace.
    assert!(
        permit(
            &workspace("research", SUB_B, "rg-research", None),
            Some(&labels(&[])),
            &grants
        )
        .is_ok()
    );
}
#[test]
fn a_reservation_names_at_most_three_ids_and_five_namespaces() {
    let namespaces: Vec<String> = (1..=7).map(|i| format!("team-{i}")).collect();
    let grants = vec![grant(
        "wide",
        json!({"namespaces": namespaces, "scopes": [rg(SUB_A, "rg-a")]}),
    )];
    let mut ws = workspace("team-b", SUB_A, "rg-a", Some(CLIENT_B));
    ws.spec.audit_archive = Some(crate::api::workspace::AuditArchive {
        storage_account_id: format!(
            "{}/providers/Microsoft.Storage/storageAccounts/starchive",
            rg(SUB_A, "rg-a")
        ),
        ..serde_saphyr::from_str::<HipaaWorkspace>(include_str!("../../../examples/workspace.yaml"))
            .expect("example")
            .spec
            .audit_archive
            .expect("an archive")
    });
    let refusal = permit(&ws, None, &grants).expect_err("reserved");
    assert!(
        refusal.message.ends_with(
            "/providers/Microsoft.OperationalInsights/workspaces/law1 and 1 more are reserved by AzureScopeGrant wide to namespaces team-1, team-2, team-3, team-4, team-5 and 2 more; namespace team-b is not among them; nothing was sent to Azure"
        ),
        "{}",
        refusal.message
    );
    assert_eq!(listed(&["a".to_string()], 3), "a");
    assert_eq!(listed(&[], 3), "");
}

/// A namespace's NamespaceGrant lists exactly the grants that cover it (by name or label),
/// sorted by name, with what each allows; a namespace no grant covers gets none.
#[test]
fn a_namespace_grant_lists_the_grants_covering_the_namespace() {
    let mut grants = team_grants(true);
    grants.push(grant(
        "by-label",
        json!({"namespaceSelector": {"matchLabels": {"tier": "phi"}},
               "scopes": [format!("/subscriptions/{SUB_B}")], "allowOperatorIdentity": true}),
    ));
    let phi: BTreeMap<String, String> = [("tier".to_string(), "phi".to_string())].into();
    let entries = namespace_grants("team-a", &phi, &grants);
    assert_eq!(
        entries,
        vec![
            GrantEntry {
                name: "by-label".into(),
                scopes: vec![format!("/subscriptions/{SUB_B}")],
                identities: vec![],
                allow_operator_identity: true,
            },
            GrantEntry {
                name: "team-a".into(),
                scopes: vec![rg(SUB_A, "rg-a")],
                identities: vec![CLIENT_A.into()],
                allow_operator_identity: false,
            },
        ]
    );
    let unlabelled = namespace_grants("team-b", &BTreeMap::new(), &grants);
    assert_eq!(
        unlabelled
            .iter()
            .map(|e| e.name.as_str())
            .collect::<Vec<_>>(),
        ["team-b"]
    );
    assert!(namespace_grants("team-c", &BTreeMap::new(), &grants).is_empty());
}
