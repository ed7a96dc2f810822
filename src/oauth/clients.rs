//! Who may ask for tokens: clients registered in `[oauth] clients`, clients registered with
//! RFC 7591 dynamic registration, whose `client_id` is their registration sealed — nothing is
//! stored, and any replica knows them — and clients whose `client_id` is the URL of their metadata
//! document (`cimd`). All are public clients (PKCE, no secret), as MCP clients are.

use super::{Reply, Request, Server};
use crate::auth::oauth::{kind, now};
use crate::config::check_redirect_uri;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A client the server knows.
#[derive(Clone, Debug, PartialEq)]
pub struct Client {
    /// Its `client_id`.
    pub id: String,
    /// Its name, as the sign-in page shows it.
    pub name: String,
    /// The redirect URIs it registered.
    pub redirect_uris: Vec<String>,
}

/// A dynamic registration, sealed into the client id.
#[derive(Serialize, Deserialize)]
struct Registration {
    #[serde(rename = "n")]
    name: String,
    #[serde(rename = "r")]
    redirect_uris: Vec<String>,
    iat: u64,
}

/// The most redirect URIs one registration may list, and the longest name and URI.
const MAX_REDIRECT_URIS: usize = 10;
const MAX_NAME: usize = 200;
const MAX_URI: usize = 2000;

/// The client `id` names: configured, dynamically registered (sealed), or an https URL whose
/// metadata document describes it (`cimd`); otherwise why not.
pub async fn find(server: &Server<'_>, id: &str) -> Result<Client, String> {
    let oauth = &server.config.oauth;
    if let Some(configured) = oauth.clients.iter().find(|c| c.id == id) {
        return Ok(Client {
            id: configured.id.clone(),
            name: configured.name.clone(),
            redirect_uris: configured.redirect_uris.clone(),
        });
    }
    if super::cimd::is_document_url(id) {
        if !oauth.client_metadata_documents {
            return Err("client metadata documents are off here ([oauth] client_metadata_documents)".into());
        }
        return super::cimd::client(id, oauth.client_metadata_allow_private).await;
    }
    let registration: Option<Registration> =
        if oauth.dynamic_registration { server.vault.open(kind::CLIENT, id) } else { None };
    let registration = registration.ok_or("the app is not registered with this gateway")?;
    Ok(Client { id: id.to_string(), name: registration.name, redirect_uris: registration.redirect_uris })
}

/// Whether `presented` is one of `client`'s redirect URIs: exactly, or for a loopback one with
/// any port (RFC 8252 §7.3: native apps listen on a port of the moment).
pub fn redirect_allowed(client: &Client, presented: &str) -> bool {
    client.redirect_uris.iter().any(|registered| registered == presented || same_but_port(registered, presented))
}

fn same_but_port(registered: &str, presented: &str) -> bool {
    let (Ok(a), Ok(b)) = (registered.parse::<http::Uri>(), presented.parse::<http::Uri>()) else { return false };
    let loopback = matches!(a.host(), Some("127.0.0.1" | "[::1]" | "localhost"));
    loopback
        && a.scheme_str() == Some("http")
        && b.scheme_str() == Some("http")
        && a.host() == b.host()
        && a.path_and_query() == b.path_and_query()
}

/// `POST /oauth/register` (RFC 7591): a client id for the metadata given.
pub fn register(server: &Server<'_>, req: &Request<'_>) -> Reply {
    if !server.config.oauth.dynamic_registration {
        return Reply::error(
            403,
            "access_denied",
            "dynamic registration is off ([oauth] dynamic_registration = false); use a client from [oauth] clients",
        );
    }
    let metadata: Value = match serde_json::from_slice(req.body) {
        Ok(value @ Value::Object(_)) => value,
        _ => return Reply::error(400, "invalid_client_metadata", "the body must be a JSON object (RFC 7591)"),
    };
    match registration(&metadata) {
        Ok(registration) => {
            let client_id = server.vault.seal(kind::CLIENT, &registration);
            Reply::json(
                201,
                &json!({
                    "client_id": client_id,
                    "client_id_issued_at": registration.iat,
                    "client_name": registration.name,
                    "redirect_uris": registration.redirect_uris,
                    "grant_types": ["authorization_code", "refresh_token"],
                    "response_types": ["code"],
                    "token_endpoint_auth_method": "none",
                }),
            )
        }
        Err((error, description)) => Reply::error(400, error, &description),
    }
}

