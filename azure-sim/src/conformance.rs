//! Request conformance: in strict mode every request body is checked against Azure's published
//! model for its operation and api-version before any handler sees it.
//!
//! The models are `conformance/models.json`, extracted from Azure/azure-rest-api-specs by
//! `scripts/conformance/extract.py` (see the README). A body that carries a property the model
//! does not have, a property the model marks `readOnly`, an enum value outside the model, a value
//! of the wrong JSON type, or that lacks a required property is refused with HTTP 400 and the
//! simulator-only code [`CODE`]: real Azure would answer differently (or silently ignore the
//! property), and the simulator's job is to make the test that sent it fail.
//!
//! Requests to operations without a model pass unchecked; [`Models::operations`] lists those
//! that have one.

use std::sync::OnceLock;

use axum::http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::errors::ArmError;
use crate::http::Req;

/// The error code of a refused nonconformant request. Azure never sends it.
pub const CODE: &str = "SimulatorNonconformantRequest";

/// The models as committed, compiled into the simulator.
const MODELS_JSON: &str = include_str!("../conformance/models.json");

/// How strictly the simulator checks request bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strictness {
    /// Every rule (the default: tests run like this).
    #[default]
    Strict,
    /// No check at all, for a person exploring the simulator by hand.
    Off,
}

/// Which API a request went to: Resource Manager or a vault's data plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Plane {
    Arm,
    KeyVault,
}

/// Where an operation's model came from.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    pub file: String,
    pub commit: String,
}

/// One operation with a request body.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    pub operation_id: String,
    pub provider: String,
    pub api_version: String,
    pub plane: Plane,
    pub method: String,
    /// The swagger path template, e.g. `/{resourceUri}/providers/Microsoft.Insights/...`.
    pub path: String,
    /// Path parameters that span several segments (`x-ms-skip-url-encoding`: scopes, ids).
    #[serde(default)]
    pub multi_segment_params: Vec<String>,
    pub body: Value,
    pub source: Source,
    /// Why this operation's model departs from the swagger, when it does.
    #[serde(default)]
    pub exception: Option<String>,
}

/// All extracted models.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Models {
    pub spec_repository: String,
    pub operations: Vec<Operation>,
    pub definitions: Map<String, Value>,
}

/// One broken rule at one place in the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// A JSON path such as `$.properties.logs[0].category`.
    pub path: String,
    /// `unknownProperty`, `readOnly`, `enum`, `required` or `type`.
    pub rule: &'static str,
    pub detail: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} [{}]: {}", self.path, self.rule, self.detail)
    }
}

/// The committed models, parsed once.
pub fn models() -> &'static Models {
    static MODELS: OnceLock<Models> = OnceLock::new();
    MODELS.get_or_init(|| {
        serde_json::from_str(MODELS_JSON).expect("azure-sim/conformance/models.json parses")
    })
}

/// The deepest `$ref` chain followed before giving up (models are finite; this bounds a cycle).
const MAX_DEPTH: usize = 64;

