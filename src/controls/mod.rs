//! The HIPAA controls: the catalog as data plus one evaluator per resource kind. Pure code, no
//! I/O: evaluators take what was read from Azure and return findings; planners turn findings
//! into the fewest Azure writes.

pub mod access;
pub mod catalog;
pub mod common;
pub mod cosmos;
pub mod finding;
pub mod healthdata;
pub mod keyvault;
pub mod plan;
pub mod sql;
pub mod storage;
pub mod workspace;

pub use finding::{Finding, Found};
