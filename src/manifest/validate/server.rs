//! `[server]`: bind address, sequence limit and the API key source.

use std::net::IpAddr;

use super::{Checker, path};
use crate::diagnostic::{Code, Place};
use crate::manifest::normalize::normalize;
use crate::manifest::validated::*;
use crate::manifest::wire::{self};

impl Checker<'_> {
    /// `max_batch_size`: the workload's, when given; the planner checks
    /// `max_seqs` against one it solves.
    pub(super) fn server(
        &mut self,
        raw: wire::RawServer,
        max_batch_size: Option<u64>,
    ) -> Option<Server> {
        let host = raw
            .host
            .unwrap_or_else(|| crate::manifest::defaults::HOST.into());
        let mut ok = true;
        if host.parse::<IpAddr>().is_err() && !is_hostname(&host) {
            ok = false;
            let at = self.value(&path("server.host"));
            self.error(
                Code::InvalidHost,
                at,
                format!("`{host}` is not an IP address or host name"),
            )
            .with_label("not an address")
            .with_help("use `127.0.0.1` (this machine only) or `0.0.0.0` (every interface)");
        }
        let had_key = raw.api_key.is_some();
        let api_key = match raw.api_key {
            None => None,
            Some(wire::ApiKey::Inline(_)) => {
                ok = false;
                let at = self.value(&path("server.api_key"));
                let help = if matches!(at, Place::Span { .. }) {
                    "secrets do not belong in a Git repository: write `api_key = { env = \"DEPLOYCTL_API_KEY\" }` \
                     or `api_key = { file = \"/run/secrets/api-key\" }`, and rotate the key that was committed"
                } else {
                    "name where the key is read instead: set `DEPLOYCTL_SERVER__API_KEY__ENV` to the variable \
                     that holds it, or `DEPLOYCTL_SERVER__API_KEY__FILE` to a file"
                };
                self.error(
                    Code::InlineSecret,
                    at,
                    "`server.api_key` holds the key itself",
                )
                .with_redaction()
                .with_help(help);
                None
            }
            Some(wire::ApiKey::Reference(source)) => self.secret_source(source),
        };
        if had_key && api_key.is_none() {
            ok = false;
        }
        let loopback = is_loopback(&host);
        if !loopback && api_key.is_none() && ok {
            let at = self.value(&path("server.host"));
            self.warning(
                Code::PublicWithoutApiKey,
                at,
                format!("the server binds to `{host}` without an API key: anyone who can reach it can use it"),
            )
            .with_label("reachable beyond this machine")
            .with_help("add `api_key = { env = \"DEPLOYCTL_API_KEY\" }`, or bind to `127.0.0.1`");
        }
        let max_seqs = raw.max_seqs;
        if let (Some(max_seqs), Some(max_batch_size)) = (max_seqs, max_batch_size)
            && u64::from(max_seqs) > max_batch_size
        {
            let at = self.value(&path("server.max_seqs"));
            self.warning(
                Code::MaxSeqsAboveBatch,
                at,
                format!(
                    "the server admits {max_seqs} sequences at once, but memory is planned for {max_batch_size} (`workload.max_batch_size`)"
                ),
            )
            .with_label("more than planned")
            .with_help(format!(
                "set `server.max_seqs = {max_batch_size}`, or raise `workload.max_batch_size` to {max_seqs}"
            ));
        }
        let port = raw
            .port
            .map_or(crate::manifest::defaults::PORT, |p| p as u16);
        let cors_origins = self.origins(raw.cors_origins.as_deref().unwrap_or_default());
        ok &= cors_origins.is_some();
        use crate::manifest::defaults as d;
        ok.then_some(Server {
            host,
            port,
            max_seqs,
            api_key,
            cors_origins: cors_origins.unwrap_or_default(),
            drain_seconds: raw.drain_seconds.unwrap_or(d::DRAIN_SECONDS),
            grace_seconds: raw.grace_seconds.unwrap_or(d::GRACE_SECONDS),
            request_timeout_seconds: raw
                .request_timeout_seconds
                .unwrap_or(d::REQUEST_TIMEOUT_SECONDS),
            log_format: raw.log_format.unwrap_or_default(),
        })
    }

    /// `server.cors_origins`: each an origin as a browser sends it, scheme
    /// and host (and port), nothing else. `*` is refused: any page could then
    /// drive the model with its visitor's network position.
    fn origins(&mut self, list: &[String]) -> Option<Vec<String>> {
        if !self.list_fits("server.cors_origins", list.len()) {
            return None;
        }
        let mut ok = true;
        for (i, origin) in list.iter().enumerate() {
            if let Err(why) = check_origin(origin) {
                ok = false;
                let at = self.value(&path("server.cors_origins").index(i));
                self.error(
                    Code::InvalidValue,
                    at,
                    format!("`{origin}` is not a web origin: {why}"),
                )
                .with_label("not an origin")
                .with_help("write the scheme and host a browser sends, e.g. `\"https://chat.example.com\"`");
            }
        }
        ok.then(|| list.to_vec())
    }

    fn secret_source(&mut self, source: wire::ApiKeySource) -> Option<SecretSource> {
        let p = path("server.api_key");
        match (source.env, source.file) {
            (Some(var), None) => {
                if var.is_empty()
                    || var.starts_with(|c: char| c.is_ascii_digit())
                    || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    let at = self.value(&p.key("env"));
                    self.error(
                        Code::InvalidValue,
                        at,
                        format!("`{var}` is not an environment variable name"),
                    )
                    .with_label("letters, digits and `_`, not starting with a digit")
                    .with_help("e.g. `api_key = { env = \"DEPLOYCTL_API_KEY\" }`");
                    return None;
                }
                Some(SecretSource::Env(var))
            }
            (None, Some(file)) => {
                let base = self.provenance.base_dir(&p.key("file"));
                Some(SecretSource::File(normalize(&base.join(file))))
            }
            (None, None) => {
                let at = self.value(&p);
                self.error(Code::MissingKey, at, "`server.api_key` names no source")
                    .with_label("empty")
                    .with_help("write `{ env = \"VAR\" }` or `{ file = \"/path\" }`");
                None
            }
            (Some(_), Some(_)) => {
                let at = self.value(&p);
                self.error(
                    Code::InvalidValue,
                    at,
                    "`server.api_key` sets both `env` and `file`",
                )
                .with_label("two sources")
                .with_help("keep one: `{ env = \"VAR\" }` or `{ file = \"/path\" }`");
                None
            }
        }
    }
}

