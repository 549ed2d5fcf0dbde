//! The merchant's credentials: flags first, then environment variables (clap reads both),
//! then the `--config` JSON file.
//!
//! The file takes the keys of `Builder::factory` (wechatpay-php's `mchid`, `serial`,
//! `privateKey`, `certs`, `base_uri`, `headers`, `timeout`, `connect_timeout`, `secret`,
//! `merchant`) plus `apiv3_key`; the simulator's `credentials.json` works as it is (its
//! `*_file` names are read relative to the file's folder, and `mode` picks the key it signs
//! with). A key given as a plain path is read as a file, like wechatpay-php's downloader `-f`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};
use wechatpay::crypto::{ApiV2Key, ApiV3Key, Rsa, RsaPrivateKey};
use wechatpay::{Client, PlatformKeys};

use crate::Failure;

/// The credential flags every subcommand that talks to WeChat Pay takes.
///
/// Key values may start with `-` (PEM text does): without `allow_hyphen_values` clap would
/// take `-----BEGIN ...` for a flag and quote it back in its error.
#[derive(clap::Args)]
#[command(next_help_heading = "Credentials")]
pub(crate) struct CredentialArgs {
    /// JSON file with the keys of Builder::factory (mchid, serial, privateKey, certs,
    /// base_uri, ...) plus apiv3_key and secret; the simulator's credentials.json works as is
    #[arg(long, env = "WECHATPAY_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Merchant id (商户号)
    #[arg(short = 'm', long, env = "WECHATPAY_MCHID", value_name = "MCHID")]
    mchid: Option<String>,
    /// Merchant API certificate serial (商户API证书序列号)
    #[arg(
        short = 's',
        long,
        visible_alias = "serialno",
        env = "WECHATPAY_SERIAL"
    )]
    serial: Option<String>,
    /// Merchant private key: a file path, file://path, or PEM text
    #[arg(
        short = 'f',
        long,
        visible_alias = "privatekey",
        env = "WECHATPAY_PRIVATE_KEY",
        hide_env_values = true,
        allow_hyphen_values = true,
        value_name = "KEY"
    )]
    private_key: Option<String>,
    /// A trusted WeChat Pay key: PUB_KEY_ID_... or platform certificate serial, `=`, then a
    /// file path, file://path or PEM text. Repeat, or separate with commas
    #[arg(
        long = "cert",
        visible_alias = "certs",
        env = "WECHATPAY_CERTS",
        value_delimiter = ',',
        allow_hyphen_values = true,
        value_name = "ID=KEY"
    )]
    certs: Vec<String>,
    /// APIv3 key (APIv3密钥, 32 characters): decrypts certificates and notifications
    #[arg(
        short = 'k',
        long,
        visible_alias = "key",
        env = "WECHATPAY_APIV3_KEY",
        hide_env_values = true,
        allow_hyphen_values = true,
        value_name = "KEY"
    )]
    apiv3_key: Option<String>,
    /// APIv2 key (API密钥): signs APIv2 calls (v2/...) and checks their answers and APIv2
    /// notifications
    #[arg(
        long,
        env = "WECHATPAY_SECRET",
        hide_env_values = true,
        allow_hyphen_values = true,
        value_name = "KEY"
    )]
    secret: Option<String>,
    /// Base URI, `https://api.mch.weixin.qq.com/` by default
    #[arg(
        short = 'u',
        long,
        visible_alias = "baseuri",
        env = "WECHATPAY_BASE_URI",
        value_name = "URI"
    )]
    base_uri: Option<String>,
}

// Written by hand: the derived form would print the private key, APIv3 key and secret.
impl std::fmt::Debug for CredentialArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialArgs")
            .field("config", &self.config)
            .field("mchid", &self.mchid)
            .field("serial", &self.serial)
            .field("base_uri", &self.base_uri)
            .finish_non_exhaustive()
    }
}

