//! A local, deterministic stand-in for a Microsoft tenant (work in progress).

pub mod akto;
pub mod clock;
pub mod dataverse;
pub mod entra;
pub mod faults;
pub mod generate;
mod rng;
pub mod throttle;
