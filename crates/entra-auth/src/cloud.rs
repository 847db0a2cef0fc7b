//! National clouds: where to sign in and where each Microsoft API lives.

use client_core::CredentialError;
use std::fmt;
use std::str::FromStr;
use url::Url;

/// A Microsoft cloud: its Entra ID authority and the hosts of the APIs this workspace calls.
///
/// ```
/// use entra_auth::Cloud;
/// let cloud: Cloud = "gcchigh".parse().unwrap();
/// assert_eq!(cloud, Cloud::UsGovHigh);
/// assert_eq!(cloud.authority_host().as_str(), "https://login.microsoftonline.us/");
/// assert_eq!(cloud.graph_scope(), "https://graph.microsoft.us/.default");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Cloud {
    /// The public (commercial) cloud.
    #[default]
    Public,
    /// US Government Community Cloud (GCC, "moderate"): public Entra ID and Graph, US
    /// Government Power Platform endpoints.
    UsGov,
    /// US Government Community Cloud High (GCC High).
    UsGovHigh,
    /// US Department of Defense.
    UsDod,
    /// Microsoft Azure operated by 21Vianet (China).
    China,
    /// Any other cloud (a sovereign cloud not listed, an emulator, a test server).
    Custom(Box<CustomCloud>),
}

/// The endpoints of a cloud not built in, for [`Cloud::Custom`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomCloud {
    /// The Entra ID authority, e.g. `https://login.microsoftonline.com/`.
    pub authority_host: Url,
    /// The Microsoft Graph host.
    pub graph_host: String,
    /// The Azure Resource Manager host.
    pub arm_host: String,
    /// The Power Platform API host.
    pub power_platform_api_host: String,
    /// The Business Application Platform (BAP) admin API host.
    pub bap_host: String,
}

impl CustomCloud {
    /// A custom cloud with the public cloud's API hosts and `authority_host` (which must be
    /// https, or http to loopback for tests and emulators).
    pub fn with_authority_host(authority_host: Url) -> Result<Self, CredentialError> {
        Ok(Self {
            authority_host: checked_authority(authority_host)?,
            graph_host: Cloud::Public.graph_host().to_owned(),
            arm_host: Cloud::Public.arm_host().to_owned(),
            power_platform_api_host: Cloud::Public.power_platform_api_host().to_owned(),
            bap_host: Cloud::Public.bap_host().to_owned(),
        })
    }
}

