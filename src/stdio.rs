//! MCP over standard input and output, for desktop clients that start the gateway themselves
//! (Claude Desktop, Cursor, VS Code, …): one JSON-RPC message per line each way, with the same
//! catalogue, configuration and Immich key as over HTTP. Nothing but MCP goes to standard output
//! (logs go to standard error); the end of input ends the process cleanly, once what still runs
//! has answered (or, after a few seconds, been cancelled). Calls run side by side; a call's notifications (progress, streamed data) go out as it
//! makes them, and `notifications/cancelled` stops one.

use crate::config::{ConfigError, ConfigErrors};
use crate::mcp::catalog::{CallContext, Catalog, InputRound, Outbound, PendingClientRequests};
use crate::mcp::jsonrpc::{self, Body, Message, RpcError};
use crate::mcp::server::{self, McpServer, Wire};
use crate::mcp::session::Sessions;
use crate::runtime::{ConfigStore, Runtime, Source};
use parking_lot::Mutex;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Lines waiting to be written to standard output.
const OUTPUT_QUEUE: usize = 64;
/// Messages a running call may queue before it waits for standard output.
const CALL_QUEUE: usize = 32;
/// How long calls still running at the end of input may take to answer before they are cancelled.
const END_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Loads the configuration and serves MCP on standard input and output until input ends.
#[cfg_attr(not(feature = "demo"), allow(unused_mut))]
pub fn run(mut source: Source, demo: bool) -> Result<(), ConfigErrors> {
    let refused = |origin: &str, message: String| ConfigErrors(vec![ConfigError::unplaced(origin, None, message)]);
    if demo {
        #[cfg(feature = "demo")]
        {
            let config = source.load()?;
            let addr = crate::demo::spawn(config.demo.assets, config.demo.fault.clone());
            let url = crate::config::BaseUrl::parse(&format!("http://{addr}")).map_err(|e| refused("--demo", e))?;
            source.demo_base_url = Some(url);
        }
        #[cfg(not(feature = "demo"))]
        return Err(refused("--demo", "this build has no demo Immich (built without the `demo` feature)".into()));
    }
    let store = ConfigStore::open(source)?;
    let runtime = store.current();
    crate::telemetry::init_logging(&runtime.config.telemetry);
    let tokio = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build();
    let tokio = tokio.map_err(|e| refused("stdio", format!("cannot start the runtime: {e}")))?;
    tokio.block_on(serve(runtime, tokio::io::stdin(), tokio::io::stdout()));
    Ok(())
}

/// The catalogue for `runtime`, as the HTTP transport builds it.
fn mcp_server(runtime: &Runtime) -> Arc<McpServer> {
    let config = &runtime.config;
    let tools = crate::tools::ImmichCatalog::new(runtime.immich.clone(), &config.tools, &config.streaming, None);
    #[allow(unused_mut)]
    let mut catalogs: Vec<Arc<dyn Catalog>> = vec![Arc::new(tools)];
    #[cfg(feature = "conformance-fixtures")]
    if config.mcp.conformance_fixtures {
        catalogs.insert(0, Arc::new(crate::mcp::fixtures::ConformanceFixtures));
    }
    Arc::new(McpServer::new(catalogs, config.mcp.page_size))
}

/// What the exchange with one client keeps: its capabilities, its running calls, and the
/// requests sent to it.
#[derive(Default)]
struct Client {
    capabilities: Mutex<Value>,
    running: Mutex<HashMap<String, CancellationToken>>,
    pending: Arc<PendingClientRequests>,
}

