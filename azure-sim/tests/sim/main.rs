//! End-to-end tests of the simulator over HTTPS on 127.0.0.1, one binary for all scenarios.

mod common;

mod admin;
mod alerts;
mod arm_basics;
mod auth;
mod bad_input;
mod cli;
mod conformance;
mod contract;
mod drift;
mod entra;
mod keyvault;
mod locks;
mod logs;
mod lro;
mod network;
mod persistence;
mod rbac;
mod sdk;
mod security;
mod sql;
mod storage;
