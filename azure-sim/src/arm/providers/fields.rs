//! Helpers that fill the read-only and default fields providers add to a resource body.

use serde_json::{Value, json};

use crate::state::Resource;

pub(super) fn ensure_props(body: &mut Value) {
    if !body["properties"].is_object() {
        body["properties"] = json!({});
    }
}

pub(super) fn default(props: &mut Value, key: &str, v: Value) {
    if props.get(key).is_none_or(Value::is_null) {
        props[key] = v;
    }
}

pub(super) fn keep(props: &mut Value, old: Option<&Resource>, key: &str, fresh: Value) {
    props[key] = old
        .map(|o| o.body["properties"][key].clone())
        .filter(|v| !v.is_null())
        .unwrap_or(fresh);
}
