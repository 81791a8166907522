//! Management locks (`Microsoft.Authorization/locks`, locks.json 2016-09-01 and 2020-05-01) and
//! what Resource Manager does with them before a request reaches a provider.
//!
//! From Learn, "Lock your resources to protect your infrastructure": a lock at a scope applies to
//! everything below it, the most restrictive lock wins, and locks override every permission.
//! `CanNotDelete` blocks deletes; `ReadOnly` blocks deletes and every write (PUT, PATCH and POST,
//! role assignments included). Locks do not apply to data-plane operations. Deleting a scope
//! also deletes what is below it, so a lock anywhere below blocks the delete as well.
//!
//! The refusal is 409 `ScopeLocked` with the message Resource Manager sends (as quoted in
//! Azure/azure-sdk-for-java#2560 and hashicorp/terraform-provider-azurerm#17478).

use axum::http::StatusCode;
use serde_json::Value;

use crate::errors::{ArmError, ArmResult};
use crate::ids::lower;
use crate::state::{Resource, State};

pub const LOCK_TYPE: &str = "Microsoft.Authorization/locks";
/// The id segment between a scope and a lock name, lower-case like the state's keys.
pub const LOCK_SEGMENT: &str = "/providers/microsoft.authorization/locks/";
/// `level` values in locks.json.
pub const LEVELS: &[&str] = &["NotSpecified", "CanNotDelete", "ReadOnly"];

/// What a request would do to the scope it addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Write,
    Delete,
}

impl Operation {
    fn word(self) -> &'static str {
        match self {
            Operation::Write => "write",
            Operation::Delete => "delete",
        }
    }
}

fn level(r: &Resource) -> &str {
    r.body["properties"]["level"]
        .as_str()
        .unwrap_or("NotSpecified")
}

/// The scope a lock is applied at: its id before `/providers/Microsoft.Authorization/locks/`.
pub fn lock_scope(lock_id: &str) -> String {
    let at = lower(lock_id).rfind(LOCK_SEGMENT).unwrap_or(lock_id.len());
    let scope = &lock_id[..at];
    if scope.is_empty() {
        "/".to_string()
    } else {
        scope.to_string()
    }
}

fn blocks(r: &Resource, op: Operation) -> bool {
    if r.type_name != LOCK_TYPE {
        return false;
    }
    let l = level(r);
    match op {
        Operation::Write => l.eq_ignore_ascii_case("ReadOnly"),
        Operation::Delete => {
            l.eq_ignore_ascii_case("ReadOnly") || l.eq_ignore_ascii_case("CanNotDelete")
        }
    }
}

/// Refuses `op` on `target` (a resource, resource group or subscription id) when a lock at or
/// above it forbids the operation, or, for a delete, when a lock sits anywhere below it.
pub fn enforce(st: &State, target: &str, op: Operation) -> ArmResult<()> {
    let mut scopes: Vec<String> = st
        .extensions_at_or_above(target, LOCK_SEGMENT)
        .into_iter()
        .filter(|r| blocks(r, op))
        .map(|r| lock_scope(&r.id))
        .collect();
    if op == Operation::Delete {
        scopes.extend(
            st.descendants(target)
                .iter()
                .filter_map(|k| st.resources.get(k))
                .filter(|r| blocks(r, op))
                .map(|r| lock_scope(&r.id)),
        );
    }
    let mut seen = Vec::new();
    scopes.retain(|s| {
        let key = lower(s);
        if seen.contains(&key) {
            false
        } else {
            seen.push(key);
            true
        }
    });
    if scopes.is_empty() {
        return Ok(());
    }
    let locked = scopes
        .iter()
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(", ");
    Err(ArmError::new(
        StatusCode::CONFLICT,
        "ScopeLocked",
        format!(
            "The scope '{target}' cannot perform {} operation because following scope(s) are locked: {locked}. Please remove the lock and try again.",
            op.word()
        ),
    ))
}

/// Whether a lock body's level is one locks.json declares.
pub fn valid_level(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|l| LEVELS.iter().any(|x| x.eq_ignore_ascii_case(l)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn put_lock(st: &mut State, scope: &str, name: &str, level: &str) {
        let id = format!("{scope}/providers/Microsoft.Authorization/locks/{name}");
        st.resources.insert(
            lower(&id),
            Resource {
                id: id.clone(),
                type_name: LOCK_TYPE.to_string(),
                body: json!({"id": id, "properties": {"level": level}}),
                etag: String::new(),
                last_modified_by: String::new(),
            },
        );
    }

    #[test]
    fn locks_apply_at_and_below_their_scope_and_deletes_look_below() {
        let mut st = State::new("t");
        let rg = "/subscriptions/s1/resourceGroups/rg";
        let acct = format!("{rg}/providers/Microsoft.Storage/storageAccounts/a");
        put_lock(&mut st, &acct, "keep", "CanNotDelete");
        assert!(enforce(&st, &acct, Operation::Write).is_ok());
        let e = enforce(&st, &acct, Operation::Delete).expect_err("locked");
        assert_eq!(
            (e.status, e.code.as_str()),
            (StatusCode::CONFLICT, "ScopeLocked")
        );
        assert!(
            e.message
                .contains(&format!("following scope(s) are locked: '{acct}'"))
        );
        // The group holds a locked resource, so it cannot be deleted either; a sibling can.
        assert!(enforce(&st, rg, Operation::Delete).is_err());
        assert!(
            enforce(
                &st,
                &format!("{rg}/providers/Microsoft.Storage/storageAccounts/b"),
                Operation::Delete
            )
            .is_ok()
        );
        put_lock(&mut st, "/subscriptions/S1", "ro", "ReadOnly");
        let e = enforce(
            &st,
            &format!("{acct}/blobServices/default"),
            Operation::Write,
        )
        .expect_err("read-only above");
        assert!(e.message.contains("cannot perform write operation"));
        assert!(e.message.contains("'/subscriptions/S1'"));
        put_lock(&mut st, "/subscriptions/s2", "none", "NotSpecified");
        assert!(enforce(&st, "/subscriptions/s2/resourceGroups/x", Operation::Delete).is_ok());
    }
}
