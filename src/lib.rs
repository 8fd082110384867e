//! depwait holds a Kubernetes pod's startup until the things it depends on are really Ready,
//! then gets out of the way at once. It watches; it never polls.
//!
//! The pipeline, in the order a wait runs it: [`cli`] → [`config`] → [`plan`] (credentials,
//! what host names mean) → [`restart`] (the guard) → [`sources`] (watchers and probes) →
//! [`aggregate`] (one `Board`, released when all are ready) → [`report`], [`events`], [`exit`].
//! [`run`] ([`wait`]) is that sequence in one screen. [`graph`] is a pipeline of its own: what
//! a cluster's gates add up to. Which module does what is the README's
//! Layout; each module's own docs say why it is so.

#![warn(missing_docs)]

pub mod access;
pub mod aggregate;
pub mod api_error;
pub mod check;
pub mod cli;
pub mod client;
pub mod config;
pub mod connect_gate;
pub mod credentials;
pub mod deadline;
pub mod dependency;
pub mod events;
pub mod exit;
pub mod files;
pub mod graph;
pub mod kinds;
pub mod names;
pub mod output;
pub mod plan;
pub mod probe;
pub mod rbac;
pub mod readiness;
pub mod report;
pub mod restart;
pub mod selector;
pub mod shutdown;
pub mod slim;
pub mod sources;
pub mod telemetry;
pub mod text;
pub mod tls;
pub mod wait;
pub mod watch;

pub use wait::run;
