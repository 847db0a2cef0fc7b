//! The `copilot-shield` command line: the connector run the way Akto's job runner runs its own
//! Copilot Studio binary.
//!
//! Akto downloads a binary named `copilot-shield` and starts it as `copilot-shield -once` with
//! the job's settings in environment variables (the same names `copilot-connector` reads);
//! older deployments started `copilot-shield -schedule '<cron>'`. Flags follow Go's `flag`
//! package, which that binary uses: one or two leading dashes, and a value either as the next
//! argument or after `=`. [`parse_args`] turns them into a [`ShieldMode`]; the binary then runs
//! the same code as `copilot-connector ingest --once` / `ingest --cron '<cron>'`.
//!
//! Akto also passes `AKTO_JOB_ID`, `AKTO_JOB_TYPE` and `AKTO_JOB_SUB_TYPE`; [`AktoJob`] reads
//! them for logs and the summary, and never refuses a value.
//!
//! ```
//! use connector::shield::{ShieldMode, parse_args};
//!
//! assert_eq!(parse_args(["-once"]).unwrap(), ShieldMode::Once);
//! let ShieldMode::Schedule(cron) = parse_args(["-schedule", "*/5 * * * *"]).unwrap() else {
//!     unreachable!()
//! };
//! assert_eq!(cron.to_string(), "*/5 * * * *");
//! assert!(parse_args(["--once", "extra"]).is_err());
//! ```

use crate::cron::{Cron, CronError};
use serde::Serialize;

/// The usage text of `copilot-shield`.
pub const USAGE: &str = "\
Usage: copilot-shield -once
       copilot-shield -schedule '<cron>'

Streams Copilot Studio conversations to Akto's Data Ingestion Service, as Akto's job runner
runs its copilot-shield binary. Settings come from the environment, with the names Akto's job
sets (DATAVERSE_ENVIRONMENT_URL, DATAVERSE_TENANT_ID, DATAVERSE_CLIENT_ID,
DATAVERSE_CLIENT_SECRET, COPILOT_BOT_ID, DATA_INGESTION_SERVICE_URL, AKTO_JWT_TOKEN,
AKTO_ACCOUNT_ID, COPILOT_STUDIO_USER_MAP_FILE, COPILOT_STUDIO_USER_AGENT_MAP_OUTPUT_FILE,
AKTO_JOB_ID, AKTO_JOB_TYPE, AKTO_JOB_SUB_TYPE) and every other variable copilot-connector
reads (see `copilot-connector --help`).

  -once              run one pass and exit (0: everything delivered)
  -schedule '<cron>' run a pass at every time of a five-field cron expression (UTC), e.g.
                     '*/5 * * * *', until SIGTERM or Ctrl-C
  -help              show this text
  -version           show the version

Exit status: 0 success, 1 a pass failed, 2 invalid usage or configuration, 3 another run holds
the checkpoint store.";

/// What `copilot-shield` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShieldMode {
    /// `-once`: one pass.
    Once,
    /// `-schedule '<cron>'`: a pass at every time of the schedule.
    Schedule(Cron),
    /// `-help`.
    Help,
    /// `-version`.
    Version,
}

/// A command line `copilot-shield` cannot run; the text says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShieldUsageError {
    /// A flag it does not know.
    #[error("unknown flag `{0}` (copilot-shield takes -once or -schedule '<cron>')")]
    UnknownFlag(String),
    /// An argument that is not a flag.
    #[error("unexpected argument `{0}` (copilot-shield takes -once or -schedule '<cron>')")]
    UnexpectedArgument(String),
    /// `-schedule` without a value.
    #[error("-schedule needs a cron expression, e.g. -schedule '*/5 * * * *'")]
    MissingSchedule,
    /// A boolean flag with a value other than true or false.
    #[error("-once={0} is not a boolean (use -once or -once=true)")]
    BadBoolean(String),
    /// The schedule cannot be parsed.
    #[error("-schedule: {0}")]
    Schedule(#[from] CronError),
    /// Neither `-once` nor `-schedule`.
    #[error("say how to run: -once (one pass) or -schedule '<cron>'")]
    NoMode,
    /// Both `-once` and `-schedule`.
    #[error("-once and -schedule cannot be combined: give one of them")]
    BothModes,
}

/// Parses `copilot-shield`'s arguments (without the program name).
pub fn parse_args<I, S>(args: I) -> Result<ShieldMode, ShieldUsageError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut once = false;
    let mut schedule: Option<String> = None;
    let mut args = args.into_iter().map(|a| a.as_ref().to_owned());
    while let Some(arg) = args.next() {
        if arg == "--" {
            if let Some(extra) = args.next() {
                return Err(ShieldUsageError::UnexpectedArgument(extra));
            }
            break;
        }
        let Some(flag) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            return Err(ShieldUsageError::UnexpectedArgument(arg));
        };
        let (name, value) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (flag, None),
        };
        match name {
            "once" => {
                once = match value.as_deref() {
                    None => true,
                    Some(v) => match v.to_ascii_lowercase().as_str() {
                        "1" | "t" | "true" => true,
                        "0" | "f" | "false" => false,
                        _ => return Err(ShieldUsageError::BadBoolean(v.to_owned())),
                    },
                }
            }
            "schedule" => {
                let v = match value {
                    Some(v) => v,
                    None => args.next().ok_or(ShieldUsageError::MissingSchedule)?,
                };
                if v.trim().is_empty() {
                    return Err(ShieldUsageError::MissingSchedule);
                }
                schedule = Some(v);
            }
            "h" | "help" => return Ok(ShieldMode::Help),
            "version" => return Ok(ShieldMode::Version),
            _ => return Err(ShieldUsageError::UnknownFlag(arg)),
        }
    }
    match (once, schedule) {
        (true, Some(_)) => Err(ShieldUsageError::BothModes),
        (true, None) => Ok(ShieldMode::Once),
        (false, Some(expr)) => Ok(ShieldMode::Schedule(Cron::parse(&expr)?)),
        (false, None) => Err(ShieldUsageError::NoMode),
    }
}

