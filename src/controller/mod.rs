//! The controllers: one per kind, each a pipeline observe → evaluate → plan → apply → report.

pub mod azure_access;
pub mod context;
pub mod phistore;
pub mod pipeline;
pub mod report;

pub use context::Context;
