//! The command line: one flag per meaning. Of Pingora's own options only the two with a use here
//! are offered, under the gateway's words (`--upgrade`, `--daemon`); its YAML file (`-c`) and
//! `-t` are not (the TOML file holds everything, and `--check` checks it).

use clap::Parser;
use std::path::PathBuf;

/// Command-line options.
#[derive(Debug, Parser)]
#[command(
    name = "immich-mcp-gateway",
    version,
    about = "MCP gateway and streaming reverse proxy for Immich, on Pingora"
)]
pub struct Cli {
    /// The TOML config file (every key has a default, so it may be omitted; a file named here must
    /// exist).
    #[arg(short, long, value_name = "FILE", env = "IMMICH_GATEWAY_CONFIG", global = true)]
    pub config: Option<PathBuf>,

    /// Listen on ADDR instead of `[server].listen` (repeatable).
    #[arg(long, value_name = "ADDR")]
    pub listen: Vec<String>,

    /// Run against an embedded synthetic Immich on a loopback port (no Immich needed).
    #[arg(long, global = true)]
    pub demo: bool,

    /// Number of synthetic assets in the demo library (default 10000).
    #[arg(long, value_name = "N", requires = "demo", global = true)]
    pub demo_assets: Option<u64>,

    /// Validate the configuration and exit: 0 when valid, 1 with every error otherwise.
    #[arg(long)]
    pub check: bool,

    /// Print the `sha256:` hash of a gateway key for `[[auth.keys]].hash`, and exit.
    #[arg(long, value_name = "KEY")]
    pub hash_key: Option<String>,

    /// Print the Immich tool reference (Markdown, as in docs/tools.md) and exit.
    #[arg(long)]
    pub tool_reference: bool,

    /// GET this http:// URL (e.g. http://127.0.0.1:8080/ready) and exit 0 on a 2xx answer, 1
    /// otherwise: a health check for images that have no curl.
    #[arg(long, value_name = "URL")]
    pub probe: Option<String>,

    /// Take over the listening sockets of a running gateway for a zero-downtime upgrade (it
    /// hands them over through `[server] upgrade_sock` when sent SIGQUIT).
    #[arg(short, long)]
    pub upgrade: bool,

    /// Run in the background (`[server] pid_file` records the process id).
    #[arg(short, long)]
    pub daemon: bool,

    /// What to serve: the HTTP gateway (default), or MCP on standard input and output.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The gateway's modes besides the HTTP gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Subcommand)]
pub enum Command {
    /// Speak MCP on standard input and output, one JSON-RPC message per line (for desktop clients
    /// that start the gateway themselves); logs go to standard error.
    Stdio,
}

/// How MCP is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Streamable HTTP (and the rest of the gateway) on the configured listeners.
    Http,
    /// Standard input and output.
    Stdio,
}

impl Cli {
    /// The transport: `stdio` on the command line, else the transport document's `MCP_TRANSPORT`
    /// (`stdio` or `streamable_http`), else HTTP.
    pub fn transport(&self) -> Result<Transport, String> {
        if self.command == Some(Command::Stdio) {
            return Ok(Transport::Stdio);
        }
        match std::env::var("MCP_TRANSPORT").unwrap_or_default().trim().to_ascii_lowercase().as_str() {
            "stdio" => Ok(Transport::Stdio),
            "" | "streamable_http" | "http" => Ok(Transport::Http),
            other => Err(format!("MCP_TRANSPORT={other}: use stdio or streamable_http")),
        }
    }

    /// Pingora's options as these flags set them.
    pub fn pingora(&self) -> pingora::server::configuration::Opt {
        pingora::server::configuration::Opt {
            upgrade: self.upgrade,
            daemon: self.daemon,
            nocapture: false,
            test: false,
            conf: None,
        }
    }
}

/// `--probe URL`: one GET over plain HTTP within 3 s; `Ok` on a 2xx status, else why not.
pub fn probe(url: &str) -> Result<(), String> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").ok_or("--probe takes an http:// URL")?;
    let (authority, path) = rest.split_once('/').map_or((rest, "/".to_string()), |(a, p)| (a, format!("/{p}")));
    let address = std::net::ToSocketAddrs::to_socket_addrs(authority)
        .map_err(|e| format!("{authority}: {e}"))?
        .next()
        .ok_or(format!("{authority}: no address"))?;
    let timeout = std::time::Duration::from_secs(3);
    let mut stream = std::net::TcpStream::connect_timeout(&address, timeout).map_err(|e| format!("{url}: {e}"))?;
    stream.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).map_err(|e| format!("{url}: {e}"))?;
    let mut head = [0u8; 64];
    let n = stream.read(&mut head).map_err(|e| format!("{url}: {e}"))?;
    let line = String::from_utf8_lossy(&head[..n]);
    match line.split_whitespace().nth(1) {
        Some(status) if status.starts_with('2') => Ok(()),
        Some(status) => Err(format!("{url} answered {status}")),
        None => Err(format!("{url} sent no HTTP answer")),
    }
}
