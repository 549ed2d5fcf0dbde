//! `wxpay mock`: the simulator as a server of its own, for clients in any language.
//!
//! Its credentials go to a folder as `MockServer::write_credentials` writes them; stdout gets
//! one line, a `wxpay request` command to paste, once the port accepts connections (scripts
//! can wait for it); stderr says where it listens.

use std::net::TcpListener;
use std::path::PathBuf;

use wechatpay::mock::{MockServer, Mode, CREDENTIALS_FILE};

use crate::{output, Failure};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Address to listen on; port 0 picks a free one
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    listen: String,
    /// Folder for credentials.json and the PEM files (created if missing); a folder named
    /// after the port under the system's temporary folder by default
    #[arg(long, value_name = "DIR")]
    credentials: Option<PathBuf>,
    /// Which key signs the answers
    #[arg(long, value_enum, default_value_t = ModeArg::PublicKey)]
    mode: ModeArg,
}

/// [`Mode`], as the command line spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ModeArg {
    /// WeChat Pay public key mode: Wechatpay-Serial is a PUB_KEY_ID_...
    PublicKey,
    /// Platform certificate mode: Wechatpay-Serial is the certificate serial
    #[value(alias = "platform-certificate")]
    Certificate,
}

pub(crate) fn run(args: Args) -> Result<(), Failure> {
    let listener = TcpListener::bind(&args.listen)
        .map_err(|e| Failure::usage(format!("cannot listen on {}: {e}", args.listen)))?;
    let stop = Stop::install()?;
    let server = MockServer::builder()
        .mode(match args.mode {
            ModeArg::PublicKey => Mode::PublicKey,
            ModeArg::Certificate => Mode::PlatformCertificate,
        })
        .listener(listener)
        .start_blocking()?;
    let address = server.address();
    if !address.ip().is_loopback() {
        output::note(&format!(
            "wxpay mock: {address} is reachable from other machines; the simulator's keys are public demo keys"
        ));
    }

    let folder = args
        .credentials
        .unwrap_or_else(|| std::env::temp_dir().join(format!("wxpay-mock-{}", address.port())));
    let written = server.write_credentials(&folder).map_err(|e| {
        Failure::usage(format!(
            "cannot write credentials to {}: {e}",
            folder.display()
        ))
    })?;
    let written = written.canonicalize().unwrap_or(written);

    output::note(&format!(
        "wxpay mock: WeChat Pay simulator on {} ({} mode, demo keys only); Ctrl-C stops it",
        server.base_uri(),
        clap::ValueEnum::to_possible_value(&args.mode)
            .map(|v| v.get_name().to_string())
            .unwrap_or_default()
    ));
    output::note(&format!(
        "wxpay mock: the same port speaks HTTPS at {} (APIv2 mutual TLS: `wxpay request --security`)",
        server.https_base_uri()
    ));
    output::note(&format!(
        "wxpay mock: {} and its PEM files are in {}",
        CREDENTIALS_FILE,
        written.parent().unwrap_or(&folder).display()
    ));
    // A seed endpoint that answers with JSON, so the pasted line shows a verified answer.
    output::line(&format!(
        "wxpay request --config {} 'v3/password-exempt-contract/contracts/service-id/{{service_id}}/out-contract-code/{{out_contract_code}}/terminate' -v service_id=12535 -v out_contract_code=wxwtdk20200910100000 -d '{{\"contract_termination_remark\":\"用户解约\"}}'",
        output::shell_quote(&written.display().to_string())
    ))?;

    stop.wait()?;
    output::note(&format!(
        "wxpay mock: stopped after {} request(s)",
        server.request_count()
    ));
    Ok(())
}

/// Ctrl-C (and, on Unix, SIGTERM) handling, installed before the ready line is printed so
/// that a signal sent as soon as it appears is not lost to the default action.
struct Stop {
    runtime: tokio::runtime::Runtime,
    #[cfg(unix)]
    signals: [tokio::signal::unix::Signal; 2],
}

impl Stop {
    fn install() -> Result<Self, Failure> {
        let cannot = |e: std::io::Error| Failure::failed(format!("cannot watch for Ctrl-C: {e}"));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(cannot)?;
        #[cfg(unix)]
        let signals = {
            use tokio::signal::unix::{signal, SignalKind};
            let _entered = runtime.enter();
            [
                signal(SignalKind::interrupt()).map_err(cannot)?,
                signal(SignalKind::terminate()).map_err(cannot)?,
            ]
        };
        Ok(Self {
            runtime,
            #[cfg(unix)]
            signals,
        })
    }

    /// Blocks until a stop signal arrives; the simulator serves on its own thread meanwhile.
    #[cfg(unix)]
    fn wait(mut self) -> Result<(), Failure> {
        let signals = &mut self.signals;
        self.runtime.block_on(std::future::poll_fn(|cx| {
            if signals.iter_mut().any(|s| s.poll_recv(cx).is_ready()) {
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        }));
        Ok(())
    }

    #[cfg(not(unix))]
    fn wait(self) -> Result<(), Failure> {
        self.runtime
            .block_on(tokio::signal::ctrl_c())
            .map_err(|e| Failure::failed(format!("cannot watch for Ctrl-C: {e}")))
    }
}
