//! The HIPAA controls: the catalog as data. Pure code, no I/O.

pub mod catalog;
