//! Placeholder replaced in a later step.
fn main() {}
