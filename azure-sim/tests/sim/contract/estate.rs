//! The estate a recorded example needs before it can be replayed: subscriptions, groups, parent
//! resources, referenced subnets and zones, and (for reads) the recorded resource itself.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};

use super::cases::Case;
use crate::common::*;

pub(super) fn fill(template: &str, params: &Value) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .map(|e| start + e)
            .expect("closing brace");
        let name = &rest[start + 1..end];
        let value = params[name]
            .as_str()
            .unwrap_or_else(|| panic!("parameter {name} in {template}"));
        if name == "scope" || name == "scopeId" || name == "resourceUri" {
            out.push_str(value.trim_start_matches('/'));
        } else {
            out.push_str(
                &percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC)
                    .to_string(),
            );
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// A minimal body for a parent resource the example needs to exist.
pub(super) fn minimal_body(type_name: &str, tenant: &str) -> Option<Value> {
    let t = type_name.to_ascii_lowercase();
    Some(match t.as_str() {
        "microsoft.storage/storageaccounts" => {
            json!({"location": "eastus", "kind": "StorageV2", "sku": {"name": "Standard_LRS"}})
        }
        "microsoft.storage/storageaccounts/blobservices/containers" => json!({}),
        "microsoft.sql/servers" => json!({"location": "eastus", "properties": {}}),
        "microsoft.keyvault/vaults" => {
            json!({"location": "eastus", "properties": {"tenantId": tenant, "sku": {"family": "A", "name": "standard"}}})
        }
        "microsoft.network/virtualnetworks" => {
            json!({"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}}})
        }
        "microsoft.network/virtualnetworks/subnets" => {
            json!({"properties": {"addressPrefix": "10.0.0.0/24"}})
        }
        "microsoft.network/privateendpoints" => return None,
        "microsoft.network/networksecuritygroups" => json!({"location": "eastus"}),
        "microsoft.network/privatednszones" => json!({"location": "global"}),
        "microsoft.healthcareapis/workspaces" => json!({"location": "eastus"}),
        "microsoft.operationalinsights/workspaces" => json!({"location": "eastus"}),
        "microsoft.operationalinsights/clusters" => {
            json!({"location": "eastus", "sku": {"name": "CapacityReservation", "capacity": 100}})
        }
        "microsoft.documentdb/databaseaccounts" => {
            json!({"location": "eastus", "properties": {"databaseAccountOfferType": "Standard", "locations": [{"locationName": "eastus"}]}})
        }
        "microsoft.logic/workflows" => json!({"location": "eastus"}),
        "microsoft.compute/virtualmachines" => json!({"location": "eastus"}),
        // A review that has not started, so that seeding it opens no instance of its own.
        "microsoft.authorization/accessreviewscheduledefinitions" => {
            json!({"properties": {"displayName": "review",
            "settings": {"recurrence": {"range": {"startDate": "2999-01-01T00:00:00Z"}}}}})
        }
        "microsoft.authorization/accessreviewscheduledefinitions/instances" => {
            json!({"properties": {"status": "InProgress"}})
        }
        _ => return None,
    })
}

/// The seed body for a resource recorded in an example response.
pub(super) fn seed_body_from(recorded: &Value) -> Value {
    let mut b = json!({});
    for k in [
        "location",
        "kind",
        "sku",
        "identity",
        "tags",
        "properties",
        "extendedLocation",
    ] {
        if let Some(v) = recorded.get(k) {
            b[k] = v.clone();
        }
    }
    // Some recorded GET bodies omit the location the resource was created with.
    if b.get("location").is_none() {
        b["location"] = json!("eastus");
    }
    b
}

/// All ids the example needs: subscription, resource group, ancestors, referenced subnet and zones.
pub(super) fn prerequisites(id: &str, request: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let segs: Vec<&str> = id.trim_start_matches('/').split('/').collect();
    for end in 2..segs.len() {
        out.push(format!("/{}", segs[..end].join("/")));
    }
    // A diagnostic setting's Log Analytics destination must exist.
    for pointer in [
        "/properties/subnet/id",
        "/properties/writeAccessResourceId",
        "/properties/workspaceId",
    ] {
        if let Some(s) = request.pointer(pointer).and_then(Value::as_str) {
            let segs: Vec<&str> = s.trim_start_matches('/').split('/').collect();
            for end in 2..=segs.len() {
                out.push(format!("/{}", segs[..end].join("/")));
            }
        }
    }
    for cfg in request
        .pointer("/properties/privateDnsZoneConfigs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(z) = cfg
            .pointer("/properties/privateDnsZoneId")
            .and_then(Value::as_str)
        {
            let segs: Vec<&str> = z.trim_start_matches('/').split('/').collect();
            for end in 2..=segs.len() {
                out.push(format!("/{}", segs[..end].join("/")));
            }
        }
    }
    out
}

pub(super) fn decoded(id: &str) -> String {
    percent_encoding::percent_decode_str(id)
        .decode_utf8_lossy()
        .into_owned()
}

pub(super) fn type_of(id: &str) -> Option<String> {
    let lower = id.to_ascii_lowercase();
    let at = lower.rfind("/providers/")?;
    let rest: Vec<&str> = id[at + 11..].split('/').collect();
    if rest.len() < 3 || rest.len().is_multiple_of(2) {
        return None;
    }
    let mut t = rest[0].to_string();
    for (i, s) in rest[1..].iter().enumerate() {
        if i % 2 == 0 {
            t.push('/');
            t.push_str(s);
        }
    }
    Some(t)
}

pub(super) async fn seed(h: &Harness, seed: Value) {
    let r = h.admin(Method::POST, "/seed", Some(&seed)).await;
    assert_eq!(r.status, 200, "seed {seed}: {:?}", r.body);
}

/// Builds the estate a case needs: subscriptions, groups, parents, and (optionally) the target.
pub(super) async fn prepare(h: &Harness, case: &Case, example: &Value, path: &str) {
    // A POST action addresses its resource plus the action name.
    let id = decoded(path);
    let id = if case.method == "POST" {
        id.trim_end_matches("/lock").to_string()
    } else {
        id
    };
    let tenant = h.sim.tenant_id.clone();
    let request = case
        .request_body(&example["parameters"])
        .unwrap_or(Value::Null);
    let mut done: BTreeSet<String> = BTreeSet::new();
    // What the recorded resource points at must exist too when it is seeded for a read (a
    // diagnostic setting's workspace).
    let recorded = ["200", "201"]
        .iter()
        .find_map(|s| example["responses"][*s].get("body").cloned())
        .unwrap_or(Value::Null);
    let mut wanted = prerequisites(&id, &request);
    if let Some(ws) = recorded
        .pointer("/properties/workspaceId")
        .and_then(Value::as_str)
    {
        let segs: Vec<&str> = ws.trim_start_matches('/').split('/').collect();
        wanted.extend((2..=segs.len()).map(|end| format!("/{}", segs[..end].join("/"))));
    }
    for p in wanted {
        let key = p.to_ascii_lowercase();
        if !done.insert(key.clone()) || key == id.to_ascii_lowercase() {
            continue;
        }
        let segs: Vec<&str> = p.trim_start_matches('/').split('/').collect();
        if segs.len() == 2 && segs[0].eq_ignore_ascii_case("subscriptions") {
            seed(h, json!({"subscriptions": [{"subscriptionId": segs[1]}]})).await;
        } else if segs.len() == 4 && segs[2].eq_ignore_ascii_case("resourceGroups") {
            seed(
                h,
                json!({"resourceGroups": [{"subscriptionId": segs[1], "name": segs[3]}]}),
            )
            .await;
        } else if let Some(t) = type_of(&p)
            && let Some(body) = minimal_body(&t, &tenant)
        {
            seed(h, json!({"resources": [{"id": p, "body": body}]})).await;
        }
    }
    // Role ids the example names that are not built in are seeded as custom roles.
    let text = example.to_string();
    let sub = id.split('/').nth(2).unwrap_or_default().to_string();
    for part in text.split("roleDefinitions/").skip(1) {
        let guid: String = part.chars().take(36).collect();
        if uuid::Uuid::parse_str(&guid).is_ok()
            && azure_sim::authz::built_in_by_guid(&guid).is_none()
            && !sub.is_empty()
        {
            seed(h, json!({"resources": [{"id": format!("/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{guid}"),
                "body": {"properties": {"roleName": "Example role", "permissions": [{"actions": ["*/read"]}], "assignableScopes": [format!("/subscriptions/{sub}")]}}}]})).await;
        }
    }
    if case.file.contains("DnsZoneGroupCreate") {
        // The endpoint the group belongs to, in a subnet of its own.
        let pe_id = id
            .rsplit_once("/privateDnsZoneGroups/")
            .map(|(p, _)| p.to_string())
            .unwrap_or_default();
        let rg = pe_id
            .split("/providers/")
            .next()
            .unwrap_or_default()
            .to_string();
        let vnet = format!("{rg}/providers/Microsoft.Network/virtualNetworks/vnet");
        seed(h, json!({"resources": [
            {"id": vnet, "body": minimal_body("Microsoft.Network/virtualNetworks", &tenant)},
            {"id": format!("{vnet}/subnets/default"), "body": minimal_body("Microsoft.Network/virtualNetworks/subnets", &tenant)},
            {"id": pe_id, "body": {"location": "eastus", "properties": {"subnet": {"id": format!("{vnet}/subnets/default")}}}}
        ]})).await;
    }
    if case.file.contains("EncryptionProtector") {
        // The protector names a server key the server must have; an Azure Key Vault server key
        // is named `{vault}_{key}_{version}` after the key it wraps.
        let recorded = &example["responses"]["200"]["body"]["properties"];
        let name = recorded["serverKeyName"].as_str().unwrap_or_default();
        if let [vault, key, version] = name.split('_').collect::<Vec<_>>()[..] {
            let server = id.trim_end_matches("/encryptionProtector/current");
            seed(h, json!({"resources": [{"id": format!("{server}/keys/{name}"), "body": {"properties": {
                "serverKeyType": "AzureKeyVault",
                "uri": format!("https://{vault}.vault.azure.net/keys/{key}/{version}")}}}]}))
            .await;
        }
    }
    if case.seed_target {
        let recorded = &example["responses"]["200"]["body"];
        match case.file {
            f if f.contains("RoleAssignments_ListForScope") => {
                for ra in recorded["value"].as_array().into_iter().flatten() {
                    seed(h, json!({"resources": [{"id": ra["id"], "body": {"properties": {"roleDefinitionId": ra["properties"]["roleDefinitionId"], "principalId": ra["properties"]["principalId"], "principalType": ra["properties"]["principalType"]}}}]})).await;
                }
            }
            f if f.contains("GetAccessReviewInstanceDecisions") => {
                for d in recorded["value"].as_array().into_iter().flatten() {
                    let name = d["name"].as_str().unwrap_or_default();
                    seed(h, json!({"resources": [{"id": format!("{id}/{name}"), "body": {"properties": d["properties"]}}]})).await;
                }
            }
            f if f.contains("listDiagnosticSettings.json") => {
                for ds in recorded["value"].as_array().into_iter().flatten() {
                    seed(
                        h,
                        json!({"resources": [{"id": ds["id"], "body": seed_body_from(ds)}]}),
                    )
                    .await;
                }
            }
            f if f.contains("GetRoleDefinitionById") => {
                // The recorded role has a placeholder GUID; the custom role is stored under it.
                seed(h, json!({"resources": [{"id": id, "body": {"properties": {"roleName": "Role name", "description": "Role description",
                    "assignableScopes": ["/subscriptions/subId"], "permissions": recorded["properties"]["permissions"]}}}]})).await;
            }
            f if f.contains("RoleAssignments_Delete") => {
                let body = example["responses"]["200"]["body"].clone();
                seed(h, json!({"resources": [{"id": id, "body": {"properties": {"roleDefinitionId": body["properties"]["roleDefinitionId"], "principalId": body["properties"]["principalId"], "principalType": "User"}}}]})).await;
            }
            f if f.contains("PrivateEndpoint") => {
                let pe_id = if f.contains("DnsZoneGroup") {
                    id.rsplit_once("/privateDnsZoneGroups/")
                        .map(|(p, _)| p.to_string())
                        .unwrap_or_default()
                } else {
                    id.clone()
                };
                let subnet = recorded.pointer("/properties/subnet/id").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| format!("{}/resourceGroups/{}/providers/Microsoft.Network/virtualNetworks/vnet/subnets/default",
                    pe_id.split("/resourceGroups/").next().unwrap_or_default(), pe_id.split("/resourceGroups/").nth(1).and_then(|s| s.split('/').next()).unwrap_or_default()));
                for p in prerequisites(&subnet, &Value::Null)
                    .into_iter()
                    .chain([subnet.clone()])
                {
                    if let Some(t) = type_of(&p)
                        && let Some(body) = minimal_body(&t, &tenant)
                    {
                        seed(h, json!({"resources": [{"id": p, "body": body}]})).await;
                    }
                }
                let pe_body = if f.contains("DnsZoneGroup") {
                    json!({"location": "eastus", "properties": {"subnet": {"id": subnet}}})
                } else {
                    let mut b = seed_body_from(recorded);
                    b["properties"]["subnet"] = json!({"id": subnet});
                    if b.get("location").is_none() {
                        b["location"] = json!("eastus");
                    }
                    b
                };
                seed(h, json!({"resources": [{"id": pe_id, "body": pe_body}]})).await;
                if f.contains("DnsZoneGroup") {
                    for cfg in recorded
                        .pointer("/properties/privateDnsZoneConfigs")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        if let Some(z) = cfg
                            .pointer("/properties/privateDnsZoneId")
                            .and_then(Value::as_str)
                        {
                            seed(
                                h,
                                json!({"resources": [{"id": z, "body": {"location": "global"}}]}),
                            )
                            .await;
                        }
                    }
                    seed(
                        h,
                        json!({"resources": [{"id": id, "body": seed_body_from(recorded)}]}),
                    )
                    .await;
                }
            }
            f if f.contains("Microsoft.OperationalInsights/2025-02-01/Clusters") => {
                // The cluster, then the workspaces the recording shows linked to it.
                seed(
                    h,
                    json!({"resources": [{"id": id, "body": seed_body_from(recorded)}]}),
                )
                .await;
                for w in recorded["properties"]["associatedWorkspaces"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    let ws = w["resourceId"].as_str().unwrap_or_default();
                    for p in prerequisites(ws, &Value::Null)
                        .into_iter()
                        .chain([ws.to_string()])
                    {
                        let segs: Vec<&str> = p.trim_start_matches('/').split('/').collect();
                        if segs.len() == 4 {
                            seed(h, json!({"resourceGroups": [{"subscriptionId": segs[1], "name": segs[3]}]})).await;
                        } else if let Some(t) = type_of(&p)
                            && let Some(body) = minimal_body(&t, &tenant)
                        {
                            seed(h, json!({"resources": [{"id": p, "body": body}]})).await;
                        }
                    }
                    seed(
                        h,
                        json!({"resources": [{"id": format!("{ws}/linkedServices/cluster"),
                        "body": {"properties": {"writeAccessResourceId": id}}}]}),
                    )
                    .await;
                }
            }
            f if f.contains("ServerVulnerabilityAssessmentGet") => {
                // The recordings never show the storage container a classic assessment writes to;
                // the assessment they read has one (the spec requires it).
                let mut body = seed_body_from(recorded);
                body["properties"]["storageContainerPath"] =
                    json!("https://phistore.blob.core.windows.net/vulnerability-assessment/");
                seed(h, json!({"resources": [{"id": id, "body": body}]})).await;
            }
            f if f.contains("LinkedServicesGet") => {
                let cluster = recorded["properties"]["writeAccessResourceId"]
                    .as_str()
                    .unwrap_or_default();
                for p in prerequisites(cluster, &Value::Null)
                    .into_iter()
                    .chain([cluster.to_string()])
                {
                    let segs: Vec<&str> = p.trim_start_matches('/').split('/').collect();
                    if segs.len() == 4 {
                        seed(h, json!({"resourceGroups": [{"subscriptionId": segs[1], "name": segs[3]}]})).await;
                    } else if let Some(t) = type_of(&p)
                        && let Some(body) = minimal_body(&t, &tenant)
                    {
                        seed(h, json!({"resources": [{"id": p, "body": body}]})).await;
                    }
                }
                seed(
                    h,
                    json!({"resources": [{"id": id, "body": seed_body_from(recorded)}]}),
                )
                .await;
            }
            f if f.starts_with("Microsoft.Security/") => {
                seed_pricings(h, f, example, &id).await;
            }
            f if f.contains("ManagementLocks_Delete") => {
                // The recorded deletes carry no body; the lock they remove is any valid one.
                seed(h, json!({"resources": [{"id": id, "body": {"properties": {"level": "CanNotDelete"}}}]})).await;
            }
            _ if case.method == "GET" && recorded["value"].is_array() => {
                // A recorded list: every entry is stored where its id says.
                for item in recorded["value"].as_array().into_iter().flatten() {
                    seed(
                        h,
                        json!({"resources": [{"id": item["id"], "body": seed_body_from(item)}]}),
                    )
                    .await;
                }
            }
            _ => {
                let mut body = seed_body_from(recorded);
                if case.file.contains("BlobContainersLockImmutabilityPolicy") {
                    body["properties"]["state"] = json!("Unlocked");
                }
                seed(h, json!({"resources": [{"id": id, "body": body}]})).await;
            }
        }
    }
}

