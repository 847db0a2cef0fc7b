//! What a test or example needs to talk to a running emulator: its URLs as [`Url`]s and, with
//! the `client` feature, a ready `entra_auth` credential for the registered application.

use crate::RunningEmulator;
use url::Url;

/// A running emulator's endpoints, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EmulatorUrls {
    /// The Entra authority host (`http://127.0.0.1:port/`); the token endpoint is
    /// `{authority}{tenant}/oauth2/v2.0/token`.
    pub authority: Url,
    /// The Dataverse environment root (what a Dataverse client is built with).
    pub environment: Url,
    /// The Web API root (`{environment}api/data/v9.2/`).
    pub web_api: Url,
    /// The Akto ingestion endpoint.
    pub ingestion: Url,
}

/// Parses a URL the emulator built itself (always valid).
fn parsed(text: &str) -> Url {
    Url::parse(text).unwrap_or_else(|_| {
        // The emulator formats these from a bound socket address; this cannot fail.
        Url::parse("http://127.0.0.1/").unwrap_or_else(|_| unreachable!())
    })
}

impl RunningEmulator {
    /// The endpoints as [`Url`]s.
    pub fn urls(&self) -> EmulatorUrls {
        EmulatorUrls {
            authority: parsed(self.authority_host()),
            environment: parsed(self.environment_url()),
            web_api: parsed(&self.web_api_url()),
            ingestion: parsed(self.ingestion_url()),
        }
    }

    /// A client secret credential for the emulator's registered application, signing in at
    /// the emulator's authority: ready to hand to a Dataverse client.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let emulator = tenant_emulator::Emulator::builder().agents(2).start().await?;
    /// let credential = emulator.credential()?;
    /// # let _ = credential; Ok(()) }
    /// ```
    #[cfg(feature = "client")]
    pub fn credential(
        &self,
    ) -> Result<entra_auth::ClientSecretCredential, entra_auth::CredentialError> {
        let creds = self.credentials();
        let options =
            entra_auth::CredentialOptions::default().with_authority_host(self.urls().authority);
        entra_auth::ClientSecretCredential::new(
            creds.tenant_id.to_string(),
            creds.client_id.to_string(),
            creds.client_secret.clone(),
            options,
        )
    }

    /// A device code credential for the emulator's registered application, signing in at the
    /// emulator's authority as its [`SignedInUser`](crate::entra_device::SignedInUser):
    /// `prompt` gets the sign-in instructions. Sign-ins are approved on the second poll by
    /// default ([`DeviceSignIn`](crate::entra_device::DeviceSignIn) changes that and the
    /// polling interval).
    #[cfg(feature = "client")]
    pub fn device_code_credential(
        &self,
        prompt: impl Fn(&entra_auth::DeviceCodePrompt) + Send + Sync + 'static,
    ) -> Result<entra_auth::DeviceCodeCredential, entra_auth::CredentialError> {
        let creds = self.credentials();
        let options =
            entra_auth::CredentialOptions::default().with_authority_host(self.urls().authority);
        entra_auth::DeviceCodeCredential::new(
            creds.tenant_id.to_string(),
            creds.client_id.to_string(),
            prompt,
            options,
        )
    }
}
