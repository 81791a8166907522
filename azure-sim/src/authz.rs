//! Role-based access control: built-in role definitions, action matching with wildcards and
//! notActions, and the check of a caller's role assignments at a scope (with inheritance).

use serde_json::{Value, json};

use crate::ids::lower;
use crate::state::State;

pub const ROLE_ASSIGNMENT_SEGMENT: &str = "/providers/microsoft.authorization/roleassignments/";
pub const ROLE_DEFINITION_SEGMENT: &str = "/providers/microsoft.authorization/roledefinitions/";
pub const DENY_ASSIGNMENT_SEGMENT: &str = "/providers/microsoft.authorization/denyassignments/";
pub const DENY_ASSIGNMENT_TYPE: &str = "Microsoft.Authorization/denyAssignments";
/// The principal a deny assignment names to apply to everyone (Learn, "Understand Azure deny
/// assignments": `principals[i].id` of this value with type `SystemDefined`).
pub const EVERYONE: &str = "00000000-0000-0000-0000-000000000000";

/// A built-in role: name, GUID, permissions.
pub struct BuiltInRole {
    pub name: &'static str,
    pub id: &'static str,
    pub description: &'static str,
    pub actions: &'static [&'static str],
    pub not_actions: &'static [&'static str],
    pub data_actions: &'static [&'static str],
    pub not_data_actions: &'static [&'static str],
}

