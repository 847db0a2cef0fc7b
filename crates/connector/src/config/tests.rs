//! Tests of the whole configuration: merging, each setting's rules, and that no error quotes
//! a value.

use super::*;
use std::collections::HashMap;
use std::path::Path;

fn env(pairs: &[(&str, &str)]) -> RawConfig {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    RawConfig::from_env(|k| map.get(k).cloned())
}

const AKTO_ENV: &[(&str, &str)] = &[
    (
        "DATAVERSE_ENVIRONMENT_URL",
        "https://contoso.crm.dynamics.com",
    ),
    (
        "DATAVERSE_TENANT_ID",
        "72f988bf-86f1-41af-91ab-2d7cd011db47",
    ),
    (
        "DATAVERSE_CLIENT_ID",
        "11111111-2222-3333-4444-555555555555",
    ),
    ("DATAVERSE_CLIENT_SECRET", "s3cr3t~value"),
    (
        "COPILOT_BOT_ID",
        "aaaaaaaa-0000-0000-0000-000000000001, aaaaaaaa-0000-0000-0000-000000000002",
    ),
    ("DATA_INGESTION_SERVICE_URL", "https://ingest.example.com"),
    ("AKTO_JWT_TOKEN", "eyJhbGciOi.jwt"),
    ("AKTO_ACCOUNT_ID", "1234567"),
];

#[test]
fn akto_variables_are_accepted_unchanged() {
    let c = Config::from_raw(&env(AKTO_ENV), Needs::Ingest).unwrap();
    assert_eq!(
        c.environment_url.as_str(),
        "https://contoso.crm.dynamics.com/"
    );
    assert_eq!(
        c.tenant_id.as_deref(),
        Some("72f988bf-86f1-41af-91ab-2d7cd011db47")
    );
    assert_eq!(c.bot_ids.len(), 2);
    assert_eq!(c.akto_account_id, "1234567");
    assert!(
        matches!(c.credential, CredentialConfig::ClientSecret(ref s) if s.expose() == "s3cr3t~value")
    );
    match &c.sink {
        SinkConfig::Akto { url, token } => {
            assert_eq!(url.as_str(), "https://ingest.example.com/");
            assert_eq!(token.as_ref().unwrap().expose(), "eyJhbGciOi.jwt");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.batch_size, 50);
    assert_eq!(c.in_flight, DEFAULT_IN_FLIGHT);
    assert_eq!(c.overlap, Duration::from_secs(1800));
    // No secret in Debug output, before or after validation.
    for dbg in [format!("{c:?}"), format!("{:?}", env(AKTO_ENV))] {
        assert!(!dbg.contains("s3cr3t"), "{dbg}");
        assert!(!dbg.contains("eyJhbGciOi"), "{dbg}");
        assert!(dbg.contains("contoso.crm.dynamics.com"), "{dbg}");
    }
}

fn with(overrides: &[(&'static str, &'static str)]) -> RawConfig {
    let mut pairs: Vec<(&str, &str)> = AKTO_ENV
        .iter()
        .filter(|(k, _)| !overrides.iter().any(|(o, _)| o == k))
        .copied()
        .collect();
    pairs.extend(overrides.iter().filter(|(_, v)| !v.is_empty()));
    env(&pairs)
}

fn error(overrides: &[(&'static str, &'static str)]) -> String {
    Config::from_raw(&with(overrides), Needs::Ingest)
        .unwrap_err()
        .to_string()
}

#[test]
fn a_url_with_a_path_names_the_variable_and_the_fix() {
    let e = error(&[(
        "DATAVERSE_ENVIRONMENT_URL",
        "https://contoso.crm.dynamics.com/api/data/v9.2",
    )]);
    assert!(e.starts_with("DATAVERSE_ENVIRONMENT_URL is invalid"), "{e}");
    assert!(e.contains("has a path"), "{e}");
    assert!(e.contains("https://contoso.crm.dynamics.com"), "{e}");
}

#[test]
fn non_guid_ids_are_refused() {
    let e = error(&[("DATAVERSE_CLIENT_ID", "my-app")]);
    assert!(e.starts_with("DATAVERSE_CLIENT_ID is invalid"), "{e}");
    assert!(e.contains("Application (client) ID"), "{e}");
    let e = error(&[(
        "COPILOT_BOT_ID",
        "aaaaaaaa-0000-0000-0000-000000000001,bot2",
    )]);
    assert!(
        e.starts_with("COPILOT_BOT_ID is invalid: item 2 of the list"),
        "{e}"
    );
    assert!(!e.contains("bot2"), "{e}");
    let e = error(&[("DATAVERSE_TENANT_ID", "not a tenant")]);
    assert!(e.starts_with("DATAVERSE_TENANT_ID is invalid"), "{e}");
    // A verified domain is a valid tenant.
    Config::from_raw(
        &with(&[("DATAVERSE_TENANT_ID", "contoso.onmicrosoft.com")]),
        Needs::Ingest,
    )
    .unwrap();
}

#[test]
fn a_secret_in_the_wrong_variable_is_not_echoed() {
    let secret = "Abc8Q~s3cr3tV4lu3-of-the-app-registration";
    for var in [
        "DATAVERSE_CLIENT_ID",
        "DATAVERSE_TENANT_ID",
        "DATAVERSE_ENVIRONMENT_URL",
        "DATA_INGESTION_SERVICE_URL",
        "AZURE_AUTHORITY_HOST",
    ] {
        let e = Config::from_raw(&with(&[(var, secret)]), Needs::Ingest).unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with(&format!("{var} is invalid")), "{text}");
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(!format!("{e:?}").contains("s3cr3t"), "{e:?}");
        assert!(text.contains("41 characters"), "{text}");
    }
}

