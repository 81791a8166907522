//! The only code that talks to Azure: clouds, credentials, the HTTP pipeline, long-running
//! operations, the request budget, classified errors, typed models and idempotent verbs.

pub mod budget;
pub mod client;
pub mod cloud;
pub mod credential;
pub mod error;
pub mod lro;
pub mod transport;
pub mod types;

pub use client::{AzureClient, ClientSettings};
pub use cloud::Cloud;
pub use credential::Identity;
pub use error::{AzureError, ErrorClass};
pub mod authorization;
pub mod graph;
pub mod id;
pub mod insights;
pub mod keyvault;
pub mod locks;
pub mod network;
pub mod permissions;
pub mod readonly;
pub mod resources;
pub mod roles;
pub mod security;
pub mod storage;
