//! End-to-end tests of the `colony` binary, each in a temporary git
//! repository of its own (see [`repo::TestRepo`]). Output is checked with
//! insta snapshots under `snapshots/`, times and paths filtered out.

mod plans;
mod postgres;
mod refused;
mod repo;
mod setup;
mod steer;
