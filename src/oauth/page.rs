//! The HTML the person sees: the sign-in and consent page, and the page for a request that
//! cannot go back to its client. Server-rendered, no JavaScript, labelled for screen readers,
//! in Immich's colours (light and dark); every value from a request is escaped.

use super::Reply;
use crate::html::{document, escape};

/// What the sign-in page shows.
pub struct SignIn<'a> {
    /// The client's name.
    pub client: &'a str,
    /// Where the person goes back to (its host is shown).
    pub redirect_host: &'a str,
    /// The sealed pending request.
    pub consent: &'a str,
    /// Whether the client asked for writing too.
    pub offers_write: bool,
    /// The email typed before, when the page is shown again.
    pub email: &'a str,
    /// What went wrong with the last attempt.
    pub problem: Option<&'a str>,
    /// Where the form goes.
    pub action: &'a str,
}

/// Headers every page carries: no framing (clickjacking), no scripts, nothing cached.
fn page_reply(status: u16, html: String) -> Reply {
    Reply {
        status,
        content_type: "text/html; charset=utf-8",
        headers: vec![
            (
                "content-security-policy",
                "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; \
                 base-uri 'none'"
                    .into(),
            ),
            ("x-frame-options", "DENY".into()),
            ("referrer-policy", "no-referrer".into()),
            ("x-content-type-options", "nosniff".into()),
        ],
        body: html.into_bytes(),
    }
}

/// The sign-in and consent page.
pub fn sign_in(status: u16, page: &SignIn<'_>) -> Reply {
    let client = escape(page.client);
    let problem = page
        .problem
        .map(|p| format!("<p class=\"problem\" role=\"alert\" id=\"problem\">{}</p>", escape(p)))
        .unwrap_or_default();
    let described = if page.problem.is_some() { " aria-describedby=\"problem\"" } else { "" };
    let write = if page.offers_write {
        "<label class=\"choice\"><input type=\"radio\" name=\"access\" value=\"write\"> <span>Read and change \
         <small>also create albums, add and remove photos, tag, favourite, archive and edit details</small>\
         </span></label>"
            .to_string()
    } else {
        String::new()
    };
    let body = format!(
        "<h1>Connect {client} to your photos</h1>\
         <p><strong>{client}</strong> asks to use your Immich library. You will be sent back to \
         <strong>{host}</strong>.</p>{problem}\
         <form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"consent\" value=\"{consent}\">\
         <fieldset><legend>Sign in with your Immich account</legend>\
         <label for=\"email\">Email</label>\
         <input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" value=\"{email}\"{described}>\
         <label for=\"password\">Password</label>\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\"{described}>\
         <details><summary>Password sign-in turned off? Use an Immich API key</summary>\
         <label for=\"api_key\">API key (from Account Settings → API Keys)</label>\
         <input id=\"api_key\" name=\"api_key\" type=\"text\" autocomplete=\"off\" spellcheck=\"false\"></details>\
         </fieldset>\
         <fieldset><legend>What may {client} do?</legend>\
         <label class=\"choice\"><input type=\"radio\" name=\"access\" value=\"read\" checked> <span>Read only \
         <small>search and view your photos, albums, people, tags and map</small></span></label>{write}\
         </fieldset>\
         <div class=\"actions\"><button class=\"deny\" type=\"submit\" name=\"action\" value=\"deny\">Deny</button>\
         <button class=\"allow\" type=\"submit\" name=\"action\" value=\"approve\">Allow</button></div>\
         </form>\
         <p class=\"fine\">The gateway makes an Immich API key for {client} with only these permissions and signs \
         your session out again. You can delete the key any time in Immich, under Account Settings → API Keys.</p>",
        host = escape(page.redirect_host),
        action = escape(page.action),
        consent = escape(page.consent),
        email = escape(page.email),
    );
    page_reply(status, document(&format!("Connect {} to Immich", page.client), &body))
}

/// A page for a request that cannot be sent back to its client (unknown client, a redirect URI
/// that does not match, an expired form).
pub fn problem(status: u16, title: &str, message: &str) -> Reply {
    let body = format!("<h1>{}</h1><p class=\"problem\" role=\"alert\">{}</p>", escape(title), escape(message));
    page_reply(status, document(title, &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_is_escaped() {
        let page = SignIn {
            client: "<script>alert(1)</script>",
            redirect_host: "a\"b",
            consent: "g1.x",
            offers_write: true,
            email: "'><img>",
            problem: Some("<b>"),
            action: "/oauth/authorize",
        };
        let html = String::from_utf8(sign_in(200, &page).body).unwrap();
        assert!(!html.contains("<script>alert") && !html.contains("'><img>") && !html.contains("<b>"));
        assert!(html.contains("&lt;script&gt;") && html.contains("value=\"write\"") && html.contains("role=\"alert\""));
        let read_only = SignIn { offers_write: false, problem: None, ..page };
        assert!(!String::from_utf8(sign_in(200, &read_only).body).unwrap().contains("value=\"write\""));
    }
}
