//! The customer-managed key controls of a storage account: the key in use, the identity that
//! reaches it, its rotation policy and whether its rotation is observed (and due).

use k8s_openapi::jiff::Timestamp;

use super::model::{StorageExpectations, StorageObservation};
use super::{ROTATION_GRACE_DAYS, same};
use crate::azure::keyvault::RotationPolicy;
use crate::azure::storage::StorageAccount;
use crate::controls::finding::{Finding, Found, shown};

/// The principal id of the identity the account reaches its key with, when Azure has one.
pub fn key_principal(expect: &StorageExpectations, obs: &StorageObservation) -> Option<String> {
    principal_of(&obs.account, expect.key.user_assigned_identity.as_deref())
}

/// The principal of the identity `account` encrypts with: the user-assigned identity
/// `user_assigned` when given, its system-assigned identity otherwise.
pub fn principal_of(account: &StorageAccount, user_assigned: Option<&str>) -> Option<String> {
    let identity = account.identity.as_ref()?;
    match user_assigned {
        None => identity.principal_id.clone(),
        Some(uai) => identity
            .user_assigned_identities
            .as_ref()?
            .iter()
            .find(|(id, _)| same(id, uai))
            .and_then(|(_, v)| v.get("principalId"))
            .and_then(|v| v.as_str())
            .map(str::to_string),
    }
}

pub(super) fn cmk(expect: &StorageExpectations, obs: &StorageObservation) -> Finding {
    let enc = obs.account.properties.encryption.as_ref();
    let kv = enc.and_then(|e| e.keyvaultproperties.as_ref());
    let source = enc.and_then(|e| e.key_source.as_deref());
    let identity_ok = match &expect.key.user_assigned_identity {
        Some(uai) => enc
            .and_then(|e| e.identity.as_ref())
            .and_then(|i| i.user_assigned_identity.as_deref())
            .is_some_and(|u| same(u, uai)),
        None => obs
            .account
            .identity
            .as_ref()
            .is_some_and(|i| i.kind.contains("SystemAssigned")),
    };
    let uses_key = source.is_some_and(|s| s.eq_ignore_ascii_case("Microsoft.Keyvault"))
        && kv
            .and_then(|k| k.keyvaulturi.as_deref())
            .is_some_and(|u| same(u, &expect.key.vault_uri))
        && kv.and_then(|k| k.keyname.as_deref()) == Some(expect.key.key_name.as_str());
    let versionless = kv
        .and_then(|k| k.keyversion.as_deref())
        .is_none_or(str::is_empty);
    // The identity must be able to wrap and unwrap with the key, or the account loses access
    // to its own data at the next key operation.
    let principal = key_principal(expect, obs);
    let unreachable = match (&obs.key_access, &principal) {
        (Some(holders), Some(p)) => !holders.iter().any(|h| h.eq_ignore_ascii_case(p)),
        _ => false,
    };
    let observed = match (source, kv) {
        (Some(s), Some(k)) if s.eq_ignore_ascii_case("Microsoft.Keyvault") => format!(
            "{}keys/{}{}{}",
            k.keyvaulturi
                .as_deref()
                .map(|u| format!("{}/", u.trim_end_matches('/')))
                .unwrap_or_default(),
            shown(k.keyname.as_deref()),
            k.keyversion
                .as_deref()
                .filter(|v| !v.is_empty())
                .map(|v| format!("/{v} (pinned version)"))
                .unwrap_or_default(),
            if !identity_ok {
                " without the expected identity".to_string()
            } else if unreachable {
                format!(
                    " but identity {} cannot wrap/unwrap with the key",
                    principal.as_deref().unwrap_or_default()
                )
            } else {
                String::new()
            }
        ),
        (s, _) => format!("keySource {}", shown(s)),
    };
    Finding::check(
        "storage.cmk",
        uses_key && versionless && identity_ok && !unreachable,
        format!(
            "Microsoft.Keyvault, {}/keys/{} versionless (automatic rotation), via the {} identity holding Key Vault Crypto Service Encryption User on the key",
            expect.key.vault_uri.trim_end_matches('/'),
            expect.key.key_name,
            if expect.key.user_assigned_identity.is_some() {
                "user-assigned"
            } else {
                "system-assigned"
            }
        ),
        observed,
    )
}

