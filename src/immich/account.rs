//! A person's Immich account, as the OAuth sign-in uses it: log in with email and password, make
//! an API key with chosen permissions, log the session out, delete a key.

use super::Credential;
use super::client::{ImmichClient, ImmichError, error_from};
use super::path::{ApiPath, Uuid};
use http::Method;
use serde::Deserialize;
use serde_json::{Value, json};

/// A person signed in to Immich.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Login {
    /// The session's token (a credential: never logged).
    pub access_token: String,
    /// The person's user id.
    pub user_id: String,
    /// Their email.
    pub user_email: String,
    /// Their name.
    pub name: String,
}

/// The person behind a credential (`GET /api/users/me`).
#[derive(Clone, Debug, Deserialize)]
pub struct User {
    /// User id.
    pub id: String,
    /// Email.
    pub email: String,
    /// Name.
    pub name: String,
}

/// An API key just made: its id and its secret (shown once).
#[derive(Clone, Debug)]
pub struct NewKey {
    /// The key's id.
    pub id: String,
    /// The key itself.
    pub secret: String,
}

impl ImmichClient {
    /// `POST /api/auth/login`. A wrong email or password is `ImmichError::Unauthorized`.
    pub async fn login(&self, email: &str, password: &str) -> Result<Login, ImmichError> {
        let response = self
            .http
            .post(self.base.url("/api/auth/login"))
            .timeout(self.timeout)
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() { ImmichError::Timeout } else { ImmichError::Unreachable(super::root_cause(&e)) }
            })?;
        if !response.status().is_success() {
            return Err(error_from(response).await);
        }
        response.json().await.map_err(|e| ImmichError::Malformed(format!("login reply: {}", super::root_cause(&e))))
    }

    /// `GET /api/server/version` without credentials (Immich serves it to anyone), as `3.1.0`.
    pub async fn public_version(&self, timeout: std::time::Duration) -> Result<String, ImmichError> {
        let response =
            self.http.get(self.base.url("/api/server/version")).timeout(timeout).send().await.map_err(|e| {
                if e.is_timeout() { ImmichError::Timeout } else { ImmichError::Unreachable(super::root_cause(&e)) }
            })?;
        if !response.status().is_success() {
            return Err(error_from(response).await);
        }
        let v: Value = response.json().await.map_err(|e| ImmichError::Malformed(super::root_cause(&e)))?;
        Ok(format!("{}.{}.{}", v["major"], v["minor"], v["patch"]))
    }

    /// `GET /api/users/me`: who `key` belongs to.
    pub async fn user(&self, key: &Credential) -> Result<User, ImmichError> {
        self.get(key, &ApiPath::fixed("/api/users/me"), &[]).await
    }

    /// `POST /api/api-keys`: a key named `name` for `owner`'s person, with `permissions`.
    pub async fn create_api_key(
        &self,
        owner: &Credential,
        name: &str,
        permissions: &[&str],
    ) -> Result<NewKey, ImmichError> {
        let body = json!({ "name": name, "permissions": permissions });
        let made: Value = self.write(owner, Method::POST, &ApiPath::fixed("/api/api-keys"), &body).await?;
        match (made["apiKey"]["id"].as_str(), made["secret"].as_str()) {
            (Some(id), Some(secret)) => Ok(NewKey { id: id.to_string(), secret: secret.to_string() }),
            _ => Err(ImmichError::Malformed("the new API key's reply has no id or secret".into())),
        }
    }

    /// `DELETE /api/api-keys/{id}`, authenticated with `key` (a key may delete itself).
    pub async fn delete_api_key(&self, key: &Credential, id: &str) -> Result<(), ImmichError> {
        let id = Uuid::parse(id).ok_or_else(|| ImmichError::Invalid(format!("{id:?} is not an API key id")))?;
        self.write_empty(key, Method::DELETE, &ApiPath::fixed("/api/api-keys").id(&id), &json!({})).await
    }

    /// `POST /api/auth/logout`: ends the session `session` is the token of.
    pub async fn logout(&self, session: &Credential) -> Result<(), ImmichError> {
        let _: Value = self.write(session, Method::POST, &ApiPath::fixed("/api/auth/logout"), &json!({})).await?;
        Ok(())
    }
}
