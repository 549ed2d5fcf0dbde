//! `wxpay crt`: wechatpay-php's certificate downloader (`-k -m -f -s -o -u`), through the
//! crate's `CertificateDownloader`.

use std::path::PathBuf;

use wechatpay::certificates::{CertificateDownloader, PlatformCertificate};
use wechatpay::crypto::Formatter;

use crate::credentials::CredentialArgs;
use crate::{output, Failure};

#[derive(Debug, clap::Args)]
#[command(after_help = "\
The listing must sign itself with one of the certificates it carries, and each certificate
must decrypt under the APIv3 key. A merchant in public-key mode, whose listing is signed with
its PUB_KEY_ID_... key, passes that key with --cert (or a --config file that has it).

Example:
  wxpay crt -k $APIV3_KEY -m 1900000001 -f apiclient_key.pem -s 1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C -o certs/")]
pub(crate) struct Args {
    /// Folder to write `wechatpay_<serial>.pem` into (created if missing); the system's
    /// temporary folder by default
    #[arg(short = 'o', long, value_name = "DIR")]
    output: Option<PathBuf>,
    #[command(flatten)]
    credentials: CredentialArgs,
}

pub(crate) fn run(args: Args) -> Result<(), Failure> {
    let credentials = args.credentials.resolve()?;
    // Asked first, so a missing key is named before the other credentials.
    credentials.apiv3_key()?;
    let client = credentials.client()?;
    let certificates = CertificateDownloader::from_client(&client)?
        // Given keys may sign the listing (public-key mode); without any, it must sign itself.
        .trust_known_keys(credentials.has_certs())
        .download()?;

    let folder = args.output.unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&folder)
        .map_err(|e| Failure::usage(format!("-o {}: {e}", folder.display())))?;
    output::note(&format!(
        "{} certificate(s) decrypted with the APIv3 key; the listing's signature verified",
        certificates.len()
    ));
    let now = Formatter::timestamp();
    for (index, certificate) in certificates.iter().enumerate() {
        let path = folder.join(format!("wechatpay_{}.pem", certificate.serial()));
        std::fs::write(&path, certificate.pem())
            .map_err(|e| Failure::failed(format!("cannot write {}: {e}", path.display())))?;
        if index > 0 {
            output::line("")?;
        }
        print_certificate(certificate, &path, now)?;
    }
    Ok(())
}

fn print_certificate(
    certificate: &PlatformCertificate,
    path: &std::path::Path,
    now: i64,
) -> Result<(), Failure> {
    let state = if certificate.is_valid_at(now) {
        "valid now"
    } else {
        "NOT valid now"
    };
    let shown = output::shell_quote(&path.display().to_string());
    for line in [
        format!("serial      {}", certificate.serial()),
        format!("not before  {}", certificate.effective_time()),
        format!("not after   {} ({state})", certificate.expire_time()),
        format!("saved to    {}", path.display()),
        format!("check with  openssl x509 -in {shown} -noout -serial -dates"),
    ] {
        output::line(&line)?;
    }
    Ok(())
}
