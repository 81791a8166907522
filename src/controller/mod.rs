//! The controllers: one per kind, each a pipeline observe → evaluate → plan → execute → report.
//! Only [`execute`] writes to Azure or creates objects; [`intent`] is the plan it takes.

pub mod azure_access;
pub mod context;
pub mod drift;
pub mod execute;
pub mod grants;
pub mod intent;
pub mod observe;
pub mod phistore;
pub mod pipeline;
pub mod preview;
pub mod report;
pub mod review;
pub mod sweep;
pub mod trust;
pub mod workspace;

pub use context::Context;
