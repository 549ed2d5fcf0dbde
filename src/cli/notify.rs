//! `wxpay notify`: verify and decrypt a notification as a `notify_url` handler received it.
//!
//! APIv3 (JSON): the `Wechatpay-*` headers are checked against the raw body with the trusted
//! WeChat Pay keys, then `resource` is decrypted with the APIv3 key. APIv2 (XML): `sign` is
//! checked with the APIv2 key, or a refund's `req_info` decrypted with it.

use std::path::{Path, PathBuf};

use wechatpay::http::{HeaderMap, HeaderName, HeaderValue};
use wechatpay::notify::{V2Verifier, Verifier};

use crate::credentials::{CredentialArgs, Credentials};
use crate::{output, Failure};

#[derive(Debug, clap::Args)]
#[command(after_help = "\
A request file is what the handler received: the request line, the headers, a blank line,
then the body (Content-Length, when present, says where the body ends). A headers file holds
`Name: value` lines (a leading request or status line is skipped) or a JSON object.

Examples:
  wxpay notify --config credentials.json --headers headers.txt --body body.json
  wxpay notify --config credentials.json captured-request.http
  wxpay notify --secret $APIV2_KEY --body refund.xml")]
#[command(group(clap::ArgGroup::new("input").required(true).args(["request", "body"])))]
pub(crate) struct Args {
    /// An HTTP request file (request line, headers, blank line, body)
    #[arg(conflicts_with_all = ["headers", "body"], value_name = "REQUEST_FILE")]
    request: Option<PathBuf>,
    /// The headers, `Name: value` per line or a JSON object (not needed for APIv2 XML)
    #[arg(long, value_name = "FILE", requires = "body")]
    headers: Option<PathBuf>,
    /// The body, byte for byte as received
    #[arg(long, value_name = "FILE")]
    body: Option<PathBuf>,
    #[command(flatten)]
    credentials: CredentialArgs,
}

pub(crate) fn run(args: Args) -> Result<(), Failure> {
    let (headers, body) = match (&args.request, &args.headers, &args.body) {
        (Some(request), _, _) => parse_request(&read(request)?, request)?,
        (None, Some(headers), Some(body)) => {
            (parse_headers(&read(headers)?, headers)?, read(body)?)
        }
        (None, None, Some(body)) => (HeaderMap::new(), read(body)?),
        // clap's group requires the request file or --body.
        (None, _, None) => return Err(Failure::usage("give a request file or --body FILE")),
    };
    let credentials = args.credentials.resolve()?;
    if body.trim_ascii_start().starts_with(b"<") {
        v2(&credentials, &body)
    } else {
        v3(&credentials, &headers, &body)
    }
}

fn v3(credentials: &Credentials, headers: &HeaderMap, body: &[u8]) -> Result<(), Failure> {
    if headers.is_empty() {
        return Err(Failure::usage(
            "an APIv3 notification is checked against its Wechatpay-* headers: give --headers FILE or a request file",
        ));
    }
    let verifier = Verifier::new(credentials.platform_keys()?, credentials.apiv3_key()?);
    let notification = verifier.verify_and_decrypt_now(headers, body).map_err(|e| {
        let mut message = wechatpay::Error::from(e).to_string();
        if body.ends_with(b"\n") {
            message.push_str(
                " (the body ends with a newline; if an editor added it, WeChat Pay did not sign it)",
            );
        }
        Failure::failed(message)
    })?;
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    output::note(&format!(
        "signature verified: Wechatpay-Serial {}, Wechatpay-Timestamp {}; {} ({}) id {}; resource ({}) decrypted with the APIv3 key",
        header("Wechatpay-Serial"),
        header("Wechatpay-Timestamp"),
        notification.event_type,
        notification.summary,
        notification.id,
        notification.original_type,
    ));
    output::json(&notification.resource)
}

fn v2(credentials: &Credentials, body: &[u8]) -> Result<(), Failure> {
    let verifier = V2Verifier::new(credentials.apiv2_key()?);
    let reject = |e| Failure::failed(wechatpay::Error::from(e).to_string());
    // Refund notifications carry no `sign`: their `req_info` decrypting is the proof.
    let fields = if contains(body, b"<req_info>") {
        let refund = verifier.decrypt_refund(body).map_err(reject)?;
        output::note("APIv2 refund notification: req_info decrypted with the APIv2 key");
        refund.req_info
    } else {
        let fields = verifier.verify(body).map_err(reject)?;
        output::note("APIv2 notification: sign verified with the APIv2 key");
        fields
    };
    let value = serde_json::to_value(&fields)
        .map_err(|e| Failure::failed(format!("cannot print the fields: {e}")))?;
    output::json(&value)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn read(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))
}

