//! A token cache that outlives the process: the refresh tokens of delegated sign-ins, kept in
//! a file so that a person signs in once, not once per run.
//!
//! Like the persistent caches of Microsoft's own libraries, it keeps per sign-in the account,
//! the authority, tenant and client it belongs to, and the refresh token. Unlike them it keeps
//! no access tokens: one token request per run is cheap, and a file holding only refresh
//! tokens (which need the client id and the authority to be used) is the smaller risk.

use client_core::Secret;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

use crate::Env;

/// The `format` marker of a cache file; a file without it is never read or overwritten.
pub const TOKEN_CACHE_FORMAT: &str = "entra-auth-token-cache";

/// The version of the file layout this crate writes and reads.
pub const TOKEN_CACHE_VERSION: u32 = 1;

/// The file name used under a cache directory by [`TokenCacheFile::in_user_cache_dir`].
pub const TOKEN_CACHE_FILE_NAME: &str = "token-cache.json";

/// Which sign-in an entry belongs to: the authority host, the tenant as the credential was
/// given it (a GUID, a domain or `organizations`) and the application (client) id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SignInKey {
    authority: String,
    tenant_id: String,
    client_id: String,
}

impl SignInKey {
    /// The key of a sign-in at `authority` (e.g. `https://login.microsoftonline.com/`).
    pub fn new(
        authority: impl Into<String>,
        tenant_id: impl Into<String>,
        client_id: impl Into<String>,
    ) -> Self {
        let authority = authority.into();
        // `https://host` and `https://host/` are the same authority.
        let authority = if authority.ends_with('/') {
            authority
        } else {
            format!("{authority}/")
        };
        Self {
            authority,
            tenant_id: tenant_id.into().trim().to_ascii_lowercase(),
            client_id: client_id.into().trim().to_ascii_lowercase(),
        }
    }

    /// The authority host URL.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The tenant.
    pub fn tenant_id(&self) -> &str {
        &self.tenant_id
    }

    /// The application (client) id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }
}

/// One saved sign-in: who signed in, to which app, and the refresh token to use next time.
///
/// `Debug` hides the refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedSignIn {
    key: SignInKey,
    account: Option<String>,
    scopes: BTreeSet<String>,
    refresh_token: Secret,
    saved_at: OffsetDateTime,
}

impl SavedSignIn {
    /// A saved sign-in (`account` is the home account id, `{object id}.{tenant id}`, when known).
    pub fn new(
        key: SignInKey,
        account: Option<String>,
        scopes: impl IntoIterator<Item = String>,
        refresh_token: Secret,
        saved_at: OffsetDateTime,
    ) -> Self {
        Self {
            key,
            account,
            scopes: scopes.into_iter().collect(),
            refresh_token,
            saved_at,
        }
    }

    /// Which sign-in this is.
    pub fn key(&self) -> &SignInKey {
        &self.key
    }

    /// The person's home account id (`{object id}.{tenant id}`), if the tokens said.
    pub fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    /// The scopes tokens were asked for with this sign-in (for information: an Entra refresh
    /// token is good for any resource the person consented to).
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scopes.iter().map(String::as_str)
    }

    /// The refresh token.
    pub fn refresh_token(&self) -> &Secret {
        &self.refresh_token
    }

    /// When it was written.
    pub fn saved_at(&self) -> OffsetDateTime {
        self.saved_at
    }
}

/// What went wrong with a token cache file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenCacheFileErrorKind {
    /// The file or its directory could not be read or written.
    Io,
    /// The file is not a token cache of this crate (not JSON, or no `format` marker). It is
    /// never overwritten, in case the path names some other file by mistake.
    NotACacheFile,
    /// The file was written by a newer version of this crate. It is left as it is.
    UnsupportedVersion,
    /// No cache directory could be found for the default location.
    NoCacheDir,
}

/// A token cache file that could not be used; the message names the file and what to do.
#[derive(Debug)]
pub struct TokenCacheFileError {
    kind: TokenCacheFileErrorKind,
    path: Option<PathBuf>,
    message: String,
    source: Option<std::io::Error>,
}

impl TokenCacheFileError {
    fn new(kind: TokenCacheFileErrorKind, path: Option<&Path>, message: impl Into<String>) -> Self {
        Self {
            kind,
            path: path.map(Path::to_path_buf),
            message: message.into(),
            source: None,
        }
    }