/// The Defender pricings a recorded pricing example implies, at the request's scope.
async fn seed_pricings(h: &Harness, file: &str, example: &Value, id: &str) {
    let params = &example["parameters"];
    let scope = format!("/{}", params["scopeId"].as_str().unwrap_or_default());
    let sub_scope = scope.split('/').take(3).collect::<Vec<_>>().join("/");
    let recorded = &example["responses"]["200"]["body"];
    let pricing = |at: &str, item: &Value| {
        let mut props = item["properties"].clone();
        if let Some(o) = props.as_object_mut() {
            o.remove("inherited");
            o.remove("inheritedFrom");
        }
        let name = item["name"].as_str().unwrap_or_default();
        json!({"id": format!("{at}/providers/Microsoft.Security/pricings/{name}"), "body": {"properties": props}})
    };
    // The recording's subscription covers VirtualMachines 'PartiallyCovered': a machine there
    // has opted out.
    let opted_out = json!({"id": format!("{sub_scope}/resourceGroups/DEMO/providers/Microsoft.Compute/virtualMachines/VM-OPTED-OUT/providers/Microsoft.Security/pricings/VirtualMachines"),
        "body": {"properties": {"pricingTier": "Free"}}});
    let machine = json!({"id": format!("{sub_scope}/resourceGroups/DEMO/providers/Microsoft.Compute/virtualMachines/VM-OPTED-OUT"), "body": {"location": "eastus"}});
    let sub = sub_scope.trim_start_matches("/subscriptions/");
    seed(
        h,
        json!({"resourceGroups": [{"subscriptionId": sub, "name": "DEMO"}]}),
    )
    .await;
    let mut resources = Vec::new();
    if file.contains("GetPricingByName") {
        resources.push(pricing(&scope, recorded));
        resources.extend([machine.clone(), opted_out.clone()]);
    } else if file.contains("ListPricings") {
        resources.extend(
            recorded["value"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|item| pricing(&scope, item)),
        );
        resources.extend([machine, opted_out]);
    } else if file.contains("GetResourcePricing") {
        // The resource has no pricing of its own: the subscription's is what it inherits.
        resources.push(pricing(&sub_scope, recorded));
    } else if file.contains("ListResourcePricings") {
        for item in recorded["value"].as_array().into_iter().flatten() {
            let at = if item["properties"]["inherited"] == "True" {
                &sub_scope
            } else {
                &scope
            };
            resources.push(pricing(at, item));
        }
    } else if file.contains("DeleteResourcePricing") {
        resources.push(
            json!({"id": id, "body": {"properties": {"pricingTier": "Standard", "subPlan": "P1"}}}),
        );
    }
    for r in resources {
        seed(h, json!({"resources": [r]})).await;
    }
}
