//! The controllers: one per kind, each a pipeline observe → evaluate → plan → apply → report.

pub mod apply;
pub mod azure_access;
pub mod context;
pub mod drift;
pub mod phistore;
pub mod pipeline;
pub mod report;
pub mod review;
pub mod trust;
pub mod workspace;

pub use context::Context;