    fn io(path: &Path, doing: &str, source: std::io::Error) -> Self {
        Self {
            kind: TokenCacheFileErrorKind::Io,
            path: Some(path.to_path_buf()),
            message: format!("cannot {doing} the token cache file {}", path.display()),
            source: Some(source),
        }
    }

    pub(crate) fn task_failed(why: &str) -> Self {
        Self::new(
            TokenCacheFileErrorKind::Io,
            None,
            format!("the token cache file task failed: {why}"),
        )
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> TokenCacheFileErrorKind {
        self.kind
    }

    /// The file concerned, if there is one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}

impl fmt::Display for TokenCacheFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TokenCacheFileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e as _)
    }
}

/// The file layout. Unknown fields are ignored, so a later version 1 may add some.
#[derive(Deserialize)]
struct FileHead {
    format: Option<String>,
    version: Option<u32>,
    #[serde(default)]
    sign_ins: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct EntryIn {
    authority: String,
    tenant_id: String,
    client_id: String,
    account: Option<String>,
    #[serde(default)]
    scopes: BTreeSet<String>,
    refresh_token: Secret,
    #[serde(with = "time::serde::rfc3339")]
    saved_at: OffsetDateTime,
}

#[derive(Serialize)]
struct FileOut<'a> {
    format: &'static str,
    version: u32,
    sign_ins: Vec<EntryOut<'a>>,
}

#[derive(Serialize)]
struct EntryOut<'a> {
    authority: &'a str,
    tenant_id: &'a str,
    client_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<&'a str>,
    scopes: &'a BTreeSet<String>,
    refresh_token: &'a str,
    #[serde(with = "time::serde::rfc3339")]
    saved_at: OffsetDateTime,
}

/// A file of saved sign-ins (JSON, versioned), shared by any number of apps and tenants.
///
/// - Writes go to a temporary file in the same directory, flushed and then renamed over the
///   old one, so a crash leaves the old file or the new one, never half of either. On Unix the
///   file is created owner-only (`0600`) and a directory it creates `0700`; a file found
///   readable by others is reported and rewritten owner-only on the next save. On Windows the
///   default location is inside the user's profile, which only that user can read.
/// - The refresh tokens are stored as they are, unencrypted (like `az`'s and the Azure SDKs'
///   "unencrypted storage" fallback): protect the file as you would a password.
/// - A save reads the file again and replaces only its own entry. Two processes saving at the
///   same instant may lose one of their entries (that person signs in again); the file is
///   never corrupted.
/// - A file that is not a cache of this crate, or from a newer version of it, is reported as a
///   [`TokenCacheFileError`] and never overwritten. Entries that cannot be read are skipped
///   with a warning and dropped at the next save.
///
/// ```
/// use entra_auth::{SavedSignIn, SignInKey, TokenCacheFile};
/// let dir = tempfile::tempdir().unwrap();
/// let file = TokenCacheFile::new(dir.path().join("tokens.json"));
/// assert!(file.read().unwrap().is_empty()); // no file yet: no sign-ins
/// let key = SignInKey::new("https://login.microsoftonline.com/", "organizations", "00000000-0000-0000-0000-000000000001");
/// file.save(&SavedSignIn::new(key.clone(), None, [], "rt".into(), time::OffsetDateTime::UNIX_EPOCH)).unwrap();
/// assert_eq!(file.find(&key).unwrap().unwrap().refresh_token().expose(), "rt");
/// assert!(file.remove(&key).unwrap());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenCacheFile {
    path: PathBuf,
}

