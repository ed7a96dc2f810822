//! Who is calling, decided in one place for every surface: `/api` (proxied to Immich),
//! `/exports/…` (zip downloads) and MCP (`/mcp`, `/mcp/stream`, `/mcp/ws`).
//!
//! | mode | surface | the caller presents | the gateway's Immich calls use | `/api` forwards |
//! |---|---|---|---|---|
//! | `passthrough` | `/api` | anything | — | the request unchanged: Immich judges it |
//! | `passthrough` | MCP, `/exports` | its own Immich credentials, or none | the caller's credential, as Immich reads it (API key, session token, cookie, shared-link key), never another; with none, the gateway's key when configured | — |
//! | `inject` | every surface | a gateway key (`X-API-Key` or `Authorization: Bearer`) | the Immich key that gateway key maps to | the mapped key, and none of the caller's credential headers, cookies or query parameters |
//! | `oauth` | `/api` | anything | — | the request unchanged: Immich's apps sign in to Immich |
//! | `oauth` | MCP, `/exports` | an access token of the gateway's (`Authorization: Bearer`) | the Immich key made for that grant when its person signed in | — |
//! | `jwt` | `/api` | anything | — | the request unchanged: Immich judges it |
//! | `jwt` | MCP, `/exports` | a JWT of the configured identity provider (`Authorization: Bearer`) | the Immich key `[[jwt.users]]` maps its person to | — |
//!
//! A caller who presented credentials never acts with the gateway's own key. Every refusal is a
//! 401 with one challenge ([`challenge`]); the surfaces word the body their own way.

mod carriers;
mod credentials;
pub mod jwt;
pub mod oauth;
pub mod vault;

pub use credentials::Credentials;

use crate::config::AuthMode;
use crate::immich::Credential;
use pingora::http::RequestHeader;
use std::net::IpAddr;
use std::sync::Arc;

/// Where a request arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Surface {
    /// `/api/*`, proxied to Immich.
    Api,
    /// `/exports/<token>`.
    Export,
    /// `/mcp`, `/mcp/stream`, `/mcp/ws`.
    Mcp,
}

/// How a caller was recognised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// A gateway key (`inject` mode).
    GatewayKey,
    /// The caller's own Immich credentials (`passthrough` mode).
    Caller,
    /// No credentials at all (`passthrough` mode).
    Anonymous,
    /// An access token of the gateway's (`oauth` mode).
    OAuth,
    /// A JWT of the identity provider's (`jwt` mode).
    Jwt,
}

impl Via {
    /// Its name in logs and the audit trail.
    pub fn label(self) -> &'static str {
        match self {
            Via::GatewayKey => "gateway_key",
            Via::Caller => "caller",
            Via::Anonymous => "anonymous",
            Via::OAuth => "oauth",
            Via::Jwt => "jwt",
        }
    }
}

/// A caller the gateway has authenticated.
#[derive(Clone, Debug)]
pub struct Principal {
    /// A name safe to log: the gateway key's name, `passthrough`, `anonymous`, or for an OAuth
    /// client `oauth:<client name>`.
    pub name: Arc<str>,
    /// How it was recognised.
    pub via: Via,
    /// What the gateway's own Immich calls for this caller authenticate with; `None` when there is
    /// nothing to act with (an anonymous caller and no key of the gateway's).
    pub immich: Option<Credential>,
    /// What its person granted, for an OAuth client.
    pub grant: Option<Arc<oauth::Grant>>,
}

impl Principal {
    fn new(name: &str, via: Via, immich: Option<Credential>) -> Principal {
        Principal { name: Arc::from(name), via, immich, grant: None }
    }

    /// Who owns what this caller makes (export links): its gateway key, its person and client,
    /// its credential's fingerprint, or no one in particular.
    pub fn owner(&self) -> String {
        match (self.via, &self.immich, &self.grant) {
            (Via::GatewayKey, _, _) => format!("key:{}", self.name),
            (Via::OAuth, _, Some(grant)) => format!("oauth:{}:{}", grant.user_id, grant.key_id),
            (Via::Jwt, _, _) => self.name.to_string(),
            (Via::Caller, Some(credential), _) => format!("credential:{}", credential.fingerprint()),
            _ => "anonymous".into(),
        }
    }

