//! The small commands that need no server of their own: `health` (asks a running one), `sign`,
//! `focus` and `completions`.

use std::net::SocketAddr;
use std::time::Duration;

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs, FocusArgs, HealthArgs, SignArgs};
use crate::config::Config;
use crate::exit::Exit;

/// `image-server health`: GET /health on the configured status port; exit 0 on 200 (from the
/// process `--pid` names, when given), 1 otherwise.
pub(crate) fn health(config: &Config, args: &HealthArgs) -> Result<(), Exit> {
    use std::io::{Read, Write};
    let server = &config.server;
    let ip = if server.status_listen.is_unspecified() { [127, 0, 0, 1].into() } else { server.status_listen };
    let addr = SocketAddr::new(ip, server.status_port);
    let timeout = Duration::from_secs(3);
    let unhealthy = |e: &dyn std::fmt::Display| Exit::new(1, format!("unhealthy: {addr}: {e}"));
    let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout).map_err(|e| unhealthy(&e))?;
    let _ = stream.set_read_timeout(Some(timeout));
    write!(stream, "GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").map_err(|e| unhealthy(&e))?;
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let status = answer.split_whitespace().nth(1);
    let pid = answer.rsplit("pid=").next().and_then(|rest| rest.split_whitespace().next()?.parse::<u32>().ok());
    match (status, args.pid) {
        (Some("200"), Some(wanted)) if pid != Some(wanted) => {
            let who = pid.map_or_else(|| "an unknown process".to_owned(), |p| format!("pid {p}"));
            Err(unhealthy(&format!("/health was answered by {who}, not pid {wanted}")))
        }
        (Some("200"), _) => {
            println!("healthy (pid {})", pid.map_or_else(|| "?".to_owned(), |p| p.to_string()));
            Ok(())
        }
        (other, _) => Err(unhealthy(&format!("/health answered {}", other.unwrap_or("nothing")))),
    }
}

/// `image-server sign PATH`: the path with its signature (and expiry), as the server checks it.
pub(crate) fn sign(config: &Config, args: &SignArgs) -> Result<(), Exit> {
    let signer = crate::access::Signer::new(&config.access.signing_keys)
        .ok_or_else(|| Exit::new(2, "no signing_keys configured (set IMG_SIGNING_KEYS or --signing-keys)"))?;
    if !args.path.starts_with('/') {
        return Err(Exit::new(2, format!("'{}' is not a path: it must start with /", args.path)));
    }
    let expires = args.expires_in.map(|secs| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        now + secs
    });
    println!("{}", signer.sign(&args.path, expires));
    Ok(())
}

/// `image-server focus FILE`: the `{"focus":{"x","y"},"faces":[...]}` an upload of the file would
/// store, found the way the server finds it, under the configured decode limits.
pub(crate) fn focus(config: &Config, args: &FocusArgs) -> Result<(), Exit> {
    let path = args.file.display();
    let bytes = std::fs::read(&args.file).map_err(|e| Exit::new(1, format!("{path}: {e}")))?;
    let limits = crate::service::render_limits(config);
    let found = (|| {
        use crate::pipeline;
        let facts = pipeline::probe(&bytes, &limits)?;
        let max_side = config.render.working_copy_max_side;
        let sizes = pipeline::working_copy_sizes(facts.width, facts.height, facts.format, max_side);
        let copies = pipeline::make_working_copies(&bytes, sizes, &limits)?;
        pipeline::focus::detect_at_upload(&bytes, &copies, &limits)
    })();
    let info = found.map_err(|e| Exit::new(1, format!("{path}: {e}")))?;
    println!("{}", serde_json::to_string(&info).expect("focus info serialises"));
    Ok(())
}

/// `image-server completions SHELL`: the completion script on standard output.
pub(crate) fn completions(args: &CompletionsArgs) -> Result<(), Exit> {
    clap_complete::generate(args.shell, &mut Cli::command(), "image-server", &mut std::io::stdout());
    Ok(())
}
