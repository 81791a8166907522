//! The Health Data Services evaluator: the `ahds.*`, `fhir.*` and `dicom.*` controls of one
//! service, from what was read.

use serde_json::{Value, json};

use super::model::{FHIR_VERSIONING, HealthExpectations, HealthObservation, Service, id};
use crate::controls::common;
use crate::controls::finding::{Finding, Found};
use crate::controls::plan::at;

/// Catalog ids of these kinds that are not evaluated, and why.
pub const NOT_YET_EVALUATED: &[(&str, &str)] = &[
    (
        "apifhir.cmk",
        "Azure API for FHIR (Microsoft.HealthcareApis/services) is retiring; not a supported PhiStore kind",
    ),
    (
        "apifhir.private-link",
        "Azure API for FHIR (Microsoft.HealthcareApis/services) is retiring; not a supported PhiStore kind",
    ),
    (
        "apifhir.cors-restricted",
        "Azure API for FHIR (Microsoft.HealthcareApis/services) is retiring; not a supported PhiStore kind",
    ),
    (
        "apifhir.diag-audit-logs",
        "Azure API for FHIR (Microsoft.HealthcareApis/services) is retiring; not a supported PhiStore kind",
    ),
];

fn text<'a>(v: &'a Value, path: &str) -> Option<&'a str> {
    at(v, path).and_then(Value::as_str)
}

fn cors(service: Service, v: &Value) -> Finding {
    let origins: Vec<&str> = at(v, "properties.corsConfiguration.origins")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let credentials = at(v, "properties.corsConfiguration.allowCredentials")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let wildcard = origins.contains(&"*");
    Finding::check(
        id(service, "cors-restricted"),
        !wildcard,
        "no * origin (an allow-list, or none)",
        format!(
            "origins [{}], allowCredentials={credentials}",
            origins.join(", ")
        ),
    )
}

/// Evaluates the controls of `expect.service`.
pub fn evaluate(expect: &HealthExpectations, obs: &HealthObservation) -> Vec<Finding> {
    let service = expect.service;
    let v = json!({ "properties": obs.resource.properties });
    let parsed = crate::azure::id::ArmId::parse(&expect.resource_id).ok();
    let workspace = parsed
        .as_ref()
        .and_then(|i| i.value_of("workspaces"))
        .unwrap_or("<workspace>");
    let public_finding = service
        .public_network()
        .evaluate(&v)
        .with_next_step(match service {
        Service::Workspace => "Azure turns public access off once this workspace has an approved private endpoint (read-only in api-version 2024-03-31): set spec.privateEndpoint.groupIds [healthcareworkspace] on this PhiStore and the operator creates one in Enforce mode (ahds.workspace-private-endpoint)".to_string(),
        _ => format!(
            "Azure turns public access off once workspace {workspace} has an approved private endpoint (read-only in api-version 2024-03-31): declare that workspace as a PhiStore (kind HealthDataWorkspace, spec.privateEndpoint.groupIds [healthcareworkspace]) and the operator creates one in Enforce mode"
        ),
    });
    let tag = common::classification_tag(
        obs.resource.tags.as_ref(),
        (&expect.classification_tag.0, &expect.classification_tag.1),
    );
    if service == Service::Workspace {
        return vec![
            public_finding,
            common::private_endpoint(
                "ahds.workspace-private-endpoint",
                &v,
                &obs.endpoints,
                &expect.private_endpoint_groups,
                &expect.endpoint_dns,
            ),
            tag,
        ];
    }
    let key = text(
        &v,
        "properties.encryption.customerManagedKeyEncryption.keyEncryptionKeyUrl",
    );
    let cmk = Finding::check(
        id(service, "cmk"),
        key.is_some_and(|k| {
            k.trim_end_matches('/')
                .eq_ignore_ascii_case(expect.key_url.trim_end_matches('/'))
        }),
        format!("{} (versionless, in the workspace vault)", expect.key_url),
        key.unwrap_or("service-managed keys"),
    );
    let mut out = vec![
        public_finding,
        cmk,
        cors(service, &v),
        common::diagnostics(
            id(service, "diag-audit-logs"),
            &obs.diagnostics,
            &expect.diagnostics(),
        ),
    ];
    match service {
        Service::Fhir => {
            let authority =
                text(&v, "properties.authenticationConfiguration.authority").unwrap_or("");
            let smart = at(
                &v,
                "properties.authenticationConfiguration.smartIdentityProviders",
            )
            .and_then(Value::as_array)
            .map(Vec::len)
            .unwrap_or(0);
            out.push(match &expect.tenant_id {
                None => Finding::new(
                    "fhir.authn-tenant",
                    Found::NotApplicable,
                    "the organisation's tenant",
                    authority,
                )
                .with_message("the organisation's tenant is not known: set the workspace's spec.identity.tenantId"),
                Some(tenant) => {
                    let own = authority
                        .trim_end_matches('/')
                        .trim_end_matches("/v2.0")
                        .to_ascii_lowercase()
                        .ends_with(&format!("/{}", tenant.to_ascii_lowercase()));
                    Finding::check(
                        "fhir.authn-tenant",
                        own && smart == 0,
                        format!("authority in tenant {tenant}, no third-party SMART identity providers"),
                        format!("authority {authority}, {smart} SMART identity providers"),
                    )
                }
            });
            out.push(FHIR_VERSIONING.evaluate(&v));
            let targets: Vec<String> = [
                text(&v, "properties.exportConfiguration.storageAccountName"),
                text(&v, "properties.importConfiguration.integrationDataStore"),
            ]
            .into_iter()
            .flatten()
            .filter(|t| !t.is_empty() && !expect.governed(t))
            .map(str::to_string)
            .chain(
                at(&v, "properties.acrConfiguration.loginServers")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(|s| format!("{s} (container registry)")),
            )
            .collect();
            out.push(Finding::check(
                "fhir.data-movement-targets",
                targets.is_empty(),
                "export and import targets are governed PhiStores (or none)",
                if targets.is_empty() {
                    "none outside governed stores".into()
                } else {
                    format!("ungoverned: {}", targets.join(", "))
                },
            ));
        }
        Service::Dicom => {
            let target =
                text(&v, "properties.storageConfiguration.storageResourceId").unwrap_or("");
            out.push(
                Finding::check(
                    "dicom.storage-target",
                    target.is_empty() || expect.governed(target),
                    "managed storage, or a storage account that is a governed PhiStore",
                    if target.is_empty() {
                        "managed storage"
                    } else {
                        target
                    },
                )
                .with_message(
                    "declare the external storage account as a PhiStore so its controls are kept",
                ),
            );
        }
        Service::Workspace => {}
    }
    out.push(tag);
    out
}
