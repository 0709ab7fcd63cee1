//! Sockets over io_uring for coring: TCP, UDP and Unix sockets.
//!
//! This crate holds no unsafe code; every kernel op lives in
//! `coring-runtime`'s `op` module. It fills up in the net issue.
#![forbid(unsafe_code)]
