//! The simulator's fixed, DEMO-ONLY credentials, and `credentials.json` for clients in other
//! languages.
//!
//! The PEM files in `src/mock/demo/` were made once with the openssl command line
//! (`src/mock/demo/make.sh`) and are compiled in, so the simulator needs no setup. They are
//! public and protect nothing: never use them against the real WeChat Pay.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Serialize;

use crate::crypto::{PemUtil, Rsa, RsaPrivateKey, RsaPublicKey};
use crate::error::KeyError;

/// The demo merchant and the simulator's WeChat Pay keys. **Demo only**: these values are
/// public, ship in the crate, and must never be used against the real WeChat Pay.
pub mod demo {
    /// The demo merchant id (商户号).
    pub const MCHID: &str = "1900000001";
    /// The serial of the demo merchant's API certificate (商户API证书序列号).
    pub const MERCHANT_SERIAL: &str = "42209D51B896DD6018B129CFD574867619713E2F";
    /// The demo merchant's API private key (`apiclient_key.pem`, PKCS#8 PEM).
    pub const MERCHANT_PRIVATE_KEY_PEM: &str = include_str!("demo/merchant_private_key.pem");
    /// The id of the simulator's WeChat Pay public key (微信支付公钥ID).
    pub const PLATFORM_PUBLIC_KEY_ID: &str = "PUB_KEY_ID_0119000000012026010100000001";
    /// The simulator's WeChat Pay public key (`pub_key.pem`, SubjectPublicKeyInfo PEM).
    pub const PLATFORM_PUBLIC_KEY_PEM: &str = include_str!("demo/platform_public_key.pem");
    /// The serial of the simulator's platform certificate (平台证书序列号).
    pub const PLATFORM_CERTIFICATE_SERIAL: &str = "23FA95F111AA8D19D1F8AA9ACD15ECB28D0FC59E";
    /// The simulator's platform certificate (self-signed, valid for 20 years from 2026).
    pub const PLATFORM_CERTIFICATE_PEM: &str = include_str!("demo/platform_certificate.pem");
    /// The demo merchant's APIv3 key (32 bytes), which encrypts `GET /v3/certificates` and
    /// notification resources.
    pub const APIV3_KEY: &str = "DemoOnlyAPIv3KeyOfWechatpayMock3";
    /// The demo merchant's APIv2 key (32 bytes). APIv2 itself is not simulated; the key is
    /// listed so that `credentials.json` is complete.
    pub const APIV2_KEY: &str = "DemoOnlyAPIv2KeyOfWechatpayMock2";

    /// The private key behind [`PLATFORM_PUBLIC_KEY_ID`].
    pub(crate) const PLATFORM_PUBLIC_KEY_PRIVATE_PEM: &str =
        include_str!("demo/platform_public_key_private.pem");
    /// The private key of [`PLATFORM_CERTIFICATE_PEM`].
    pub(crate) const PLATFORM_CERTIFICATE_PRIVATE_PEM: &str =
        include_str!("demo/platform_certificate_private.pem");
}

/// The demo keys, parsed once.
pub(crate) struct DemoKeys {
    pub(crate) merchant_public: RsaPublicKey,
    pub(crate) public_key_mode_private: RsaPrivateKey,
    pub(crate) certificate_mode_private: RsaPrivateKey,
    /// The certificate's validity, as Unix seconds.
    pub(crate) certificate_not_before: i64,
    pub(crate) certificate_not_after: i64,
}

/// The parsed demo keys. They are compiled in, so this fails only if the embedded files were
/// damaged; the error then surfaces from `MockServer::start`.
pub(crate) fn demo_keys() -> Result<&'static DemoKeys, KeyError> {
    static KEYS: OnceLock<Result<DemoKeys, KeyError>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let merchant = Rsa::from_private(demo::MERCHANT_PRIVATE_KEY_PEM)?;
        let info = PemUtil::certificate_info(demo::PLATFORM_CERTIFICATE_PEM.as_bytes())?;
        Ok(DemoKeys {
            merchant_public: merchant.public_key(),
            public_key_mode_private: Rsa::from_private(demo::PLATFORM_PUBLIC_KEY_PRIVATE_PEM)?,
            certificate_mode_private: Rsa::from_private(demo::PLATFORM_CERTIFICATE_PRIVATE_PEM)?,
            certificate_not_before: super::time::unix_seconds(info.not_before),
            certificate_not_after: super::time::unix_seconds(info.not_after),
        })
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// File names [`write_credentials`](crate::mock::MockServer::write_credentials) uses.
pub(crate) const MERCHANT_PRIVATE_KEY_FILE: &str = "apiclient_key.pem";
pub(crate) const PLATFORM_PUBLIC_KEY_FILE: &str = "pub_key.pem";
pub(crate) const PLATFORM_CERTIFICATE_FILE: &str = "wechatpay_platform_cert.pem";
/// The name of the JSON file describing the credentials.
pub const CREDENTIALS_FILE: &str = "credentials.json";

