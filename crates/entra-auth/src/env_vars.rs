//! Environment variables as an explicit, injectable value.

use std::collections::HashMap;
use std::fmt;

/// A snapshot of environment variables, so credentials that read the environment can be
/// given a fixed one in tests instead of mutating the process environment.
///
/// `Debug` lists the variable names only: values such as `AZURE_CLIENT_SECRET` are secret.
///
/// ```
/// use entra_auth::Env;
/// let env = Env::from_pairs([("AZURE_TENANT_ID", "contoso.onmicrosoft.com")]);
/// assert_eq!(env.get("AZURE_TENANT_ID"), Some("contoso.onmicrosoft.com"));
/// assert_eq!(env.get("AZURE_CLIENT_ID"), None);
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl Env {
    /// The current process environment (variables that are not valid Unicode are skipped).
    pub fn process() -> Self {
        Self {
            vars: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        }
    }

    /// An environment with exactly these variables.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// A variable's value; an empty value counts as unset (a common way to "unset" in CI).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.vars.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("Env").field("names", &names).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_unset_and_debug_hides_values() {
        let env = Env::from_pairs([("A", " "), ("AZURE_CLIENT_SECRET", "s3cr3t")]);
        assert_eq!(env.get("A"), None);
        let d = format!("{env:?}");
        assert!(
            d.contains("AZURE_CLIENT_SECRET") && !d.contains("s3cr3t"),
            "{d}"
        );
        assert!(Env::process().get("PATH").is_some() || cfg!(windows));
    }
}
