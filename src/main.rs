use clap::Parser;
use immich_mcp_gateway::config::KeyHash;
use immich_mcp_gateway::{Cli, Runtime, Source};
use std::process::ExitCode;

// glibc's malloc was the largest user-space cost under load (~13% of proxy CPU); mimalloc's
// thread-local free lists suit the many short-lived buffers of a proxy.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.tool_reference {
        print!("{}", immich_mcp_gateway::tool_reference());
        return ExitCode::SUCCESS;
    }
    if let Some(url) = &cli.probe {
        return match immich_mcp_gateway::cli::probe(url) {
            Ok(()) => ExitCode::SUCCESS,
            Err(why) => {
                eprintln!("{why}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(key) = &cli.hash_key {
        println!("{}", KeyHash::of(key));
        return ExitCode::SUCCESS;
    }
    let source = Source {
        path: cli.config.clone(),
        listen: cli.listen.clone(),
        demo_base_url: None,
        demo_assets: cli.demo_assets,
    };
    if cli.check {
        let checked = source.load().and_then(|config| Runtime::build(config, 0));
        return match checked {
            Ok(_) => {
                println!("configuration OK");
                ExitCode::SUCCESS
            }
            Err(errors) => {
                eprintln!("{errors}");
                ExitCode::FAILURE
            }
        };
    }
    let transport = match cli.transport() {
        Ok(transport) => transport,
        Err(why) => {
            eprintln!("{why}");
            return ExitCode::FAILURE;
        }
    };
    let ran = match transport {
        immich_mcp_gateway::cli::Transport::Stdio => immich_mcp_gateway::stdio::run(source, cli.demo),
        immich_mcp_gateway::cli::Transport::Http => immich_mcp_gateway::run(source, cli.demo, cli.pingora()),
    };
    match ran {
        Ok(()) => ExitCode::SUCCESS,
        Err(errors) => {
            eprintln!("invalid configuration:\n{errors}");
            ExitCode::FAILURE
        }
    }
}