/// Checks an authority host: https, or http to loopback; normalised to end with `/` so that
/// `{tenant}/oauth2/v2.0/token` joins below any path it has.
pub(crate) fn checked_authority(mut url: Url) -> Result<Url, CredentialError> {
    client_core::check_url(&url).map_err(|e| {
        CredentialError::new(
            client_core::CredentialErrorKind::InvalidConfiguration,
            format!("invalid authority host: {e}"),
        )
    })?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(CredentialError::new(
            client_core::CredentialErrorKind::InvalidConfiguration,
            "invalid authority host: it must not have a query or fragment",
        ));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

impl Cloud {
    /// The Entra ID authority host, ending with `/`.
    pub fn authority_host(&self) -> Url {
        let host = match self {
            Cloud::Public | Cloud::UsGov => "https://login.microsoftonline.com/",
            Cloud::UsGovHigh | Cloud::UsDod => "https://login.microsoftonline.us/",
            Cloud::China => "https://login.chinacloudapi.cn/",
            Cloud::Custom(c) => return c.authority_host.clone(),
        };
        constant_url(host)
    }

    /// The Microsoft Graph host.
    pub fn graph_host(&self) -> &str {
        match self {
            Cloud::Public | Cloud::UsGov => "graph.microsoft.com",
            Cloud::UsGovHigh => "graph.microsoft.us",
            Cloud::UsDod => "dod-graph.microsoft.us",
            Cloud::China => "microsoftgraph.chinacloudapi.cn",
            Cloud::Custom(c) => &c.graph_host,
        }
    }

    /// The Azure Resource Manager host.
    ///
    /// GCC tenants sign in to the public Entra ID, whose tokens are for public Azure, so
    /// [`Cloud::UsGov`] answers `management.azure.com`. A GCC organisation whose
    /// subscriptions are in Azure Government signs in there instead: use [`Cloud::UsGovHigh`]
    /// or a [`Cloud::Custom`] with `management.usgovcloudapi.net`.
    pub fn arm_host(&self) -> &str {
        match self {
            Cloud::Public | Cloud::UsGov => "management.azure.com",
            Cloud::UsGovHigh | Cloud::UsDod => "management.usgovcloudapi.net",
            Cloud::China => "management.chinacloudapi.cn",
            Cloud::Custom(c) => &c.arm_host,
        }
    }

    /// The Power Platform API host.
    ///
    /// For GCC High this is `api.high.powerplatform.microsoft.us` (as Microsoft's own Power
    /// Platform Terraform provider uses); some documents name `api.appsplatform.us`, which is
    /// the DoD host. Use [`Cloud::Custom`] if your tenant differs.
    pub fn power_platform_api_host(&self) -> &str {
        match self {
            Cloud::Public => "api.powerplatform.com",
            Cloud::UsGov => "api.gov.powerplatform.microsoft.us",
            Cloud::UsGovHigh => "api.high.powerplatform.microsoft.us",
            Cloud::UsDod => "api.appsplatform.us",
            Cloud::China => "api.powerplatform.partner.microsoftonline.cn",
            Cloud::Custom(c) => &c.power_platform_api_host,
        }
    }

    /// The Business Application Platform (BAP) admin API host.
    pub fn bap_host(&self) -> &str {
        match self {
            Cloud::Public => "api.bap.microsoft.com",
            Cloud::UsGov => "gov.api.bap.microsoft.us",
            Cloud::UsGovHigh => "high.api.bap.microsoft.us",
            Cloud::UsDod => "api.bap.appsplatform.us",
            Cloud::China => "api.bap.partner.microsoftonline.cn",
            Cloud::Custom(c) => &c.bap_host,
        }
    }

    /// The `.default` scope of Microsoft Graph.
    pub fn graph_scope(&self) -> String {
        default_scope(self.graph_host())
    }

    /// The `.default` scope of Azure Resource Manager.
    pub fn arm_scope(&self) -> String {
        default_scope(self.arm_host())
    }

    /// The `.default` scope of the Power Platform API.
    pub fn power_platform_api_scope(&self) -> String {
        default_scope(self.power_platform_api_host())
    }

    /// The `.default` scope of the BAP admin API.
    pub fn bap_scope(&self) -> String {
        default_scope(self.bap_host())
    }

    /// The short name [`FromStr`] accepts (`public`, `usgov`, `usgovhigh`, `usdod`, `china`,
    /// `custom`).
    pub fn name(&self) -> &'static str {
        match self {
            Cloud::Public => "public",
            Cloud::UsGov => "usgov",
            Cloud::UsGovHigh => "usgovhigh",
            Cloud::UsDod => "usdod",
            Cloud::China => "china",
            Cloud::Custom(_) => "custom",
        }
    }
}

fn default_scope(host: &str) -> String {
    format!("https://{host}/.default")
}

/// Parses one of the constant authority hosts above; a unit test parses every one of them.
#[allow(clippy::expect_used)]
fn constant_url(s: &'static str) -> Url {
    Url::parse(s).expect("built-in authority hosts are valid URLs")
}

impl fmt::Display for Cloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error of parsing a [`Cloud`] name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown cloud `{0}`: use public, usgov (gcc), usgovhigh (gcchigh), usdod (dod) or china")]
pub struct UnknownCloud(String);

impl FromStr for Cloud {
    type Err = UnknownCloud;