/// The credentials after precedence was applied. Each is optional until a subcommand needs
/// it; the accessor then says where it can come from.
#[derive(Default)]
pub(crate) struct Credentials {
    mchid: Option<String>,
    serial: Option<String>,
    private_key: Option<String>,
    certs: Vec<(String, String)>,
    apiv3_key: Option<String>,
    secret: Option<String>,
    base_uri: Option<String>,
    headers: Vec<(String, String)>,
    timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
    /// The merchant API certificate and its key (`None`: the merchant private key), for
    /// mutual TLS.
    merchant_cert: Option<(String, Option<String>)>,
    /// Extra TLS roots to trust (the simulator's CA), as key sources.
    roots: Vec<String>,
    /// The simulator's HTTPS address, from `credentials.json`, for mutual-TLS calls.
    https_base_uri: Option<String>,
    /// Whether the base URI came from a flag or the environment rather than the file.
    base_uri_given: bool,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("mchid", &self.mchid)
            .field("serial", &self.serial)
            .field(
                "certs",
                &self.certs.iter().map(|(id, _)| id).collect::<Vec<_>>(),
            )
            .field("base_uri", &self.base_uri)
            .finish_non_exhaustive()
    }
}

impl CredentialArgs {
    /// Applies the precedence: a flag or environment variable wins over the config file.
    ///
    /// # Errors
    /// A usage failure when the config file cannot be read or has a bad key, or a `--cert`
    /// is not `ID=KEY`.
    pub(crate) fn resolve(&self) -> Result<Credentials, Failure> {
        let file = match &self.config {
            Some(path) => read_config(path)?,
            None => Credentials::default(),
        };
        let certs = self
            .certs
            .iter()
            .filter(|c| !c.trim().is_empty())
            .map(|entry| match entry.split_once('=') {
                Some((id, key)) if is_key_id(id.trim()) => {
                    Ok((id.trim().to_string(), key_source(key.trim())))
                }
                // Only an id-shaped entry is quoted back: a key pasted here by mistake is not.
                _ => Err(Failure::usage(format!(
                    "--cert {}: expected ID=KEY, such as PUB_KEY_ID_0114232134912410000=pub_key.pem",
                    if is_key_id(entry.trim()) {
                        format!("`{}`", entry.trim())
                    } else {
                        "entry".to_string()
                    }
                ))),
            })
            .collect::<Result<Vec<_>, Failure>>()?;
        let given = |flag: &Option<String>| flag.clone().filter(|v| !v.trim().is_empty());
        Ok(Credentials {
            mchid: given(&self.mchid).or(file.mchid),
            serial: given(&self.serial).or(file.serial),
            private_key: given(&self.private_key)
                .map(|k| key_source(&k))
                .or(file.private_key),
            // The trusted keys are one setting: given ones replace the file's.
            certs: if certs.is_empty() { file.certs } else { certs },
            apiv3_key: given(&self.apiv3_key).or(file.apiv3_key),
            secret: given(&self.secret).or(file.secret),
            base_uri_given: given(&self.base_uri).is_some(),
            base_uri: given(&self.base_uri).or(file.base_uri),
            headers: file.headers,
            timeout: file.timeout,
            connect_timeout: file.connect_timeout,
            merchant_cert: file.merchant_cert,
            roots: file.roots,
            https_base_uri: file.https_base_uri,
        })
    }
}

/// Where each credential can come from, for the message when it is missing.
fn missing(what: &str, flag: &str, env: &str, key: &str) -> Failure {
    Failure::usage(format!(
        "no {what}: pass {flag}, set {env}, or put `{key}` in the --config file"
    ))
}

impl Credentials {
    /// A client for APIv2 calls: the merchant id and the APIv2 key, and the merchant
    /// certificate when mutual TLS is asked for; any APIv3 credentials given are added too.
    /// With `security`, the base URI is the simulator's HTTPS one when the config file names it
    /// and no base URI was given otherwise.
    ///
    /// # Errors
    /// A usage failure naming each missing credential, or what `build()` refused.
    pub(crate) fn v2_client(&self, security: bool) -> Result<Client, Failure> {
        let mchid = self.mchid()?;
        let secret = self
            .secret
            .as_deref()
            .ok_or_else(|| missing("APIv2 key", "--secret", "WECHATPAY_SECRET", "secret"))?;
        let mut builder = Client::builder().mchid(mchid).secret(secret);
        if let Some(serial) = &self.serial {
            builder = builder.serial(serial);
        }
        if let Some(key) = &self.private_key {
            builder = builder.private_key(key);
        }
        for (id, key) in &self.certs {
            builder = builder.cert(id, key);
        }
        if security {
            let Some((cert, key)) = &self.merchant_cert else {
                return Err(Failure::usage(
                    "no merchant API certificate for --security: put `merchant` \
                     ({\"cert\": .., \"key\": ..}) in the --config file",
                ));
            };
            let key = match key {
                Some(key) => key.as_str(),
                None => self.private_key_source()?,
            };
            builder = builder.merchant_cert(cert, key);
        }
        let base_uri = match (&self.https_base_uri, security) {
            (Some(https), true) if !self.base_uri_given => Some(https),
            _ => self.base_uri.as_ref(),
        };
        Ok(self.common(builder, base_uri)?.build()?)
    }

