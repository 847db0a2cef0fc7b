#![doc = include_str!("../README.md")]

mod admin;
pub mod akto;
mod auth;
pub mod clock;
pub mod dataverse;
mod emulator;
pub mod entra;
pub mod entra_device;
pub mod environments;
pub mod faults;
pub mod generate;
pub mod graph;
mod handles;
pub mod identity;
pub mod inventory;
pub mod kql;
mod rng;
pub mod security_copilot;
pub mod throttle;

pub use admin::ADMIN_BODY_LIMIT;
pub use emulator::{
    Credentials, DEFAULT_GRAPH_ROLES, Emulator, EmulatorBuilder, EmulatorError,
    MAX_GENERATED_PER_REQUEST, RunningEmulator,
};
pub use handles::EmulatorUrls;
