//! The gateway's own pages (the OAuth sign-in, the MCP welcome page) share one look, next to
//! Immich's: its colours in light and dark, its four-colour mark, a card in the middle, no
//! JavaScript. Every value from outside goes through [`escape`].

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

/// The stylesheet.
pub const STYLE: &str = r#"
:root { color-scheme: light dark; --primary: #4250af; --bg: #f6f6f4; --card: #fff; --text: #212121; --muted: #5f6368; --line: #d4d4d4; --danger: #b3261e; }
@media (prefers-color-scheme: dark) { :root { --primary: #adcbfa; --bg: #000; --card: #171717; --text: #e5e5e5; --muted: #a3a3a3; --line: #404040; --danger: #f2b8b5; } }
* { box-sizing: border-box; }
body { margin: 0; min-height: 100vh; display: grid; grid-template-columns: minmax(0, 1fr); place-items: center; background: var(--bg); color: var(--text); font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
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
main:has(.wide) { width: min(56rem, 100% - 2rem); }
h2 { font-size: 1.05rem; margin: 1.75rem 0 .5rem; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .88em; background: color-mix(in srgb, var(--primary) 12%, transparent); padding: .05rem .3rem; border-radius: .3rem; }
pre { overflow-x: auto; background: color-mix(in srgb, var(--text) 7%, transparent); padding: .8rem 1rem; border-radius: .75rem; font-size: .82rem; line-height: 1.45; }
pre code { background: none; padding: 0; }
dl.status { display: grid; grid-template-columns: max-content 1fr; gap: .35rem 1.25rem; margin: .5rem 0; }
dt { color: var(--muted); }
.ok { color: #1b8f3f; font-weight: 600; } .bad { color: var(--danger); font-weight: 600; }
@media (prefers-color-scheme: dark) { .ok { color: #6fdc8c; } }
ul.tools { list-style: none; padding: 0; } ul.tools li { margin: .55rem 0; } ul.tools small { color: var(--muted); }
nav { display: flex; flex-wrap: wrap; gap: .5rem 1.25rem; margin-top: 1.5rem; } nav a { color: var(--primary); }
"#;

const LOGO: &str = r##"<svg viewBox="0 0 32 32" aria-hidden="true"><circle cx="11" cy="11" r="7" fill="#fa2921"/><circle cx="21" cy="11" r="7" fill="#ed79b5"/><circle cx="11" cy="21" r="7" fill="#1e83f7"/><circle cx="21" cy="21" r="7" fill="#18c249"/></svg>"##;

/// A whole page: `title` (escaped here) and `body` (HTML, escaped by its maker).
pub fn document(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width, initial-scale=1\"><meta name=\"referrer\" content=\"no-referrer\">\
         <title>{}</title><style>{STYLE}</style></head><body><main>\
         <div class=\"brand\">{LOGO}<span>Immich</span></div>{body}</main></body></html>",
        escape(title)
    )
}

/// `text` escaped, with Markdown `code` spans rendered (tool descriptions are written for models,
/// in Markdown).
pub fn inline_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for (n, part) in escape(text).split('`').enumerate() {
        if n % 2 == 1 {
            out.push_str("<code>");
            out.push_str(part);
            out.push_str("</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_code_spans_render_and_everything_else_is_escaped() {
        assert_eq!(inline_markdown("use `limit` <b>"), "use <code>limit</code> &lt;b&gt;");
        assert_eq!(escape("\"'&"), "&quot;&#39;&amp;");
    }
}
