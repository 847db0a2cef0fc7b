//! Which URLs a client may call: https everywhere, plain http only to this machine.

use crate::Error;
use std::net::Ipv4Addr;
use url::{Host, Url};

/// The Azure Instance Metadata Service address, reachable only from inside a VM, over http.
pub const IMDS_ADDRESS: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);

/// Whether `url` names this machine (127.0.0.0/8, `::1` or `localhost`).
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Checks that `url` may be called: `https`, or `http` to a loopback host.
///
/// ```
/// use client_core::check_url;
/// let ok = |s: &str| check_url(&url::Url::parse(s).unwrap()).is_ok();
/// assert!(ok("https://org.crm.dynamics.com/"));
/// assert!(ok("http://127.0.0.1:8080/"));
/// assert!(!ok("http://org.crm.dynamics.com/"));
/// ```
pub fn check_url(url: &Url) -> Result<(), Error> {
    check(url, false)
}

/// Like [`check_url`], but also allows `http://169.254.169.254` (IMDS, which has no https).
pub fn check_url_allowing_imds(url: &Url) -> Result<(), Error> {
    check(url, true)
}

/// `url` as it may be shown: without query, fragment and password (they can carry secrets).
pub(crate) fn shown(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    let _ = u.set_password(None);
    u.to_string()
}

fn check(url: &Url, allow_imds: bool) -> Result<(), Error> {
    match url.scheme() {
        "https" if url.host().is_some_and(|h| !matches!(h, Host::Domain(""))) => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" if allow_imds && url.host() == Some(Host::Ipv4(IMDS_ADDRESS)) => Ok(()),
        "http" => Err(Error::invalid_url(
            url,
            "plain http is allowed only to loopback (127.0.0.1, ::1, localhost); use https",
        )),
        "https" => Err(Error::invalid_url(url, "the URL has no host")),
        other => Err(Error::invalid_url(
            url,
            format!("scheme `{other}` is not supported; use https"),
        )),
    }
}

/// Parses `text` as a URL and checks it with [`check_url`]: the one rule every client and the
/// connector's configuration apply to a service URL.
///
/// ```
/// assert!(client_core::parse_url("https://org.crm.dynamics.com").is_ok());
/// let e = client_core::parse_url("not a url").unwrap_err();
/// assert!(e.is_invalid_input());
/// ```
pub fn parse_url(text: &str) -> Result<Url, Error> {
    let url = Url::parse(text.trim()).map_err(|e| {
        Error::unparsable_url(
            text,
            format!("not an absolute URL ({e}); give one such as https://host/path"),
        )
    })?;
    check_url(&url)?;
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn policy() {
        assert!(check_url(&u("https://login.microsoftonline.com/t")).is_ok());
        assert!(check_url(&u("http://localhost:1/x")).is_ok());
        assert!(check_url(&u("http://127.8.9.1/x")).is_ok());
        assert!(check_url(&u("http://[::1]:9/x")).is_ok());
        assert!(check_url(&u("http://10.0.0.1/x")).is_err());
        assert!(check_url(&u("ftp://example.com/x")).is_err());
        assert!(check_url(&u("http://169.254.169.254/metadata")).is_err());
        assert!(check_url_allowing_imds(&u("http://169.254.169.254/metadata")).is_ok());
        assert!(check_url_allowing_imds(&u("http://169.254.169.253/metadata")).is_err());
    }

    #[test]
    fn error_does_not_show_query_or_password() {
        let e = check_url(&u("http://user:pw@example.com/p?sig=abc")).unwrap_err();
        let s = e.to_string();
        assert!(!s.contains("sig=abc") && !s.contains("pw"), "{s}");
    }
}