/// The job Akto's runner started this process for (`AKTO_JOB_ID`, `AKTO_JOB_TYPE`,
/// `AKTO_JOB_SUB_TYPE`): written into logs and the summary so a run can be matched to its job.
/// Any value is accepted; unset or empty variables are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AktoJob {
    /// `AKTO_JOB_ID`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `AKTO_JOB_TYPE`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub job_type: Option<String>,
    /// `AKTO_JOB_SUB_TYPE`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_type: Option<String>,
}

/// The variables [`AktoJob`] reads.
pub const AKTO_JOB_VARIABLES: &[&str] = &["AKTO_JOB_ID", "AKTO_JOB_TYPE", "AKTO_JOB_SUB_TYPE"];

impl AktoJob {
    /// Reads the job variables through `lookup` (`|k| std::env::var(k).ok()` for the process);
    /// `None` when none is set.
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Option<AktoJob> {
        // Kept to one line of printable text: the values go into logs.
        let get = |k: &str| {
            lookup(k)
                .map(|v| {
                    v.trim()
                        .chars()
                        .filter(|c| !c.is_control())
                        .take(200)
                        .collect::<String>()
                })
                .filter(|v| !v.is_empty())
        };
        let job = AktoJob {
            id: get("AKTO_JOB_ID"),
            job_type: get("AKTO_JOB_TYPE"),
            sub_type: get("AKTO_JOB_SUB_TYPE"),
        };
        (job != AktoJob::default()).then_some(job)
    }
}

impl std::fmt::Display for AktoJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let dash = "-";
        write!(
            f,
            "Akto job {} ({}/{})",
            self.id.as_deref().unwrap_or(dash),
            self.job_type.as_deref().unwrap_or(dash),
            self.sub_type.as_deref().unwrap_or(dash)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_style_flags_are_accepted() {
        for args in [
            &["-once"][..],
            &["--once"],
            &["-once=true"],
            &["-once=1"],
            &["--once=T"],
        ] {
            assert_eq!(parse_args(args).unwrap(), ShieldMode::Once, "{args:?}");
        }
        for args in [
            &["-schedule", "*/5 * * * *"][..],
            &["-schedule=*/5 * * * *"],
            &["--schedule", " */5 * * * * "],
            &["--schedule=*/5 * * * *"],
            &["-once=false", "-schedule", "*/5 * * * *"],
        ] {
            match parse_args(args).unwrap() {
                ShieldMode::Schedule(c) => assert_eq!(c.to_string(), "*/5 * * * *"),
                other => panic!("{args:?}: {other:?}"),
            }
        }
        assert_eq!(parse_args(["-h"]).unwrap(), ShieldMode::Help);
        assert_eq!(parse_args(["--help"]).unwrap(), ShieldMode::Help);
        assert_eq!(parse_args(["-version"]).unwrap(), ShieldMode::Version);
    }

    #[test]
    fn bad_command_lines_say_what_to_fix() {
        let cases: &[(&[&str], &str)] = &[
            (&[], "say how to run"),
            (&["-once", "-schedule", "* * * * *"], "cannot be combined"),
            (&["-schedule"], "needs a cron expression"),
            (&["-schedule="], "needs a cron expression"),
            (&["-schedule", "every 5 minutes"], "expected 5 fields"),
            (&["-schedule", "61 * * * *"], "minute 61"),
            (&["-onc"], "unknown flag `-onc`"),
            (&["once"], "unexpected argument `once`"),
            (&["-once", "--", "x"], "unexpected argument `x`"),
            (&["-once=maybe"], "not a boolean"),
        ];
        for (args, needle) in cases {
            let err = parse_args(*args).unwrap_err();
            assert!(err.to_string().contains(needle), "{args:?}: {err}");
        }
    }

    #[test]
    fn akto_job_variables_are_read_and_never_refused() {
        assert_eq!(AktoJob::from_env(|_| None), None);
        let job = AktoJob::from_env(|k| match k {
            "AKTO_JOB_ID" => Some("65f0c0ffee".into()),
            "AKTO_JOB_TYPE" => Some("AI_AGENT_CONNECTOR".into()),
            "AKTO_JOB_SUB_TYPE" => Some("  COPILOT_STUDIO\n".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(job.id.as_deref(), Some("65f0c0ffee"));
        assert_eq!(job.sub_type.as_deref(), Some("COPILOT_STUDIO"));
        assert_eq!(
            serde_json::to_value(&job).unwrap(),
            serde_json::json!({"id": "65f0c0ffee", "type": "AI_AGENT_CONNECTOR", "sub_type": "COPILOT_STUDIO"})
        );
        assert_eq!(
            job.to_string(),
            "Akto job 65f0c0ffee (AI_AGENT_CONNECTOR/COPILOT_STUDIO)"
        );
        // Odd values are kept printable, never an error.
        let odd = AktoJob::from_env(|k| (k == "AKTO_JOB_TYPE").then(|| "a\u{1b}[31mb".into()));
        assert_eq!(odd.unwrap().job_type.as_deref(), Some("a[31mb"));
    }
}
