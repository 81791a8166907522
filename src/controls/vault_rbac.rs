//! Moving a Key Vault from access policies to Azure RBAC without locking anyone out. RBAC
//! authorization ignores every access policy the moment it is on, so each policy's holder is
//! first given the built-in Key Vault roles that cover its permissions, at the vault; the switch
//! follows once every holder has them and Azure has had time to apply them. Pure: the holders
//! and their roles are what the operator read from Azure, never a user-written string.

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::Value;

/// The built-in Key Vault data roles an access policy maps to, least privilege first in each
/// family. GUIDs are Azure's and the same in every tenant (Azure built-in roles, "Security").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KvRole {
    CryptoServiceEncryptionUser,
    CryptoUser,
    CryptoOfficer,
    SecretsUser,
    SecretsOfficer,
    CertificateUser,
    CertificatesOfficer,
}

/// `Key Vault Administrator`: every data action on the vault's keys, secrets and certificates.
const ADMINISTRATOR: &str = "00482a5a-887f-4fb3-b363-3b7fe8e74483";

impl KvRole {
    pub fn guid(self) -> &'static str {
        match self {
            KvRole::CryptoServiceEncryptionUser => "e147488a-f6f5-4113-8e2d-b22465e65bf6",
            KvRole::CryptoUser => "12338af0-0e69-4776-bea7-57ae8d297424",
            KvRole::CryptoOfficer => "14b46e9e-c2b7-41b4-b07b-48a6ebf60603",
            KvRole::SecretsUser => "4633458b-17de-408a-b874-0445c86b69e6",
            KvRole::SecretsOfficer => "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
            KvRole::CertificateUser => "db79e9a7-68ee-4b58-9aeb-b90e7c24fcba",
            KvRole::CertificatesOfficer => "a4417e6f-fecd-4de8-b567-7b0420556985",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            KvRole::CryptoServiceEncryptionUser => "Key Vault Crypto Service Encryption User",
            KvRole::CryptoUser => "Key Vault Crypto User",
            KvRole::CryptoOfficer => "Key Vault Crypto Officer",
            KvRole::SecretsUser => "Key Vault Secrets User",
            KvRole::SecretsOfficer => "Key Vault Secrets Officer",
            KvRole::CertificateUser => "Key Vault Certificate User",
            KvRole::CertificatesOfficer => "Key Vault Certificates Officer",
        }
    }

    /// The roles whose data actions include this one's: itself, the wider role of its family,
    /// and `Key Vault Administrator`.
    fn covered_by(self) -> &'static [KvRole] {
        use KvRole::*;
        match self {
            CryptoServiceEncryptionUser => {
                &[CryptoServiceEncryptionUser, CryptoUser, CryptoOfficer]
            }
            CryptoUser => &[CryptoUser, CryptoOfficer],
            CryptoOfficer => &[CryptoOfficer],
            SecretsUser => &[SecretsUser, SecretsOfficer],
            SecretsOfficer => &[SecretsOfficer],
            CertificateUser => &[CertificateUser, CertificatesOfficer],
            CertificatesOfficer => &[CertificatesOfficer],
        }
    }

    /// Whether an assignment of the role definition `role_definition` (an id or a GUID) gives
    /// everything this role gives.
    pub fn is_covered_by(self, role_definition: &str) -> bool {
        let guid = role_definition
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        guid == ADMINISTRATOR || self.covered_by().iter().any(|r| r.guid() == guid)
    }
}

/// Key permissions the `Crypto Service Encryption User` role covers (read metadata, wrap and
/// unwrap: what a service encrypting with a customer-managed key does).
const KEYS_SERVICE: &[&str] = &["get", "list", "wrapkey", "unwrapkey"];
/// Key permissions `Crypto User` covers: reading keys and the cryptographic operations.
const KEYS_USE: &[&str] = &[
    "get",
    "list",
    "encrypt",
    "decrypt",
    "wrapkey",
    "unwrapkey",
    "sign",
    "verify",
];
/// Key permissions `Crypto Officer` covers (every key action but release, which needs the
/// `Crypto Service Release User` role and an attestation policy).
const KEYS_MANAGE: &[&str] = &[
    "all",
    "get",
    "list",
    "encrypt",
    "decrypt",
    "wrapkey",
    "unwrapkey",
    "sign",
    "verify",
    "create",
    "update",
    "import",
    "delete",
    "backup",
    "restore",
    "recover",
    "purge",
    "rotate",
    "getrotationpolicy",
    "setrotationpolicy",
];
/// Secret and certificate permissions the `User` roles cover.
const READ: &[&str] = &["get", "list"];