/// Serves one client on `input` and `output` until `input` ends.
pub async fn serve(
    runtime: Arc<Runtime>,
    input: impl AsyncRead + Unpin,
    mut output: impl AsyncWrite + Unpin + Send + 'static,
) {
    let server = mcp_server(&runtime);
    let sessions = Arc::new(Sessions::default());
    let client = Arc::new(Client::default());
    let (out, mut lines_out) = mpsc::channel::<String>(OUTPUT_QUEUE);
    let writer = tokio::spawn(async move {
        while let Some(line) = lines_out.recv().await {
            let line = jsonrpc::restore_ids(line.as_bytes()).into_owned();
            if output.write_all(&line).await.is_err() || output.write_all(b"\n").await.is_err() {
                return;
            }
            let _ = output.flush().await;
        }
    });
    let mut calls = tokio::task::JoinSet::new();
    let mut lines = BufReader::new(input).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if line.trim().is_empty() {
            continue;
        }
        match jsonrpc::parse_body(line.as_bytes()) {
            Err((id, error)) => send(&out, &error.response(id.as_ref())).await,
            Ok(Body::Batch(_)) => {
                let error =
                    RpcError::new(jsonrpc::INVALID_REQUEST, "send one message per line; batches are not taken here");
                send(&out, &error.response(None)).await;
            }
            Ok(Body::Single(Message::Notification { method, params })) => {
                if method == "notifications/cancelled"
                    && let Some(token) = client.running.lock().get(&params["requestId"].to_string())
                {
                    token.cancel();
                }
            }
            Ok(Body::Single(Message::Response { id, outcome })) => {
                client.pending.complete(&id, outcome);
            }
            Ok(Body::Single(Message::Request { id, method, params })) => {
                let call = Call { server: server.clone(), runtime: runtime.clone(), sessions: sessions.clone() };
                calls.spawn(call.run(client.clone(), out.clone(), id, method, params));
            }
        }
    }
    // The client closed its end (a script that wrote its requests, or a desktop client leaving):
    // what runs gets a moment to answer, then is cancelled.
    let finished = tokio::time::timeout(END_GRACE, async { while calls.join_next().await.is_some() {} }).await;
    if finished.is_err() {
        for token in client.running.lock().values() {
            token.cancel();
        }
        while calls.join_next().await.is_some() {}
    }
    drop(out);
    let _ = writer.await;
}

/// Writes one JSON-RPC message.
async fn send(out: &mpsc::Sender<String>, message: &Value) {
    let _ = out.send(message.to_string()).await;
}

/// What one request needs.
struct Call {
    server: Arc<McpServer>,
    runtime: Arc<Runtime>,
    sessions: Arc<Sessions>,
}

impl Call {
    /// Answers one request, sending what the call streams before its response.
    async fn run(self, client: Arc<Client>, out: mpsc::Sender<String>, id: Value, method: String, params: Value) {
        if method == "initialize" {
            let version = server::negotiate(params["protocolVersion"].as_str());
            *client.capabilities.lock() = params.get("capabilities").cloned().unwrap_or(json!({}));
            tracing::info!(client = %params["clientInfo"]["name"], version, "MCP client on standard input");
            send(&out, &jsonrpc::result(&id, self.server.initialize_result(version))).await;
            return;
        }
        let sealer = self.sessions.sealer(&self.runtime.session_secrets);
        let input = match InputRound::from_params(&params, sealer) {
            Ok(input) => input,
            Err(error) => return send(&out, &error.response(Some(&id))).await,
        };
        let (tx, mut rx) = mpsc::channel(CALL_QUEUE);
        let mut cx = CallContext::new(tx)
            .with_immich(self.runtime.credentials.default_immich().cloned())
            .with_streaming(true)
            .with_transport("stdio")
            .with_client("stdio".to_string())
            .with_progress_token(params["_meta"].get("progressToken").cloned())
            .with_capabilities(client.capabilities.lock().clone())
            .with_client_requests(client.pending.clone())
            .with_input(input);
        // No address of its own on stdio: photos link to Immich's web app only when it is configured.
        if let Some(web) = &self.runtime.config.immich.public_url {
            cx = cx.with_web_base(web.trim_end_matches('/').to_string());
        }
        let cancel = cx.cancel.clone();
        client.running.lock().insert(id.to_string(), cancel.clone());
        let forward = {
            let out = out.clone();
            tokio::spawn(async move {
                while let Some(outbound) = rx.recv().await {
                    let line = match outbound {
                        Outbound::Message(message) => message.to_string(),
                        Outbound::Data(data) => data.notification(),
                        Outbound::CloseStream => continue,
                    };
                    if out.send(line).await.is_err() {
                        return;
                    }
                }
            })
        };
        let outcome = tokio::select! {
            biased;
            () = cancel.cancelled() => None,
            outcome = self.server.handle(&method, &params, &cx, Wire::Session) => Some(outcome),
        };
        drop(cx);
        let _ = forward.await;
        client.running.lock().remove(&id.to_string());
        // A cancelled request gets no response.
        match outcome.filter(|_| !cancel.is_cancelled()) {
            Some(Ok(result)) => send(&out, &jsonrpc::result(&id, result)).await,
            Some(Err(error)) => send(&out, &error.response(Some(&id))).await,
            None => {}
        }
    }
}
