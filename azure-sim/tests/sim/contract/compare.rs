//! Comparison of a simulator answer with a recording: every recorded field must be present with
//! the recorded value, except service-generated values and the pointers a case ignores.

use serde_json::Value;

pub(super) struct Cmp<'a> {
    pub(super) ignore: &'a [&'a str],
    pub(super) subset: bool,
    /// The field that pairs recorded list entries with the answer's in subset mode.
    pub(super) key: &'a str,
    /// The recorded request as text: a GUID or timestamp the client sent must come back as sent.
    pub(super) request: &'a str,
}

pub(super) fn is_volatile(key: &str, e: &Value, a: &Value, request: &str) -> bool {
    let (Some(es), Some(as_)) = (e.as_str(), a.as_str()) else {
        // Unix timestamps of Key Vault attributes.
        return ["created", "updated", "exp", "nbf"].contains(&key) && e.is_i64() && a.is_i64();
    };
    let rfc3339 = |s: &str| {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok()
    };
    // RFC 1123 (`Mon, 13 Jan 2020 14:40:33 GMT`), Log Analytics' format for cluster and export
    // dates; the weekday is not checked (one recording pairs a date with the wrong weekday).
    let rfc1123 = |s: &str| {
        s.split_once(", ").is_some_and(|(_, rest)| {
            time::PrimitiveDateTime::parse(
                rest,
                time::macros::format_description!(
                    "[day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
                ),
            )
            .is_ok()
        })
    };
    let guid = |s: &str| uuid::Uuid::parse_str(s).is_ok();
    let etag = |s: &str| {
        key == "etag" || s.starts_with("W/\"") || (s.starts_with('"') && s.ends_with('"'))
    };
    let generated = !request.contains(es);
    (generated && rfc3339(es) && rfc3339(as_))
        || (generated && rfc1123(es) && rfc1123(as_))
        || (generated && guid(es) && guid(as_))
        || (etag(es) && etag(as_))
        // A Key Vault object's version (the last segment of a key's `kid` or a secret's `id`) is
        // generated.
        || ((key == "kid" || (key == "id" && es.starts_with("https://")))
            && es.rsplit_once('/').is_some_and(|(_, v)| {
                v.len() == 32 && v.chars().all(|c| c.is_ascii_hexdigit())
            })
            && es.rsplit_once('/').map(|x| x.0) == as_.rsplit_once('/').map(|x| x.0))
        || [
            "access_token",
            "expires_on",
            "not_before",
            "createdBy",
            "lastModifiedBy",
            "createdByType",
            "lastModifiedByType",
        ]
        .contains(&key)
}

/// Whether `path` is at or below an ignored pointer (`*` matches one segment).
pub(super) fn ignored(path: &str, ignore: &[&str]) -> bool {
    let segs: Vec<&str> = path.split('/').collect();
    ignore.iter().any(|i| {
        let pat: Vec<&str> = i.split('/').collect();
        pat.len() <= segs.len() && pat.iter().zip(&segs).all(|(p, s)| *p == "*" || p == s)
    })
}

pub(super) fn compare(
    expected: &Value,
    actual: &Value,
    path: &str,
    key: &str,
    ctx: &Cmp,
    out: &mut Vec<String>,
) {
    let ignore = ctx.ignore;
    if ignored(path, ignore) {
        return;
    }
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let p = format!("{path}/{k}");
                match a.get(k) {
                    Some(av) => compare(ev, av, &p, k, ctx, out),
                    None if ignored(&p, ignore) => {}
                    None => out.push(format!("{p}: missing (recorded {ev})")),
                }
            }
        }
        // Subset mode is about the list itself, not the arrays inside its entries.
        (Value::Array(e), Value::Array(a)) if ctx.subset && path == "/value" => {
            for (i, ev) in e.iter().enumerate() {
                let id = ev[ctx.key].as_str().unwrap_or_default();
                match a.iter().find(|av| {
                    av[ctx.key]
                        .as_str()
                        .is_some_and(|x| x.eq_ignore_ascii_case(id))
                }) {
                    Some(av) => compare(ev, av, &format!("{path}/{i}"), key, ctx, out),
                    None => out.push(format!("{path}/{i}: no entry with {} {id}", ctx.key)),
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                out.push(format!("{path}: {} items, recorded {}", a.len(), e.len()));
                return;
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                compare(ev, av, &format!("{path}/{i}"), key, ctx, out);
            }
        }
        (e, a) => {
            let same_id = matches!((e.as_str(), a.as_str()), (Some(x), Some(y)) if x.starts_with('/') && x.eq_ignore_ascii_case(y));
            if e != a && !same_id && !is_volatile(key, e, a, ctx.request) {
                out.push(format!("{path}: {a}, recorded {e}"));
            }
        }
    }
}
