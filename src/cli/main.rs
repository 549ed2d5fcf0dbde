//! `wxpay`: WeChat Pay from the command line (cargo feature `cli`).
//!
//! Each subcommand has its own file; `credentials.rs` resolves the merchant's keys from flags,
//! environment variables and a config file, in that order. Only the `wechatpay` crate's public
//! API is used, so the binary is also a worked example of it.
//!
//! Every failure ends in one line on stderr and an exit status from [`Exit`]; the panic hook
//! keeps even a bug to one line, without a backtrace.
#![forbid(unsafe_code)]
#![warn(missing_debug_implementations, clippy::unwrap_used)]

mod completions;
mod credentials;
mod crt;
mod decrypt;
mod encrypt;
mod endpoints;
mod input;
mod mock;
mod notify;
mod output;
mod request;

use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{CommandFactory as _, Parser, Subcommand};

/// The exit statuses, as `wxpay --help` lists them.
const EXIT_STATUS_HELP: &str = "\
Exit status:
  0  success
  1  the call or a check failed: WeChat Pay (or the simulator) answered with an error, a
     response, notification or download failed verification, or the network failed
  2  bad usage or configuration: an unknown subcommand or flag, a missing credential, an
     unreadable key, malformed input

Credentials come from flags, then environment variables (WECHATPAY_MCHID, WECHATPAY_SERIAL,
WECHATPAY_PRIVATE_KEY, WECHATPAY_CERTS, WECHATPAY_APIV3_KEY, WECHATPAY_SECRET,
WECHATPAY_BASE_URI, WECHATPAY_CONFIG), then the --config file.";

/// WeChat Pay (微信支付) from the command line: call any endpoint, fetch platform certificates,
/// run a local simulator, check notifications, encrypt sensitive fields.
#[derive(Debug, Parser)]
#[command(name = "wxpay", version, after_help = EXIT_STATUS_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Call an endpoint: sign the request, verify the answer, print its JSON.
    #[command(visible_alias = "req")]
    Request(request::Args),
    /// Download, decrypt and self-verify the platform certificates; save them as PEM files.
    #[command(visible_aliases = ["cert", "certificates"])]
    Crt(crt::Args),
    /// Run the WeChat Pay simulator (demo keys) until Ctrl-C, for clients in any language.
    Mock(mock::Args),
    /// Verify and decrypt a notification WeChat Pay posted to a notify_url.
    Notify(notify::Args),
    /// Encrypt sensitive fields with a WeChat Pay key, for a request.
    Encrypt(encrypt::Args),
    /// Decrypt sensitive fields of an answer with the merchant private key.
    Decrypt(decrypt::Args),
    /// Search the endpoint catalog by path, method, title or parameter.
    Endpoints(endpoints::Args),
    /// Print a shell completion script (bash, zsh, fish, ...).
    Completions(completions::Args),
}

/// How a run ended, as the process exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exit {
    /// The call or a check failed (1).
    Failed = 1,
    /// Bad usage or configuration (2).
    Usage = 2,
}

/// A failed run: the one line to print and the exit status.
#[derive(Debug)]
pub(crate) struct Failure {
    exit: Exit,
    message: String,
}

impl Failure {
    /// The call or a check failed.
    pub(crate) fn failed(message: impl Into<String>) -> Self {
        Self {
            exit: Exit::Failed,
            message: message.into(),
        }
    }

    /// The command line or the configuration is wrong.
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self {
            exit: Exit::Usage,
            message: message.into(),
        }
    }
}

impl From<wechatpay::Error> for Failure {
    fn from(e: wechatpay::Error) -> Self {
        use wechatpay::Error;
        let message = match &e {
            Error::Api {
                request_id, body, ..
            } => {
                let mut line = e.to_string();
                // PARAM_ERROR names the field in `detail`, which Display leaves out.
                if let Some(detail) = serde_json::from_slice::<serde_json::Value>(body)
                    .ok()
                    .and_then(|v| v.get("detail").cloned())
                {
                    line.push_str(&format!(" (detail: {detail})"));
                }
                if let Some(id) = request_id {
                    line.push_str(&format!(" [Request-ID {id}]"));
                }
                line
            }
            _ => {
                // The transport's causes ("tcp connect error: Connection refused") are what
                // a person can act on; Display stops at "client error (Connect)".
                let mut line = e.to_string();
                let mut cause = std::error::Error::source(&e);
                while let Some(c) = cause {
                    let text = c.to_string();
                    if !line.contains(&text) {
                        line.push_str(": ");
                        line.push_str(&text);
                    }
                    cause = c.source();
                }
                line
            }
        };
        // A key error here happened while using a key that loaded (a certificate that did
        // not decrypt under the APIv3 key, say): a failed check. Keys that do not load are
        // reported by `build()` as configuration.
        match e {
            Error::Config(_) | Error::Request(_) | Error::Unsupported(_) => Failure::usage(message),
            _ => Failure::failed(message),
        }
    }
}

fn main() -> ExitCode {
    // A bug must still end in one line, never a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        output::note(&format!("wxpay: internal error ({what}); please report it"));
    }));

    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_failure(&e),
    };
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            output::note(&format!("wxpay: {}", one_line(&failure.message)));
            ExitCode::from(failure.exit as u8)
        }
    }
}

fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Request(args) => request::run(args),
        Command::Crt(args) => crt::run(args),
        Command::Mock(args) => mock::run(args),
        Command::Notify(args) => notify::run(args),
        Command::Encrypt(args) => encrypt::run(args),
        Command::Decrypt(args) => decrypt::run(args),
        Command::Endpoints(args) => endpoints::run(args),
        Command::Completions(args) => completions::run(args, &mut Cli::command()),
    }
}

/// Help and version go to stdout as clap renders them; a usage error becomes one line.
fn clap_failure(e: &clap::Error) -> ExitCode {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            ExitCode::from(Exit::Usage as u8)
        }
        _ => {
            // clap's text is several lines (the error, tips, usage, a pointer to --help);
            // keep the error and its tips.
            let rendered = e.render().to_string();
            let mut text = String::new();
            for line in rendered
                .lines()
                .map(str::trim)
                .take_while(|l| !l.starts_with("Usage:"))
                .filter(|l| !l.is_empty() && !l.starts_with("For more information"))
            {
                if !text.is_empty() {
                    text.push_str(if text.ends_with(':') { " " } else { "; " });
                }
                text.push_str(line);
            }
            let text = redact_long_quotes(text.strip_prefix("error: ").unwrap_or(&text));
            // Point at the help of the subcommand, when one was named.
            let command = std::env::args()
                .nth(1)
                .filter(|name| Cli::command().find_subcommand(name).is_some())
                .map_or_else(|| "wxpay".to_string(), |name| format!("wxpay {name}"));
            output::note(&format!("wxpay: {text} (see `{command} --help`)"));
            ExitCode::from(Exit::Usage as u8)
        }
    }
}

/// clap quotes the arguments it refused; a long one may be a key pasted in the wrong place,
/// so it is not repeated.
fn redact_long_quotes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (index, part) in text.split('\'').enumerate() {
        if index > 0 {
            out.push('\'');
        }
        // Odd pieces lie between quotes.
        if index % 2 == 1 && part.chars().count() > 64 {
            out.push_str(&format!("<{} characters>", part.chars().count()));
        } else {
            out.push_str(part);
        }
    }
    out
}

/// Folds a message onto one line (some errors quote multi-line text).
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}