    /// Who a stream belongs to, for per-client caps: the gateway key's name, the OAuth grant,
    /// else the address.
    pub fn client_key(&self, ip: Option<IpAddr>) -> String {
        match (self.via, ip) {
            (Via::GatewayKey, _) => format!("key:{}", self.name),
            (Via::OAuth | Via::Jwt, _) => self.owner(),
            (_, Some(ip)) => format!("ip:{ip}"),
            (_, None) => "unknown".into(),
        }
    }

    /// Whether this caller may use tools that change Immich: always, unless it is an OAuth
    /// client whose person granted reading only.
    pub fn may_write(&self) -> bool {
        self.grant.as_ref().is_none_or(|g| g.scope.split(' ').any(|s| s == oauth::SCOPE_WRITE))
    }
}

/// Why a request was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthError {
    /// What to tell the caller.
    pub message: &'static str,
    /// A bearer token was presented and is not good (RFC 6750 `error="invalid_token"`).
    pub invalid_token: bool,
    /// The caller is known but has no access here (403, not 401: signing in again would not help).
    pub forbidden: bool,
}

impl AuthError {
    /// A refusal for want of (good) credentials.
    pub const fn new(message: &'static str) -> AuthError {
        AuthError { message, invalid_token: false, forbidden: false }
    }

    /// A refusal of a bearer token that is not good.
    pub const fn invalid_token(message: &'static str) -> AuthError {
        AuthError { message, invalid_token: true, forbidden: false }
    }
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message)
    }
}

/// Authenticates a request arriving on `surface` (see the table above).
pub fn authenticate(req: &RequestHeader, credentials: &Credentials, surface: Surface) -> Result<Principal, AuthError> {
    let as_it_came = || Principal::new("passthrough", Via::Caller, carriers::caller_credential(req).ok().flatten());
    match credentials.mode() {
        AuthMode::Inject => {
            let key = carriers::gateway_key(req).and_then(|presented| credentials.gateway_key(presented));
            match key {
                Some((name, immich)) => Ok(Principal { name, via: Via::GatewayKey, immich: Some(immich), grant: None }),
                // Immich's own apps, signed in to Immich: the request goes as it came.
                None if surface == Surface::Api && credentials.immich_apps() => {
                    Ok(Principal { name: Arc::from("immich-app"), ..as_it_came() })
                }
                None if carriers::gateway_key(req).is_some() => Err(AuthError::new("invalid gateway API key")),
                None => Err(AuthError::new("missing gateway API key (X-API-Key or Authorization: Bearer)")),
            }
        }
        // `/api` in passthrough, oauth and jwt mode is Immich's to judge: the request goes as it came.
        AuthMode::Passthrough | AuthMode::OAuth | AuthMode::Jwt if surface == Surface::Api => Ok(as_it_came()),
        AuthMode::Passthrough => match carriers::caller_credential(req).map_err(AuthError::new)? {
            Some(credential) => Ok(Principal::new("passthrough", Via::Caller, Some(credential))),
            None => Ok(Principal::new("anonymous", Via::Anonymous, credentials.default_immich().cloned())),
        },
        AuthMode::OAuth => {
            let token = carriers::bearer(req).map_err(AuthError::new)?.ok_or(AuthError::new(
                "missing access token (Authorization: Bearer): sign in through the gateway's OAuth server",
            ))?;
            let (vault, resource) = credentials.oauth().ok_or(AuthError::new("OAuth is not set up"))?;
            let token =
                oauth::verify_access(vault, resource, token).map_err(|e| AuthError::invalid_token(e.message()))?;
            let immich = Credential::api_key(&token.grant.key);
            let name = format!("oauth:{}", token.grant.client_name);
            Ok(Principal { grant: Some(Arc::new(token.grant)), ..Principal::new(&name, Via::OAuth, immich) })
        }
        AuthMode::Jwt => {
            let token = carriers::bearer(req).map_err(AuthError::new)?.ok_or(AuthError::new(
                "missing bearer token (Authorization: Bearer): sign in with the identity provider",
            ))?;
            let verifier = credentials.jwt().ok_or(AuthError::new("JWT checking is not set up"))?;
            match verifier.verify(token) {
                Ok((person, key)) => Ok(Principal::new(&format!("jwt:{person}"), Via::Jwt, Some(key))),
                Err(jwt::JwtError::Invalid(message)) => Err(AuthError::invalid_token(message)),
                Err(jwt::JwtError::NoKey) => Err(AuthError {
                    message: "no Immich key is configured for this person ([[jwt.users]])",
                    invalid_token: false,
                    forbidden: true,
                }),
            }
        }
    }
}

