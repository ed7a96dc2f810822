//! RFC 8414 authorization-server metadata: where the endpoints are and what they accept.

use super::{Endpoint, Server};
use crate::auth::oauth::SCOPES;
use serde_json::{Value, json};

/// The metadata document served at `/.well-known/oauth-authorization-server` (with the prefix
/// appended when there is one, RFC 8414 §3.1).
pub fn authorization_server_metadata(server: &Server<'_>) -> Value {
    let mut metadata = json!({
        "issuer": server.issuer(),
        "authorization_endpoint": server.endpoint_url(Endpoint::Authorize),
        "token_endpoint": server.endpoint_url(Endpoint::Token),
        "revocation_endpoint": server.endpoint_url(Endpoint::Revoke),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "revocation_endpoint_auth_methods_supported": ["none"],
        "scopes_supported": SCOPES,
        "authorization_response_iss_parameter_supported": true,
        "client_id_metadata_document_supported": server.config.oauth.client_metadata_documents,
    });
    if server.config.oauth.dynamic_registration {
        metadata["registration_endpoint"] = json!(server.endpoint_url(Endpoint::Register));
    }
    metadata
}
