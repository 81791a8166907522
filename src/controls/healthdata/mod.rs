//! Azure Health Data Services: the workspace (`ahds.*`), FHIR (`fhir.*`) and DICOM (`dicom.*`)
//! services. In api-version 2024-03-31 their PATCH takes only tags and identity, so every
//! property change is a read-modify-write PUT with `If-Match` ([`ArmWrite::Merge`](crate::controls::plan::ArmWrite::Merge)), and
//! `publicNetworkAccess` is read-only (reported, never written). Pure.

mod evaluate;
mod model;
mod remediate;

pub use evaluate::{NOT_YET_EVALUATED, evaluate};
pub use model::{HealthExpectations, HealthObservation, Service};
pub use remediate::plan;

#[cfg(test)]
pub(crate) mod tests;