/// The permissions of `policy` for `object` (`keys`, `secrets`, `certificates`, `storage`),
/// lower-cased.
fn permissions(policy: &Value, object: &str) -> Vec<String> {
    policy["permissions"][object]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_ascii_lowercase)
        .collect()
}

fn within(perms: &[String], allowed: &[&str]) -> bool {
    perms.iter().all(|p| allowed.contains(&p.as_str()))
}

/// The fewest built-in roles that give the holder of `policy` at least what the policy gives,
/// or why no role can.
pub fn roles_for(policy: &Value) -> Result<Vec<KvRole>, String> {
    let who = policy["objectId"].as_str().unwrap_or("(no objectId)");
    if policy["applicationId"]
        .as_str()
        .is_some_and(|a| !a.is_empty())
    {
        return Err(format!(
            "the access policy of {who} is a compound identity (applicationId set), which Azure RBAC cannot express"
        ));
    }
    if !permissions(policy, "storage").is_empty() {
        return Err(format!(
            "the access policy of {who} has storage-account permissions, which no Key Vault role grants"
        ));
    }
    let mut roles = Vec::new();
    let keys = permissions(policy, "keys");
    if !keys.is_empty() {
        roles.push(if within(&keys, KEYS_SERVICE) {
            KvRole::CryptoServiceEncryptionUser
        } else if within(&keys, KEYS_USE) {
            KvRole::CryptoUser
        } else if within(&keys, KEYS_MANAGE) {
            KvRole::CryptoOfficer
        } else {
            return Err(format!(
                "the access policy of {who} has key permissions ({}) that no role this operator grants covers",
                keys.join(", ")
            ));
        });
    }
    let secrets = permissions(policy, "secrets");
    if !secrets.is_empty() {
        roles.push(if within(&secrets, READ) {
            KvRole::SecretsUser
        } else {
            KvRole::SecretsOfficer
        });
    }
    let certificates = permissions(policy, "certificates");
    if !certificates.is_empty() {
        roles.push(if within(&certificates, READ) {
            KvRole::CertificateUser
        } else {
            KvRole::CertificatesOfficer
        });
    }
    Ok(roles)
}

/// One role assignment reaching the vault (at it or above), as read from Azure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldRole {
    pub principal_id: String,
    /// The role definition's id.
    pub role_definition_id: String,
    /// When Azure recorded the assignment (`properties.createdOn`), when it says.
    pub created_on: Option<Timestamp>,
}

/// The role assignments reaching a vault, read for a migration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleHolders {
    pub held: Vec<HeldRole>,
    pub now: Timestamp,
    /// How long after Azure records an assignment it counts as in effect: Azure takes minutes
    /// to apply a new one, and switching before that would lock its holder out meanwhile.
    pub settle: SignedDuration,
}

impl RoleHolders {
    /// When `held` is in effect; an assignment without a creation time is an old one.
    fn in_effect_at(&self, held: &HeldRole) -> Option<Timestamp> {
        held.created_on
            .map(|c| c.saturating_add(self.settle).unwrap_or(c))
    }
}

/// A role to give, at the vault.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Grant {
    pub principal_id: String,
    pub role: KvRole,
}

/// Where the move of a vault's access policies to roles stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Migration {
    /// A policy has no role equivalent: a person moves it (each reason says which).
    Blocked(Vec<String>),
    /// These holders lack these roles.
    Grant(Vec<Grant>),
    /// Every holder has its roles, some too recently to be in effect yet.
    Settling { until: Timestamp },
    /// Every holder's roles are in effect: RBAC authorization can go on.
    Ready,
}