/// The built-in roles a HIPAA estate uses, with Azure's GUIDs (they are the same in every tenant).
pub const BUILT_IN_ROLES: &[BuiltInRole] = &[
    BuiltInRole {
        name: "Owner",
        id: "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
        description: "Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.",
        actions: &["*"],
        not_actions: &[],
        data_actions: &[],
        not_data_actions: &[],
    },
    BuiltInRole {
        name: "Contributor",
        id: "b24988ac-6180-42a0-ab88-20f7382dd24c",
        description: "Grants full access to manage all resources, but does not allow you to assign roles in Azure RBAC.",
        actions: &["*"],
        not_actions: &[
            "Microsoft.Authorization/*/Delete",
            "Microsoft.Authorization/*/Write",
            "Microsoft.Authorization/elevateAccess/Action",
            "Microsoft.Blueprint/blueprintAssignments/write",
            "Microsoft.Blueprint/blueprintAssignments/delete",
            "Microsoft.Compute/galleries/share/action",
        ],
        data_actions: &[],
        not_data_actions: &[],
    },
    BuiltInRole {
        name: "Reader",
        id: "acdd72a7-3385-48ef-bd42-f606fba81ae7",
        description: "View all resources, but does not allow you to make any changes.",
        actions: &["*/read"],
        not_actions: &[],
        data_actions: &[],
        not_data_actions: &[],
    },
    BuiltInRole {
        name: "User Access Administrator",
        id: "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
        description: "Lets you manage user access to Azure resources.",
        actions: &["*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"],
        not_actions: &[],
        data_actions: &[],
        not_data_actions: &[],
    },
    BuiltInRole {
        name: "Key Vault Administrator",
        id: "00482a5a-887f-4fb3-b363-3b7fe8e74483",
        description: "Perform all data plane operations on a key vault and all objects in it.",
        actions: &[
            "Microsoft.Authorization/*/read",
            "Microsoft.Insights/alertRules/*",
            "Microsoft.Resources/deployments/*",
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            "Microsoft.Support/*",
            "Microsoft.KeyVault/checkNameAvailability/read",
            "Microsoft.KeyVault/deletedVaults/read",
            "Microsoft.KeyVault/locations/*/read",
            "Microsoft.KeyVault/vaults/*/read",
            "Microsoft.KeyVault/operations/read",
        ],
        not_actions: &[],
        data_actions: &["Microsoft.KeyVault/vaults/*"],
        not_data_actions: &[],
    },
    BuiltInRole {
        name: "Key Vault Crypto Officer",
        id: "14b46e9e-c2b7-41b4-b07b-48a6ebf60603",
        description: "Perform any action on the keys of a key vault, except manage permissions.",
        actions: &[
            "Microsoft.Authorization/*/read",
            "Microsoft.Insights/alertRules/*",
            "Microsoft.Resources/deployments/*",
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            "Microsoft.Support/*",
            "Microsoft.KeyVault/checkNameAvailability/read",
            "Microsoft.KeyVault/deletedVaults/read",
            "Microsoft.KeyVault/locations/*/read",
            "Microsoft.KeyVault/vaults/*/read",
            "Microsoft.KeyVault/operations/read",
        ],
        not_actions: &[],
        data_actions: &[
            "Microsoft.KeyVault/vaults/keys/*",
            "Microsoft.KeyVault/vaults/keyrotationpolicies/*",
        ],
        not_data_actions: &[],
    },
    BuiltInRole {
        name: "Key Vault Crypto Service Encryption User",
        id: "e147488a-f6f5-4113-8e2d-b22465e65bf6",
        description: "Read metadata of keys and perform wrap/unwrap operations.",
        actions: &[
            "Microsoft.EventGrid/eventSubscriptions/write",
            "Microsoft.EventGrid/eventSubscriptions/read",
            "Microsoft.EventGrid/eventSubscriptions/delete",
        ],
        not_actions: &[],
        data_actions: &[
            "Microsoft.KeyVault/vaults/keys/read",
            "Microsoft.KeyVault/vaults/keys/wrap/action",
            "Microsoft.KeyVault/vaults/keys/unwrap/action",
        ],
        not_data_actions: &[],
    },
    BuiltInRole {
        name: "Key Vault Crypto User",
        id: "12338af0-0e69-4776-bea7-57ae8d297424",
        description: "Perform cryptographic operations using keys.",
        actions: &[],
        not_actions: &[],
        data_actions: &[
            "Microsoft.KeyVault/vaults/keys/read",
            "Microsoft.KeyVault/vaults/keys/update/action",
            "Microsoft.KeyVault/vaults/keys/backup/action",
            "Microsoft.KeyVault/vaults/keys/encrypt/action",
            "Microsoft.KeyVault/vaults/keys/decrypt/action",
            "Microsoft.KeyVault/vaults/keys/wrap/action",
            "Microsoft.KeyVault/vaults/keys/unwrap/action",
            "Microsoft.KeyVault/vaults/keys/sign/action",
            "Microsoft.KeyVault/vaults/keys/verify/action",
        ],
        not_data_actions: &[],
    },
    BuiltInRole {
        name: "Key Vault Certificates Officer",
        id: "a4417e6f-fecd-4de8-b567-7b0420556985",
        description: "Perform any action on the certificates of a key vault, except manage permissions.",
        actions: &[
            "Microsoft.Authorization/*/read",
            "Microsoft.Insights/alertRules/*",
            "Microsoft.Resources/deployments/*",
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            "Microsoft.Support/*",
            "Microsoft.KeyVault/checkNameAvailability/read",
            "Microsoft.KeyVault/deletedVaults/read",
            "Microsoft.KeyVault/locations/*/read",
            "Microsoft.KeyVault/vaults/*/read",
            "Microsoft.KeyVault/operations/read",
        ],
        not_actions: &[],
        data_actions: &[
            "Microsoft.KeyVault/vaults/certificatecas/*",
            "Microsoft.KeyVault/vaults/certificates/*",
            "Microsoft.KeyVault/vaults/certificatecontacts/write",
        ],
        not_data_actions: &[],
    },
    BuiltInRole {
        name: "Key Vault Certificate User",
        id: "db79e9a7-68ee-4b58-9aeb-b90e7c24fcba",
        description: "Read entire certificate contents including the secret and key portion.",
        actions: &[],
        not_actions: &[],
        data_actions: &[
            "Microsoft.KeyVault/vaults/certificates/read",
            "Microsoft.KeyVault/vaults/secrets/getSecret/action",
            "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
            "Microsoft.KeyVault/vaults/keys/read",
        ],
        not_data_actions: &[],
    },
    BuiltInRole {
        name: "Key Vault Reader",
        id: "21090545-7ca7-4776-b22c-e363652d74d2",
        description: "Read metadata of key vaults and its certificates, keys, and secrets.",
        actions: &[
            "Microsoft.Authorization/*/read",
            "Microsoft.Insights/alertRules/*",
            "Microsoft.Resources/deployments/*",
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            "Microsoft.Support/*",
            "Microsoft.KeyVault/checkNameAvailability/read",
            "Microsoft.KeyVault/deletedVaults/read",
            "Microsoft.KeyVault/locations/*/read",
            "Microsoft.KeyVault/vaults/*/read",
            "Microsoft.KeyVault/operations/read",
        ],
        not_actions: &[],
        data_actions: &[
            "Microsoft.KeyVault/vaults/*/read",
            "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
        ],
        not_data_actions: &[],
    },
    BuiltInRole {
        name: "Key Vault Secrets Officer",
        id: "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
        description: "Perform any action on the secrets of a key vault, except manage permissions.",
        actions: &[
            "Microsoft.Authorization/*/read",
            "Microsoft.Insights/alertRules/*",
            "Microsoft.Resources/deployments/*",
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            "Microsoft.Support/*",
            "Microsoft.KeyVault/checkNameAvailability/read",
            "Microsoft.KeyVault/deletedVaults/read",
            "Microsoft.KeyVault/locations/*/read",
            "Microsoft.KeyVault/vaults/*/read",
            "Microsoft.KeyVault/operations/read",
        ],
        not_actions: &[],
        data_actions: &["Microsoft.KeyVault/vaults/secrets/*"],
        not_data_actions: &[],
    },
    BuiltInRole {
        name: "Key Vault Secrets User",
        id: "4633458b-17de-408a-b874-0445c86b69e6",
        description: "Read secret contents.",
        actions: &[],
        not_actions: &[],
        data_actions: &[
            "Microsoft.KeyVault/vaults/secrets/getSecret/action",
            "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
        ],
        not_data_actions: &[],
    },
    BuiltInRole {
        name: "Storage Account Contributor",
        id: "17d1049b-9a84-46fb-8f53-869881c3d3ab",
        description: "Lets you manage storage accounts, but not access to them.",
        actions: &[
            "Microsoft.Authorization/*/read",
            "Microsoft.Insights/alertRules/*",
            "Microsoft.Insights/diagnosticSettings/*",
            "Microsoft.Network/virtualNetworks/subnets/joinViaServiceEndpoint/action",
            "Microsoft.ResourceHealth/availabilityStatuses/read",
            "Microsoft.Resources/deployments/*",
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            "Microsoft.Storage/storageAccounts/*",
            "Microsoft.Support/*",
        ],
        not_actions: &[],
        data_actions: &[],
        not_data_actions: &[],
    },
    BuiltInRole {
        name: "Storage Blob Data Reader",
        id: "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
        description: "Read and list Azure Storage containers and blobs.",
        actions: &[
            "Microsoft.Storage/storageAccounts/blobServices/containers/read",
            "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action",
        ],
        not_actions: &[],
        data_actions: &["Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"],
        not_data_actions: &[],
    },
    BuiltInRole {
        name: "Storage Blob Data Contributor",
        id: "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
        description: "Read, write, and delete Azure Storage containers and blobs.",
        actions: &[
            "Microsoft.Storage/storageAccounts/blobServices/containers/delete",
            "Microsoft.Storage/storageAccounts/blobServices/containers/read",
            "Microsoft.Storage/storageAccounts/blobServices/containers/write",
            "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action",
        ],
        not_actions: &[],
        data_actions: &[
            "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete",
            "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read",
            "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write",
            "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/move/action",
            "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action",
        ],
        not_data_actions: &[],
    },
    // Microsoft Defender for Cloud's roles (Azure built-in roles, "Security" category).
    BuiltInRole {
        name: "Security Reader",
        id: "39bc4728-0917-49c7-9d2c-d95423bc2eb4",
        description: "View permissions for Microsoft Defender for Cloud. Can view recommendations, alerts, a security policy, and security states, but cannot make changes.",
        actions: &[
            "Microsoft.Authorization/*/read",
            "Microsoft.Insights/alertRules/read",
            "Microsoft.OperationalInsights/workspaces/*/read",
            "Microsoft.Resources/deployments/*/read",
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            "Microsoft.Security/*/read",
            "Microsoft.Support/*/read",
            "Microsoft.Management/managementGroups/read",
        ],
        not_actions: &[],
        data_actions: &[],
        not_data_actions: &[],
    },
    BuiltInRole {
        name: "Security Admin",
        id: "fb1c8493-542b-48eb-b624-b4c8fea62acd",
        description: "Security Admin Role",
        actions: &[
            "Microsoft.Authorization/*/read",
            "Microsoft.Authorization/policyAssignments/*",
            "Microsoft.Authorization/policyDefinitions/*",
            "Microsoft.Authorization/policyExemptions/*",
            "Microsoft.Authorization/policySetDefinitions/*",
            "Microsoft.Insights/alertRules/*",
            "Microsoft.Management/managementGroups/read",
            "Microsoft.OperationalInsights/workspaces/*/read",
            "Microsoft.Resources/deployments/*",
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            "Microsoft.Security/*",
            "Microsoft.Support/*",
        ],
        not_actions: &[],
        data_actions: &[],
        not_data_actions: &[],
    },
    BuiltInRole {
        name: "Network Contributor",
        id: "4d97b98b-1d4f-4787-a291-c67834d212e7",
        description: "Lets you manage networks, but not access to them.",
        actions: &[
            "Microsoft.Authorization/*/read",
            "Microsoft.Insights/alertRules/*",
            "Microsoft.Network/*",
            "Microsoft.ResourceHealth/availabilityStatuses/read",
            "Microsoft.Resources/deployments/*",
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            "Microsoft.Support/*",
        ],
        not_actions: &[],
        data_actions: &[],
        not_data_actions: &[],
    },
    BuiltInRole {
        name: "Monitoring Contributor",
        id: "749f88d5-cbae-40b8-bcfc-e573ddc772fa",
        description: "Can read all monitoring data and update monitoring settings.",
        actions: &[
            "*/read",
            "Microsoft.Insights/diagnosticSettings/*",
            "Microsoft.OperationalInsights/workspaces/*",
            "Microsoft.Support/*",
        ],
        not_actions: &[],
        data_actions: &[],
        not_data_actions: &[],
    },
    BuiltInRole {
        name: "Log Analytics Contributor",
        id: "92aaf0da-9dab-42b6-94a3-d43ce8d16293",
        description: "Can read all monitoring data and edit monitoring settings.",
        actions: &[
            "*/read",
            "Microsoft.Insights/diagnosticSettings/*",
            "Microsoft.OperationalInsights/*",
            "Microsoft.Resources/deployments/*",
            "Microsoft.Resources/subscriptions/resourcegroups/deployments/*",
            "Microsoft.Storage/storageAccounts/listKeys/action",
            "Microsoft.Support/*",
        ],
        not_actions: &[],
        data_actions: &[],
        not_data_actions: &[],
    },
    BuiltInRole {
        name: "Resource Policy Contributor",
        id: "36243c78-bf99-498c-9df9-86d9f8d28608",
        description: "Users with rights to create/modify resource policy.",
        actions: &[
            "*/read",
            "Microsoft.Authorization/policyassignments/*",
            "Microsoft.Authorization/policydefinitions/*",
            "Microsoft.Authorization/policyexemptions/*",
            "Microsoft.Authorization/policysetdefinitions/*",
            "Microsoft.PolicyInsights/*",
            "Microsoft.Support/*",
        ],
        not_actions: &[],
        data_actions: &[],
        not_data_actions: &[],
    },
    BuiltInRole {
        name: "SQL Server Contributor",
        id: "6d8ee4ec-f05a-4a1d-8b00-a9b17e38b437",
        description: "Lets you manage SQL servers and databases, but not access to them, and not their security-related policies.",
        actions: &[
            "Microsoft.Authorization/*/read",
            "Microsoft.Insights/alertRules/*",
            "Microsoft.Resources/deployments/*",
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            "Microsoft.Sql/servers/*",
            "Microsoft.Support/*",
        ],
        not_actions: &[
            "Microsoft.Sql/servers/auditingSettings/*",
            "Microsoft.Sql/servers/securityAlertPolicies/*",
        ],
        data_actions: &[],
        not_data_actions: &[],
    },
];

