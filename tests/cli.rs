//! The `wxpay` binary, run as a user runs it: every subcommand against `wxpay mock` (a
//! simulator in its own process, reached only through the credentials it wrote), the README's
//! command-line section line by line, a Node client served by `wxpay mock`, and bad input.
//!
//! `cargo test --features cli --test cli`

mod common;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use wechatpay::crypto::{Hash, Rsa};
use wechatpay::json;
use wechatpay::mock::{demo, MockServer, Mode};

const BIN: &str = env!("CARGO_BIN_EXE_wxpay");
const CREDENTIAL_VARS: &[&str] = &[
    "WECHATPAY_CONFIG",
    "WECHATPAY_MCHID",
    "WECHATPAY_SERIAL",
    "WECHATPAY_PRIVATE_KEY",
    "WECHATPAY_CERTS",
    "WECHATPAY_APIV3_KEY",
    "WECHATPAY_SECRET",
    "WECHATPAY_BASE_URI",
];

/// `wxpay` with none of the caller's WeChat Pay variables, and backtraces asked for (so that a
/// panic would show one).
fn wxpay() -> Command {
    let mut command = Command::new(BIN);
    for var in CREDENTIAL_VARS {
        command.env_remove(var);
    }
    command.env("RUST_BACKTRACE", "1").stdin(Stdio::null());
    command
}

fn run(args: &[&str]) -> Output {
    wxpay().args(args).output().expect("run wxpay")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts success and returns stdout.
fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "wxpay failed ({:?})\nstdout: {}\nstderr: {}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Asserts exit status `code`, one `wxpay: ` line on stderr that contains every `needle`,
/// nothing on stdout, and no panic or backtrace. Returns the line.
fn fails(out: &Output, code: i32, needles: &[&str]) -> String {
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {stderr}",
        text(&out.stdout)
    );
    assert_eq!(stderr.lines().count(), 1, "one line on stderr: {stderr}");
    assert!(stderr.starts_with("wxpay: "), "{stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "`{needle}` in: {stderr}");
    }
    for bad in ["panicked", "backtrace", "RUST_BACKTRACE", "internal error"] {
        assert!(!stderr.contains(bad), "{stderr}");
    }
    assert!(out.stdout.is_empty(), "stdout: {}", text(&out.stdout));
    stderr
}

/// `wxpay mock` in a process of its own, stopped (killed) on drop.
struct Mock {
    child: Child,
    dir: tempfile::TempDir,
    /// The `wxpay request` line it printed to paste.
    request_line: String,
}

