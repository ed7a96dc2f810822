//! The Immich tool catalogue. Each family of tools lives in its own file, every tool's definition
//! beside its handler ([`registry`]); this module offers them over MCP as a [`Catalog`], hiding the
//! ones the Immich key may not use. Results are built with the official SDK's model types:
//! `structuredContent` for programs plus a compact text rendering for the model. An Immich failure
//! becomes a tool result with `isError: true` and Immich's own message; arguments the gateway
//! refuses itself (an id that is not a UUID, a cursor it did not hand out) say so, and nothing of
//! them reaches Immich.

mod ahead;
mod albums;
mod call;
mod cleanup;
mod cursor;
mod duplicates;
mod edits;

/// Whether `text` decodes as a page cursor (for the fuzzers).
#[cfg(feature = "fuzzing")]
pub(crate) fn cursor_decode(text: &str) -> bool {
    cursor::Cursor::decode(text).is_some()
}
pub mod export;
mod library;
mod map;
mod people;
mod photo;
mod photos;
mod prompts;
pub mod registry;
mod resources;
mod sharing;
mod stacks;
mod stream;
mod summary;
mod tags;
mod text;
mod timeline;
mod trash;

use crate::config::{StreamingConfig, ToolsConfig};
use crate::immich::ImmichClient;
use crate::immich::path::ApiPath;
use crate::mcp::catalog::{CallContext, Catalog, ToolSpec, tool_error};
use crate::mcp::jsonrpc::RpcError;
use async_trait::async_trait;
use call::Call;
use registry::{Streams, Threshold, Tool};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::OnceCell;

/// What the gateway's Immich key may do, as last read from `GET /api/api-keys/me`, with a version
/// that changes whenever the set does (the tool list is rebuilt then).
#[derive(Default)]
pub struct KeyPermissions {
    version: AtomicU64,
    set: arc_swap::ArcSwapOption<HashSet<String>>,
}

impl KeyPermissions {
    /// The current set (`None`: unknown, so every tool is listed) and its version.
    pub fn snapshot(&self) -> (u64, Option<Arc<HashSet<String>>>) {
        (self.version.load(Ordering::Acquire), self.set.load_full())
    }

    /// Stores a freshly read set; bumps the version only when it changed.
    pub fn update(&self, permissions: Option<HashSet<String>>) {
        let current = self.set.load_full();
        if current.as_deref() != permissions.as_ref() {
            self.set.store(permissions.map(Arc::new));
            self.version.fetch_add(1, Ordering::AcqRel);
        }
    }
}

/// The permissions of the Immich keys callers act with (by fingerprint), for a minute: `None` when
/// the key cannot say (a session token, or Immich did not answer). At most 10,000 keys.
fn caller_permissions() -> &'static crate::bounded::ExpiringMap<String, Option<Arc<HashSet<String>>>> {
    static CACHE: std::sync::OnceLock<crate::bounded::ExpiringMap<String, Option<Arc<HashSet<String>>>>> =
        std::sync::OnceLock::new();
    CACHE.get_or_init(|| crate::bounded::ExpiringMap::new(10_000))
}

/// The Immich tools for one configuration and one known set of key permissions.
pub struct ImmichCatalog {
    client: ImmichClient,
    config: ToolsConfig,
    streaming: StreamingConfig,
    /// The most photos one page holds (`[streaming] auto_stream_threshold`, 1 to 1000).
    page_cap: usize,
    /// The tools offered, each with whether the key may use it.
    tools: Vec<(Tool, bool)>,
    smart_search: OnceCell<bool>,
    /// Immich's major version, asked once per catalogue (a reload asks again): the v2 line names
    /// some parameters differently.
    major: OnceCell<u64>,
}

impl ImmichCatalog {
    /// The tools `config` allows, given the Immich key's permissions when known (`None`: list all).
    pub fn new(
        client: ImmichClient,
        config: &ToolsConfig,
        streaming: &StreamingConfig,
        permissions: Option<&HashSet<String>>,
    ) -> ImmichCatalog {
        let allowed = |p: &str| permissions.is_none_or(|set| set.contains("all") || set.contains(p));
        let tools = registry::all()
            .into_iter()
            .filter(|d| config.offers_tool(d.name, d.toolset, d.writes))
            .filter_map(|d| {
                let available = d.permissions.iter().all(|p| allowed(p));
                (available || !config.hide_unavailable).then_some((d, available))
            })
            .collect();
        let page_cap = streaming.auto_stream_threshold.clamp(1, 1000);
        ImmichCatalog {
            client,
            config: config.clone(),
            streaming: streaming.clone(),
            page_cap,
            tools,
            smart_search: OnceCell::new(),
            major: OnceCell::new(),
        }
    }