/// Splits a captured request into its headers and its body.
fn parse_request(bytes: &[u8], path: &Path) -> Result<(HeaderMap, Vec<u8>), Failure> {
    let (head_len, separator_len) = [&b"\r\n\r\n"[..], b"\n\n"]
        .iter()
        .filter_map(|sep| {
            bytes
                .windows(sep.len())
                .position(|w| w == *sep)
                .map(|at| (at, sep.len()))
        })
        .min()
        .ok_or_else(|| {
            Failure::usage(format!(
                "{}: no blank line between the headers and the body",
                path.display()
            ))
        })?;
    let headers = parse_headers(&bytes[..head_len], path)?;
    let mut body = bytes[head_len + separator_len..].to_vec();
    if let Some(length) = headers.get(wechatpay::http::header::CONTENT_LENGTH) {
        let length: usize = length
            .to_str()
            .ok()
            .and_then(|l| l.trim().parse().ok())
            .ok_or_else(|| Failure::usage(format!("{}: bad Content-Length", path.display())))?;
        if length > body.len() {
            return Err(Failure::usage(format!(
                "{}: the body has {} bytes, Content-Length says {length}",
                path.display(),
                body.len()
            )));
        }
        body.truncate(length);
    }
    Ok((headers, body))
}

/// `Name: value` lines (a request or status line first is skipped), or a JSON object.
fn parse_headers(bytes: &[u8], path: &Path) -> Result<HeaderMap, Failure> {
    let bad = |what: String| Failure::usage(format!("{}: {what}", path.display()));
    let text =
        std::str::from_utf8(bytes).map_err(|_| bad("the headers are not UTF-8 text".into()))?;
    let mut headers = HeaderMap::new();
    let mut insert = |name: &str, value: &str, line: usize| -> Result<(), Failure> {
        let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| {
            bad(format!(
                "line {line}: `{}` is not a header name",
                name.trim()
            ))
        })?;
        let value = HeaderValue::from_str(value.trim())
            .map_err(|_| bad(format!("line {line}: the value of {name} cannot be sent")))?;
        headers.append(name, value);
        Ok(())
    };
    if text.trim_start().starts_with('{') {
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text)
            .map_err(|e| bad(format!("not a JSON object of headers: {e}")))?;
        for (name, value) in &map {
            let value = value
                .as_str()
                .ok_or_else(|| bad(format!("header {name} must be a string")))?;
            insert(name, value, 1)?;
        }
        return Ok(headers);
    }
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        if line.trim().is_empty() || (index == 0 && is_start_line(line)) {
            continue;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| bad(format!("line {line_no} is not `Name: value`")))?;
        insert(name, value, line_no)?;
    }
    Ok(headers)
}

/// `POST /notify HTTP/1.1` or `HTTP/1.1 200 OK`.
fn is_start_line(line: &str) -> bool {
    line.starts_with("HTTP/")
        || line
            .split_whitespace()
            .nth(2)
            .is_some_and(|v| v.starts_with("HTTP/"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn a_request_file_splits_at_the_blank_line_and_content_length() {
        let raw = b"POST /notify HTTP/1.1\r\nWechatpay-Serial: PUB_KEY_ID_1\r\nContent-Length: 7\r\n\r\n{\"a\":1}\n";
        let (headers, body) = parse_request(raw, Path::new("r")).unwrap();
        assert_eq!(headers["wechatpay-serial"], "PUB_KEY_ID_1");
        assert_eq!(body, b"{\"a\":1}");
        let (_, body) = parse_request(b"A: b\n\nxyz\n", Path::new("r")).unwrap();
        assert_eq!(body, b"xyz\n");
        assert!(parse_request(b"A: b\r\nContent-Length: 9\r\n\r\nshort", Path::new("r")).is_err());
        assert!(parse_request(b"A: b", Path::new("r")).is_err());
    }

    #[test]
    fn headers_files_in_both_forms() {
        let h = parse_headers(b"HTTP/1.1 200 OK\nA: 1\nB:2\n", Path::new("h")).unwrap();
        assert_eq!(
            (&h["a"], &h["b"]),
            (
                &"1".parse::<HeaderValue>().unwrap(),
                &"2".parse::<HeaderValue>().unwrap()
            )
        );
        let h = parse_headers(br#"{"Wechatpay-Nonce": "n"}"#, Path::new("h")).unwrap();
        assert_eq!(h["wechatpay-nonce"], "n");
        let e = parse_headers(b"A: 1\nnot a header\n", Path::new("h"))
            .err()
            .unwrap();
        assert!(e.message.contains("line 2"), "{}", e.message);
    }
}