pub(super) fn cmk_rotation_observed(
    expect: &StorageExpectations,
    obs: &StorageObservation,
) -> Finding {
    let kv = obs
        .account
        .properties
        .encryption
        .as_ref()
        .and_then(|e| e.keyvaultproperties.as_ref());
    let in_use = kv
        .and_then(|k| k.current_versioned_key_identifier.as_deref())
        .and_then(|kid| kid.rsplit('/').next());
    let rotated = kv
        .and_then(|k| k.last_key_rotation_timestamp.as_deref())
        .and_then(|t| t.parse::<Timestamp>().ok());
    let expected = format!(
        "the latest key version, rotated within {} days",
        expect.key.rotate_after_days + ROTATION_GRACE_DAYS
    );
    let Some(in_use) = in_use else {
        return Finding::new(
            "storage.cmk-rotation-observed",
            Found::Drifted,
            expected,
            "no customer-managed key in use",
        );
    };
    let age_days = rotated.map(|r| obs.now.duration_since(r).as_secs() / 86_400);
    let latest_ok = obs
        .latest_key_version
        .as_deref()
        .is_none_or(|l| l == in_use);
    let age_ok = age_days.is_none_or(|d| d <= expect.key.rotate_after_days + ROTATION_GRACE_DAYS);
    let observed = format!(
        "version {in_use}{}{}",
        age_days
            .map(|d| format!(
                ", rotated {d} days ago, next rotation due in {} days",
                (expect.key.rotate_after_days - d).max(0)
            ))
            .unwrap_or_default(),
        match obs.latest_key_version.as_deref() {
            Some(l) if l != in_use => format!("; the vault's latest version is {l}"),
            _ => String::new(),
        }
    );
    Finding::check(
        "storage.cmk-rotation-observed",
        latest_ok && age_ok,
        expected,
        observed,
    )
}

/// `kv.key-rotation-policy` for the store's own key: it exists and rotates on the workspace's
/// cadence, so a key without a policy (or with another one) is drift.
pub(super) fn key_rotation_policy(
    expect: &StorageExpectations,
    obs: &StorageObservation,
) -> Finding {
    let describe = |p: &RotationPolicy| {
        let notify = p
            .lifetime_actions
            .iter()
            .find(|a| a.action.kind.eq_ignore_ascii_case("Notify"))
            .and_then(|a| a.trigger.time_before_expiry.clone());
        format!(
            "rotate after {}, expire after {}, notify {} before",
            shown(p.rotate_after()),
            shown(p.attributes.expiry_time.as_deref()),
            shown(notify.as_deref())
        )
    };
    let observed = match (&obs.latest_key_version, &obs.key_rotation_policy) {
        (None, _) => format!("key {} does not exist", expect.key.key_name),
        (Some(_), None) => "no rotation policy".to_string(),
        (Some(_), Some(p)) => describe(p),
    };
    let ok = obs.latest_key_version.is_some()
        && obs
            .key_rotation_policy
            .as_ref()
            .is_some_and(|p| p.matches(&expect.key.rotation_policy));
    Finding::check(
        "kv.key-rotation-policy",
        ok,
        describe(&expect.key.rotation_policy),
        observed,
    )
}

/// Whether the store's key is older than the rotation cadence: it exists, and the account's
/// last key rotation was more than `rotate_after_days` ago.
pub fn rotation_due(expect: &StorageExpectations, obs: &StorageObservation) -> bool {
    obs.latest_key_version.is_some()
        && obs
            .account
            .properties
            .encryption
            .as_ref()
            .and_then(|e| e.keyvaultproperties.as_ref())
            .and_then(|k| k.last_key_rotation_timestamp.as_deref())
            .and_then(|t| t.parse::<Timestamp>().ok())
            .is_some_and(|t| {
                obs.now.duration_since(t).as_secs() / 86_400 > expect.key.rotate_after_days
            })
}

