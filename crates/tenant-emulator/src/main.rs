//! `tenant-emulator` command line (in progress).

fn main() {}