    /// The settings every client takes: base URI, headers, time limits, extra roots.
    fn common(
        &self,
        mut builder: wechatpay::ClientBuilder,
        base_uri: Option<&String>,
    ) -> Result<wechatpay::ClientBuilder, Failure> {
        if let Some(uri) = base_uri {
            builder = builder.base_uri(uri);
        }
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        if let Some(timeout) = self.timeout {
            builder = builder.timeout(timeout);
        }
        if let Some(timeout) = self.connect_timeout {
            builder = builder.connect_timeout(timeout);
        }
        for root in &self.roots {
            let path = root.strip_prefix("file://").unwrap_or(root);
            let pem = std::fs::read(path)
                .map_err(|e| Failure::usage(format!("cannot read {path}: {e}")))?;
            builder = builder.root_certificate(pem);
        }
        Ok(builder)
    }

    fn mchid(&self) -> Result<&str, Failure> {
        self.mchid
            .as_deref()
            .ok_or_else(|| missing("merchant id", "-m/--mchid", "WECHATPAY_MCHID", "mchid"))
    }

    /// A client signing as the merchant. It trusts the given WeChat Pay keys; with none but an
    /// APIv3 key, it downloads the platform certificates when the first answer arrives.
    ///
    /// # Errors
    /// A usage failure naming each missing credential, or what `build()` refused.
    pub(crate) fn client(&self) -> Result<Client, Failure> {
        let mchid = self.mchid()?;
        let serial = self.serial.as_deref().ok_or_else(|| {
            missing(
                "merchant certificate serial",
                "-s/--serial",
                "WECHATPAY_SERIAL",
                "serial",
            )
        })?;
        let private_key = self.private_key_source()?;
        if self.certs.is_empty() && self.apiv3_key.is_none() {
            return Err(missing(
                "WeChat Pay key to verify answers with",
                "--cert ID=KEY (or -k/--apiv3-key to download the platform certificates)",
                "WECHATPAY_CERTS",
                "certs",
            ));
        }
        let mut builder = Client::builder()
            .mchid(mchid)
            .serial(serial)
            .private_key(private_key);
        for (id, key) in &self.certs {
            builder = builder.cert(id, key);
        }
        if let Some(key) = &self.apiv3_key {
            builder = builder.apiv3_key(key);
            if self.certs.is_empty() {
                builder = builder.refetch_certificates(true);
            }
        }
        if let Some(secret) = &self.secret {
            builder = builder.secret(secret);
        }
        Ok(self.common(builder, self.base_uri.as_ref())?.build()?)
    }

    /// Whether any WeChat Pay key was given.
    pub(crate) fn has_certs(&self) -> bool {
        !self.certs.is_empty()
    }

    /// The trusted WeChat Pay keys, loaded.
    ///
    /// # Errors
    /// A usage failure when none was given or one cannot be loaded.
    pub(crate) fn platform_keys(&self) -> Result<PlatformKeys, Failure> {
        if self.certs.is_empty() {
            return Err(missing(
                "WeChat Pay key (PUB_KEY_ID_... or platform certificate)",
                "--cert ID=KEY",
                "WECHATPAY_CERTS",
                "certs",
            ));
        }
        let keys = PlatformKeys::new();
        for (id, source) in &self.certs {
            let key = Rsa::from_public(source)
                .map_err(|e| Failure::usage(format!("--cert {id}: {e}")))?;
            keys.insert(id, key);
        }
        Ok(keys)
    }

    fn private_key_source(&self) -> Result<&str, Failure> {
        self.private_key.as_deref().ok_or_else(|| {
            missing(
                "merchant private key",
                "-f/--private-key",
                "WECHATPAY_PRIVATE_KEY",
                "privateKey",
            )
        })
    }