/// What authentication needs done before [`authenticate`] can judge a request: in `jwt` mode,
/// the identity provider's keys fetched (first use, refresh, or a key id not seen yet).
pub async fn prepare(req: &RequestHeader, credentials: &Credentials) {
    if let Some(verifier) = credentials.jwt()
        && let Ok(Some(token)) = carriers::bearer(req)
    {
        verifier.prepare(token).await;
    }
}

/// The `WWW-Authenticate` challenge of a 401 for `reason`, pointing at the RFC 9728 metadata; in
/// `oauth` mode it names the scopes to ask for, and a bad token is called one (RFC 6750).
pub fn challenge(public_base: &str, mode: AuthMode, reason: &AuthError) -> String {
    let mut challenge = format!("Bearer resource_metadata=\"{public_base}/.well-known/oauth-protected-resource\"");
    if mode == AuthMode::Jwt && reason.invalid_token {
        challenge.push_str(&format!(", error=\"invalid_token\", error_description=\"{}\"", reason.message));
    }
    if mode == AuthMode::OAuth {
        challenge.push_str(&format!(", scope=\"{}\"", oauth::SCOPES.join(" ")));
        if reason.invalid_token {
            challenge.push_str(&format!(", error=\"invalid_token\", error_description=\"{}\"", reason.message));
        }
    }
    challenge
}

/// The `WWW-Authenticate` challenge of a 403 for a token that lacks `scope` (RFC 6750).
pub fn insufficient_scope(public_base: &str, scope: &str) -> String {
    format!(
        "Bearer error=\"insufficient_scope\", scope=\"{scope}\", \
         resource_metadata=\"{public_base}/.well-known/oauth-protected-resource\""
    )
}