/// Where the move stands for the vault's `access_policies`, given the assignments read.
pub fn migration(access_policies: &Value, holders: &RoleHolders) -> Migration {
    let mut blocked = Vec::new();
    let mut grants = Vec::new();
    let mut settling: Option<Timestamp> = None;
    for policy in access_policies.as_array().into_iter().flatten() {
        let Some(principal) = policy["objectId"].as_str().filter(|p| !p.is_empty()) else {
            blocked.push("an access policy names no objectId".to_string());
            continue;
        };
        let roles = match roles_for(policy) {
            Ok(r) => r,
            Err(why) => {
                blocked.push(why);
                continue;
            }
        };
        for role in roles {
            let holding: Vec<&HeldRole> = holders
                .held
                .iter()
                .filter(|h| h.principal_id.eq_ignore_ascii_case(principal))
                .filter(|h| role.is_covered_by(&h.role_definition_id))
                .collect();
            if holding.is_empty() {
                grants.push(Grant {
                    principal_id: principal.to_ascii_lowercase(),
                    role,
                });
            } else {
                // In effect once the earliest covering assignment is.
                let ready = holding
                    .iter()
                    .map(|h| holders.in_effect_at(h))
                    .min()
                    .flatten();
                if let Some(at) = ready.filter(|at| *at > holders.now) {
                    settling = settling.max(Some(at));
                }
            }
        }
    }
    grants.sort();
    grants.dedup();
    if !blocked.is_empty() {
        Migration::Blocked(blocked)
    } else if !grants.is_empty() {
        Migration::Grant(grants)
    } else if let Some(until) = settling {
        Migration::Settling { until }
    } else {
        Migration::Ready
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(object: &str, keys: &[&str], secrets: &[&str]) -> Value {
        json!({"tenantId": "t", "objectId": object,
               "permissions": {"keys": keys, "secrets": secrets, "certificates": []}})
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    #[test]
    fn each_policy_maps_to_the_least_role_that_covers_it() {
        let cases: &[(&[&str], &[&str], &[KvRole])] = &[
            (
                &["get", "wrapKey", "unwrapKey"],
                &[],
                &[KvRole::CryptoServiceEncryptionUser],
            ),
            (&["get", "Encrypt", "decrypt"], &[], &[KvRole::CryptoUser]),
            (&["get", "create", "rotate"], &[], &[KvRole::CryptoOfficer]),
            (
                &["all"],
                &["get"],
                &[KvRole::CryptoOfficer, KvRole::SecretsUser],
            ),
            (&[], &["get", "list", "set"], &[KvRole::SecretsOfficer]),
            (&[], &[], &[]),
        ];
        for (keys, secrets, want) in cases {
            assert_eq!(
                roles_for(&policy("p", keys, secrets)).expect("maps"),
                want.to_vec(),
                "{keys:?} {secrets:?}"
            );
        }
        let certs = json!({"objectId": "p", "permissions": {"certificates": ["get", "import"]}});
        assert_eq!(
            roles_for(&certs).expect("maps"),
            [KvRole::CertificatesOfficer]
        );
        // No role expresses these: a person moves them.
        for unmapped in [
            json!({"objectId": "p", "applicationId": "a", "permissions": {"keys": ["get"]}}),
            json!({"objectId": "p", "permissions": {"storage": ["get"]}}),
            json!({"objectId": "p", "permissions": {"keys": ["release"]}}),
        ] {
            assert!(roles_for(&unmapped).is_err(), "{unmapped}");
        }
    }

    #[test]
    fn the_switch_waits_for_every_holder_and_for_azure_to_apply_the_roles() {
        let policies = json!([
            policy("AAAA", &["get", "wrapKey", "unwrapKey"], &[]),
            policy("bbbb", &[], &["get"]),
        ]);
        let mut holders = RoleHolders {
            held: vec![],
            now: ts("2026-12-07T12:06:00Z"),
            settle: SignedDuration::from_mins(10),
        };
        assert_eq!(
            migration(&policies, &holders),
            Migration::Grant(vec![
                Grant {
                    principal_id: "aaaa".into(),
                    role: KvRole::CryptoServiceEncryptionUser
                },
                Grant {
                    principal_id: "bbbb".into(),
                    role: KvRole::SecretsUser
                },
            ])
        );
        // A wider role held by the right principal covers; the same role held by another
        // principal does not.
        holders.held = vec![
            HeldRole {
                principal_id: "aaaa".into(),
                role_definition_id: format!(
                    "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/{}",
                    KvRole::CryptoOfficer.guid()
                ),
                created_on: Some(ts("2026-12-07T11:00:00Z")),
            },
            HeldRole {
                principal_id: "cccc".into(),
                role_definition_id: KvRole::SecretsUser.guid().into(),
                created_on: None,
            },
        ];
        assert_eq!(
            migration(&policies, &holders),
            Migration::Grant(vec![Grant {
                principal_id: "bbbb".into(),
                role: KvRole::SecretsUser
            }])
        );
        // Granted just now: not in effect yet.
        holders.held.push(HeldRole {
            principal_id: "BBBB".into(),
            role_definition_id: KvRole::SecretsUser.guid().into(),
            created_on: Some(ts("2026-12-07T12:05:00Z")),
        });
        assert_eq!(
            migration(&policies, &holders),
            Migration::Settling {
                until: ts("2026-12-07T12:15:00Z")
            }
        );
        holders.now = ts("2026-12-07T12:15:00Z");
        assert_eq!(migration(&policies, &holders), Migration::Ready);
        // One unmappable policy blocks the whole switch.
        let mut blocked = policies.clone();
        blocked.as_array_mut().expect("array").push(json!({
            "objectId": "dddd", "permissions": {"storage": ["get"]}
        }));
        assert!(matches!(
            migration(&blocked, &holders),
            Migration::Blocked(why) if why.len() == 1 && why[0].contains("dddd")
        ));
    }
}