fn registration(metadata: &Value) -> Result<Registration, (&'static str, String)> {
    let invalid = |text: String| ("invalid_client_metadata", text);
    let uris = metadata["redirect_uris"]
        .as_array()
        .filter(|uris| !uris.is_empty() && uris.len() <= MAX_REDIRECT_URIS)
        .ok_or_else(|| ("invalid_redirect_uri", format!("redirect_uris must list 1 to {MAX_REDIRECT_URIS} URIs")))?;
    let mut redirect_uris = Vec::with_capacity(uris.len());
    for uri in uris {
        let uri = uri.as_str().filter(|u| u.len() <= MAX_URI).ok_or_else(|| {
            ("invalid_redirect_uri", format!("each redirect URI must be a string of at most {MAX_URI} characters"))
        })?;
        check_redirect_uri(uri).map_err(|problem| ("invalid_redirect_uri", format!("{uri:?}: {problem}")))?;
        redirect_uris.push(uri.to_string());
    }
    for (field, allowed) in
        [("grant_types", ["authorization_code", "refresh_token"]), ("response_types", ["code", "code"])]
    {
        if let Some(values) = metadata[field].as_array()
            && let Some(other) = values.iter().find(|v| !v.as_str().is_some_and(|v| allowed.contains(&v)))
        {
            return Err(invalid(format!("{field}: {other} is not supported (only {})", allowed.join(", "))));
        }
    }
    let name = match &metadata["client_name"] {
        Value::Null => "An MCP client".to_string(),
        Value::String(name) if !name.trim().is_empty() && name.chars().count() <= MAX_NAME => name.trim().to_string(),
        _ => return Err(invalid(format!("client_name must be a string of 1 to {MAX_NAME} characters"))),
    };
    Ok(Registration { name, redirect_uris, iat: now() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(uris: &[&str]) -> Client {
        Client { id: "c".into(), name: "n".into(), redirect_uris: uris.iter().map(|u| u.to_string()).collect() }
    }

    #[test]
    fn redirects_match_exactly_or_on_loopback_with_any_port() {
        let c = client(&["https://app.example/cb", "http://127.0.0.1:3000/callback"]);
        assert!(redirect_allowed(&c, "https://app.example/cb"));
        assert!(redirect_allowed(&c, "http://127.0.0.1:49152/callback"));
        assert!(!redirect_allowed(&c, "https://app.example/cb/"));
        assert!(!redirect_allowed(&c, "https://app.example:8443/cb"), "only loopback ports vary");
        assert!(!redirect_allowed(&c, "http://127.0.0.1:49152/other"));
        assert!(!redirect_allowed(&c, "http://localhost:3000/callback"), "another host");
    }

    #[test]
    fn registrations_are_checked() {
        let ok = registration(&json!({ "redirect_uris": ["http://127.0.0.1/cb"], "client_name": "Claude" })).unwrap();
        assert_eq!((ok.name.as_str(), ok.redirect_uris.len()), ("Claude", 1));
        for (bad, error) in [
            (json!({}), "invalid_redirect_uri"),
            (json!({ "redirect_uris": ["http://evil.example/cb"] }), "invalid_redirect_uri"),
            (
                json!({ "redirect_uris": ["https://a.example/cb"], "grant_types": ["client_credentials"] }),
                "invalid_client_metadata",
            ),
            (json!({ "redirect_uris": ["https://a.example/cb"], "client_name": 7 }), "invalid_client_metadata"),
        ] {
            assert_eq!(registration(&bad).err().map(|e| e.0), Some(error), "{bad}");
        }
    }
}