pub fn built_in_by_guid(guid: &str) -> Option<&'static BuiltInRole> {
    BUILT_IN_ROLES
        .iter()
        .find(|r| r.id.eq_ignore_ascii_case(guid))
}

pub fn built_in_by_name(name: &str) -> Option<&'static BuiltInRole> {
    BUILT_IN_ROLES
        .iter()
        .find(|r| r.name.eq_ignore_ascii_case(name))
}

/// The ARM representation of a built-in role definition.
pub fn built_in_body(r: &BuiltInRole) -> Value {
    json!({
        "id": format!("/providers/Microsoft.Authorization/roleDefinitions/{}", r.id),
        "name": r.id,
        "type": "Microsoft.Authorization/roleDefinitions",
        "properties": {
            "roleName": r.name,
            "type": "BuiltInRole",
            "description": r.description,
            "assignableScopes": ["/"],
            "permissions": [{
                "actions": r.actions,
                "notActions": r.not_actions,
                "dataActions": r.data_actions,
                "notDataActions": r.not_data_actions
            }]
        }
    })
}

/// Case-insensitive glob where `*` matches any run of characters, as ARM matches actions.
pub fn action_matches(pattern: &str, action: &str) -> bool {
    let p = pattern.to_ascii_lowercase();
    let a = action.to_ascii_lowercase();
    glob(p.as_bytes(), a.as_bytes())
}

