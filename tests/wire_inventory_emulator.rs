//! The inventory scan against the tenant emulator, whose resource query answers as the real
//! one does for an application by default (403: delegated tokens only): the default source
//! falls back to Resource Graph and finds the same agents as a scan through Resource Graph.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    missing_docs
)]

#[path = "support/connector_support.rs"]
mod support;

use std::sync::Arc;

use connector::inventory::scan::{PreviousScan, Scanner};
use connector::inventory::tenant::InventorySourceChoice;
use support::*;
use tenant_emulator::Emulator;

#[tokio::test]
async fn the_default_source_falls_back_to_resource_graph_when_the_resource_query_refuses_apps() {
    let clock = clock();
    let emu = Emulator::builder()
        .seed(7)
        .agents(3)
        .transcripts(3)
        .environments(2)
        .clock(Arc::new(clock.clone()))
        .start()
        .await
        .unwrap();
    let scan = |source: InventorySourceChoice| {
        let (credential, shared) = sign_in(&emu, &clock);
        let o = emulator_scan_options(&emu, source);
        Scanner::new(credential, shared, o)
    };
    let default = scan(InventorySourceChoice::PowerPlatform)
        .scan(&PreviousScan::default(), None)
        .await
        .unwrap();
    let arg = scan(InventorySourceChoice::ResourceGraph)
        .scan(&PreviousScan::default(), None)
        .await
        .unwrap();
    let inv = &default.summary.layers.tenant_inventory;
    assert_eq!(inv.status, "read", "{inv:?}");
    assert!(inv.count > 0);
    assert_eq!(inv.count, arg.summary.layers.tenant_inventory.count);
    assert!(
        default
            .summary
            .notes
            .iter()
            .any(|n| n.contains("read through Azure Resource Graph")),
        "{:?}",
        default.summary.notes
    );
}
