//! End-to-end: `seccopilot ask --device-code` keeps the person's sign-in in the token cache
//! file, so the next run (a new process) asks without a sign-in prompt; a refused saved sign-in
//! (revoked) means one new prompt that says why; the file is owner-only and its refresh token
//! never reaches the output or the logs.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tenant_emulator::security_copilot::SecurityCopilotSettings;
use tenant_emulator::{Emulator, RunningEmulator};

fn env_for(emu: &RunningEmulator, dir: &Path) -> HashMap<String, String> {
    let creds = emu.credentials();
    [
        ("AZURE_TENANT_ID", creds.tenant_id.to_string()),
        ("AZURE_CLIENT_ID", creds.client_id.to_string()),
        ("AZURE_AUTHORITY_HOST", emu.authority_host().to_owned()),
        ("DATA_INGESTION_SERVICE_URL", emu.ingestion_url().to_owned()),
        (
            "COPILOT_CONNECTOR_STATE",
            dir.join("state.db").display().to_string(),
        ),
        ("GRAPH_URL", emu.graph_url().to_owned()),
        (
            "SECURITY_COPILOT_TOKEN_CACHE",
            dir.join("cache").join("tokens.json").display().to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

async fn ask(env: &HashMap<String, String>, prompt: &str) -> (i32, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_copilot-connector"))
        .args(["-vvv", "seccopilot", "ask", prompt, "--device-code"])
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The refresh token saved in the cache file.
fn saved_refresh_token(file: &Path) -> String {
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    let entries = doc["sign_ins"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{doc}");
    entries[0]["refresh_token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_second_ask_needs_no_sign_in_and_a_revoked_one_asks_again_saying_why() {
    let emu = Emulator::builder()
        .transcripts(0)
        .agents(1)
        .start()
        .await
        .unwrap();
    let device = emu.entra().device_sign_in();
    device.set_interval(Duration::from_secs(1));
    device.set_user(tenant_emulator::entra_device::SignedInUser {
        scopes: vec!["SecurityCopilotWorkspaces.ReadWrite.All".into()],
        ..tenant_emulator::entra_device::SignedInUser::default()
    });
    emu.graph()
        .security_copilot()
        .set_settings(SecurityCopilotSettings::default().with_run_time(Duration::ZERO))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&emu, dir.path());
    let file = dir.path().join("cache").join("tokens.json");
    let signed_in = |err: &str| err.contains("devicelogin");

    // First run: the person signs in; the sign-in is saved, owner-only.
    let (code, out, err) = ask(&env, "Who am I?").await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Who am I?"), "{out}");
    assert!(signed_in(&err), "the sign-in instructions: {err}");
    let first_rt = saved_refresh_token(&file);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(!err.contains(&first_rt) && !out.contains(&first_rt));

    // Second run, a new process: no prompt; the rotated refresh token is saved.
    let (code, out, err) = ask(&env, "And now?").await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("And now?"), "{out}");
    assert!(!signed_in(&err), "no sign-in prompt the second time: {err}");
    assert!(!err.contains(&first_rt), "the refresh token is not logged");
    let second_rt = saved_refresh_token(&file);
    assert_ne!(second_rt, first_rt);
    assert!(!err.contains(&second_rt) && !out.contains(&second_rt));

    // Revoked: the next run says why and asks again.
    device.revoke_refresh_tokens();
    let (code, _, err) = ask(&env, "Still there?").await;
    assert_eq!(code, 0, "{err}");
    assert!(signed_in(&err), "{err}");
    assert!(
        err.contains("saved sign-in was refused (invalid_grant"),
        "{err}"
    );
    assert_ne!(saved_refresh_token(&file), second_rt);
}

#[test]
fn the_token_cache_setting_names_a_file_the_default_or_none() {
    use connector::seccopilot::token_cache_file;
    use entra_auth::Env;
    let home = Env::from_pairs([
        ("HOME", "/home/ana"),
        ("LOCALAPPDATA", "C:\\Users\\ana\\AppData\\Local"),
    ]);
    for off in ["none", "NONE", " none "] {
        assert_eq!(token_cache_file(Some(off), &home), None, "{off}");
    }
    assert_eq!(
        token_cache_file(Some("/run/me/tokens.json"), &home).map(|f| f.path().to_path_buf()),
        Some(Path::new("/run/me/tokens.json").to_path_buf())
    );
    let default = token_cache_file(None, &home).expect("a default under the user's cache dir");
    assert!(
        default
            .path()
            .ends_with("copilot-connector/token-cache.json"),
        "{}",
        default.path().display()
    );
    assert_eq!(token_cache_file(Some(""), &home), Some(default));
    // No cache directory at all: this run only (said on stderr).
    assert_eq!(token_cache_file(None, &Env::default()), None);
}
