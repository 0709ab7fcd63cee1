//! Files and directories over io_uring for coring.
//!
//! This crate holds no unsafe code; every kernel op lives in
//! `coring-runtime`'s `op` module. It fills up in the fs issue.
#![forbid(unsafe_code)]