/// Prepares a request proxied to Immich for `principal`: a gateway key's caller loses every
/// credential Immich reads (headers, the cookie, query parameters) and carries its mapped key; a
/// passthrough caller's request goes as it came.
pub fn prepare_upstream(principal: &Principal, upstream: &mut RequestHeader) -> pingora::Result<()> {
    if principal.via != Via::GatewayKey {
        return Ok(());
    }
    carriers::strip(upstream)?;
    if let Some(credential) = &principal.immich {
        let (name, value) = credential.header();
        upstream.insert_header(name, value.clone())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, GatewayKey, KeyHash};

    fn request(headers: &[(&str, &str)], target: &str) -> RequestHeader {
        let mut req = RequestHeader::build("GET", target.as_bytes(), None).unwrap();
        for (name, value) in headers {
            req.append_header(name.to_string(), *value).unwrap();
        }
        req
    }

    fn passthrough(with_default_key: bool) -> Credentials {
        let mut config = Config::default();
        if with_default_key {
            config.immich.api_key = Some("gateway-key".into());
        }
        Credentials::load(&config).unwrap()
    }

    #[test]
    fn passthrough_callers_act_as_themselves_and_never_as_the_gateway() {
        let creds = passthrough(true);
        let who = |headers: &[(&str, &str)], target: &str| {
            authenticate(&request(headers, target), &creds, Surface::Mcp).unwrap()
        };
        let key = who(&[("x-api-key", "k1")], "/mcp");
        assert_eq!((key.via, key.immich), (Via::Caller, Credential::api_key("k1")));
        let bearer = who(&[("authorization", "Bearer sess")], "/mcp");
        assert_eq!(bearer.immich, Credential::session("sess"), "a bearer token is an Immich session token");
        let cookie = who(&[("cookie", "theme=dark; immich_access_token=cookie-token")], "/mcp");
        assert_eq!(cookie.immich, Credential::session("cookie-token"));
        // Immich's own precedence: a session token wins over an API key.
        let both = who(&[("x-api-key", "k1"), ("x-immich-user-token", "sess")], "/mcp");
        assert_eq!(both.immich, Credential::session("sess"));
        assert_eq!(who(&[], "/mcp?apiKey=q1").immich, Credential::api_key("q1"));
        let anonymous = who(&[], "/mcp");
        assert_eq!((anonymous.via, anonymous.immich), (Via::Anonymous, Credential::api_key("gateway-key")));
        assert_eq!(authenticate(&request(&[], "/mcp"), &passthrough(false), Surface::Mcp).unwrap().immich, None);
        // A credential that cannot be sent is refused, not replaced by the gateway's key.
        assert!(authenticate(&request(&[("authorization", "Basic abc")], "/mcp"), &creds, Surface::Mcp).is_err());
    }

    #[test]
    fn inject_mode_takes_gateway_keys_only() {
        let mut config = Config::default();
        config.auth.mode = AuthMode::Inject;
        config.immich.api_key = Some("immich-admin".into());
        config.auth.keys = vec![GatewayKey {
            name: "agent".into(),
            hash: KeyHash::of("gw-agent"),
            immich_api_key: None,
            immich_api_key_file: None,
        }];
        let creds = Credentials::load(&config).unwrap();
        let ok = authenticate(&request(&[("authorization", "Bearer gw-agent")], "/api/x"), &creds, Surface::Api);
        let principal = ok.unwrap();
        assert_eq!((principal.via, principal.owner()), (Via::GatewayKey, "key:agent".to_string()));
        let missing = authenticate(&request(&[], "/api/x"), &creds, Surface::Api).unwrap_err();
        assert!(missing.message.contains("missing gateway API key"));
        let wrong = authenticate(&request(&[("x-api-key", "immich-admin")], "/api/x"), &creds, Surface::Api);
        assert_eq!(wrong.unwrap_err().message, "invalid gateway API key");

        // With Immich's apps let through, /api without a gateway key goes as it came, and the
        // gateway's Immich key is used for nobody but gateway keys.
        config.auth.immich_apps = true;
        let creds = Credentials::load(&config).unwrap();
        let app =
            authenticate(&request(&[("cookie", "immich_access_token=s")], "/api/x"), &creds, Surface::Api).unwrap();
        assert_eq!((app.via, app.immich), (Via::Caller, Credential::session("s")));
        let anonymous = authenticate(&request(&[], "/api/x"), &creds, Surface::Api).unwrap();
        assert_eq!((anonymous.via, anonymous.immich), (Via::Caller, None));
        let agent = authenticate(&request(&[("authorization", "Bearer gw-agent")], "/api/x"), &creds, Surface::Api);
        assert_eq!(agent.unwrap().via, Via::GatewayKey);
        assert!(authenticate(&request(&[], "/mcp"), &creds, Surface::Mcp).is_err(), "MCP still needs a gateway key");
    }

    #[test]
    fn injected_requests_carry_no_credential_of_the_callers() {
        let principal = Principal::new("agent", Via::GatewayKey, Credential::api_key("immich-admin"));
        let mut upstream = request(
            &[
                ("x-api-key", "gw"),
                ("authorization", "Bearer x"),
                ("cookie", "immich_access_token=t"),
                ("x-immich-user-token", "u"),
                ("x-immich-session-token", "s"),
                ("x-immich-share-key", "k"),
                ("x-immich-share-slug", "sl"),
                ("accept", "application/json"),
            ],
            "/api/assets?apiKey=a&key=b&sessionKey=c&slug=d&size=preview",
        );
        prepare_upstream(&principal, &mut upstream).unwrap();
        let mut names: Vec<&str> = upstream.headers.keys().map(|k| k.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["accept", "x-api-key"]);
        assert_eq!(upstream.headers["x-api-key"], "immich-admin");
        assert_eq!(upstream.headers.len(), 2, "{:?}", upstream.headers);
        assert_eq!(upstream.uri.to_string(), "/api/assets?size=preview");
    }
}