    /// Accepts the short names and the usual aliases (`AzureCloud`, `AzureUSGovernment`,
    /// `AzureChinaCloud`, `gcc`, `gcchigh`, `dod`), case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let k: String = s
            .chars()
            .filter(|c| !matches!(c, '-' | '_' | ' '))
            .collect::<String>()
            .to_ascii_lowercase();
        Ok(match k.as_str() {
            "public" | "azurecloud" | "azurepubliccloud" | "commercial" => Cloud::Public,
            "usgov" | "gcc" | "gccmoderate" => Cloud::UsGov,
            "usgovhigh" | "gcchigh" | "azureusgovernment" | "usgovernment" => Cloud::UsGovHigh,
            "usdod" | "dod" => Cloud::UsDod,
            "china" | "azurechinacloud" | "mooncake" => Cloud::China,
            _ => return Err(UnknownCloud(s.to_owned())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cloud_has_hosts() {
        for c in [
            Cloud::Public,
            Cloud::UsGov,
            Cloud::UsGovHigh,
            Cloud::UsDod,
            Cloud::China,
        ] {
            assert_eq!(c.authority_host().scheme(), "https");
            assert!(c.authority_host().as_str().ends_with('/'));
            for h in [
                c.graph_host(),
                c.arm_host(),
                c.power_platform_api_host(),
                c.bap_host(),
            ] {
                assert!(h.contains('.') && !h.contains('/'), "{h}");
            }
            assert_eq!(c.name().parse::<Cloud>().unwrap(), c);
        }
        assert_eq!(
            Cloud::UsDod.authority_host().as_str(),
            "https://login.microsoftonline.us/"
        );
        assert_eq!(Cloud::UsDod.graph_host(), "dod-graph.microsoft.us");
        assert_eq!(
            Cloud::China.power_platform_api_scope(),
            "https://api.powerplatform.partner.microsoftonline.cn/.default"
        );
        assert_eq!(Cloud::UsGov.bap_host(), "gov.api.bap.microsoft.us");
        assert_eq!(
            Cloud::Public.arm_scope(),
            "https://management.azure.com/.default"
        );
    }

    #[test]
    fn hosts_match_the_documented_cloud_table() {
        // authority, Graph, ARM, Power Platform API, BAP (docs/wire/entra.md, Clouds).
        // GCC's ARM is "-" there: GCC signs in to public Entra ID, so public ARM (documented
        // on `arm_host`). GCC High's Power Platform API host is marked unsure there.
        let table = [
            (
                Cloud::Public,
                "login.microsoftonline.com",
                "graph.microsoft.com",
                "management.azure.com",
                "api.powerplatform.com",
                "api.bap.microsoft.com",
            ),
            (
                Cloud::UsGov,
                "login.microsoftonline.com",
                "graph.microsoft.com",
                "management.azure.com",
                "api.gov.powerplatform.microsoft.us",
                "gov.api.bap.microsoft.us",
            ),
            (
                Cloud::UsGovHigh,
                "login.microsoftonline.us",
                "graph.microsoft.us",
                "management.usgovcloudapi.net",
                "api.high.powerplatform.microsoft.us",
                "high.api.bap.microsoft.us",
            ),
            (
                Cloud::UsDod,
                "login.microsoftonline.us",
                "dod-graph.microsoft.us",
                "management.usgovcloudapi.net",
                "api.appsplatform.us",
                "api.bap.appsplatform.us",
            ),
            (
                Cloud::China,
                "login.chinacloudapi.cn",
                "microsoftgraph.chinacloudapi.cn",
                "management.chinacloudapi.cn",
                "api.powerplatform.partner.microsoftonline.cn",
                "api.bap.partner.microsoftonline.cn",
            ),
        ];
        for (cloud, authority, graph, arm, pp, bap) in table {
            assert_eq!(
                cloud.authority_host().as_str(),
                format!("https://{authority}/"),
                "{cloud}"
            );
            assert_eq!(
                (
                    cloud.graph_host(),
                    cloud.arm_host(),
                    cloud.power_platform_api_host(),
                    cloud.bap_host()
                ),
                (graph, arm, pp, bap),
                "{cloud}"
            );
            assert_eq!(cloud.graph_scope(), format!("https://{graph}/.default"));
            assert_eq!(cloud.bap_scope(), format!("https://{bap}/.default"));
        }
    }

    #[test]
    fn parses_aliases_and_rejects_unknown() {
        assert_eq!(
            "AzureUSGovernment".parse::<Cloud>().unwrap(),
            Cloud::UsGovHigh
        );
        assert_eq!("GCC".parse::<Cloud>().unwrap(), Cloud::UsGov);
        assert_eq!("azure_china_cloud".parse::<Cloud>().unwrap(), Cloud::China);
        let e = "mars".parse::<Cloud>().unwrap_err();
        assert!(e.to_string().contains("`mars`"));
    }

    #[test]
    fn custom_authority_must_be_https_or_loopback() {
        let c =
            CustomCloud::with_authority_host("http://127.0.0.1:8080/emu".parse().unwrap()).unwrap();
        assert_eq!(c.authority_host.as_str(), "http://127.0.0.1:8080/emu/");
        let cloud = Cloud::Custom(Box::new(c));
        assert_eq!(cloud.graph_host(), "graph.microsoft.com");
        assert!(
            CustomCloud::with_authority_host("http://login.example.com/".parse().unwrap()).is_err()
        );
        assert!(
            CustomCloud::with_authority_host("https://login.example.com/?x=1".parse().unwrap())
                .is_err()
        );
    }
}
