//! What each scope lets a client do, as Immich permissions: the union of what the tools of that
//! scope need — of the tools `[tools]` offers (its toolsets, `enabled`, `disabled`, `read_only`):
//! read from the tool registry, so a new tool widens its scope by itself, and a tool the gateway
//! does not offer widens nothing — plus `apiKey.delete`, with which revocation deletes the key
//! made for the grant.

use crate::auth::oauth::{SCOPE_READ, SCOPE_WRITE, SCOPES};
use crate::config::ToolsConfig;
use std::collections::BTreeSet;

/// The permission every grant's key needs for its own revocation.
const REVOKE: &str = "apiKey.delete";

/// The scopes in `requested` (space-separated), checked; empty asks for every scope.
pub fn parse(requested: Option<&str>) -> Result<Vec<&'static str>, String> {
    let words: Vec<&str> = requested.unwrap_or_default().split(' ').filter(|w| !w.is_empty()).collect();
    if words.is_empty() {
        return Ok(SCOPES.to_vec());
    }
    let mut scopes = Vec::new();
    for word in words {
        let known = SCOPES
            .iter()
            .find(|s| **s == word)
            .ok_or_else(|| format!("unknown scope {word:?}; this server understands {}", SCOPES.join(" and ")))?;
        if !scopes.contains(known) {
            scopes.push(*known);
        }
    }
    Ok(scopes)
}

/// The Immich permissions of a grant of `scopes`, given the tools `tools` offers.
pub fn permissions(scopes: &[&str], tools: &ToolsConfig) -> Vec<&'static str> {
    let write = scopes.contains(&SCOPE_WRITE);
    let read = write || scopes.contains(&SCOPE_READ);
    let mut permissions: BTreeSet<&'static str> = crate::tools::registry::all()
        .iter()
        .filter(|tool| tools.offers_tool(tool.name, tool.toolset, tool.writes))
        .filter(|tool| if tool.writes { write } else { read })
        .flat_map(|tool| tool.permissions.iter().copied())
        .collect();
    permissions.insert(REVOKE);
    permissions.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_and_map_to_the_tools_permissions() {
        assert_eq!(parse(None).unwrap(), SCOPES);
        assert_eq!(parse(Some("immich:read")).unwrap(), [SCOPE_READ]);
        assert!(parse(Some("immich:read admin")).unwrap_err().contains("unknown scope \"admin\""));
        let tools = ToolsConfig::default();
        let read = permissions(&[SCOPE_READ], &tools);
        let write = permissions(&[SCOPE_READ, SCOPE_WRITE], &tools);
        assert!(read.contains(&"asset.read") && read.contains(&REVOKE));
        assert!(!read.contains(&"album.create") && write.contains(&"album.create"), "{read:?}");
        assert!(read.iter().all(|p| write.contains(p)), "write includes read");
        assert!(!write.contains(&"all") && !write.contains(&"apiKey.create"), "never more than the tools need");
        // Only the tools offered: the default toolsets delete nothing and share nothing.
        assert!(!write.contains(&"asset.delete") && !write.contains(&"sharedLink.create"), "{write:?}");
        let everything: ToolsConfig = toml::from_str("toolsets = [\"all\"]").unwrap();
        let all = permissions(&[SCOPE_READ, SCOPE_WRITE], &everything);
        assert!(all.contains(&"asset.delete") && all.contains(&"sharedLink.create"), "{all:?}");
        let read_only: ToolsConfig = toml::from_str("toolsets = [\"all\"]\nread_only = true").unwrap();
        assert!(!permissions(&[SCOPE_WRITE], &read_only).contains(&"asset.delete"));
    }
}