/// Whether `host` is this machine only: `localhost`, or any loopback
/// address (`127.0.0.0/8`, `::1`). The one test, for validation and `apply`.
pub fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether `origin` is `scheme://host[:port]`, as the `Origin` header holds it.
fn check_origin(origin: &str) -> Result<(), &'static str> {
    if origin == "*" {
        return Err("any origin is not allowed: list the ones that may call");
    }
    let Some((scheme, rest)) = origin.split_once("://") else {
        return Err("it has no `http://` or `https://`");
    };
    if scheme != "http" && scheme != "https" {
        return Err("its scheme is not `http` or `https`");
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || rest.starts_with('[') => (host, Some(port)),
        _ => (rest, None),
    };
    if port.is_some_and(|p| p.parse::<u16>().is_err()) {
        return Err("its port is not a number from 0 to 65535");
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if !(is_hostname(bare) || bare.parse::<IpAddr>().is_ok()) {
        return Err("it has a path, a trailing `/` or characters a host cannot have");
    }
    Ok(())
}

fn is_hostname(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        for ok in [
            "https://chat.example.com",
            "http://localhost:3000",
            "http://127.0.0.1:8080",
            "http://[::1]:80",
        ] {
            assert_eq!(check_origin(ok), Ok(()), "{ok}");
        }
        for bad in [
            "*",
            "chat.example.com",
            "https://chat.example.com/",
            "ftp://x",
            "https://x:99999",
            "https://a b",
        ] {
            assert!(check_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn loopback_is_every_address_of_this_machine() {
        for host in ["localhost", "127.0.0.1", "127.0.0.2", "::1"] {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["0.0.0.0", "10.0.0.1", "serving-box", "::"] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn recognises_host_names() {
        assert!(is_hostname("serving-box.internal"));
        assert!(!is_hostname("bad host"));
        assert!(!is_hostname("-leading.dash"));
    }
}
