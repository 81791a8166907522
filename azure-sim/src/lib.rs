//! azure-sim: a stateful simulator of Azure Resource Manager, Microsoft Entra ID (token endpoint
//! and managed identity) and the Key Vault data plane, served over HTTPS on loopback.
//!
//! Start it in-process with [`start`] (tests) or through the `azure-sim` binary.

pub mod admin;
pub mod arm;
pub mod authz;
pub mod clock;
pub mod conformance;
pub mod entra;
pub mod errors;
pub mod faults;
pub mod http;
pub mod ids;
pub mod jwt;
pub mod keyvault;
pub mod lro;
pub mod reqlog;
pub mod seed;
pub mod server;
pub mod service;
pub mod state;
pub mod throttle;
pub mod tls;

pub use seed::Seed;
pub use server::{DEFAULT_TENANT, SimConfig, Simulator, StartError, start};