impl Models {
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The operation a request addresses, by plane, method, api-version and path template.
    pub fn find(
        &self,
        plane: Plane,
        method: &Method,
        api_version: &str,
        path: &str,
    ) -> Option<&Operation> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        self.operations.iter().find(|op| {
            op.plane == plane
                && op.method.eq_ignore_ascii_case(method.as_str())
                && op.api_version.eq_ignore_ascii_case(api_version)
                && template_matches(&op.path, &op.multi_segment_params, &segments)
        })
    }

    /// Every violation of `op`'s body model by `body`.
    pub fn validate(&self, op: &Operation, body: &Value) -> Vec<Violation> {
        let mut out = Vec::new();
        self.check(&op.body, body, "$", &mut out, 0);
        out
    }

    /// Whether the property at a dotted path (`properties.provisioningState`) of `op`'s body is
    /// readOnly in the model (a property under a readOnly one is too); `None` when the model has
    /// no property there.
    pub fn read_only_at(&self, op: &Operation, dotted: &str) -> Option<bool> {
        let mut schema = &op.body;
        let segments: Vec<&str> = dotted.split('.').collect();
        for (i, segment) in segments.iter().enumerate() {
            let prop = self.resolve(schema).get("properties")?.get(*segment)?;
            if self.read_only(prop) {
                return Some(true);
            }
            if i + 1 == segments.len() {
                return Some(false);
            }
            schema = prop;
        }
        None
    }

    /// Follows `$ref`s to the schema they name.
    fn resolve<'a>(&'a self, mut schema: &'a Value) -> &'a Value {
        for _ in 0..MAX_DEPTH {
            match schema.get("$ref").and_then(Value::as_str) {
                Some(key) => match self.definitions.get(key) {
                    Some(s) => schema = s,
                    None => return &Value::Null,
                },
                None => return schema,
            }
        }
        &Value::Null
    }

    /// Whether a property's schema (or any definition its refs lead to) is readOnly.
    fn read_only<'a>(&'a self, mut schema: &'a Value) -> bool {
        for _ in 0..MAX_DEPTH {
            if schema.get("readOnly").and_then(Value::as_bool) == Some(true) {
                return true;
            }
            match schema.get("$ref").and_then(Value::as_str) {
                Some(key) => match self.definitions.get(key) {
                    Some(s) => schema = s,
                    None => return false,
                },
                None => return false,
            }
        }
        false
    }

    fn check(
        &self,
        schema: &Value,
        value: &Value,
        path: &str,
        out: &mut Vec<Violation>,
        depth: usize,
    ) {
        if depth > MAX_DEPTH {
            return;
        }
        let schema = self.resolve(schema);
        if value.is_null() {
            // JSON merge-patch removes a property with null; nullness is not what the models say.
            return;
        }
        if let Some(t) = schema.get("type").and_then(Value::as_str)
            && !type_matches(t, value)
        {
            out.push(Violation {
                path: path.to_string(),
                rule: "type",
                detail: format!("expected {t}, got {}", json_type(value)),
            });
            return;
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
            && !enum_allows(allowed, value)
        {
            out.push(Violation {
                path: path.to_string(),
                rule: "enum",
                detail: format!("{value} is not one of {}", Value::Array(allowed.clone())),
            });
        }
        match value {
            Value::Array(items) => {
                if let Some(item) = schema.get("items") {
                    for (i, v) in items.iter().enumerate() {
                        self.check(item, v, &format!("{path}[{i}]"), out, depth + 1);
                    }
                }
            }
            Value::Object(map) => self.check_object(schema, map, path, out, depth),
            _ => {}
        }
    }

    fn check_object(
        &self,
        schema: &Value,
        map: &Map<String, Value>,
        path: &str,
        out: &mut Vec<Violation>,
        depth: usize,
    ) {
        // A discriminated base: the value's discriminator picks the variant's model.
        if let (Some(prop), Some(variants)) = (
            schema.get("discriminator").and_then(Value::as_str),
            schema.get("variants").and_then(Value::as_object),
        ) && let Some(kind) = map.get(prop).and_then(Value::as_str)
            && let Some(variant) = variants.get(kind)
        {
            let variant = self.resolve(variant);
            if !std::ptr::eq(variant, schema) {
                return self.check_object(variant, map, path, out, depth + 1);
            }
        }
        let empty = Map::new();
        let properties = schema
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let additional = schema.get("additionalProperties");
        // An object model with neither properties nor additionalProperties says nothing about
        // its members: any object conforms.
        let closed = !properties.is_empty() && additional.is_none();
        for (key, v) in map {
            let here = member_path(path, key);
            match properties.get(key) {
                Some(prop) => {
                    if self.read_only(prop) {
                        out.push(Violation {
                            path: here,
                            rule: "readOnly",
                            detail:
                                "the model marks this property readOnly; clients must not send it"
                                    .into(),
                        });
                    } else {
                        self.check(prop, v, &here, out, depth + 1);
                    }
                }
                None => match additional {
                    Some(Value::Bool(true)) => {}
                    Some(Value::Bool(false)) => out.push(unknown(here, properties)),
                    Some(s @ Value::Object(_)) => self.check(s, v, &here, out, depth + 1),
                    _ if closed => out.push(unknown(here, properties)),
                    _ => {}
                },
            }
        }
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for name in required.iter().filter_map(Value::as_str) {
                let read_only = properties.get(name).is_some_and(|p| self.read_only(p));
                if !read_only && !map.contains_key(name) {
                    out.push(Violation {
                        path: member_path(path, name),
                        rule: "required",
                        detail: "the model requires this property".into(),
                    });
                }
            }
        }
    }
}