impl TokenCacheFile {
    /// The cache kept in `path` (created at the first save).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// `{user cache dir}/{app}/token-cache.json`, the user cache directory being
    /// `$XDG_CACHE_HOME` (if absolute) or `$HOME/.cache` on Linux and other Unix systems,
    /// `$HOME/Library/Caches` on macOS and `%LOCALAPPDATA%` on Windows.
    pub fn in_user_cache_dir(app: &str, env: &Env) -> Result<Self, TokenCacheFileError> {
        let app = app.trim();
        if app.is_empty() || app.contains(['/', '\\']) || app.starts_with('.') {
            return Err(TokenCacheFileError::new(
                TokenCacheFileErrorKind::NoCacheDir,
                None,
                format!("`{app}` is not usable as a directory name for the token cache"),
            ));
        }
        let dir = user_cache_dir(env).ok_or_else(|| {
            TokenCacheFileError::new(
                TokenCacheFileErrorKind::NoCacheDir,
                None,
                if cfg!(windows) {
                    "no user cache directory: LOCALAPPDATA is not set; name the token cache file instead"
                } else {
                    "no user cache directory: neither XDG_CACHE_HOME nor HOME is set; name the token cache file instead"
                },
            )
        })?;
        Ok(Self::new(dir.join(app).join(TOKEN_CACHE_FILE_NAME)))
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every readable saved sign-in; none if the file does not exist (or is empty).
    pub fn read(&self) -> Result<Vec<SavedSignIn>, TokenCacheFileError> {
        let Some(bytes) = self.read_bytes()? else {
            return Ok(Vec::new());
        };
        self.parse(&bytes)
    }

    /// The saved sign-in for `key`, if any.
    pub fn find(&self, key: &SignInKey) -> Result<Option<SavedSignIn>, TokenCacheFileError> {
        Ok(self.read()?.into_iter().find(|s| &s.key == key))
    }

    /// Saves `sign_in`, replacing the entry with the same key and keeping the others.
    pub fn save(&self, sign_in: &SavedSignIn) -> Result<(), TokenCacheFileError> {
        let mut all = self.read()?;
        all.retain(|s| s.key != sign_in.key);
        all.push(sign_in.clone());
        self.write(&all)
    }

    /// Forgets the sign-in for `key` (sign-out); whether there was one.
    pub fn remove(&self, key: &SignInKey) -> Result<bool, TokenCacheFileError> {
        let mut all = self.read()?;
        let before = all.len();
        all.retain(|s| &s.key != key);
        if all.len() == before {
            return Ok(false);
        }
        self.write(&all)?;
        Ok(true)
    }

    fn read_bytes(&self) -> Result<Option<Vec<u8>>, TokenCacheFileError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => {
                warn_if_shared(&self.path);
                Ok(Some(bytes))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(TokenCacheFileError::io(&self.path, "read", e)),
        }
    }

    fn parse(&self, bytes: &[u8]) -> Result<Vec<SavedSignIn>, TokenCacheFileError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Vec::new());
        }
        let not_ours = || {
            TokenCacheFileError::new(
                TokenCacheFileErrorKind::NotACacheFile,
                Some(&self.path),
                format!(
                    "{} is not a token cache file (no \"format\": \"{TOKEN_CACHE_FORMAT}\"); it is left untouched: \
                     name another file, or delete this one if it is a damaged cache",
                    self.path.display()
                ),
            )
        };
        let head: FileHead = serde_json::from_slice(bytes).map_err(|_| not_ours())?;
        if head.format.as_deref() != Some(TOKEN_CACHE_FORMAT) {
            return Err(not_ours());
        }
        match head.version {
            Some(TOKEN_CACHE_VERSION) => {}
            found => {
                return Err(TokenCacheFileError::new(
                    TokenCacheFileErrorKind::UnsupportedVersion,
                    Some(&self.path),
                    format!(
                        "{} is a token cache of format version {}, this program reads version {TOKEN_CACHE_VERSION}; \
                         it is left untouched: upgrade this program or name another file",
                        self.path.display(),
                        found.map_or_else(|| "(none)".to_owned(), |v| v.to_string()),
                    ),
                ));
            }
        }
        let mut out = Vec::with_capacity(head.sign_ins.len());
        for (i, value) in head.sign_ins.into_iter().enumerate() {
            match serde_json::from_value::<EntryIn>(value) {
                Ok(e) if !e.refresh_token.is_empty() => out.push(SavedSignIn {
                    key: SignInKey::new(e.authority, e.tenant_id, e.client_id),
                    account: e.account,
                    scopes: e.scopes,
                    refresh_token: e.refresh_token,
                    saved_at: e.saved_at,
                }),
                // serde's message could quote a value, and values here are secrets: say where.
                _ => tracing::warn!(
                    path = %self.path.display(),
                    entry = i,
                    "skipping an unreadable entry of the token cache file"
                ),
            }
        }
        Ok(out)
    }

    fn write(&self, all: &[SavedSignIn]) -> Result<(), TokenCacheFileError> {
        let file = FileOut {
            format: TOKEN_CACHE_FORMAT,
            version: TOKEN_CACHE_VERSION,
            sign_ins: all
                .iter()
                .map(|s| EntryOut {
                    authority: &s.key.authority,
                    tenant_id: &s.key.tenant_id,
                    client_id: &s.key.client_id,
                    account: s.account.as_deref(),
                    scopes: &s.scopes,
                    refresh_token: s.refresh_token.expose(),
                    saved_at: s.saved_at,
                })
                .collect(),
        };
        let mut bytes = serde_json::to_vec_pretty(&file).map_err(|e| {
            TokenCacheFileError::new(
                TokenCacheFileErrorKind::Io,
                Some(&self.path),
                format!("cannot encode the token cache: {e}"),
            )
        })?;
        bytes.push(b'\n');
        let written = write_atomically(&self.path, &bytes);
        // Overwrite the encoded secrets before the buffer is freed.
        bytes.iter_mut().for_each(|b| *b = 0);
        written.map_err(|e| TokenCacheFileError::io(&self.path, "write", e))
    }
}

