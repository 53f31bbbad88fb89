//! Where the queue is: a `redis://` or `rediss://` URL, with the password taken from the
//! environment so that it is never written in a config, a log or a store.

use std::fmt;

use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo};

/// The environment variable a queue password is read from.
pub const PASSWORD_VAR: &str = "EVONAS_REDIS_PASSWORD";

/// The environment variable naming a PEM file of the certificate authority a `rediss://`
/// server's certificate is checked against (default: the system's root certificates).
pub const CA_VAR: &str = "EVONAS_REDIS_CA";

/// A parsed queue URL. Its `Display` is the URL as given (it never holds a password).
#[derive(Clone)]
pub struct QueueAddress {
    url: String,
    info: ConnectionInfo,
    /// A private certificate authority (PEM), for `rediss://`.
    ca: Option<Vec<u8>>,
}

/// Why a queue URL is refused.
#[derive(Debug, thiserror::Error)]
pub enum AddressError {
    /// Not a URL Redis understands.
    #[error("queue `{url}`: {message} (expected redis://HOST:PORT/DB or rediss://HOST:PORT/DB)")]
    Invalid {
        /// The URL as given (with any password masked).
        url: String,
        /// What is wrong.
        message: String,
    },
    /// The certificate authority file cannot be read.
    #[error("{CA_VAR}={path}: {message}")]
    Ca {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// The URL carries a password.
    #[error("queue `{url}`: the URL holds a password; put it in the environment variable {PASSWORD_VAR} instead (a URL ends up in configs, logs and process lists)")]
    PasswordInUrl {
        /// The URL, password masked.
        url: String,
    },
}

/// `url` with anything between `:` and `@` in its authority replaced by `***`.
fn masked(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return crate::error::excerpt(url);
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user, host)) => {
            let user = user.split_once(':').map_or(user, |(u, _)| u);
            crate::error::excerpt(&format!("{scheme}://{user}:***@{host}{path}"))
        }
        None => crate::error::excerpt(url),
    }
}

impl QueueAddress {
    /// Parses `url`; the password, if any, comes from [`PASSWORD_VAR`] (`password`, when the
    /// caller read it already, else the process environment).
    pub fn parse(url: &str) -> Result<QueueAddress, AddressError> {
        let mut addr = Self::parse_with(url, std::env::var(PASSWORD_VAR).ok())?;
        if let Some(path) = std::env::var_os(CA_VAR).filter(|p| !p.is_empty()) {
            let path = std::path::PathBuf::from(path);
            let pem = crate::limits::read_text(&path).map_err(|e| AddressError::Ca {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
            if !pem.contains("-----BEGIN CERTIFICATE-----") {
                return Err(AddressError::Ca {
                    path: path.display().to_string(),
                    message: "not a PEM certificate (no BEGIN CERTIFICATE line)".into(),
                });
            }
            addr.ca = Some(pem.into_bytes());
        }
        Ok(addr)
    }

    /// [`QueueAddress::parse`] with the password given.
    pub fn parse_with(url: &str, password: Option<String>) -> Result<QueueAddress, AddressError> {
        let shown = masked(url);
        let invalid = |message: String| AddressError::Invalid {
            url: shown.clone(),
            message,
        };
        if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
            return Err(invalid("the scheme must be redis:// or rediss://".into()));
        }
        let info = url
            .into_connection_info()
            .map_err(|e| invalid(e.to_string()))?;
        if info.redis_settings().password().is_some() {
            return Err(AddressError::PasswordInUrl { url: shown });
        }
        if let ConnectionAddr::Unix(_) = info.addr() {
            return Err(invalid("unix sockets are not supported".into()));
        }
        let info = match password.filter(|p| !p.is_empty()) {
            Some(p) => {
                let settings = info.redis_settings().clone().set_password(p);
                info.set_redis_settings(settings)
            }
            None => info,
        };
        Ok(QueueAddress {
            url: url.to_string(),
            info,
            ca: None,
        })
    }

    /// The private certificate authority given in [`CA_VAR`], if any.
    pub(crate) fn ca(&self) -> Option<&[u8]> {
        self.ca.as_deref()
    }

    /// What to connect to.
    pub(crate) fn info(&self) -> &ConnectionInfo {
        &self.info
    }

    /// Whether the connection is TLS (`rediss://`).
    pub fn is_tls(&self) -> bool {
        matches!(self.info.addr(), ConnectionAddr::TcpTls { .. })
    }
}

impl fmt::Display for QueueAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

impl fmt::Debug for QueueAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "QueueAddress({})", self.url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_tls_urls() {
        let a = QueueAddress::parse_with("redis://127.0.0.1:6390/2", None).unwrap();
        assert!(!a.is_tls());
        assert_eq!(a.info().redis_settings().db(), 2);
        assert_eq!(a.to_string(), "redis://127.0.0.1:6390/2");
        let t = QueueAddress::parse_with("rediss://queue.example:6380/0", None).unwrap();
        assert!(t.is_tls());
    }

    #[test]
    fn the_password_comes_from_the_environment_only() {
        let a =
            QueueAddress::parse_with("redis://127.0.0.1:6390/0", Some("s3cret".into())).unwrap();
        assert_eq!(a.info().redis_settings().password(), Some("s3cret"));
        assert!(!format!("{a} {a:?}").contains("s3cret"));
        let e = QueueAddress::parse_with("redis://user:s3cret@127.0.0.1:6390/0", None)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains(PASSWORD_VAR) && !e.contains("s3cret"), "{e}");
        assert!(e.contains("user:***@127.0.0.1"), "{e}");
    }

    #[test]
    fn refuses_other_schemes() {
        for url in [
            "http://127.0.0.1:6379",
            "127.0.0.1:6379",
            "redis+unix:///tmp/r.sock",
        ] {
            let e = QueueAddress::parse_with(url, None)
                .err()
                .unwrap()
                .to_string();
            assert!(e.contains("redis://"), "{url}: {e}");
        }
    }
}
