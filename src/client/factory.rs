//! `Builder::factory`: wechatpay-php's configuration array, mapped onto [`ClientBuilder`].

use serde_json::Value;

use super::Client;
use crate::error::Result;
use crate::request::options::positive_seconds;

/// wechatpay-php's entry point, for configuration kept in PHP's shape.
#[derive(Debug, Clone, Copy)]
pub struct Builder;

impl Builder {
    /// Builds a client from wechatpay-php's configuration keys:
    /// `mchid`, `serial`, `privateKey`, `certs` (`{id: key}`), and optionally `base_uri`,
    /// `headers`, `timeout` and `connect_timeout` (seconds), and for APIv2 `secret` (the
    /// APIv2 key) and `merchant` (`{"cert": .., "key": ..}`, the merchant API certificate
    /// and key for mutual TLS). With `secret`, `serial`, `privateKey` and `certs` may be left
    /// out by a client that makes only APIv2 calls ([`ClientBuilder::secret`](crate::ClientBuilder::secret)).
    ///
    /// # Errors
    /// [`Error::Config`](crate::Error::Config) listing every problem, including keys of the
    /// wrong type and keys this crate does not know.
    ///
    /// # Examples
    /// ```no_run
    /// use wechatpay::{json, Builder};
    /// let wxpay = Builder::factory(json!({
    ///     "mchid": "1900000001",
    ///     "serial": "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C",
    ///     "privateKey": "file:///path/to/apiclient_key.pem",
    ///     "certs": {"PUB_KEY_ID_0114232134912410000": "file:///path/to/pub_key.pem"},
    /// }))?;
    /// # Ok::<(), wechatpay::Error>(())
    /// ```
    pub fn factory(config: Value) -> Result<Client> {
        let mut builder = Client::builder().php_names();
        let Value::Object(map) = config else {
            return builder
                .problem("the configuration must be a JSON object".into())
                .build();
        };
        for (key, value) in map {
            builder = match (key.as_str(), value) {
                ("mchid", Value::String(s)) => builder.mchid(s),
                ("mchid", Value::Number(n)) => builder.mchid(n.to_string()),
                ("serial", Value::String(s)) => builder.serial(s),
                ("privateKey", Value::String(s)) => builder.private_key(s),
                ("certs", Value::Object(certs)) => {
                    certs.into_iter().fold(builder, |b, (id, v)| match v {
                        Value::String(s) => b.cert(id, s),
                        _ => b.problem(format!(
                            "`certs[{id}]` must be a string (PEM text or file://path)"
                        )),
                    })
                }
                ("base_uri", Value::String(s)) => builder.base_uri(s),
                ("secret", Value::String(s)) => builder.secret(s),
                ("merchant", Value::Object(mut merchant)) => {
                    match (merchant.remove("cert"), merchant.remove("key")) {
                        (Some(Value::String(cert)), Some(Value::String(key))) => {
                            let builder = builder.merchant_cert(cert, key);
                            match merchant.keys().next() {
                                Some(other) => builder.problem(format!(
                                    "`merchant.{other}` is not a key of `merchant` (it takes \
                                     `cert` and `key`)"
                                )),
                                None => builder,
                            }
                        }
                        _ => builder.problem(
                            "`merchant` must hold `cert` and `key`, each a string (PEM text or \
                             file://path)"
                                .into(),
                        ),
                    }
                }
                ("headers", Value::Object(headers)) => {
                    headers.into_iter().fold(builder, |b, (name, v)| match v {
                        Value::String(s) => b.header(name, s),
                        _ => b.problem(format!("`headers[{name}]` must be a string")),
                    })
                }
                ("timeout", v) => match positive_seconds(&v) {
                    Some(d) => builder.timeout(d),
                    None => {
                        builder.problem("`timeout` must be a positive number of seconds".into())
                    }
                },
                ("connect_timeout", v) => match positive_seconds(&v) {
                    Some(d) => builder.connect_timeout(d),
                    None => builder
                        .problem("`connect_timeout` must be a positive number of seconds".into()),
                },
                (k @ ("mchid" | "serial" | "privateKey" | "base_uri" | "secret"), _) => {
                    builder.problem(format!("`{k}` must be a string"))
                }
                (k @ ("certs" | "headers" | "merchant"), _) => {
                    builder.problem(format!("`{k}` must be an object"))
                }
                (other, _) => builder.problem(format!(
                    "`{other}` is not a configuration key this client knows"
                )),
            };
        }
        builder.build()
    }
}
