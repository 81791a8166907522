//! hipaa-operator: keeps the Azure resources that hold PHI configured as the HIPAA Security Rule
//! expects, and reports every control in the status of Kubernetes objects.

pub mod api;
pub mod azure;
pub mod catalog;
pub mod config;
pub mod controller;
pub mod controls;
pub mod fingerprint;
pub mod metrics;
pub mod runtime;