#[test]
fn an_akto_token_that_cannot_be_a_header_is_refused_at_start() {
    let e = error(&[("AKTO_JWT_TOKEN", "eyJ.first-line\neyJ.second")]);
    assert!(e.starts_with("AKTO_JWT_TOKEN is invalid"), "{e}");
    assert!(!e.contains("eyJ"), "{e}");
    let c = Config::from_raw(&with(&[("AKTO_JWT_TOKEN", " eyJ.ok \n")]), Needs::Ingest).unwrap();
    match c.sink {
        SinkConfig::Akto { token, .. } => assert_eq!(token.unwrap().expose(), "eyJ.ok"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn plain_http_is_refused_except_to_loopback() {
    let e = error(&[("DATA_INGESTION_SERVICE_URL", "http://akto.internal:9091")]);
    assert!(
        e.starts_with("DATA_INGESTION_SERVICE_URL is invalid"),
        "{e}"
    );
    assert!(e.contains("use https"), "{e}");
    let e = error(&[("AZURE_AUTHORITY_HOST", "http://login.example.com")]);
    assert!(e.starts_with("AZURE_AUTHORITY_HOST is invalid"), "{e}");
    let c = Config::from_raw(
        &with(&[
            ("AZURE_AUTHORITY_HOST", "http://127.0.0.1:8080"),
            ("DATAVERSE_ENVIRONMENT_URL", "http://localhost:9000/"),
        ]),
        Needs::Ingest,
    )
    .unwrap();
    assert_eq!(c.authority_host.as_str(), "http://127.0.0.1:8080/");
}

#[test]
fn missing_settings_say_every_way_to_give_them() {
    let e = error(&[("DATAVERSE_TENANT_ID", "")]);
    assert!(
        e.contains("DATAVERSE_TENANT_ID, AZURE_TENANT_ID, --tenant-id"),
        "{e}"
    );
    let e = error(&[("DATAVERSE_CLIENT_SECRET", "")]);
    assert!(e.contains("AZURE_FEDERATED_TOKEN_FILE"), "{e}");
    let e = error(&[("DATA_INGESTION_SERVICE_URL", "")]);
    assert!(e.contains("--output"), "{e}");
    // `agents` does not need a destination.
    Config::from_raw(
        &with(&[("DATA_INGESTION_SERVICE_URL", "")]),
        Needs::Dataverse,
    )
    .unwrap();
}

#[test]
fn flags_beat_environment_beat_file() {
    let file = RawConfig::from_toml_str(
        "environment_url = \"https://file.crm.dynamics.com\"\nbot_ids = [\"aaaaaaaa-0000-0000-0000-000000000009\"]\npage_size = 50\n",
        Path::new("c.toml"),
    )
    .unwrap();
    let mut flags = RawConfig::new();
    flags.set_flag(keys::STATE, Some("/tmp/x.db"));
    let merged = file.clone().overlay(env(AKTO_ENV)).overlay(flags);
    let c = Config::from_raw(&merged, Needs::Ingest).unwrap();
    assert_eq!(
        c.environment_url.host_str(),
        Some("contoso.crm.dynamics.com")
    );
    assert_eq!(c.page_size, 50);
    assert_eq!(c.state_path, PathBuf::from("/tmp/x.db"));
    assert_eq!(c.bot_ids.len(), 2, "the environment's list wins");

    let only_file = file.overlay(with(&[
        ("DATAVERSE_ENVIRONMENT_URL", ""),
        ("COPILOT_BOT_ID", ""),
    ]));
    let c = Config::from_raw(&only_file, Needs::Ingest).unwrap();
    assert_eq!(c.environment_url.host_str(), Some("file.crm.dynamics.com"));
    assert_eq!(c.bot_ids.len(), 1);
}

#[test]
fn file_errors_name_the_file_and_key() {
    let e = RawConfig::from_toml_str("enviroment_url = \"x\"", Path::new("c.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("c.toml") && e.contains("unknown key `enviroment_url`"),
        "{e}"
    );
    let raw = RawConfig::from_toml_str("page_size = 0", Path::new("c.toml"))
        .unwrap()
        .overlay(env(AKTO_ENV));
    let e = Config::from_raw(&raw, Needs::Ingest)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("`page_size` (line 1) in c.toml is invalid"),
        "{e}"
    );
}

#[test]
fn a_managed_identity_needs_no_tenant_or_client() {
    let c = Config::from_raw(
        &env(&[
            (
                "DATAVERSE_ENVIRONMENT_URL",
                "https://contoso.crm.dynamics.com",
            ),
            ("COPILOT_CONNECTOR_MANAGED_IDENTITY", "true"),
            ("COPILOT_CONNECTOR_OUTPUT", "out.jsonl"),
        ]),
        Needs::Ingest,
    )
    .unwrap();
    assert!(matches!(c.credential, CredentialConfig::ManagedIdentity));
    assert_eq!((c.tenant_id, c.client_id), (None, None));
}

#[test]
fn durations_parse() {
    assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
    assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
    assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
    assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
    assert!(parse_duration("5 minutes").is_err());
    assert!(parse_duration("").is_err());
}

#[test]
fn output_overrides_the_ingestion_service() {
    let c = Config::from_raw(&with(&[("COPILOT_CONNECTOR_OUTPUT", "-")]), Needs::Ingest).unwrap();
    assert!(matches!(c.sink, SinkConfig::Stdout));
    assert!(c.checkpoint_scope().ends_with("sink=stdout"));
}

fn flag(key: Key, value: &str) -> RawConfig {
    let mut flags = RawConfig::new();
    flags.set_flag(key, Some(value));
    with(&[]).overlay(flags)
}

fn flag_error(key: Key, value: &str) -> String {
    Config::from_raw(&flag(key, value), Needs::Ingest)
        .unwrap_err()
        .to_string()
}

#[test]
fn an_authority_host_with_a_path_is_refused_naming_the_variable() {
    let e = error(&[(
        "AZURE_AUTHORITY_HOST",
        "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47",
    )]);
    assert!(e.starts_with("AZURE_AUTHORITY_HOST is invalid"), "{e}");
    assert!(e.contains("has a path"), "{e}");
    assert!(!e.contains("72f988bf"), "{e}");
    // A trailing slash is no path.
    let c = Config::from_raw(
        &with(&[("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.us/")]),
        Needs::Ingest,
    )
    .unwrap();
    assert_eq!(
        c.authority_host.as_str(),
        "https://login.microsoftonline.us/"
    );
}

#[test]
fn an_ingestion_url_ending_in_the_ingestion_path_is_cut_to_its_base() {
    for (given, base) in [
        (
            "https://ingest.example.com/api/ingestData",
            "https://ingest.example.com/",
        ),
        (
            "https://ingest.example.com/api/ingestData/",
            "https://ingest.example.com/",
        ),
        (
            "https://h.example.com/akto/api/ingestData",
            "https://h.example.com/akto/",
        ),
        ("https://h.example.com/akto", "https://h.example.com/akto"),
    ] {
        let c = Config::from_raw(
            &with(&[("DATA_INGESTION_SERVICE_URL", given)]),
            Needs::Ingest,
        )
        .unwrap();
        let SinkConfig::Akto { url, .. } = &c.sink else {
            panic!("{:?}", c.sink)
        };
        assert_eq!(url.as_str(), base, "{given}");
        let pipeline = client_core::Pipeline::builder().build().unwrap();
        let sink = crate::sink::AktoSink::new(url, None, pipeline).unwrap();
        assert_eq!(
            sink.endpoint().path().matches("api/ingestData").count(),
            1,
            "{given} -> {}",
            sink.endpoint()
        );
    }
}

#[test]
fn the_akto_account_id_must_be_a_number_and_is_not_echoed() {
    for bad in [
        "acct-42",
        "0",
        "000",
        "12 34",
        "1234567890123456789012",
        "Abc8Q~secret",
    ] {
        let e = error(&[("AKTO_ACCOUNT_ID", bad)]);
        assert!(e.starts_with("AKTO_ACCOUNT_ID is invalid"), "{e}");
        assert!(bad.len() < 4 || !e.contains(bad), "{e}");
    }
    let c = Config::from_raw(&with(&[("AKTO_ACCOUNT_ID", " 1718042191 ")]), Needs::Ingest).unwrap();
    assert_eq!(c.akto_account_id, "1718042191");
}

#[test]
fn empty_paths_are_refused() {
    for key in [keys::STATE, keys::OUTPUT, keys::CERTIFICATE_PATH] {
        for value in ["", "  "] {
            let mut raw = with(&[("DATAVERSE_CLIENT_SECRET", "")]);
            if key != keys::CERTIFICATE_PATH {
                raw = with(&[]);
            }
            let mut flags = RawConfig::new();
            flags.set_flag(key, Some(value));
            let e = Config::from_raw(&raw.overlay(flags), Needs::Ingest)
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with(&format!("--{} is invalid: the path is empty", key.flag)),
                "{e}"
            );
        }
    }
}

#[test]
fn absurd_durations_are_refused_naming_the_flag() {
    for (key, value) in [
        (keys::SINCE, "99999999999d"),
        (keys::OVERLAP, "99999999999d"),
        (keys::SINCE, "999999999999999999999999"),
        (keys::OVERLAP, "31d"),
        (keys::SINCE, "3651d"),
        (keys::DELIVERY_TIMEOUT, "0"),
        (keys::DELIVERY_TIMEOUT, "2h"),
        (keys::OVERLAP, "5 minutes"),
    ] {
        let e = flag_error(key, value);
        assert!(e.starts_with(&format!("--{} is invalid", key.flag)), "{e}");
        assert!(e.contains("use a duration from"), "{e}");
    }
    let c = Config::from_raw(&flag(keys::SINCE, "3650d"), Needs::Ingest).unwrap();
    assert_eq!(c.since, Some(MAX_SINCE));
    let c = Config::from_raw(&flag(keys::DELIVERY_TIMEOUT, "30s"), Needs::Ingest).unwrap();
    assert_eq!(c.delivery_timeout, Duration::from_secs(30));
    let c = Config::from_raw(&with(&[]), Needs::Ingest).unwrap();
    assert_eq!(c.delivery_timeout, DEFAULT_DELIVERY_TIMEOUT);
    assert!(!c.strict);
    assert!(
        Config::from_raw(&flag(keys::STRICT, "true"), Needs::Ingest)
            .unwrap()
            .strict
    );
}

#[test]
fn other_settings_are_validated_without_echoing() {
    for (key, value) in [
        (keys::RECORD_HOST, "copilot microsoft com"),
        (keys::RECORD_HOST, "https://copilot.microsoft.com/"),
        (keys::ENVIRONMENT_ID, "Default 1234"),
        (keys::PAGE_SIZE, "Abc8Q~secret"),
        (keys::BATCH_SIZE, "99999999999999999999999"),
        (keys::MANAGED_IDENTITY, "Abc8Q~secret"),
        (keys::STRICT, "Abc8Q~secret"),
        (keys::TENANT_ID, "-contoso.com"),
        (keys::TENANT_ID, "contoso..com"),
    ] {
        let e = flag_error(key, value);
        assert!(e.starts_with(&format!("--{} is invalid", key.flag)), "{e}");
        assert!(!e.contains(value), "{e}");
    }
}

/// Every malformed form of each secret-bearing key in a TOML file.
fn malformed_secret_files(key: &str, secret: &str) -> Vec<String> {
    vec![
        format!("{key} = {secret}\n"),
        format!("{key} = \"{secret}\"\n{key} = \"{secret}\"\n"),
        format!("{key} = {{v=\"{secret}\"}}\n"),
        format!("{key} = [\"{secret}\", 1]\n"),
        format!("{key} = [{secret}]\n"),
        format!("{key} = '{secret}\n"),
        format!("{key} = \"{secret}\n"),
        format!("{key} = \"\"\"{secret}\n"),
        format!("[{key}]\nv = \"{secret}\"\n"),
        format!("[{key}]\n{secret} = 1\n"),
        format!("{key}.v = \"{secret}\"\n"),
        format!("page_size = 10\n{key} = \"{secret}\" trailing\n"),
        format!("{key} = \"{secret}\"\n{secret}\n"),
        format!("{key}\n= \"{secret}\"\n"),
        format!("{secret} = \"x\"\n"),
        format!("\"{secret}\" = \"x\"\n"),
        format!("{key} = \"{secret}\\q\"\n"),
        format!("{key} = {secret}{secret}\n"),
        format!("# comment\n\n{key} = 1{secret}\n"),
        format!("{key} = 2026-01-01T{secret}\n"),
    ]
}

#[test]
fn toml_errors_never_quote_a_secret() {
    let secret = "Abc8Q~SuperS3cretValue_x";
    for key in [keys::CLIENT_SECRET, keys::AKTO_TOKEN] {
        for (i, text) in malformed_secret_files(key.toml, secret).iter().enumerate() {
            let Err(e) = RawConfig::from_toml_str(text, Path::new("c.toml")) else {
                panic!("form {i} was accepted: {text:?}");
            };
            for shown in [e.to_string(), format!("{e:?}")] {
                for piece in ["S3cret", "Abc8Q", "SuperS"] {
                    assert!(!shown.contains(piece), "form {i} {text:?}: {shown}");
                }
                assert!(shown.contains("c.toml"), "{shown}");
                assert!(shown.contains("line "), "form {i}: {shown}");
            }
        }
    }
}

#[test]
fn toml_errors_name_the_key_and_the_line() {
    let e = RawConfig::from_toml_str(
        "page_size = 10\nclient_secret = Abc8Q~SECRET\n",
        Path::new("c.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("line 2 (near `client_secret`)"), "{e}");
    assert!(e.contains("string values must be quoted"), "{e}");
    let e = RawConfig::from_toml_str(
        "client_secret = \"a\"\nclient_secret = \"b\"\n",
        Path::new("c.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("line 2 (near `client_secret`): duplicate key"),
        "{e}"
    );
    let e = RawConfig::from_toml_str("\n\nclient_secret = {v=\"x\"}\n", Path::new("c.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("line 3: `client_secret` must be a string, found a table"),
        "{e}"
    );
}

#[test]
fn a_config_file_is_read_with_its_line_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "# settings\nbatch_size = 0\n").unwrap();
    let raw = RawConfig::from_toml_file(&path).unwrap().overlay(with(&[]));
    let e = Config::from_raw(&raw, Needs::Ingest)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("`batch_size` (line 2) in"), "{e}");
    std::fs::write(&path, [b'a', b'=', 0xff, b'\n']).unwrap();
    let e = RawConfig::from_toml_file(&path).unwrap_err().to_string();
    assert!(e.contains("line 1: the file is not UTF-8"), "{e}");
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    const SECRET: &str = "Zq9~SECRETvalue";

    fn every_key() -> impl Strategy<Value = Key> {
        proptest::sample::select(keys::ALL.to_vec())
    }

    /// Values of every kind: durations, ids, URLs, and random text that embeds the secret.
    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            "[0-9]{1,25}[smhdx]?",
            "[0-9a-fA-F-]{0,40}",
            "(https?|ftp)://[a-z0-9.:@/?#%~-]{0,40}",
            any::<String>(),
            "[ -~]{0,30}".prop_map(|s| format!("{s}{SECRET}{s}")),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn any_value_of_any_setting_is_accepted_or_refused_by_name(
            key in every_key(),
            v in value(),
        ) {
            let raw = flag(key, &v);
            if let Err(e) = Config::from_raw(&raw, Needs::Ingest) {
                let text = e.to_string();
                // The error is about this setting (or a consequence of its absence).
                let named = text.starts_with(&format!("--{} is invalid", key.flag))
                    || matches!(e, ConfigError::Missing { .. });
                prop_assert!(named, "{}", text);
                prop_assert!(!text.contains(SECRET), "{}", text);
                let debug = format!("{e:?}");
                prop_assert!(!debug.contains(SECRET), "{}", debug);
            }
            // Same through the environment's first variable.
            if let Some(var) = key.env.first() {
                let env_raw = with(&[]).overlay(env(&[(var, v.as_str())]));
                if let Err(e) = Config::from_raw(&env_raw, Needs::Ingest) {
                    prop_assert!(!e.to_string().contains(SECRET), "{}", e);
                }
            }
        }

        #[test]
        fn any_toml_document_parses_or_fails_without_quoting_the_secret(
            lines in proptest::collection::vec(
                (every_key(), "[ =\"'{}\\[\\],.#a-z0-9~\\n]{0,12}"),
                0..6,
            ),
        ) {
            let text: String = lines
                .iter()
                .map(|(k, junk)| format!("{} {junk}{SECRET}{junk}\n", k.toml))
                .collect();
            match RawConfig::from_toml_str(&text, Path::new("p.toml")) {
                Ok(raw) => {
                    if let Err(e) = Config::from_raw(&raw.overlay(with(&[])), Needs::Ingest) {
                        prop_assert!(!e.to_string().contains(SECRET), "{}", e);
                    }
                }
                Err(e) => {
                    let shown = e.to_string();
                    prop_assert!(!shown.contains(SECRET), "{}", shown);
                    prop_assert!(!shown.contains("SECRETvalue"), "{}", shown);
                    prop_assert!(shown.contains("line ") || shown.contains("p.toml"), "{}", shown);
                }
            }
        }

        #[test]
        fn durations_never_panic_and_respect_their_bounds(text in "[0-9]{0,30}[smhdx ]{0,2}") {
            if let Ok(d) = parse_duration(&text) {
                // What is parsed is written back the same way.
                prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
            }
            for key in [keys::SINCE, keys::OVERLAP, keys::DELIVERY_TIMEOUT] {
                if let Ok(c) = Config::from_raw(&flag(key, &text), Needs::Ingest) {
                    prop_assert!(c.since.unwrap_or_default() <= MAX_SINCE);
                    prop_assert!(c.overlap <= MAX_OVERLAP);
                    prop_assert!(c.delivery_timeout <= MAX_DELIVERY_TIMEOUT);
                }
            }
        }
    }
}

#[test]
fn in_flight_is_a_small_positive_number() {
    let mut pairs: Vec<(&str, &str)> = AKTO_ENV.to_vec();
    pairs.push(("COPILOT_CONNECTOR_IN_FLIGHT", "1"));
    assert_eq!(
        Config::from_raw(&env(&pairs), Needs::Ingest)
            .unwrap()
            .in_flight,
        1
    );
    for bad in ["0", "65", "four"] {
        let mut pairs: Vec<(&str, &str)> = AKTO_ENV.to_vec();
        pairs.push(("COPILOT_CONNECTOR_IN_FLIGHT", bad));
        let e = Config::from_raw(&env(&pairs), Needs::Ingest)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("COPILOT_CONNECTOR_IN_FLIGHT is invalid"),
            "{e}"
        );
        assert!(e.contains("from 1 to 64"), "{e}");
    }
}

#[test]
fn split_settle_is_a_bounded_duration_from_flag_env_or_file() {
    let c = Config::from_raw(&env(AKTO_ENV), Needs::Ingest).unwrap();
    assert_eq!(c.split_settle, DEFAULT_SPLIT_SETTLE);
    assert_eq!(c.split_settle, Duration::from_secs(600));
    let mut pairs: Vec<(&str, &str)> = AKTO_ENV.to_vec();
    pairs.push(("COPILOT_CONNECTOR_SPLIT_SETTLE", "2m"));
    let from_env = Config::from_raw(&env(&pairs), Needs::Ingest).unwrap();
    assert_eq!(from_env.split_settle, Duration::from_secs(120));
    let file = RawConfig::from_toml_str("split_settle = \"0\"", Path::new("c.toml")).unwrap();
    let from_file = Config::from_raw(&file.overlay(env(AKTO_ENV)), Needs::Ingest).unwrap();
    assert_eq!(from_file.split_settle, Duration::ZERO, "zero never waits");
    let mut flags = RawConfig::new();
    flags.set_flag(keys::SPLIT_SETTLE, Some("90s"));
    let from_flag = Config::from_raw(&env(&pairs).overlay(flags), Needs::Ingest).unwrap();
    assert_eq!(
        from_flag.split_settle,
        Duration::from_secs(90),
        "the flag wins"
    );
    for bad in ["25h", "ten minutes", "-1m", "5x"] {
        let mut pairs: Vec<(&str, &str)> = AKTO_ENV.to_vec();
        pairs.push(("COPILOT_CONNECTOR_SPLIT_SETTLE", bad));
        let e = Config::from_raw(&env(&pairs), Needs::Ingest).unwrap_err();
        assert!(matches!(e, ConfigError::Invalid { .. }), "{bad}: {e:?}");
        let text = e.to_string();
        assert!(
            text.starts_with("COPILOT_CONNECTOR_SPLIT_SETTLE is invalid"),
            "{text}"
        );
        assert!(
            text.contains("from 0s to 1d") || text.contains("from 0 to"),
            "{text}"
        );
    }
}
