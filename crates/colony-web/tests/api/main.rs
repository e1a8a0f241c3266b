//! The API over real HTTP on a loopback port, against a real SQLite store
//! in a temporary repository. Tests wait for what they expect (an event,
//! a status) rather than for time to pass.

mod answer;
mod control;
mod events;
mod hosts;
mod reads;
mod report;
mod support;
