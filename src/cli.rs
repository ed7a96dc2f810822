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
    #[arg(short, long, value_name = "FILE", env = "IMMICH_GATEWAY_CONFIG")]
    pub config: Option<PathBuf>,

    /// Listen on ADDR instead of `[server].listen` (repeatable).
    #[arg(long, value_name = "ADDR")]
    pub listen: Vec<String>,

    /// Run against an embedded synthetic Immich on a loopback port (no Immich needed).
    #[arg(long)]
    pub demo: bool,

    /// Number of synthetic assets in the demo library (default 10000).
    #[arg(long, value_name = "N", requires = "demo")]
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

    /// Take over the listening sockets of a running gateway for a zero-downtime upgrade (it
    /// hands them over through `[server] upgrade_sock` when sent SIGQUIT).
    #[arg(short, long)]
    pub upgrade: bool,

    /// Run in the background (`[server] pid_file` records the process id).
    #[arg(short, long)]
    pub daemon: bool,
}

impl Cli {
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