/// What `credentials.json` holds: everything a client in any language needs to call the
/// simulator. File names are relative to the folder holding `credentials.json`.
///
/// `Debug` hides the APIv3 and APIv2 keys.
#[derive(Clone, Serialize)]
#[non_exhaustive]
pub struct Credentials {
    /// Always `"wechatpay-chain mock: DEMO ONLY, never use these keys with the real WeChat Pay"`.
    pub notice: &'static str,
    /// The simulator's base URI, such as `http://127.0.0.1:40123/`.
    pub base_uri: String,
    /// Which key signs responses: `"public_key"` (`Wechatpay-Serial` is the public key id)
    /// or `"platform_certificate"` (it is the certificate serial).
    pub mode: &'static str,
    /// The demo merchant id.
    pub mchid: &'static str,
    /// The demo merchant's API certificate serial, `serial_no` in `Authorization`.
    pub merchant_serial: &'static str,
    /// The merchant private key file (PKCS#8 PEM).
    pub merchant_private_key_file: &'static str,
    /// The WeChat Pay public key id, `PUB_KEY_ID_...`.
    pub platform_public_key_id: &'static str,
    /// The WeChat Pay public key file (SubjectPublicKeyInfo PEM).
    pub platform_public_key_file: &'static str,
    /// The platform certificate serial.
    pub platform_certificate_serial: &'static str,
    /// The platform certificate file (PEM).
    pub platform_certificate_file: &'static str,
    /// The APIv3 key (32 ASCII bytes).
    pub apiv3_key: &'static str,
    /// The APIv2 key (32 ASCII bytes).
    pub apiv2_key: &'static str,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("base_uri", &self.base_uri)
            .field("mode", &self.mode)
            .field("mchid", &self.mchid)
            .field("merchant_serial", &self.merchant_serial)
            .field("platform_public_key_id", &self.platform_public_key_id)
            .field(
                "platform_certificate_serial",
                &self.platform_certificate_serial,
            )
            .finish_non_exhaustive()
    }
}

impl Credentials {
    pub(crate) fn new(base_uri: String, mode: super::Mode) -> Self {
        Self {
            notice:
                "wechatpay-chain mock: DEMO ONLY, never use these keys with the real WeChat Pay",
            base_uri,
            mode: mode.as_str(),
            mchid: demo::MCHID,
            merchant_serial: demo::MERCHANT_SERIAL,
            merchant_private_key_file: MERCHANT_PRIVATE_KEY_FILE,
            platform_public_key_id: demo::PLATFORM_PUBLIC_KEY_ID,
            platform_public_key_file: PLATFORM_PUBLIC_KEY_FILE,
            platform_certificate_serial: demo::PLATFORM_CERTIFICATE_SERIAL,
            platform_certificate_file: PLATFORM_CERTIFICATE_FILE,
            apiv3_key: demo::APIV3_KEY,
            apiv2_key: demo::APIV2_KEY,
        }
    }

    /// Writes the three PEM files and `credentials.json` into `dir` (created if needed) and
    /// returns the path of `credentials.json`.
    pub(crate) fn write(&self, dir: &Path) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(
            dir.join(MERCHANT_PRIVATE_KEY_FILE),
            demo::MERCHANT_PRIVATE_KEY_PEM,
        )?;
        std::fs::write(
            dir.join(PLATFORM_PUBLIC_KEY_FILE),
            demo::PLATFORM_PUBLIC_KEY_PEM,
        )?;
        std::fs::write(
            dir.join(PLATFORM_CERTIFICATE_FILE),
            demo::PLATFORM_CERTIFICATE_PEM,
        )?;
        let mut json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        json.push(b'\n');
        let path = dir.join(CREDENTIALS_FILE);
        std::fs::write(&path, json)?;
        Ok(path)
    }
}
