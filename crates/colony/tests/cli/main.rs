//! End-to-end tests of the `colony` binary, each in a temporary git
//! repository of its own (see [`repo::TestRepo`]). Output is checked with
//! insta snapshots under `snapshots/`, times and paths filtered out. Runs
//! use the fake agent built beside `colony` (`COLONY_FAKE_AGENT` points at
//! it).

mod agents;
mod background;
mod conformance;
mod crash;
mod daemons;
mod detach;
mod disk_full;
mod escapes;
mod failures;
mod flood;
mod followups;
mod hostile;
mod hosts;
mod land;
mod limits;
mod live;
mod lost_store;
mod mcp;
mod notify;
mod planner;
mod plans;
mod ports;
mod postgres;
mod pr_fixes;
mod project;
mod prompts;
mod pull_requests;
mod refused;
mod repo;
mod report;
mod review;
mod roles;
mod run;
mod sandbox;
mod serve;
mod setup;
mod steer;
mod talk;
mod worker;