/// Whether an enum admits a value. A numeric model may list its values as strings (SQL's
/// `diffBackupIntervalInHours` is `type: integer` with `enum: ["12", "24"]`); Azure's code
/// generators read those as the numbers they spell, and so does this check.
fn enum_allows(allowed: &[Value], value: &Value) -> bool {
    allowed.contains(value)
        || (value.is_number()
            && allowed
                .iter()
                .any(|a| a.as_str() == Some(value.to_string().as_str())))
}

fn unknown(path: String, properties: &Map<String, Value>) -> Violation {
    let known: Vec<&str> = properties.keys().map(String::as_str).collect();
    Violation {
        path,
        rule: "unknownProperty",
        detail: format!(
            "the model has no such property (it has: {})",
            known.join(", ")
        ),
    }
}

fn member_path(path: &str, key: &str) -> String {
    if key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        && !key.is_empty()
    {
        format!("{path}.{key}")
    } else {
        format!("{path}[{}]", Value::String(key.to_string()))
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        // `file` and anything unknown: not ours to judge.
        _ => true,
    }
}

/// Whether a swagger path template matches a request path's segments. Literal segments compare
/// case-insensitively (as ARM does); `{p}` matches one segment, or one or more when `p` is a
/// multi-segment parameter (a scope or resource id).
fn template_matches(template: &str, multi: &[String], segments: &[&str]) -> bool {
    let parts: Vec<&str> = template.trim_matches('/').split('/').collect();
    matches_from(&parts, multi, segments)
}

fn matches_from(parts: &[&str], multi: &[String], segments: &[&str]) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        return segments.is_empty();
    };
    let param = first
        .strip_prefix('{')
        .and_then(|p| p.strip_suffix('}'))
        .filter(|p| !p.contains('{'));
    match param {
        Some(name) if multi.iter().any(|m| m == name) => {
            // Longest first, so a scope keeps as many segments as the rest of the template allows.
            (1..=segments.len())
                .rev()
                .any(|n| matches_from(rest, multi, &segments[n..]))
        }
        Some(_) => {
            segments.first().is_some_and(|s| !s.is_empty())
                && matches_from(rest, multi, &segments[1..])
        }
        None => {
            segments
                .first()
                .is_some_and(|s| s.eq_ignore_ascii_case(first))
                && matches_from(rest, multi, &segments[1..])
        }
    }
}

/// Checks a request against the models when strict mode is on. Requests without a JSON object
/// or array body, and operations without a model, pass: the handlers judge those as Azure does.
pub fn check(
    strictness: Strictness,
    models: &Models,
    plane: Plane,
    req: &Req,
) -> Result<(), ArmError> {
    if strictness == Strictness::Off
        || !matches!(req.method, Method::PUT | Method::PATCH | Method::POST)
        || req.body.is_empty()
    {
        return Ok(());
    }
    let Some(api_version) = req.query("api-version") else {
        return Ok(());
    };
    let Some(op) = models.find(plane, &req.method, api_version, &req.path) else {
        return Ok(());
    };
    let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
        return Ok(());
    };
    let violations = models.validate(op, &body);
    if violations.is_empty() {
        return Ok(());
    }
    Err(refusal(op, &violations))
}