    /// The merchant private key, loaded.
    ///
    /// # Errors
    /// A usage failure when it was not given or cannot be loaded.
    pub(crate) fn merchant_key(&self) -> Result<RsaPrivateKey, Failure> {
        Rsa::from_private(self.private_key_source()?)
            .map_err(|e| Failure::usage(format!("the private key: {e}")))
    }

    /// The APIv3 key.
    ///
    /// # Errors
    /// A usage failure when it was not given or is not 32 bytes.
    pub(crate) fn apiv3_key(&self) -> Result<ApiV3Key, Failure> {
        let key = self.apiv3_key.as_deref().ok_or_else(|| {
            missing(
                "APIv3 key",
                "-k/--apiv3-key",
                "WECHATPAY_APIV3_KEY",
                "apiv3_key",
            )
        })?;
        ApiV3Key::new(key).map_err(|e| Failure::usage(format!("the APIv3 key: {e}")))
    }

    /// The APIv2 key.
    ///
    /// # Errors
    /// A usage failure when it was not given.
    pub(crate) fn apiv2_key(&self) -> Result<ApiV2Key, Failure> {
        self.secret
            .as_deref()
            .map(ApiV2Key::new)
            .ok_or_else(|| missing("APIv2 key", "--secret", "WECHATPAY_SECRET", "secret"))
    }
}

