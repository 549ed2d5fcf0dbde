//! `wxpay encrypt`: sensitive fields (names, phone numbers, accounts) encrypted with a trusted
//! WeChat Pay key, RSA-OAEP as WeChat Pay requires, and the key id to send with them.

use wechatpay::SensitiveEncryptor;

use crate::credentials::CredentialArgs;
use crate::{input, output, Failure};

#[derive(Debug, clap::Args)]
#[command(after_help = "\
The request that carries the fields must name the key with the header printed on stderr:
  wxpay request ... -H 'Wechatpay-Serial: <key id>'

Example:
  wxpay encrypt --config credentials.json 张三 13800138000")]
pub(crate) struct Args {
    /// The texts to encrypt, one ciphertext per line on stdout; `-` reads one text from stdin
    #[arg(required = true, value_name = "TEXT")]
    texts: Vec<String>,
    /// The trusted key to encrypt to (a PUB_KEY_ID_... or certificate serial); by default the
    /// first PUB_KEY_ID_..., else the first key given
    #[arg(long, value_name = "ID")]
    key_id: Option<String>,
    #[command(flatten)]
    credentials: CredentialArgs,
}

pub(crate) fn run(args: Args) -> Result<(), Failure> {
    let keys = args.credentials.resolve()?.platform_keys()?;
    let encryptor = match &args.key_id {
        Some(id) => SensitiveEncryptor::from_keys(&keys, id).map_err(|_| {
            Failure::usage(format!(
                "--key-id {id} is not among the trusted keys ({})",
                keys.ids().join(", ")
            ))
        })?,
        None => SensitiveEncryptor::preferred(&keys)?,
    };
    let mut lines = Vec::with_capacity(args.texts.len());
    for text in &args.texts {
        let text = input::argument_or_stdin(text)?;
        lines.push(encryptor.encrypt(&text)?);
    }
    let (header, id) = encryptor.header();
    output::note(&format!(
        "encrypted with {id} (RSA-OAEP); send the fields with the header `{header}: {id}`"
    ));
    for line in lines {
        output::line(&line)?;
    }
    Ok(())
}