/// The user's cache directory, by platform convention (see [`TokenCacheFile::in_user_cache_dir`]).
fn user_cache_dir(env: &Env) -> Option<PathBuf> {
    if cfg!(windows) {
        return env.get("LOCALAPPDATA").map(PathBuf::from);
    }
    let home = env.get("HOME").map(PathBuf::from);
    if cfg!(target_os = "macos") {
        return home.map(|h| h.join("Library").join("Caches"));
    }
    env.get("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| home.map(|h| h.join(".cache")))
}

/// Writes `bytes` to a new owner-only file next to `path`, then renames it over `path`.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    create_private_dir(&dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| TOKEN_CACHE_FILE_NAME.to_owned());
    let tmp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let result = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Reports a cache file other users may read (the next save rewrites it owner-only).
fn warn_if_shared(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{:o}", meta.permissions().mode() & 0o777),
                "the token cache file is readable by other users; it is rewritten owner-only (0600) at the next save"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(client: &str) -> SignInKey {
        SignInKey::new("https://login.microsoftonline.com", "organizations", client)
    }

    fn sign_in(client: &str, rt: &str) -> SavedSignIn {
        SavedSignIn::new(
            key(client),
            Some("oid.tid".into()),
            ["https://graph.microsoft.com/.default".to_owned()],
            rt.into(),
            OffsetDateTime::UNIX_EPOCH,
        )
    }

    #[test]
    fn save_replaces_its_own_entry_and_keeps_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let file = TokenCacheFile::new(dir.path().join("sub").join("cache.json"));
        file.save(&sign_in("a", "rt-a1")).unwrap();
        file.save(&sign_in("b", "rt-b")).unwrap();
        file.save(&sign_in("a", "rt-a2")).unwrap();
        let all = file.read().unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(
            file.find(&key("a"))
                .unwrap()
                .unwrap()
                .refresh_token()
                .expose(),
            "rt-a2"
        );
        assert_eq!(
            file.find(&key("A")).unwrap().unwrap().account(),
            Some("oid.tid")
        );
        assert!(file.remove(&key("a")).unwrap());
        assert!(!file.remove(&key("a")).unwrap());
        assert_eq!(file.read().unwrap().len(), 1);
        // No temporary files are left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("cache.json")]);
    }

    #[test]
    fn what_is_saved_reads_back_the_same_whatever_the_text() {
        let dir = tempfile::tempdir().unwrap();
        let file = TokenCacheFile::new(dir.path().join("cache.json"));
        let saved_at = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
            + time::Duration::nanoseconds(123_456_789);
        let odd = [
            "rt \"quoted\" \\ back\\slash",
            "line\nbreak\ttab",
            "ünïcødé-令牌-🔑",
            "0.AAAA\u{0}nul",
        ];
        let all: Vec<SavedSignIn> = odd
            .iter()
            .enumerate()
            .map(|(i, rt)| {
                SavedSignIn::new(
                    SignInKey::new("https://login.microsoftonline.us/", format!("t{i}"), "c"),
                    Some(format!("{rt}.account")),
                    [format!("https://x/{rt}/.default"), "openid".to_owned()],
                    (*rt).into(),
                    saved_at,
                )
            })
            .collect();
        for s in &all {
            file.save(s).unwrap();
        }
        let mut back = file.read().unwrap();
        back.sort_by(|a, b| a.key().tenant_id().cmp(b.key().tenant_id()));
        assert_eq!(back, all);
    }

    #[cfg(unix)]
    #[test]
    fn the_file_is_owner_only_even_when_it_was_not() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new").join("cache.json");
        let file = TokenCacheFile::new(&path);
        file.save(&sign_in("a", "rt")).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        file.save(&sign_in("a", "rt2")).unwrap();
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn foreign_and_newer_files_are_typed_errors_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.json");
        let cases = [
            ("not json at all", TokenCacheFileErrorKind::NotACacheFile),
            (
                "{\"some\": \"config\"}",
                TokenCacheFileErrorKind::NotACacheFile,
            ),
            ("[1, 2]", TokenCacheFileErrorKind::NotACacheFile),
            (
                "{\"format\":\"entra-auth-token-cache\",\"version\":2,\"sign_ins\":[]}",
                TokenCacheFileErrorKind::UnsupportedVersion,
            ),
            (
                "{\"format\":\"entra-auth-token-cache\",\"sign_ins\":[]}",
                TokenCacheFileErrorKind::UnsupportedVersion,
            ),
        ];
        for (content, kind) in cases {
            std::fs::write(&path, content).unwrap();
            let file = TokenCacheFile::new(&path);
            let e = file.read().unwrap_err();
            assert_eq!(e.kind(), kind, "{content}: {e}");
            assert_eq!(e.path(), Some(path.as_path()));
            assert!(e.to_string().contains("left untouched"), "{e}");
            assert_eq!(file.save(&sign_in("a", "rt")).unwrap_err().kind(), kind);
            assert_eq!(std::fs::read_to_string(&path).unwrap(), content);
        }
    }

    #[test]
    fn unreadable_entries_are_skipped_and_empty_files_are_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.json");
        let file = TokenCacheFile::new(&path);
        std::fs::write(&path, "  \n").unwrap();
        assert!(file.read().unwrap().is_empty());
        std::fs::write(
            &path,
            r#"{"format":"entra-auth-token-cache","version":1,"future":true,"sign_ins":[
                {"authority":"https://login.microsoftonline.com/","tenant_id":"t","client_id":"c","refresh_token":"rt","saved_at":"2026-01-01T00:00:00Z","new_field":1},
                {"authority":"x","tenant_id":"t","client_id":"c2","refresh_token":"secret-in-bad-entry","saved_at":"yesterday"},
                {"authority":"x","tenant_id":"t","client_id":"c3","refresh_token":"","saved_at":"2026-01-01T00:00:00Z"},
                42]}"#,
        )
        .unwrap();
        let all = file.read().unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].key().client_id(), "c");
        assert!(
            !format!("{all:?}").contains("rt\""),
            "Debug hides the token"
        );
    }

    #[test]
    fn default_location_follows_the_platform_convention() {
        let env = Env::from_pairs([("HOME", "/home/ana"), ("XDG_CACHE_HOME", "/var/cache/ana")]);
        let file = TokenCacheFile::in_user_cache_dir("copilot-connector", &env).unwrap();
        if cfg!(target_os = "macos") {
            assert_eq!(
                file.path(),
                Path::new("/home/ana/Library/Caches/copilot-connector/token-cache.json")
            );
        } else if cfg!(unix) {
            assert_eq!(
                file.path(),
                Path::new("/var/cache/ana/copilot-connector/token-cache.json")
            );
            let relative = Env::from_pairs([("HOME", "/home/ana"), ("XDG_CACHE_HOME", "rel")]);
            assert_eq!(
                TokenCacheFile::in_user_cache_dir("x", &relative)
                    .unwrap()
                    .path(),
                Path::new("/home/ana/.cache/x/token-cache.json")
            );
        }
        let e = TokenCacheFile::in_user_cache_dir("x", &Env::default()).unwrap_err();
        assert_eq!(e.kind(), TokenCacheFileErrorKind::NoCacheDir);
        assert!(TokenCacheFile::in_user_cache_dir("../up", &env).is_err());
    }
}
