//! Reading a page on one thread and decoding its rows on another gives exactly the one-pass
//! results, in order, for real rows and for pages with bad rows, odd columns and a broken
//! character.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use transcript_model::{
    AktoConfig, PageRow, RowRecords, Transcript, for_each_page_row, for_each_row,
};

const ROWS: &[u8] = include_bytes!("fixtures/slg-conversationtranscripts.json");

fn one_pass(config: &AktoConfig, page: &[u8]) -> (Vec<Result<RowRecords, String>>, String) {
    let mut out = Vec::new();
    let end = config.for_each_row_output(page, |r| out.push(r.map_err(|e| e.to_string())));
    (out, format!("{end:?}"))
}

/// The rows are read here and decoded on a second thread, as `pair_transcripts` does.
fn two_threads(config: &AktoConfig, page: &[u8]) -> (Vec<Result<RowRecords, String>>, String) {
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<PageRow<'_>>(2);
        let worker = s.spawn(move || {
            let mut out = Vec::new();
            let mut last = None;
            for row in rx {
                // In page order, each index once.
                assert!(
                    last.is_none_or(|l| row.index() == l + 1),
                    "{row:?} after {last:?}"
                );
                last = Some(row.index());
                out.push(config.page_row_records(row).map_err(|e| e.to_string()));
            }
            out
        });
        let end = for_each_page_row(page, |row| tx.send(row).unwrap());
        drop(tx);
        (worker.join().unwrap(), format!("{end:?}"))
    })
}

fn model_one_pass(page: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let _ = for_each_row(page, |r| out.push(format!("{r:?}")));
    out
}

fn model_page_rows(page: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let _ = for_each_page_row(page, |row| {
        out.push(format!("{:?}", Transcript::from_page_row(row)));
    });
    out
}

fn pages() -> Vec<Vec<u8>> {
    let odata = format!(
        r#"{{"@odata.context":"x","value":{},"@odata.nextLink":"y"}}"#,
        std::str::from_utf8(ROWS).unwrap()
    );
    vec![
        ROWS.to_vec(),
        odata.into_bytes(),
        br#"[]"#.to_vec(),
        // Bad rows between good ones; odd columns; a lone surrogate in a column (read again
        // leniently); a page cut short after two rows.
        br#"[{"conversationtranscriptid":"a","content":"{\"activities\":[{\"type\":\"message\",\"from\":{\"role\":1},\"text\":\"q\"}]}"},
            7, null, {"content":"{\"activities\":[]}"},
            {"conversationtranscriptid":"b","content":"{\"activities\":["},
            {"conversationtranscriptid":"c","metadata":{"BatchId":1},"createdon":5,"content":"{\"activities\":[{\"type\":\"message\",\"from\":{\"role\":0},\"text\":\"\\ud83d hi\"}]}"},
            {"conversationtranscriptid":"d","name":"x\ud83dy","content":"{\"activities\":[]}"}]"#
            .to_vec(),
        br#"[{"conversationtranscriptid":"a","content":"{\"activities\":[]}"},{"conversationtranscriptid":"b","content":"{\"activities\":[]}"},{"conv"#
            .to_vec(),
        br#"{"x":1}"#.to_vec(),
        b"42".to_vec(),
    ]
}

#[test]
fn two_threads_give_the_one_pass_records_and_errors() {
    let config = AktoConfig::new("1000000", "0", "env").with_host("h.example.test");
    for page in pages() {
        let text = String::from_utf8_lossy(&page).into_owned();
        let (expected, expected_end) = one_pass(&config, &page);
        let (got, end) = two_threads(&config, &page);
        assert_eq!(got, expected, "{text}");
        assert_eq!(end, expected_end, "{text}");
    }
    // The real rows are all there.
    let (rows, _) = two_threads(&config, ROWS);
    assert_eq!(rows.len(), 11);
    assert_eq!(
        rows.iter()
            .map(|r| r.as_ref().unwrap().records.len())
            .sum::<usize>(),
        26
    );
}

#[test]
fn page_rows_decode_to_the_one_pass_transcripts() {
    for page in pages() {
        assert_eq!(
            model_page_rows(&page),
            model_one_pass(&page),
            "{}",
            String::from_utf8_lossy(&page)
        );
    }
}

#[test]
fn page_rows_can_cross_threads() {
    fn send<T: Send>() {}
    send::<PageRow<'static>>();
}
