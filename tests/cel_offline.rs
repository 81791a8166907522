//! The CRDs' CEL rules, run offline with kube's CEL validator on the same objects the API
//! server tests use: every example passes, every CEL-rejected object fails with its field.

mod support;

use hipaa_operator::api::{AccessReview, HipaaWorkspace, PhiStore};
use kube::CustomResourceExt;
use kube::core::cel::{ErrorKind, Validator};
use serde_json::Value;

/// The openAPIV3Schema of the CRD for an object's kind.
fn schema_for(object: &Value) -> Value {
    let crd = match object["kind"].as_str() {
        Some("HipaaWorkspace") => HipaaWorkspace::crd(),
        Some("PhiStore") => PhiStore::crd(),
        Some("AccessReview") => AccessReview::crd(),
        other => panic!("no CRD for kind {other:?}"),
    };
    let schema = crd.spec.versions[0]
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .expect("openAPIV3Schema");
    serde_json::to_value(schema).expect("schema as JSON")
}

#[test]
fn every_example_passes_every_rule() {
    let examples = support::examples();
    assert!(
        examples.len() >= 8,
        "a workspace, a store per kind and a review"
    );
    for (file, object) in examples {
        let result = Validator::new().validate(&schema_for(&object), &object, None);
        assert!(result.is_ok(), "{file} fails CEL validation: {result:?}");
        // Unchanged objects must also pass the transition rules (immutability).
        let result = Validator::new().validate(&schema_for(&object), &object, Some(&object));
        assert!(
            result.is_ok(),
            "{file} fails CEL transition rules against itself: {result:?}"
        );
    }
}

#[test]
fn every_example_deserializes_into_its_typed_resource() {
    for (file, object) in support::examples() {
        let ok = match object["kind"].as_str() {
            Some("HipaaWorkspace") => {
                serde_json::from_value::<HipaaWorkspace>(object.clone()).is_ok()
            }
            Some("PhiStore") => serde_json::from_value::<PhiStore>(object.clone()).is_ok(),
            Some("AccessReview") => serde_json::from_value::<AccessReview>(object.clone()).is_ok(),
            _ => false,
        };
        assert!(
            ok,
            "{file} does not deserialize into a hipaa-operator.io kind"
        );
    }
}

#[test]
fn cel_rejects_each_invalid_object_naming_the_field() {
    let cases: Vec<_> = support::invalid::cases()
        .into_iter()
        .filter(|c| c.cel)
        .collect();
    assert!(cases.len() >= 15, "the table keeps at least 15 CEL cases");
    for case in cases {
        let valid = support::example(case.example);
        let mut invalid = valid.clone();
        (case.mutate)(&mut invalid);
        let old = case.update.then_some(&valid);
        let errors = Validator::new()
            .validate(&schema_for(&invalid), &invalid, old)
            .err()
            .unwrap_or_else(|| panic!("{}: accepted offline", case.name));
        assert!(
            errors
                .iter()
                .all(|e| e.kind == ErrorKind::ValidationFailure),
            "{}: a rule could not be evaluated offline: {errors:?}",
            case.name
        );
        assert!(
            errors
                .iter()
                // A rule on the whole object: the API server says `<nil>`, kube's validator "".
                .any(|e| (e.field_path == case.field
                    || (case.field == "<nil>" && e.field_path.is_empty()))
                    && e.message.contains(case.says)),
            "{}: expected {} to say {:?}, got {errors:?}",
            case.name,
            case.field,
            case.says
        );
    }
}