fn glob(p: &[u8], s: &[u8]) -> bool {
    // Iterative matcher with single backtrack point: linear in practice, no recursion.
    let (mut pi, mut si) = (0usize, 0usize);
    let (mut star, mut mark) = (None::<usize>, 0usize);
    while si < s.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if pi < p.len() && p[pi] == s[si] {
            pi += 1;
            si += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

/// True when `scope` is `ancestor` or lies below it (segment-wise, case-insensitive).
pub fn scope_contains(ancestor: &str, scope: &str) -> bool {
    let a = lower(ancestor.trim_end_matches('/'));
    let s = lower(scope.trim_end_matches('/'));
    if a.is_empty() {
        return true;
    }
    s == a || s.starts_with(&format!("{a}/"))
}

/// Whether the permissions block list grants `action` (control plane or data plane).
fn permissions_grant(perms: &Value, action: &str, data: bool) -> bool {
    let (allow, deny) = if data {
        ("dataActions", "notDataActions")
    } else {
        ("actions", "notActions")
    };
    perms.as_array().into_iter().flatten().any(|p| {
        let list = |k: &str| -> Vec<String> {
            p.get(k)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        };
        list(allow).iter().any(|pat| action_matches(pat, action))
            && !list(deny).iter().any(|pat| action_matches(pat, action))
    })
}

/// The GUID at the end of a role definition id.
pub fn role_guid(role_definition_id: &str) -> &str {
    role_definition_id
        .rsplit('/')
        .next()
        .unwrap_or(role_definition_id)
}

/// The permissions of a role definition, built-in or custom. A custom role is looked for at and
/// above the scope of the assignment that names it (where it is usually defined), then anywhere.
fn role_permissions(state: &State, role_definition_id: &str, near: &str) -> Option<Value> {
    let guid = role_guid(role_definition_id);
    if let Some(b) = built_in_by_guid(guid) {
        return Some(built_in_body(b)["properties"]["permissions"].clone());
    }
    if let Some(r) = state.get(role_definition_id) {
        return Some(r.body["properties"]["permissions"].clone());
    }
    let name_is = |r: &&crate::state::Resource| {
        r.id.rsplit('/')
            .next()
            .is_some_and(|n| n.eq_ignore_ascii_case(guid))
    };
    if let Some(r) = state
        .extensions_at_or_above(near, ROLE_DEFINITION_SEGMENT)
        .into_iter()
        .find(name_is)
    {
        return Some(r.body["properties"]["permissions"].clone());
    }
    let suffix = format!("{ROLE_DEFINITION_SEGMENT}{}", lower(guid));
    state
        .resources
        .iter()
        .find(|(k, _)| k.ends_with(&suffix))
        .map(|(_, r)| r.body["properties"]["permissions"].clone())
}

fn listed(list: &Value, principal: &str) -> bool {
    list.as_array().into_iter().flatten().any(|p| {
        p["id"]
            .as_str()
            .is_some_and(|id| id.eq_ignore_ascii_case(principal) || id == EVERYONE)
    })
}

/// The deny assignment at or above `scope` that refuses `action` to `principal`, if any. A deny
/// assignment names its principals (or Everyone) and may exclude some; `doNotApplyToChildScopes`
/// limits it to its own scope (Learn, "Understand Azure deny assignments").
pub fn denied_by<'a>(
    state: &'a State,
    principal: &str,
    action: &str,
    scope: &str,
    data: bool,
) -> Option<&'a crate::state::Resource> {
    state
        .extensions_at_or_above(scope, DENY_ASSIGNMENT_SEGMENT)
        .into_iter()
        .filter(|r| r.type_name == DENY_ASSIGNMENT_TYPE)
        .find(|r| {
            let p = &r.body["properties"];
            let at = p["scope"].as_str().unwrap_or_default();
            let reaches = if p["doNotApplyToChildScopes"].as_bool().unwrap_or(false) {
                lower(at.trim_end_matches('/')) == lower(scope.trim_end_matches('/'))
            } else {
                scope_contains(at, scope)
            };
            reaches
                && listed(&p["principals"], principal)
                && !p["excludePrincipals"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|x| {
                        x["id"]
                            .as_str()
                            .is_some_and(|id| id.eq_ignore_ascii_case(principal))
                    })
                && permissions_grant(&p["permissions"], action, data)
        })
}

