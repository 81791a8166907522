//! The controllers: one per kind, each a pipeline observe → evaluate → plan → apply → report.

pub mod report;
