//! Which Health Data Services resource a store names, what the workspace and the store expect
//! of it, and what was read for it.

use crate::azure::insights::{DesiredDiagnosticSetting, DiagnosticSetting};
use crate::azure::resources::{
    ArmResource, GET_DICOM, GET_FHIR, GET_HDS_WORKSPACE, PUT_DICOM, PUT_FHIR, PUT_HDS_WORKSPACE,
    api_version,
};
use crate::azure::types::ArmOp;
use crate::controls::setting::{Absent, Fix, Lit, Setting};

/// `publicNetworkAccess`: read-only in 2024-03-31, where Azure turns it off for the workspace
/// and every service in it once the workspace has an approved private endpoint.
const fn public_network(id: &'static str) -> Setting {
    Setting::new(
        id,
        "properties.publicNetworkAccess",
        &[Lit::Str("Disabled")],
    )
    .absent(Absent::Means(Lit::Str("Enabled")))
    .fix(Fix::ReadOnly)
}

const WORKSPACE_PUBLIC: Setting = public_network("ahds.workspace-public-network-disabled");
const FHIR_PUBLIC: Setting = public_network("fhir.public-network-disabled");
const DICOM_PUBLIC: Setting = public_network("dicom.public-network-disabled");
pub(super) const FHIR_VERSIONING: Setting = Setting::new(
    "fhir.resource-versioning",
    "properties.resourceVersionPolicyConfiguration.default",
    &[Lit::Str("versioned"), Lit::Str("versioned-update")],
)
.absent(Absent::Means(Lit::Str("versioned")));

/// Which Health Data Services resource a store names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Workspace,
    Fhir,
    Dicom,
}

impl Service {
    fn prefix(self) -> &'static str {
        match self {
            Service::Workspace => "ahds",
            Service::Fhir => "fhir",
            Service::Dicom => "dicom",
        }
    }
    /// The service's controls that one property decides, declared once for evaluation and
    /// the read-modify-write.
    pub(crate) fn settings(self) -> &'static [Setting] {
        match self {
            Service::Workspace => &[WORKSPACE_PUBLIC],
            Service::Fhir => &[FHIR_PUBLIC, FHIR_VERSIONING],
            Service::Dicom => &[DICOM_PUBLIC],
        }
    }
    pub(super) fn public_network(self) -> Setting {
        match self {
            Service::Workspace => WORKSPACE_PUBLIC,
            Service::Fhir => FHIR_PUBLIC,
            Service::Dicom => DICOM_PUBLIC,
        }
    }
    pub(super) fn ops(self) -> (ArmOp, ArmOp) {
        match self {
            Service::Workspace => (GET_HDS_WORKSPACE, PUT_HDS_WORKSPACE),
            Service::Fhir => (GET_FHIR, PUT_FHIR),
            Service::Dicom => (GET_DICOM, PUT_DICOM),
        }
    }
    pub(super) fn patch_op(self) -> ArmOp {
        let op = match self {
            Service::Workspace => "Workspaces_Update",
            Service::Fhir => "FhirServices_Update",
            Service::Dicom => "DicomServices_Update",
        };
        ArmOp::new(op, "Microsoft.HealthcareApis", api_version::HEALTHCARE)
    }
}

/// What the workspace and the store expect of one service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthExpectations {
    pub service: Service,
    pub resource_id: String,
    pub log_analytics_id: String,
    pub private_endpoint_groups: Vec<String>,
    /// The private DNS zones those endpoints must be registered in.
    pub endpoint_dns: crate::controls::common::EndpointDns,
    /// The versionless key URL the service must use (`https://{vault}/keys/{name}`).
    pub key_url: String,
    /// The organisation's Entra tenant, when known.
    pub tenant_id: Option<String>,
    /// Names and ids of the storage accounts that are governed PhiStores in the namespace.
    pub governed_storage: Vec<String>,
    pub classification_tag: (String, String),
}

impl HealthExpectations {
    pub fn diagnostics(&self) -> DesiredDiagnosticSetting {
        DesiredDiagnosticSetting {
            resource_id: self.resource_id.clone(),
            workspace_id: self.log_analytics_id.clone(),
            category_groups: vec![],
            categories: vec!["AuditLogs".into()],
        }
    }

    pub(super) fn governed(&self, target: &str) -> bool {
        let name = target.rsplit('/').next().unwrap_or(target);
        self.governed_storage
            .iter()
            .any(|g| g.eq_ignore_ascii_case(target) || g.eq_ignore_ascii_case(name))
    }
}

/// What was read for one service.
#[derive(Clone, Debug, PartialEq)]
pub struct HealthObservation {
    pub resource: ArmResource,
    pub diagnostics: Vec<DiagnosticSetting>,
    pub endpoints: crate::controls::common::SeenEndpoints,
}

pub(super) fn id(service: Service, control: &str) -> &'static str {
    // Every id used here is in the catalog; look it up to get a 'static str.
    crate::catalog::control(&format!("{}.{control}", service.prefix()))
        .map(|c| c.id)
        .unwrap_or_else(|| panic!("{}.{control} is not in the catalog", service.prefix()))
}