impl Mock {
    fn start(mode: &str) -> Mock {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut child = wxpay()
            .args([
                "mock",
                "--listen",
                "127.0.0.1:0",
                "--mode",
                mode,
                "--credentials",
            ])
            .arg(dir.path().join("creds"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start wxpay mock");
        let request_line = first_line(&mut child);
        Mock {
            child,
            dir,
            request_line,
        }
    }

    fn credentials(&self) -> PathBuf {
        self.dir.path().join("creds/credentials.json")
    }

    fn config(&self) -> String {
        self.credentials().display().to_string()
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join("creds").join(name)
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first stdout line of `child`, which a server prints once it accepts connections.
fn first_line(child: &mut Child) -> String {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the server printed its ready line within 60 s");
    assert!(!line.is_empty(), "the server exited before it was ready");
    line.trim_end().to_string()
}

/// `sh -c line` with the built `wxpay` first on PATH, in `cwd`.
fn shell(line: &str, cwd: &Path) -> Command {
    let bin_dir = Path::new(BIN).parent().expect("bin dir");
    let path = std::env::join_paths(std::iter::once(bin_dir.to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .expect("PATH");
    let mut command = Command::new("sh");
    command
        .args(["-c", line])
        .current_dir(cwd)
        .env("PATH", path)
        .stdin(Stdio::null());
    for var in CREDENTIAL_VARS {
        command.env_remove(var);
    }
    command
}

// ---------------------------------------------------------------------------------------------
// request

#[test]
fn the_line_wxpay_mock_prints_works_when_pasted_and_fails_clearly_the_second_time() {
    let mock = Mock::start("public-key");
    assert!(
        mock.request_line.starts_with("wxpay request --config "),
        "{}",
        mock.request_line
    );

    let out = shell(&mock.request_line, mock.dir.path()).output().unwrap();
    let stdout = ok(&out);
    let answer: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        answer,
        json!({"mchid": "1900000001", "service_id": 12535, "out_contract_code": "wxwtdk20200910100000"})
    );
    assert_eq!(
        stdout.lines().count(),
        1,
        "compact JSON when piped: {stdout}"
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "200 OK; signature verified: Wechatpay-Serial {}",
            demo::PLATFORM_PUBLIC_KEY_ID
        )),
        "{stderr}"
    );
    assert!(stderr.contains("Request-ID 08"), "{stderr}");

    // The contract is terminated now: WeChat Pay's code and message, status 1.
    let again = shell(&mock.request_line, mock.dir.path()).output().unwrap();
    fails(
        &again,
        1,
        &["400 INVALID_REQUEST", "already terminated", "Request-ID"],
    );
}

#[test]
fn request_takes_the_dotted_form_path_variables_queries_and_headers() {
    let mock = Mock::start("certificate");
    let config = mock.config();
    // The Node CLI's dotted form, PHP's identifier rules: 204, nothing on stdout.
    let out = run(&[
        "req",
        "--config",
        &config,
        "v3.marketing.membercardOpen.cards._card_id_.codes._code_.unavailable",
        "-v",
        "card_id=pbLatjvWOibDc5-TBnbUk1pD12o0",
        "-v",
        "code=478515832665",
        "-d",
        r#"{"reason": "用户违反会员条例"}"#,
    ]);
    assert_eq!(ok(&out), "");
    assert!(
        text(&out.stderr).contains(&format!(
            "204 No Content; signature verified: Wechatpay-Serial {}",
            demo::PLATFORM_CERTIFICATE_SERIAL
        )),
        "{}",
        text(&out.stderr)
    );

    // -q and -H reach the simulator: a GET with a required query parameter answers with
    // the placeholder that echoes it; an unknown Wechatpay-Serial is refused.
    let out = run(&[
        "request",
        "--config",
        &config,
        "v3/pay/transactions/id/{transaction_id}",
        "-v",
        "transaction_id=4200000000000000000000000001",
        "-q",
        "mchid=1900000001",
    ]);
    let answer: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(answer["transaction_id"], "4200000000000000000000000001");
    assert_eq!(answer["mchid"], "1900000001");
    let out = run(&[
        "request",
        "--config",
        &config,
        "v3/certificates",
        "-H",
        "Wechatpay-Serial: PUB_KEY_ID_0000",
    ]);
    fails(&out, 1, &["400 PARAM_ERROR", "Wechatpay-Serial"]);

    // A missing required body field: the code, the message and WeChat Pay's `detail`.
    let out = run(&[
        "request",
        "--config",
        &config,
        "v3/refund/domestic/refunds",
        "-d",
        r#"{"out_refund_no": "R1"}"#,
    ]);
    fails(
        &out,
        1,
        &[
            "400 PARAM_ERROR",
            r#""field":"amount""#,
            r#""location":"body""#,
        ],
    );

    // -d @file and a full URL (the form of a bill's download_url) work too.
    let body = mock.dir.path().join("reason.json");
    std::fs::write(&body, r#"{"reason": "r"}"#).unwrap();
    let base =
        serde_json::from_slice::<serde_json::Value>(&std::fs::read(mock.credentials()).unwrap())
            .unwrap()["base_uri"]
            .as_str()
            .unwrap()
            .to_string();
    let out = run(&[
        "request",
        "--config",
        &config,
        &format!("{base}v3/marketing/membercard-open/cards/pbLatjvWOibDc5-TBnbUk1pD12o0/codes/478515832665/unavailable"),
        "-d",
        &format!("@{}", body.display()),
    ]);
    // Already made unavailable above: the simulator's state is shared by both calls.
    fails(&out, 1, &["400 INVALID_REQUEST"]);
}

#[test]
fn request_raw_saves_a_download_only_when_its_hash_matches() {
    let mock = Mock::start("public-key");
    let config = mock.config();
    let file = mock.dir.path().join("bill.csv");
    let file_arg = file.display().to_string();
    let call = |extra: &[&str]| {
        let mut args = vec![
            "request",
            "--config",
            &config,
            "v3/billdownload/file",
            "-q",
            "token=T1",
            "--raw",
            &file_arg,
        ];
        args.extend_from_slice(extra);
        run(&args)
    };

    let out = call(&["--sha1", "0000000000000000000000000000000000000000"]);
    fails(&out, 1, &["SHA-1", "was not written"]);
    assert!(!file.exists());
    let leftovers: Vec<_> = std::fs::read_dir(mock.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().ends_with(".part"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // The download_url form: a full URL with its token.
    let url = format!("{}v3/billdownload/file?token=T1", base_uri(&mock));
    let out = run(&["request", "--config", &config, &url]);
    assert!(ok(&out).starts_with("交易时间,"));
    assert!(
        text(&out.stderr).contains("unsigned download"),
        "{}",
        text(&out.stderr)
    );

    let out = call(&[]);
    assert_eq!(ok(&out), "", "--raw prints nothing on stdout");
    let bill = std::fs::read(&file).unwrap();
    assert!(text(&bill).starts_with("交易时间,"), "{}", text(&bill));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("unsigned download"), "{stderr}");
    assert!(
        stderr.contains(&format!("saved {} bytes to", bill.len())),
        "{stderr}"
    );

    std::fs::remove_file(&file).unwrap();
    let sha256 = Hash::sha256(&bill).to_ascii_uppercase();
    let out = call(&["--sha256", &sha256]);
    ok(&out);
    assert_eq!(std::fs::read(&file).unwrap(), bill);
    assert!(
        text(&out.stderr).contains("SHA-256"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn an_apiv2_call_prints_the_answers_fields_as_json() {
    let mock = Mock::start("public-key");
    let query = r#"{"appid":"wxd678efh567hg6787","mch_id":"1900000001","out_trade_no":"1217752501201407033233368018","sign_type":"HMAC-SHA256"}"#;
    let out = run(&[
        "request",
        "--config",
        &mock.config(),
        "v2/pay/orderquery",
        "-d",
        query,
    ]);
    let fields: serde_json::Value = serde_json::from_str(&ok(&out)).expect("JSON on stdout");
    assert_eq!(fields["trade_state"], "SUCCESS");
    assert_eq!(fields["total_fee"], "100");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("200 OK; APIv2 sign verified (HMAC-SHA256)"),
        "{stderr}"
    );

    // A FAIL is the failure of the call, with WeChat Pay's code.
    let pay = r#"{"appid":"wxd678efh567hg6787","mch_id":"1900000001","body":"x","out_trade_no":"CLI1","total_fee":1,"spbill_create_ip":"127.0.0.1","auth_code":"134567890123456789"}"#;
    let out = run(&[
        "request",
        "--config",
        &mock.config(),
        "v2.pay.micropay",
        "-d",
        pay,
    ]);
    fails(&out, 1, &["USERPAYING"]);
    let out = run(&[
        "request",
        "--config",
        &mock.config(),
        "v2/pay/micropay",
        "-d",
        pay,
    ]);
    fails(&out, 1, &["ORDERPAID"]);
}

#[test]
fn an_apiv2_call_needs_only_the_merchant_id_and_the_apiv2_key() {
    let mock = Mock::start("public-key");
    let creds: serde_json::Value =
        serde_json::from_slice(&std::fs::read(mock.credentials()).unwrap()).unwrap();
    let base = creds["base_uri"].as_str().unwrap();
    let query = r#"{"appid":"wxd678efh567hg6787","mch_id":"1900000001","out_trade_no":"1217752501201407033233368018"}"#;
    let out = wxpay()
        .args([
            "request",
            "-m",
            demo::MCHID,
            "-u",
            base,
            "v2/pay/orderquery",
            "-d",
            query,
        ])
        .env("WECHATPAY_SECRET", demo::APIV2_KEY)
        .output()
        .unwrap();
    let fields: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(fields["out_trade_no"], "1217752501201407033233368018");
    assert!(text(&out.stderr).contains("APIv2 sign verified (MD5)"));

    // A wrong key: the simulator's SIGNERROR.
    let out = run(&[
        "request",
        "-m",
        demo::MCHID,
        "-u",
        base,
        "--secret",
        "AnotherAPIv2KeyAnotherAPIv2Key32",
        "v2/pay/orderquery",
        "-d",
        query,
    ]);
    fails(&out, 1, &["SIGNERROR"]);
    // No key at all: where it can come from.
    let out = run(&[
        "request",
        "-m",
        demo::MCHID,
        "-u",
        base,
        "v2/pay/orderquery",
        "-d",
        query,
    ]);
    fails(&out, 2, &["no APIv2 key", "--secret", "WECHATPAY_SECRET"]);
    // --security is an APIv2 option.
    let out = run(&[
        "request",
        "--config",
        &mock.config(),
        "v3/certificates",
        "--security",
    ]);
    fails(&out, 2, &["--security", "v2/"]);
}

#[test]
fn a_refund_goes_over_mutual_tls_with_the_credentials_the_simulator_wrote() {
    let mock = Mock::start("public-key");
    for file in ["apiclient_cert.pem", "mock_tls_ca.pem"] {
        assert!(mock.file(file).exists(), "{file}");
    }
    let refund = r#"{"appid":"wxd678efh567hg6787","mch_id":"1900000001","out_trade_no":"1217752501201407033233368018","out_refund_no":"CLI-R1","total_fee":100,"refund_fee":1}"#;
    let out = run(&[
        "request",
        "--config",
        &mock.config(),
        "v2/secapi/pay/refund",
        "--security",
        "-d",
        refund,
    ]);
    let fields: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(fields["result_code"], "SUCCESS");
    assert_eq!(fields["out_refund_no"], "CLI-R1");
    // Without it, the simulator refuses the call.
    let out = run(&[
        "request",
        "--config",
        &mock.config(),
        "v2/secapi/pay/refund",
        "-d",
        refund,
    ]);
    fails(&out, 1, &["证书错误"]);
}

#[test]
fn flags_beat_environment_variables_which_beat_the_config_file() {
    let mock = Mock::start("public-key");
    let config = mock.config();
    // The environment's merchant overrides the file's: the simulator does not know it.
    let out = wxpay()
        .args(["request", "--config", &config, "v3/certificates"])
        .env("WECHATPAY_MCHID", "1900000002")
        .output()
        .unwrap();
    fails(&out, 1, &["401 SIGN_ERROR", "1900000002"]);
    // A flag overrides the environment.
    let out = wxpay()
        .args([
            "request",
            "--config",
            &config,
            "v3/certificates",
            "-m",
            demo::MCHID,
        ])
        .env("WECHATPAY_MCHID", "1900000002")
        .output()
        .unwrap();
    ok(&out);
    // Everything from the environment, nothing from a file; certificates as ID=path.
    let key = mock.file("apiclient_key.pem").display().to_string();
    let cert = format!(
        "{}={}",
        demo::PLATFORM_PUBLIC_KEY_ID,
        mock.file("pub_key.pem").display()
    );
    let out = wxpay()
        .args(["request", "v3/certificates"])
        .env("WECHATPAY_MCHID", demo::MCHID)
        .env("WECHATPAY_SERIAL", demo::MERCHANT_SERIAL)
        .env("WECHATPAY_PRIVATE_KEY", &key)
        .env("WECHATPAY_CERTS", &cert)
        .env("WECHATPAY_BASE_URI", base_uri(&mock))
        .output()
        .unwrap();
    assert!(ok(&out).contains("encrypt_certificate"));
}

#[test]
fn request_with_only_the_apiv3_key_downloads_the_certificates_it_verifies_with() {
    // Platform-certificate mode: the first answer names a certificate the client fetches.
    let mock = Mock::start("certificate");
    let key = mock.file("apiclient_key.pem").display().to_string();
    let base = base_uri(&mock);
    let flags = [
        "-m",
        demo::MCHID,
        "-s",
        demo::MERCHANT_SERIAL,
        "-f",
        &key,
        "-k",
        demo::APIV3_KEY,
        "-u",
        &base,
    ];
    let mut args = vec!["request", "v3/certificates"];
    args.extend_from_slice(&flags);
    let out = run(&args);
    assert!(ok(&out).contains("encrypt_certificate"));
    assert!(
        text(&out.stderr).contains(demo::PLATFORM_CERTIFICATE_SERIAL),
        "{}",
        text(&out.stderr)
    );
    // Without the APIv3 key nor a --cert, nothing could verify the answer.
    let out = run(&[
        "request",
        "v3/certificates",
        "-m",
        demo::MCHID,
        "-s",
        demo::MERCHANT_SERIAL,
        "-f",
        &key,
        "-u",
        &base,
    ]);
    fails(
        &out,
        2,
        &["no WeChat Pay key to verify answers with", "--cert"],
    );
}

/// wechatpay-php's downloader flags for the demo merchant: `-k -m -f -s -o -u`.
fn downloader_flags(mock: &Mock, out_dir: &Path) -> Vec<String> {
    [
        "-k",
        demo::APIV3_KEY,
        "-m",
        demo::MCHID,
        "-f",
        &mock.file("apiclient_key.pem").display().to_string(),
        "-s",
        demo::MERCHANT_SERIAL,
        "-o",
        &out_dir.display().to_string(),
        "-u",
        &base_uri(mock),
    ]
    .map(String::from)
    .to_vec()
}

fn base_uri(mock: &Mock) -> String {
    let creds: serde_json::Value =
        serde_json::from_slice(&std::fs::read(mock.credentials()).unwrap()).unwrap();
    creds["base_uri"].as_str().unwrap().to_string()
}

// ---------------------------------------------------------------------------------------------
// crt

#[test]
fn crt_with_the_php_downloaders_flags_writes_self_verified_certificates() {
    let mock = Mock::start("certificate");
    let out_dir = mock.dir.path().join("certs");
    let flags = downloader_flags(&mock, &out_dir);
    let mut args: Vec<&str> = vec!["crt"];
    args.extend(flags.iter().map(String::as_str));
    let out = run(&args);
    let stdout = ok(&out);
    let saved = out_dir.join(format!(
        "wechatpay_{}.pem",
        demo::PLATFORM_CERTIFICATE_SERIAL
    ));
    assert_eq!(
        std::fs::read_to_string(&saved).unwrap(),
        demo::PLATFORM_CERTIFICATE_PEM
    );
    assert!(
        stdout.contains(&format!(
            "serial      {}",
            demo::PLATFORM_CERTIFICATE_SERIAL
        )),
        "{stdout}"
    );
    assert!(stdout.contains("not after   2046-"), "{stdout}");
    assert!(stdout.contains("(valid now)"), "{stdout}");
    assert!(stdout.contains(&saved.display().to_string()), "{stdout}");
    // The command printed for checking names the saved file.
    assert!(stdout.contains("openssl x509 -in "), "{stdout}");

    // Its aliases, and a wrong APIv3 key: the certificate does not decrypt, nothing is written.
    std::fs::remove_file(&saved).unwrap();
    let mut wrong = args.clone();
    wrong[0] = "certificates";
    wrong[2] = "WrongWrongWrongWrongWrongWrong32";
    let out = run(&wrong);
    let line = fails(&out, 1, &["did not decrypt", "APIv3 key"]);
    assert!(
        !line.contains("WrongWrong"),
        "the key is never printed: {line}"
    );
    assert!(!saved.exists());
}

#[test]
fn crt_in_public_key_mode_trusts_the_configured_public_key() {
    let mock = Mock::start("public-key");
    let out_dir = mock.dir.path().join("certs");
    let out = run(&[
        "cert",
        "--config",
        &mock.config(),
        "-o",
        &out_dir.display().to_string(),
    ]);
    ok(&out);
    assert!(out_dir
        .join(format!(
            "wechatpay_{}.pem",
            demo::PLATFORM_CERTIFICATE_SERIAL
        ))
        .exists());
    // Without that key the listing, signed by the public key, cannot vouch for itself.
    let mut args = vec!["crt".to_string()];
    args.extend(downloader_flags(&mock, &out_dir));
    let out = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    fails(
        &out,
        1,
        &[demo::PLATFORM_PUBLIC_KEY_ID, "not a trusted key"],
    );
}

// ---------------------------------------------------------------------------------------------
// notify

#[test]
fn notify_verifies_decrypts_and_names_the_check_that_failed() {
    let mock = Mock::start("public-key");
    // The simulator's keys are fixed demo keys, so an in-process simulator in the same mode
    // signs notifications exactly as `wxpay mock` would.
    let signer = MockServer::start_blocking().unwrap();
    let resource = json!({"out_trade_no": "1217752501201407033233368018", "trade_state": "SUCCESS", "amount": {"total": 100}});
    let (headers, body) = signer
        .notification("TRANSACTION.SUCCESS", "transaction", &resource)
        .unwrap();
    let dir = mock.dir.path();
    let header_lines: String = headers
        .iter()
        .map(|(n, v)| format!("{}: {}\n", n, v.to_str().unwrap()))
        .collect();
    std::fs::write(dir.join("headers.txt"), &header_lines).unwrap();
    std::fs::write(dir.join("body.json"), &body).unwrap();
    let config = mock.config();

    let out = run(&[
        "notify",
        "--config",
        &config,
        "--headers",
        &dir.join("headers.txt").display().to_string(),
        "--body",
        &dir.join("body.json").display().to_string(),
    ]);
    let plaintext: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(plaintext, resource);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("signature verified"), "{stderr}");
    assert!(stderr.contains("TRANSACTION.SUCCESS"), "{stderr}");

    // The same notification as one captured HTTP request.
    let mut request = format!(
        "POST /notify HTTP/1.1\r\nHost: merchant.example\r\nContent-Length: {}\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(header_lines.replace('\n', "\r\n").as_bytes());
    request.extend_from_slice(b"\r\n");
    request.extend_from_slice(&body);
    let request_file = dir.join("notify.http");
    std::fs::write(&request_file, &request).unwrap();
    let out = run(&[
        "notify",
        "--config",
        &config,
        &request_file.display().to_string(),
    ]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&ok(&out)).unwrap(),
        resource
    );

    // One byte changed: the signature check fails and says so.
    let mut tampered = body.to_vec();
    let at = tampered.iter().position(|b| *b == b'T').unwrap();
    tampered[at] = b'X';
    std::fs::write(dir.join("tampered.json"), &tampered).unwrap();
    let out = run(&[
        "notify",
        "--config",
        &config,
        "--headers",
        &dir.join("headers.txt").display().to_string(),
        "--body",
        &dir.join("tampered.json").display().to_string(),
    ]);
    fails(
        &out,
        1,
        &["notification rejected", "signature does not match"],
    );

    // A wrong APIv3 key: verified, but the resource does not decrypt.
    let out = run(&[
        "notify",
        "--config",
        &config,
        "-k",
        "0123456789abcdef0123456789abcdef",
        &request_file.display().to_string(),
    ]);
    fails(&out, 1, &["did not decrypt"]);

    // Trusting only the certificate: the serial is unknown.
    let out = run(&[
        "notify",
        "--config",
        &config,
        "--cert",
        &format!(
            "{}={}",
            demo::PLATFORM_CERTIFICATE_SERIAL,
            mock.file("wechatpay_platform_cert.pem").display()
        ),
        &request_file.display().to_string(),
    ]);
    fails(
        &out,
        1,
        &[demo::PLATFORM_PUBLIC_KEY_ID, "not a trusted key"],
    );
}

#[test]
fn notify_checks_an_apiv2_sign_and_decrypts_a_refunds_req_info() {
    use wechatpay::crypto::{AesEcb, ApiV2Key, HashAlgorithm};
    use wechatpay::v2::Transformer;

    // credentials.json carries the APIv2 key as `apiv2_key`.
    let mock = Mock::start("public-key");
    let config = mock.config();
    let key = ApiV2Key::new(demo::APIV2_KEY);
    let fields = [
        ("appid", "wxd678efh567hg6787"),
        ("mch_id", demo::MCHID),
        ("nonce_str", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"),
        ("result_code", "SUCCESS"),
        ("out_trade_no", "T1"),
        ("sign_type", "HMAC-SHA256"),
    ];
    let sign = wechatpay::v2::sign(fields, &key, HashAlgorithm::HmacSha256);
    let xml = Transformer::to_xml(fields.into_iter().chain([("sign", sign.as_str())]));
    let file = mock.dir.path().join("pay.xml");
    std::fs::write(&file, &xml).unwrap();
    let out = run(&[
        "notify",
        "--config",
        &config,
        "--body",
        &file.display().to_string(),
    ]);
    let shown: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(shown["out_trade_no"], "T1");
    assert!(
        text(&out.stderr).contains("sign verified"),
        "{}",
        text(&out.stderr)
    );

    let tampered = xml.replace("[T1]", "[T2]");
    assert_ne!(tampered, xml);
    std::fs::write(&file, tampered).unwrap();
    let out = run(&[
        "notify",
        "--config",
        &config,
        "--body",
        &file.display().to_string(),
    ]);
    fails(&out, 1, &["sign does not match"]);

    // A refund notification: no sign, its req_info encrypted under MD5(APIv2 key).
    let inner = Transformer::to_xml([("out_refund_no", "R1"), ("refund_status", "SUCCESS")]);
    let req_info = AesEcb::encrypt(inner.as_bytes(), key.refund_key().as_bytes()).unwrap();
    let refund = Transformer::to_xml([
        ("return_code", "SUCCESS"),
        ("mch_id", demo::MCHID),
        ("req_info", req_info.as_str()),
    ]);
    std::fs::write(&file, &refund).unwrap();
    let out = run(&[
        "notify",
        "--config",
        &config,
        "--body",
        &file.display().to_string(),
    ]);
    let shown: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(
        shown,
        json!({"out_refund_no": "R1", "refund_status": "SUCCESS"})
    );
    let out = run(&[
        "notify",
        "--config",
        &config,
        "--secret",
        "AnotherAPIv2KeyAnotherAPIv2Key32",
        "--body",
        &file.display().to_string(),
    ]);
    fails(&out, 1, &["did not decrypt"]);
}

// ---------------------------------------------------------------------------------------------
// encrypt / decrypt

#[test]
fn encrypted_fields_decrypt_with_the_platform_key_and_the_simulator_accepts_the_serial() {
    let mock = Mock::start("public-key");
    let config = mock.config();
    let out = run(&["encrypt", "--config", &config, "张三", "13800138000"]);
    let stdout = ok(&out);
    let ciphertexts: Vec<&str> = stdout.lines().collect();
    assert_eq!(ciphertexts.len(), 2, "{stdout}");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "Wechatpay-Serial: {}",
            demo::PLATFORM_PUBLIC_KEY_ID
        )),
        "{stderr}"
    );
    // Only the simulator's private key (its demo file) opens them.
    let platform_private = Rsa::from_private(&format!(
        "file://{}/src/mock/demo/platform_public_key_private.pem",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    assert_eq!(
        Rsa::decrypt(ciphertexts[0], &platform_private).unwrap(),
        "张三".as_bytes()
    );
    assert_eq!(
        Rsa::decrypt(ciphertexts[1], &platform_private).unwrap(),
        b"13800138000"
    );

    // The call that carries them, with the header encrypt named.
    let body = json!({
        "appid": "wx8888888888888888",
        "type": "MERCHANT_ID",
        "account": "190001001",
        "encrypted_name": ciphertexts[0],
        "relation_type": "STORE",
    })
    .to_string();
    let out = run(&[
        "request",
        "--config",
        &config,
        "v3/ecommerce/profitsharing/receivers/add",
        "-H",
        &format!("Wechatpay-Serial: {}", demo::PLATFORM_PUBLIC_KEY_ID),
        "-d",
        &body,
    ]);
    ok(&out);

    // An explicit key id that is not trusted.
    let out = run(&[
        "encrypt",
        "--config",
        &config,
        "--key-id",
        "PUB_KEY_ID_0000",
        "x",
    ]);
    fails(&out, 2, &["PUB_KEY_ID_0000", "not among the trusted keys"]);
}

#[test]
fn decrypt_opens_fields_encrypted_to_the_merchant_key() {
    let mock = Mock::start("public-key");
    let merchant = Rsa::from_private(demo::MERCHANT_PRIVATE_KEY_PEM).unwrap();
    let name = Rsa::encrypt("李四".as_bytes(), &merchant.public_key()).unwrap();
    let phone = Rsa::encrypt(b"13900139000", &merchant.public_key()).unwrap();
    let out = run(&["decrypt", "--config", &mock.config(), &name, &phone]);
    assert_eq!(ok(&out), "李四\n13900139000\n");

    // From stdin, with only the key flag.
    let mut child = wxpay()
        .args([
            "decrypt",
            "-f",
            &mock.file("apiclient_key.pem").display().to_string(),
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        format!("{name}\n").as_bytes(),
    )
    .unwrap();
    assert_eq!(ok(&child.wait_with_output().unwrap()), "李四\n");

    // Garbage, and a field encrypted to another key.
    let out = run(&[
        "decrypt",
        "--config",
        &mock.config(),
        "bm90IGEgY2lwaGVydGV4dA==",
    ]);
    fails(&out, 1, &["ciphertext #1", "did not decrypt"]);
}

// ---------------------------------------------------------------------------------------------
// endpoints, completions, help

#[test]
fn endpoints_finds_refunds_in_either_language_and_its_call_runs() {
    let out = run(&["endpoints", "退款"]);
    let stdout = ok(&out);
    assert!(
        stdout.contains("POST v3/refund/domestic/refunds  申请退款API"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  wxpay request v3/refund/domestic/refunds -d '{\"out_refund_no\":"),
        "{stdout}"
    );
    let english = ok(&run(&["endpoints", "refunds", "POST"]));
    assert!(
        english.contains("POST v3/refund/domestic/refunds"),
        "{english}"
    );
    // Every word must match: the query by out_refund_no is a GET.
    assert!(
        stdout.contains("GET v3/refund/domestic/refunds/{out_refund_no}"),
        "{stdout}"
    );
    assert!(
        !english.contains("GET v3/refund/domestic/refunds/{out_refund_no}"),
        "{english}"
    );

    // --json gives catalog lines; no words lists every endpoint.
    let json_lines = ok(&run(&["endpoints", "--json", "v3/certificates"]));
    let first: serde_json::Value =
        serde_json::from_str(json_lines.lines().next().unwrap()).unwrap();
    assert_eq!(first["path"], "v3/certificates");
    let all = run(&["endpoints"]);
    assert_eq!(ok(&all).lines().count(), 1154);
    assert!(text(&all.stderr).contains("1154 endpoint(s)"));

    // The call it suggests for v3/certificates works against `wxpay mock`.
    let shown = ok(&run(&["endpoints", "v3/certificates"]));
    let call = shown
        .lines()
        .find_map(|l| l.trim().strip_prefix("wxpay request "))
        .unwrap();
    let mock = Mock::start("public-key");
    let out = shell(
        &format!("wxpay request --config '{}' {call}", mock.config()),
        mock.dir.path(),
    )
    .output()
    .unwrap();
    assert!(ok(&out).contains("encrypt_certificate"));
}

#[test]
fn completions_and_help_for_every_subcommand() {
    for shell in ["bash", "zsh", "fish"] {
        let script = ok(&run(&["completions", shell]));
        for word in [
            "request",
            "crt",
            "mock",
            "notify",
            "encrypt",
            "decrypt",
            "endpoints",
        ] {
            assert!(script.contains(word), "{shell}: {word}");
        }
    }
    let help = ok(&run(&["--help"]));
    assert!(help.contains("Exit status:"), "{help}");
    assert!(help.contains("1  the call or a check failed"), "{help}");
    assert!(help.contains("2  bad usage or configuration"), "{help}");
    for sub in [
        "request",
        "req",
        "crt",
        "cert",
        "certificates",
        "mock",
        "notify",
        "encrypt",
        "decrypt",
        "endpoints",
        "completions",
    ] {
        let out = run(&[sub, "--help"]);
        assert!(ok(&out).contains("Usage: wxpay "), "{sub}");
    }
    // Secrets from the environment never show in help.
    let out = wxpay()
        .args(["request", "--help"])
        .env("WECHATPAY_APIV3_KEY", "SecretSecretSecretSecretSecret32")
        .env("WECHATPAY_PRIVATE_KEY", "PRIVATE-KEY-TEXT")
        .env("WECHATPAY_SECRET", "APIV2-SECRET-TEXT")
        .output()
        .unwrap();
    let help = ok(&out);
    for secret in ["SecretSecret", "PRIVATE-KEY-TEXT", "APIV2-SECRET-TEXT"] {
        assert!(!help.contains(secret), "{help}");
    }
}

#[cfg(unix)]
#[test]
fn ctrl_c_or_sigterm_stops_wxpay_mock_cleanly() {
    for signal in ["-INT", "-TERM"] {
        let mut mock = Mock::start("public-key");
        let pid = mock.child.id().to_string();
        let status = Command::new("kill").args([signal, &pid]).status().unwrap();
        assert!(status.success());
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut mock.child.stderr.take().unwrap(), &mut stderr).unwrap();
        let status = mock.child.wait().unwrap();
        assert!(status.success(), "{signal}: {status:?} {stderr}");
        assert!(
            stderr.contains("WeChat Pay simulator on http://127.0.0.1:"),
            "{stderr}"
        );
        assert!(
            stderr.contains("the same port speaks HTTPS at https://127.0.0.1:"),
            "{stderr}"
        );
        assert!(stderr.contains("stopped after 0 request(s)"), "{stderr}");
    }
}

// ---------------------------------------------------------------------------------------------
// bad input

#[test]
fn bad_input_gives_one_line_and_status_2_never_a_panic() {
    let mock = Mock::start("public-key");
    let config = mock.config();
    let dir = mock.dir.path();
    let not_json = dir.join("not.json");
    std::fs::write(&not_json, "mchid=1").unwrap();
    let garbage_key = dir.join("garbage.pem");
    std::fs::write(
        &garbage_key,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let cert = format!("{}=pub_key.pem", demo::PLATFORM_PUBLIC_KEY_ID);

    let cases: Vec<(Vec<String>, Vec<&str>)> = vec![
        (
            vec!["frobnicate".into()],
            vec!["unrecognized subcommand 'frobnicate'"],
        ),
        (
            vec!["request".into()],
            vec!["<PATH>", "wxpay request --help"],
        ),
        (
            vec!["request".into(), "v3/certificates".into()],
            vec!["no merchant id", "--mchid", "WECHATPAY_MCHID"],
        ),
        (
            vec![
                "request",
                "v3/certificates",
                "-m",
                "1",
                "-s",
                "A",
                "--cert",
                &cert,
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            vec!["no merchant private key", "WECHATPAY_PRIVATE_KEY"],
        ),
        (
            vec![
                "request",
                "v3/certificates",
                "-m",
                "1",
                "-s",
                "A",
                "-f",
                "/nonexistent/apiclient_key.pem",
                "--cert",
                &cert,
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            vec!["private_key", "/nonexistent/apiclient_key.pem"],
        ),
        (
            vec![
                "request".into(),
                "v3/certificates".into(),
                "--config".into(),
                config.clone(),
                "-f".into(),
                garbage_key.display().to_string(),
            ],
            vec!["private_key", "malformed key"],
        ),
        (
            vec![
                "request",
                "v3/x",
                "--config",
                &config,
                "-d",
                r#"{"reason": "#,
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            vec!["-d is not valid JSON", "line 1"],
        ),
        (
            vec![
                "request",
                "v3/x",
                "--config",
                &config,
                "-d",
                "@/nonexistent/body.json",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            vec!["/nonexistent/body.json"],
        ),
        (
            vec!["request", "v3/x", "--config", &config, "-H", "NoColon"]
                .into_iter()
                .map(String::from)
                .collect(),
            vec!["-H `NoColon`"],
        ),
        (
            vec!["request", "v3/x", "--config", &config, "-X", "FETCH"]
                .into_iter()
                .map(String::from)
                .collect(),
            vec!["FETCH", "--method"],
        ),
        (
            vec!["request", "v3/x/{id}", "--config", &config]
                .into_iter()
                .map(String::from)
                .collect(),
            vec!["path variable `id` has no value"],
        ),
        (
            vec![
                "request".into(),
                "v3/x".into(),
                "--config".into(),
                not_json.display().to_string(),
            ],
            vec!["is not JSON", "not.json"],
        ),
        (
            vec![
                "request",
                "v3/x",
                "--config",
                "/nonexistent/credentials.json",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            vec!["cannot read the config file /nonexistent/credentials.json"],
        ),
        (
            vec![
                "request",
                "v3/x",
                "--config",
                &config,
                "--cert",
                "no_equals_sign",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            vec!["--cert `no_equals_sign`", "ID=KEY"],
        ),
        (
            vec![
                "request".into(),
                "v3/x".into(),
                "--config".into(),
                config.clone(),
                "--cert".into(),
                demo::MERCHANT_PRIVATE_KEY_PEM.into(),
            ],
            vec!["--cert entry: expected ID=KEY"],
        ),
        (
            // clap's refusal of a stray key is not allowed to quote it.
            vec![
                "request".into(),
                "v3/x".into(),
                demo::MERCHANT_PRIVATE_KEY_PEM.into(),
            ],
            vec!["unexpected argument", "characters>"],
        ),
        (
            vec!["crt", "--config", &config, "-k", "too-short-SECRET"]
                .into_iter()
                .map(String::from)
                .collect(),
            vec!["APIv3 key", "32"],
        ),
        (
            vec!["notify", "--config", &config]
                .into_iter()
                .map(String::from)
                .collect(),
            vec!["required"],
        ),
        (
            vec!["mock", "--listen", "not-an-address"]
                .into_iter()
                .map(String::from)
                .collect(),
            vec!["cannot listen on not-an-address"],
        ),
        (
            vec!["completions".into(), "tcsh".into()],
            vec!["tcsh", "bash"],
        ),
    ];
    for (args, needles) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(&args);
        let line = fails(&out, 2, needles);
        // No secret is quoted back: not the APIv3 key, nor any line of the private key.
        assert!(!line.contains("too-short-SECRET"), "{line}");
        assert!(!line.contains(demo::APIV3_KEY), "{line}");
        for key_line in demo::MERCHANT_PRIVATE_KEY_PEM.lines().skip(1).take(3) {
            assert!(!line.contains(key_line), "{line}");
        }
    }

    // A port already in use.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let out = run(&["mock", "--listen", &address]);
    fails(&out, 2, &["cannot listen on", &address]);
}

// ---------------------------------------------------------------------------------------------
// another language, served by `wxpay mock`

#[test]
fn a_node_client_calls_wxpay_mock_with_the_credentials_it_wrote() {
    if !common::present_or_skip(common::node_available(), "`node` (the cross-language test)") {
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/client.js");
    for mode in ["public-key", "certificate"] {
        let mock = Mock::start(mode);
        let out = Command::new("node")
            .arg(&script)
            .arg(mock.credentials())
            .output()
            .unwrap();
        let stdout = text(&out.stdout);
        assert!(
            out.status.success(),
            "{mode}\n{stdout}\n{}",
            text(&out.stderr)
        );
        assert_eq!(
            stdout.lines().filter(|l| l.starts_with("ok ")).count(),
            5,
            "{stdout}"
        );
        // The Node client terminated the contract in `wxpay mock`'s state.
        let again = shell(&mock.request_line, mock.dir.path()).output().unwrap();
        fails(&again, 1, &["already terminated"]);
    }
}

// ---------------------------------------------------------------------------------------------
// the README

/// The fenced block under the README's command-line heading, its continued lines joined.
fn readme_cli_lines() -> Vec<String> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Command line"))
        .expect("README has a `## Command line` section");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("\n```").next())
        .expect("the section has a ```sh block");
    let mut lines = Vec::new();
    let mut current = String::new();
    for line in block.lines() {
        match line.strip_suffix('\\') {
            Some(start) => current.push_str(start),
            None => {
                current.push_str(line);
                let whole = current.trim().to_string();
                if !whole.is_empty() && !whole.starts_with('#') {
                    lines.push(whole);
                }
                current.clear();
            }
        }
    }
    lines
}

#[test]
fn the_readme_command_line_section_runs_as_written() {
    let lines = readme_cli_lines();
    let dir = tempfile::tempdir().unwrap();
    let mut servers: Vec<Child> = Vec::new();
    let mut outputs = Vec::new();
    for line in &lines {
        if line.starts_with("cargo install") {
            // Installing would rebuild the crate in release mode: check instead that the line
            // installs the `wxpay` binary with the feature Cargo.toml gates it behind.
            assert_eq!(line, "cargo install --path . --features cli");
            let manifest =
                std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
                    .unwrap();
            assert!(
                manifest.contains("[[bin]]\nname = \"wxpay\"")
                    && manifest.contains("required-features = [\"cli\"]"),
                "Cargo.toml no longer gates wxpay behind `cli`"
            );
            continue;
        }
        if let Some(background) = line.strip_suffix('&') {
            let mut child = shell(&format!("exec {}", background.trim()), dir.path())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            first_line(&mut child);
            servers.push(child);
            continue;
        }
        let out = shell(line, dir.path()).output().unwrap();
        let stdout = ok(&out);
        outputs.push((line.clone(), stdout));
    }
    for mut server in servers {
        let _ = server.kill();
        let _ = server.wait();
    }

    assert!(lines
        .iter()
        .any(|l| l.starts_with("wxpay mock ") && l.ends_with('&')));
    let output_of = |prefix: &str| {
        outputs
            .iter()
            .find(|(line, _)| line.starts_with(prefix))
            .map(|(_, out)| out.clone())
            .unwrap_or_else(|| panic!("the README runs `{prefix}`"))
    };
    let answer: serde_json::Value = serde_json::from_str(&output_of("wxpay request ")).unwrap();
    assert_eq!(answer["service_id"], 12535);
    assert!(output_of("wxpay crt ").contains(demo::PLATFORM_CERTIFICATE_SERIAL));
    assert!(output_of("wxpay endpoints ").contains("v3/refund/domestic/refunds"));
}

#[test]
fn mock_mode_flags_are_the_librarys_two_modes() {
    for (flag, mode) in [
        ("public-key", Mode::PublicKey),
        ("certificate", Mode::PlatformCertificate),
    ] {
        let mock = Mock::start(flag);
        let creds: serde_json::Value =
            serde_json::from_slice(&std::fs::read(mock.credentials()).unwrap()).unwrap();
        assert_eq!(creds["mode"], mode.as_str());
        assert!(Path::new(&mock.file("apiclient_key.pem")).exists());
    }
}