/// The smallest RSA key the catalog accepts for PHI (`kv.key-strength`; the workspace's
/// `keySize` allows 3072 or 4096).
pub const MIN_RSA_BITS: usize = 3072;

/// How long a key version lives, from the workspace's policy (`expireAfter`, e.g. `P1Y`).
fn lifetime_secs(expect: &StorageExpectations) -> Option<i64> {
    let text = expect
        .key
        .rotation_policy
        .attributes
        .expiry_time
        .as_deref()?;
    crate::api::duration::parse(text).and_then(|d| i64::try_from(d.as_secs()).ok())
}

/// The expiry to give the key's current version when it has none: its creation plus the
/// workspace's lifetime, and never sooner than `NOTICE` from now, so that setting it cannot
/// disable a key that PHI is encrypted with (the rotation policy makes the next version
/// before then).
pub fn expiry_for(expect: &StorageExpectations, obs: &StorageObservation) -> Option<i64> {
    const NOTICE: i64 = 30 * 86_400;
    let bundle = obs.key_bundle.as_ref()?;
    let lifetime = lifetime_secs(expect)?;
    let now = obs.now.as_second();
    let created = bundle.attributes.created.unwrap_or(now);
    Some((created + lifetime).max(now + NOTICE))
}

/// `kv.key-expiry-set` for the store's key: its current version expires (Key Vault then
/// refuses to use it, so an expiry bounds a key that leaked).
pub(super) fn key_expiry(expect: &StorageExpectations, obs: &StorageObservation) -> Finding {
    let expected = format!(
        "attributes.exp set, at most {} after creation",
        shown(expect.key.rotation_policy.attributes.expiry_time.as_deref())
    );
    let Some(bundle) = &obs.key_bundle else {
        return Finding::new(
            "kv.key-expiry-set",
            Found::Drifted,
            expected,
            format!("key {} does not exist", expect.key.key_name),
        );
    };
    let observed = match bundle.attributes.exp {
        Some(exp) => Timestamp::from_second(exp)
            .map(|t| format!("exp={t}"))
            .unwrap_or_else(|_| format!("exp={exp}")),
        None => "no expiry".to_string(),
    };
    Finding::check(
        "kv.key-expiry-set",
        bundle.attributes.exp.is_some(),
        expected,
        observed,
    )
}

/// `kv.key-strength` for the store's key: RSA of at least [`MIN_RSA_BITS`] (or an EC key). A
/// weaker key is reported, never replaced: a new key means re-wrapping everything under it.
pub(super) fn key_strength(expect: &StorageExpectations, obs: &StorageObservation) -> Finding {
    let expected = format!("RSA >= {MIN_RSA_BITS} bits (RSA-HSM where the profile requires)");
    let Some(bundle) = &obs.key_bundle else {
        // The operator creates the key at the workspace's size; nothing to judge yet.
        return Finding::new(
            "kv.key-strength",
            Found::NotApplicable,
            expected,
            format!("key {} does not exist yet", expect.key.key_name),
        );
    };
    let kty = bundle.key.kty.as_str();
    let bits = bundle.key.rsa_bits();
    let ok = match kty {
        "RSA" | "RSA-HSM" => bits.is_some_and(|b| b >= MIN_RSA_BITS),
        "EC" | "EC-HSM" => true,
        _ => false,
    };
    let f = Finding::check(
        "kv.key-strength",
        ok,
        expected,
        format!("{kty}, {} bits", shown(bits)),
    );
    f.with_next_step("create a key of at least 3072 bits (the workspace's keySize), point the store at it and let the old one expire; the operator does not replace a key PHI is encrypted with")
}
