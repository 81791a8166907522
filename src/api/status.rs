//! Status building blocks: the conditions list and the controls list as Kubernetes map-lists.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::{Schema, SchemaGenerator, json_schema};

use super::common::ControlStatus;

/// Conditions as `meta/v1` Conditions, one per `type`.
pub type Conditions = Vec<Condition>;

/// A list schema keyed by `keys` (`x-kubernetes-list-type: map`), so server-side apply merges
/// entries by key and the API server rejects two entries with the same key.
fn map_list(
    generator: &mut SchemaGenerator,
    items: Schema,
    keys: &[&str],
    description: &str,
) -> Schema {
    let _ = generator;
    json_schema!({
        "type": "array",
        "description": description,
        "items": items,
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": keys,
    })
}

/// Schema of `status.conditions`: a map-list of Conditions keyed by `type`.
pub fn conditions_merge(generator: &mut SchemaGenerator) -> Schema {
    let items = generator.subschema_for::<Condition>();
    map_list(
        generator,
        items,
        &["type"],
        "Current state, one condition per type: Ready and one per safeguard family.",
    )
}

/// Schema of `status.controls`: a map-list of control evidence keyed by `id`.
pub fn controls_merge(generator: &mut SchemaGenerator) -> Schema {
    let items = generator.subschema_for::<ControlStatus>();
    map_list(
        generator,
        items,
        &["id"],
        "One entry per control: id, state, expected and observed values, HIPAA citations, since when.",
    )
}