/// The 400 a nonconformant request gets.
pub fn refusal(op: &Operation, violations: &[Violation]) -> ArmError {
    let listed: Vec<String> = violations.iter().map(Violation::to_string).collect();
    let message = format!(
        "azure-sim strict conformance: the {} body of {} ({} api-version {}) does not conform to the published model ({} at {}): {}",
        op.method,
        op.operation_id,
        op.provider,
        op.api_version,
        op.source.file,
        op.source.commit,
        listed.join("; ")
    );
    ArmError::new(StatusCode::BAD_REQUEST, CODE, message).with_target(
        violations
            .first()
            .map(|v| v.path.clone())
            .unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn models() -> Models {
        Models::parse(
            &json!({
                "specRepository": "test",
                "operations": [{
                    "operationId": "Things_CreateOrUpdate",
                    "provider": "Microsoft.Test",
                    "apiVersion": "2024-01-01",
                    "plane": "arm",
                    "method": "PUT",
                    "path": "/{scope}/providers/Microsoft.Test/things/{thingName}",
                    "multiSegmentParams": ["scope"],
                    "body": {"$ref": "t.json#Thing"},
                    "source": {"file": "t.json", "commit": "0000"}
                }],
                "definitions": {
                    "t.json#Thing": {
                        "type": "object",
                        "properties": {
                            "id": {"type": "string", "readOnly": true},
                            "properties": {"$ref": "t.json#ThingProperties"},
                            "tags": {"type": "object", "additionalProperties": {"type": "string"}},
                            "anything": {"type": "object"},
                            "systemData": {"$ref": "t.json#SystemData", "readOnly": true}
                        },
                        "required": ["properties", "id"]
                    },
                    "t.json#SystemData": {"type": "object", "properties": {"createdBy": {"type": "string"}}},
                    "t.json#ThingProperties": {
                        "type": "object",
                        "properties": {
                            "mode": {"type": "string", "enum": ["On", "Off"]},
                            "count": {"type": "integer"},
                            "state": {"type": "string", "readOnly": true},
                            "rules": {"type": "array", "items": {"$ref": "t.json#Rule"}},
                            "settings": {"type": "object", "additionalProperties": true},
                            "shape": {"$ref": "t.json#Shape"}
                        },
                        "required": ["mode"]
                    },
                    "t.json#Rule": {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string"},
                            "provisioningState": {"type": "string", "readOnly": true}
                        },
                        "required": ["name"]
                    },
                    "t.json#Shape": {
                        "type": "object",
                        "discriminator": "kind",
                        "properties": {"kind": {"type": "string"}},
                        "required": ["kind"],
                        "variants": {"Circle": {"$ref": "t.json#Circle"}}
                    },
                    "t.json#Circle": {
                        "type": "object",
                        "properties": {"kind": {"type": "string"}, "radius": {"type": "number"}},
                        "required": ["kind", "radius"]
                    }
                }
            })
            .to_string(),
        )
        .expect("test models parse")
    }

    fn violations(body: Value) -> Vec<(String, &'static str)> {
        let m = models();
        let op = &m.operations[0];
        m.validate(op, &body)
            .into_iter()
            .map(|v| (v.path, v.rule))
            .collect()
    }

    #[test]
    fn a_conformant_body_passes() {
        assert_eq!(
            violations(json!({
                "properties": {
                    "mode": "On",
                    "count": 3,
                    "rules": [{"name": "a"}],
                    "settings": {"free": {"form": 1}},
                    "shape": {"kind": "Circle", "radius": 1.5}
                },
                "tags": {"team": "phi"},
                "anything": {"x": [1, 2]}
            })),
            vec![]
        );
    }

    #[test]
    fn an_unknown_property_is_named_by_its_path() {
        assert_eq!(
            violations(json!({"properties": {"mode": "On", "colour": "red"}})),
            vec![("$.properties.colour".to_string(), "unknownProperty")]
        );
    }

    #[test]
    fn a_read_only_property_is_refused_at_any_depth() {
        assert_eq!(
            violations(json!({"id": "/x", "properties": {"mode": "On", "state": "Ready"}})),
            vec![
                ("$.id".to_string(), "readOnly"),
                ("$.properties.state".to_string(), "readOnly")
            ]
        );
    }

    #[test]
    fn a_read_only_reference_is_refused() {
        assert_eq!(
            violations(json!({"properties": {"mode": "On"}, "systemData": {"createdBy": "me"}})),
            vec![("$.systemData".to_string(), "readOnly")]
        );
    }

    #[test]
    fn an_enum_value_outside_the_model_is_refused() {
        assert_eq!(
            violations(json!({"properties": {"mode": "Maybe"}})),
            vec![("$.properties.mode".to_string(), "enum")]
        );
    }

    #[test]
    fn a_missing_required_property_is_refused_but_not_a_read_only_one() {
        // `id` is required and readOnly: a client cannot be asked to send it.
        assert_eq!(
            violations(json!({"tags": {}})),
            vec![("$.properties".to_string(), "required")]
        );
        assert_eq!(
            violations(json!({"properties": {"count": 1}})),
            vec![("$.properties.mode".to_string(), "required")]
        );
    }

    #[test]
    fn array_items_are_checked_with_their_index() {
        assert_eq!(
            violations(json!({"properties": {"mode": "On", "rules": [
                {"name": "a"},
                {"provisioningState": "Succeeded", "nme": "b"}
            ]}})),
            vec![
                ("$.properties.rules[1].nme".to_string(), "unknownProperty"),
                (
                    "$.properties.rules[1].provisioningState".to_string(),
                    "readOnly"
                ),
                ("$.properties.rules[1].name".to_string(), "required"),
            ]
        );
    }

    #[test]
    fn open_maps_take_any_key_but_check_the_values() {
        assert_eq!(
            violations(json!({"properties": {"mode": "On"}, "tags": {"a b": "c", "n": 1}})),
            vec![("$.tags.n".to_string(), "type")]
        );
    }

    #[test]
    fn a_numeric_enum_written_as_strings_admits_the_numbers_it_spells() {
        let allowed = [json!("12"), json!("24")];
        assert!(enum_allows(&allowed, &json!(12)));
        assert!(enum_allows(&allowed, &json!("24")));
        assert!(!enum_allows(&allowed, &json!(6)));
        assert!(!enum_allows(&[json!("On")], &json!("on")));
    }

    #[test]
    fn a_wrong_json_type_is_refused() {
        assert_eq!(
            violations(json!({"properties": {"mode": "On", "count": "three"}})),
            vec![("$.properties.count".to_string(), "type")]
        );
    }

    #[test]
    fn the_discriminator_picks_the_variant_model() {
        assert_eq!(
            violations(json!({"properties": {"mode": "On", "shape": {"kind": "Circle"}}})),
            vec![("$.properties.shape.radius".to_string(), "required")]
        );
    }

    #[test]
    fn null_removes_a_property_in_merge_patch_and_is_not_a_type_error() {
        assert_eq!(
            violations(json!({"properties": {"mode": "On", "count": null}})),
            vec![]
        );
    }

    #[test]
    fn read_only_at_follows_references_and_inherits_from_parents() {
        let m = models();
        let op = &m.operations[0];
        assert_eq!(m.read_only_at(op, "id"), Some(true));
        assert_eq!(m.read_only_at(op, "properties.state"), Some(true));
        assert_eq!(m.read_only_at(op, "properties.mode"), Some(false));
        assert_eq!(m.read_only_at(op, "systemData.createdBy"), Some(true));
        assert_eq!(m.read_only_at(op, "properties.nothing"), None);
        assert_eq!(m.read_only_at(op, "etag"), None);
    }

    #[test]
    fn operations_match_by_method_version_and_template() {
        let m = models();
        let path = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a/providers/Microsoft.Test/things/t1";
        let hit = m.find(Plane::Arm, &Method::PUT, "2024-01-01", path);
        assert_eq!(
            hit.map(|o| o.operation_id.as_str()),
            Some("Things_CreateOrUpdate")
        );
        assert!(
            m.find(Plane::Arm, &Method::PATCH, "2024-01-01", path)
                .is_none()
        );
        assert!(
            m.find(Plane::Arm, &Method::PUT, "2023-01-01", path)
                .is_none()
        );
        assert!(
            m.find(Plane::KeyVault, &Method::PUT, "2024-01-01", path)
                .is_none()
        );
        assert!(
            m.find(
                Plane::Arm,
                &Method::PUT,
                "2024-01-01",
                "/providers/Microsoft.Test/things/t1"
            )
            .is_none(),
            "a scope is at least one segment"
        );
    }

    #[test]
    fn the_refusal_names_operation_version_path_and_rule() {
        let m = models();
        let op = &m.operations[0];
        let v = m.validate(op, &json!({"properties": {"mode": "On", "state": "x"}}));
        let e = refusal(op, &v);
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.code, CODE);
        for needle in [
            "Things_CreateOrUpdate",
            "2024-01-01",
            "$.properties.state",
            "readOnly",
            "t.json",
        ] {
            assert!(e.message.contains(needle), "{needle} in {}", e.message);
        }
    }

    #[test]
    fn the_committed_models_parse_and_every_reference_resolves() {
        let m = super::models();
        assert!(!m.operations.is_empty());
        fn refs(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(o) => {
                    if let Some(r) = o.get("$ref").and_then(Value::as_str) {
                        out.push(r.to_string());
                    }
                    o.values().for_each(|x| refs(x, out));
                }
                Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
                _ => {}
            }
        }
        let mut all = Vec::new();
        for op in &m.operations {
            refs(&op.body, &mut all);
        }
        for d in m.definitions.values() {
            refs(d, &mut all);
        }
        for r in all {
            assert!(m.definitions.contains_key(&r), "dangling reference {r}");
        }
    }
}