/// A `PUB_KEY_ID_...` or a certificate serial (hex).
fn is_key_id(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A key as `Rsa` takes it: PEM text and `scheme://` sources stay; a plain path becomes
/// `file://path`.
fn key_source(text: &str) -> String {
    if text.contains("-----BEGIN") || text.contains("://") {
        text.to_string()
    } else {
        format!("file://{text}")
    }
}

/// Reads the `--config` file.
fn read_config(path: &Path) -> Result<Credentials, Failure> {
    let shown = path.display();
    let text = std::fs::read(path)
        .map_err(|e| Failure::usage(format!("cannot read the config file {shown}: {e}")))?;
    let value: Value = serde_json::from_slice(&text).map_err(|e| {
        Failure::usage(format!(
            "the config file {shown} is not JSON (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    let Value::Object(map) = value else {
        return Err(Failure::usage(format!(
            "the config file {shown} must hold a JSON object"
        )));
    };
    let folder = path.parent().unwrap_or(Path::new(""));
    from_map(map, folder).map_err(|problem| Failure::usage(format!("{shown}: {problem}")))
}

/// The keys of a config object, `credentials.json`'s included.
fn from_map(map: Map<String, Value>, folder: &Path) -> Result<Credentials, String> {
    let text = |key: &str, value: &Value| -> Result<String, String> {
        match value {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) if key == "mchid" => Ok(n.to_string()),
            _ => Err(format!("`{key}` must be a string")),
        }
    };
    let seconds = |key: &str, value: &Value| -> Result<Duration, String> {
        value
            .as_f64()
            .filter(|s| s.is_finite() && *s > 0.0 && *s < 1e9)
            .map(Duration::from_secs_f64)
            .ok_or_else(|| format!("`{key}` must be a positive number of seconds"))
    };
    let beside = |name: String| format!("file://{}", folder.join(name).display());

    let mut creds = Credentials::default();
    let mut mode: Option<String> = None;
    let (mut public_key_id, mut public_key_file) = (None, None);
    let (mut certificate_serial, mut certificate_file) = (None, None);
    for (key, value) in &map {
        match key.as_str() {
            "mchid" => creds.mchid = Some(text(key, value)?),
            "serial" | "merchant_serial" => creds.serial = Some(text(key, value)?),
            "privateKey" => creds.private_key = Some(key_source(&text(key, value)?)),
            "merchant_private_key_file" => creds.private_key = Some(beside(text(key, value)?)),
            "certs" => {
                let Value::Object(certs) = value else {
                    return Err("`certs` must be an object of {id: key}".into());
                };
                for (id, source) in certs {
                    let source = text(&format!("certs[{id}]"), source)?;
                    creds.certs.push((id.clone(), key_source(&source)));
                }
            }
            "platform_public_key_id" => public_key_id = Some(text(key, value)?),
            "platform_public_key_file" => public_key_file = Some(beside(text(key, value)?)),
            "platform_certificate_serial" => certificate_serial = Some(text(key, value)?),
            "platform_certificate_file" => certificate_file = Some(beside(text(key, value)?)),
            "mode" => mode = Some(text(key, value)?),
            "apiv3_key" => creds.apiv3_key = Some(text(key, value)?),
            "secret" | "apiv2_key" => creds.secret = Some(text(key, value)?),
            "base_uri" => creds.base_uri = Some(text(key, value)?),
            "headers" => {
                let Value::Object(headers) = value else {
                    return Err("`headers` must be an object".into());
                };
                for (name, v) in headers {
                    creds
                        .headers
                        .push((name.clone(), text(&format!("headers[{name}]"), v)?));
                }
            }
            "timeout" => creds.timeout = Some(seconds(key, value)?),
            "connect_timeout" => creds.connect_timeout = Some(seconds(key, value)?),
            "merchant" => {
                let pair = value
                    .as_object()
                    .and_then(|m| Some((m.get("cert")?.as_str()?, m.get("key")?.as_str()?)));
                let Some((cert, merchant_key)) = pair else {
                    return Err("`merchant` must be an object of {\"cert\": .., \"key\": ..}, each a string".into());
                };
                creds.merchant_cert = Some((key_source(cert), Some(key_source(merchant_key))));
            }
            // credentials.json: the certificate beside its key file, the CA of the
            // simulator's HTTPS side, and its HTTPS address.
            "merchant_certificate_file" => {
                creds.merchant_cert = Some((beside(text(key, value)?), None));
            }
            "tls_ca_file" => creds.roots.push(beside(text(key, value)?)),
            "https_base_uri" => creds.https_base_uri = Some(text(key, value)?),
            "notice" => {}
            other => {
                return Err(format!(
                    "`{}` is not a configuration key wxpay knows",
                    other.chars().take(48).collect::<String>()
                ))
            }
        }
    }
    // credentials.json names both simulator keys; trust the one its mode signs with, as
    // `MockServer::client_builder` does.
    let (want_public_key, want_certificate) = match mode.as_deref() {
        None => (true, true),
        Some("public_key") => (true, false),
        Some("platform_certificate") => (false, true),
        Some(other) => {
            return Err(format!(
                "`mode` is `{}`, not public_key or platform_certificate",
                other.chars().take(32).collect::<String>()
            ))
        }
    };
    if let (true, Some(id), Some(file)) = (want_public_key, public_key_id, public_key_file) {
        creds.certs.push((id, file));
    }
    if let (true, Some(id), Some(file)) = (want_certificate, certificate_serial, certificate_file) {
        creds.certs.push((id, file));
    }
    Ok(creds)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn credentials_json_trusts_the_key_of_its_mode_beside_it() {
        let c = from_map(
            map(json!({
                "mchid": "1900000001",
                "merchant_serial": "AB",
                "merchant_private_key_file": "apiclient_key.pem",
                "mode": "platform_certificate",
                "platform_public_key_id": "PUB_KEY_ID_1",
                "platform_public_key_file": "pub_key.pem",
                "platform_certificate_serial": "CD",
                "platform_certificate_file": "cert.pem",
                "notice": "demo",
            })),
            Path::new("/tmp/demo"),
        )
        .unwrap();
        assert_eq!(c.serial.as_deref(), Some("AB"));
        assert_eq!(
            c.private_key.as_deref(),
            Some("file:///tmp/demo/apiclient_key.pem")
        );
        assert_eq!(
            c.certs,
            vec![("CD".to_string(), "file:///tmp/demo/cert.pem".to_string())]
        );
    }

    #[test]
    fn factory_keys_are_read_and_unknown_keys_refused() {
        let c = from_map(
            map(json!({"mchid": 1900000001, "privateKey": "key.pem", "certs": {"PUB_KEY_ID_1": "file:///p.pem"}, "timeout": 2.5})),
            Path::new(""),
        )
        .unwrap();
        assert_eq!(c.mchid.as_deref(), Some("1900000001"));
        assert_eq!(c.private_key.as_deref(), Some("file://key.pem"));
        assert_eq!(c.certs[0].1, "file:///p.pem");
        assert_eq!(c.timeout, Some(Duration::from_millis(2500)));
        let e = from_map(map(json!({"mchId": "1"})), Path::new(""))
            .err()
            .unwrap();
        assert!(e.contains("`mchId`"), "{e}");
        let e = from_map(map(json!({"serial": 1})), Path::new(""))
            .err()
            .unwrap();
        assert!(e.contains("`serial` must be a string"), "{e}");
    }
}