    /// Immich's major version (3 when it cannot be read: the current line).
    async fn immich_major(&self, key: &crate::immich::Credential) -> u64 {
        *self.major.get_or_init(|| async { self.client.version(key).await.map_or(3, |(major, ..)| major) }).await
    }

    /// Whether Immich searches by meaning (CLIP); asked once.
    async fn smart_search(&self, key: &crate::immich::Credential) -> bool {
        *self
            .smart_search
            .get_or_init(|| async {
                let features: Result<Value, _> =
                    self.client.get(key, &ApiPath::fixed("/api/server/features"), &[]).await;
                features.is_ok_and(|f| f["smartSearch"] == json!(true))
            })
            .await
    }
}

#[async_trait]
impl Catalog for ImmichCatalog {
    /// The tools the caller's own Immich key lacks permissions for (with `hide_unavailable`): the
    /// listing follows the gateway's key, and a gateway key mapped to a read-only Immich key, or
    /// a caller's own key, may allow less (REAL-IMMICH.md defect 11).
    async fn hidden_tools(&self, cx: &CallContext) -> HashSet<String> {
        let Some(key) = cx.immich.as_ref().filter(|_| self.config.hide_unavailable) else { return HashSet::new() };
        let fingerprint = key.fingerprint();
        let known = match caller_permissions().with(&fingerprint, |p| p.clone()) {
            Some(known) => known,
            None => {
                let probed = self.client.permissions(key).await.ok().map(|p| Arc::new(p.into_iter().collect()));
                caller_permissions().insert_for(fingerprint, probed.clone(), std::time::Duration::from_secs(60));
                probed
            }
        };
        let Some(permissions) = known.filter(|p| !p.contains("all")) else { return HashSet::new() };
        self.tools
            .iter()
            .filter(|(tool, _)| !tool.permissions.iter().all(|p| permissions.contains(*p)))
            .map(|(tool, _)| tool.name.to_string())
            .collect()
    }

    fn tools(&self) -> Vec<ToolSpec> {
        self.tools
            .iter()
            .map(|(tool, available)| {
                let mut definition = tool.definition();
                if !available {
                    definition.description = Some(
                        format!(
                            "[Unavailable: the Immich API key lacks {}] {}",
                            tool.permissions.join(", "),
                            tool.description
                        )
                        .into(),
                    );
                }
                let streams = if self.streaming.enabled { tool.streams } else { Streams::Never };
                let spec = ToolSpec::new(
                    serde_json::to_value(definition).expect("tools serialize"),
                    streams == Streams::Always,
                );
                match streams {
                    Streams::Above(argument, Threshold::Page) => spec.streams_above(argument, self.page_cap as u64),
                    Streams::Above(argument, Threshold::Fixed(n)) => spec.streams_above(argument, n),
                    Streams::Never | Streams::Always => spec,
                }
            })
            .collect()
    }

    fn resource_templates(&self) -> Vec<Value> {
        resources::templates()
    }

    async fn read_resource(&self, uri: &str, cx: &CallContext) -> Option<Result<Value, RpcError>> {
        resources::read(self, uri, cx).await
    }

    fn prompts(&self) -> Vec<Value> {
        prompts::list()
    }

    async fn get_prompt(&self, name: &str, arguments: &Value, _cx: &CallContext) -> Option<Result<Value, RpcError>> {
        prompts::get(name, arguments)
    }

    async fn complete(&self, reference: &Value, argument: &Value, cx: &CallContext) -> Option<Value> {
        prompts::complete(self, reference, argument, cx).await
    }

    async fn call_tool(&self, name: &str, args: Value, cx: &CallContext) -> Option<Result<Value, RpcError>> {
        let (tool, available) = self.tools.iter().find(|(t, _)| t.name == name)?;
        if !available {
            return Some(Ok(tool_error(format!(
                "{name} is unavailable: the Immich API key lacks {}",
                tool.permissions.join(", ")
            ))));
        }
        let Some(key) = cx.immich.clone() else {
            return Some(Ok(tool_error(
                "No Immich API key for this call: send X-API-Key (passthrough mode) or configure the gateway's key.",
            )));
        };
        let call = Call { catalog: self, key: &key, args: &args, cx };
        let outcome = tokio::select! {
            outcome = (tool.run)(&call) => outcome,
            () = cx.cancel.cancelled() => Err(crate::immich::ImmichError::Timeout.into()),
        };
        Some(Ok(match outcome {
            Ok(result) => result,
            Err(error) => tool_error(error.for_model()),
        }))
    }
}