/// Whether `principal` may perform `action` at `scope`: granted by a role assignment at or above
/// it (built-in or custom role) and not refused by a deny assignment, which takes precedence.
pub fn is_allowed(state: &State, principal: &str, action: &str, scope: &str, data: bool) -> bool {
    granted(state, principal, action, scope, data)
        && denied_by(state, principal, action, scope, data).is_none()
}

/// Whether a role assignment at or above `scope` grants `action` to `principal`.
pub fn granted(state: &State, principal: &str, action: &str, scope: &str, data: bool) -> bool {
    state
        .assignments_at_or_above(scope)
        .into_iter()
        .filter_map(|r| r.body.get("properties"))
        .filter(|p| {
            p.get("principalId")
                .and_then(Value::as_str)
                .is_some_and(|id| id.eq_ignore_ascii_case(principal))
        })
        .filter(|p| {
            p.get("scope")
                .and_then(Value::as_str)
                .is_some_and(|s| scope_contains(s, scope))
        })
        .filter_map(|p| {
            let rd = p.get("roleDefinitionId").and_then(Value::as_str)?;
            let at = p.get("scope").and_then(Value::as_str).unwrap_or("/");
            role_permissions(state, rd, at)
        })
        .any(|perms| permissions_grant(&perms, action, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_case_insensitively() {
        assert!(action_matches(
            "*",
            "Microsoft.Storage/storageAccounts/write"
        ));
        assert!(action_matches(
            "*/read",
            "microsoft.storage/storageaccounts/read"
        ));
        assert!(!action_matches(
            "*/read",
            "Microsoft.Storage/storageAccounts/write"
        ));
        assert!(action_matches(
            "Microsoft.Authorization/*/Write",
            "Microsoft.Authorization/roleAssignments/write"
        ));
        assert!(action_matches(
            "Microsoft.KeyVault/vaults/*/read",
            "Microsoft.KeyVault/vaults/keys/read"
        ));
        assert!(!action_matches(
            "Microsoft.Network/*",
            "Microsoft.Storage/x/read"
        ));
    }

    #[test]
    fn contributor_cannot_write_role_assignments() {
        let c = built_in_by_name("Contributor").expect("built in");
        let perms = built_in_body(c)["properties"]["permissions"].clone();
        assert!(permissions_grant(
            &perms,
            "Microsoft.Storage/storageAccounts/write",
            false
        ));
        assert!(!permissions_grant(
            &perms,
            "Microsoft.Authorization/roleAssignments/write",
            false
        ));
        assert!(!permissions_grant(
            &perms,
            "Microsoft.KeyVault/vaults/keys/read",
            true
        ));
    }

    fn assignment(state: &mut State, scope: &str, principal: &str, role: &str) {
        let id = format!(
            "{}/providers/Microsoft.Authorization/roleAssignments/{principal}-{role}",
            scope.trim_end_matches('/')
        );
        let rd = format!(
            "/providers/Microsoft.Authorization/roleDefinitions/{}",
            built_in_by_name(role).expect("built in").id
        );
        let body = serde_json::json!({"id": id, "properties": {
            "principalId": principal, "roleDefinitionId": rd, "scope": scope}});
        state.resources.insert(
            lower(&id),
            crate::state::Resource {
                id: id.clone(),
                type_name: "Microsoft.Authorization/roleAssignments".into(),
                body,
                etag: String::new(),
                last_modified_by: String::new(),
            },
        );
    }

    #[test]
    fn assignments_are_found_at_every_ancestor_and_nowhere_else() {
        let mut st = State::new("t");
        assignment(&mut st, "/", "root-reader", "Reader");
        assignment(&mut st, "/subscriptions/S1", "sub-owner", "Owner");
        assignment(
            &mut st,
            "/subscriptions/s1/resourceGroups/rg",
            "rg-contrib",
            "Contributor",
        );
        assignment(&mut st, "/subscriptions/s10", "other-sub-owner", "Owner");
        assignment(
            &mut st,
            "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a",
            "account-reader",
            "Reader",
        );
        let account =
            "/subscriptions/s1/resourceGroups/RG/providers/Microsoft.Storage/storageAccounts/a";
        let write = "Microsoft.Storage/storageAccounts/write";
        let read = "Microsoft.Storage/storageAccounts/read";
        assert!(is_allowed(&st, "root-reader", read, account, false));
        assert!(!is_allowed(&st, "root-reader", write, account, false));
        assert!(is_allowed(&st, "SUB-OWNER", write, account, false));
        assert!(is_allowed(&st, "rg-contrib", write, account, false));
        assert!(!is_allowed(
            &st,
            "rg-contrib",
            write,
            "/subscriptions/s1/resourceGroups/rg2",
            false
        ));
        assert!(!is_allowed(&st, "other-sub-owner", write, account, false));
        assert!(is_allowed(&st, "account-reader", read, account, false));
        assert!(!is_allowed(
            &st,
            "account-reader",
            read,
            "/subscriptions/s1/resourceGroups/rg",
            false
        ));
        let names = |scope: &str| -> Vec<String> {
            let mut v: Vec<String> = st
                .assignments_at_or_above(scope)
                .iter()
                .map(|r| {
                    r.body["properties"]["principalId"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string()
                })
                .collect();
            v.sort();
            v
        };
        assert_eq!(
            names(account),
            ["account-reader", "rg-contrib", "root-reader", "sub-owner"]
        );
        assert_eq!(
            names("/subscriptions/s10/"),
            ["other-sub-owner", "root-reader"]
        );
        assert_eq!(names("/"), ["root-reader"]);
    }

    #[test]
    fn scopes_inherit_by_segment() {
        assert!(scope_contains(
            "/subscriptions/s1",
            "/subscriptions/S1/resourceGroups/rg"
        ));
        assert!(!scope_contains("/subscriptions/s1", "/subscriptions/s10"));
        assert!(scope_contains("/", "/subscriptions/s1"));
    }
}
