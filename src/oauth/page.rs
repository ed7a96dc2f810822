//! The HTML the person sees: the sign-in and consent page, and the page for a request that
//! cannot go back to its client. Server-rendered, no JavaScript, labelled for screen readers,
//! in Immich's colours (light and dark); every value from a request is escaped.

use super::Reply;

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

/// HTML-escapes `text`.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
:root { color-scheme: light dark; --primary: #4250af; --bg: #f6f6f4; --card: #fff; --text: #212121; --muted: #5f6368; --line: #d4d4d4; --danger: #b3261e; }
@media (prefers-color-scheme: dark) { :root { --primary: #adcbfa; --bg: #000; --card: #171717; --text: #e5e5e5; --muted: #a3a3a3; --line: #404040; --danger: #f2b8b5; } }
* { box-sizing: border-box; }
body { margin: 0; min-height: 100vh; display: grid; place-items: center; background: var(--bg); color: var(--text); font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { width: min(28rem, 100% - 2rem); margin: 2rem 0; background: var(--card); border: 1px solid var(--line); border-radius: 1.5rem; padding: 2rem; }
.brand { display: flex; align-items: center; gap: .6rem; color: var(--primary); font-weight: 700; font-size: 1.4rem; margin-bottom: 1rem; }
.brand svg { width: 2rem; height: 2rem; }
h1 { font-size: 1.25rem; margin: 0 0 .5rem; }
p { margin: .5rem 0; color: var(--muted); }
fieldset { border: 0; padding: 0; margin: 1.25rem 0 0; }
legend { font-weight: 600; margin-bottom: .5rem; }
label { display: block; font-size: .9rem; margin: .75rem 0 .25rem; }
input[type=email], input[type=password], input[type=text] { width: 100%; padding: .65rem .9rem; border-radius: .75rem; border: 1px solid var(--line); background: transparent; color: inherit; font: inherit; }
input:focus-visible, button:focus-visible, summary:focus-visible { outline: 3px solid var(--primary); outline-offset: 2px; }
.choice { display: flex; gap: .6rem; align-items: flex-start; margin: .4rem 0; font-size: 1rem; }
.choice input { margin-top: .35rem; }
.choice small { display: block; color: var(--muted); }
details { margin-top: .75rem; font-size: .9rem; }
summary { cursor: pointer; color: var(--primary); }
.actions { display: flex; gap: .75rem; margin-top: 1.5rem; }
button { flex: 1; padding: .7rem 1rem; border-radius: 999px; border: 1px solid var(--primary); font: inherit; font-weight: 600; cursor: pointer; }
.allow { background: var(--primary); color: var(--card); }
.deny { background: transparent; color: var(--primary); }
.problem { border: 1px solid var(--danger); color: var(--danger); border-radius: .75rem; padding: .6rem .9rem; margin: 1rem 0 0; }
.fine { font-size: .8rem; margin-top: 1.25rem; }
"#;

const LOGO: &str = r##"<svg viewBox="0 0 32 32" aria-hidden="true"><circle cx="11" cy="11" r="7" fill="#fa2921"/><circle cx="21" cy="11" r="7" fill="#ed79b5"/><circle cx="11" cy="21" r="7" fill="#1e83f7"/><circle cx="21" cy="21" r="7" fill="#18c249"/></svg>"##;

fn document(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width, initial-scale=1\"><meta name=\"referrer\" content=\"no-referrer\">\
         <title>{}</title><style>{STYLE}</style></head><body><main>\
         <div class=\"brand\">{LOGO}<span>Immich</span></div>{body}</main></body></html>",
        escape(title)
    )
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
