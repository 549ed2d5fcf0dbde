//! `wxpay decrypt`: sensitive fields of an answer, decrypted with the merchant private key.

use wechatpay::crypto::Rsa;

use crate::credentials::CredentialArgs;
use crate::{input, output, Failure};

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Decrypt only fields of answers that passed verification (wxpay request verifies them).

Example:
  wxpay decrypt -f apiclient_key.pem 'base64 ciphertext...'")]
pub(crate) struct Args {
    /// Base64 ciphertexts, one plaintext per line on stdout; `-` reads one from stdin
    #[arg(required = true, value_name = "CIPHERTEXT")]
    ciphertexts: Vec<String>,
    #[command(flatten)]
    credentials: CredentialArgs,
}

pub(crate) fn run(args: Args) -> Result<(), Failure> {
    let key = args.credentials.resolve()?.merchant_key()?;
    let mut lines = Vec::with_capacity(args.ciphertexts.len());
    for (index, ciphertext) in args.ciphertexts.iter().enumerate() {
        let ciphertext = input::argument_or_stdin(ciphertext)?;
        let plaintext = Rsa::decrypt(ciphertext.trim(), &key).map_err(|e| {
            Failure::failed(format!(
                "ciphertext #{} did not decrypt with the merchant private key: {e}",
                index + 1
            ))
        })?;
        let text = String::from_utf8(plaintext).map_err(|_| {
            Failure::failed(format!(
                "ciphertext #{} decrypted to bytes that are not UTF-8 text",
                index + 1
            ))
        })?;
        lines.push(text);
    }
    output::note("decrypted with the merchant private key (RSA-OAEP)");
    for line in lines {
        output::line(&line)?;
    }
    Ok(())
}
