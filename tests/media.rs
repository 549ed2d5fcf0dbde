//! Media uploads against the simulator: `multipart/form-data` with a `meta` part, the
//! signature over the meta alone (checked independently with openssl), every call style,
//! and the simulator's own checks (the file's SHA-256 against the meta).

mod common;

use std::io::Read as _;
use std::sync::{Arc, Mutex};

use wechatpay::crypto::Hash;
use wechatpay::error::RequestError;
use wechatpay::media::MediaUtil;
use wechatpay::middleware::{BoxFuture, Middleware, Next};
use wechatpay::mock::{demo, MockServer};
use wechatpay::{json, Client, Error, HttpRequest, HttpResponse, RequestOptions, Response};

/// A small PNG-like image and an MP4-like video: the simulator checks digests, not pixels.
const IMAGE: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR image bytes \r\n--not-a-boundary";
const VIDEO: &[u8] = b"\x00\x00\x00\x18ftypmp42 video bytes \xff\xfe\r\n\r\n";

/// Records each request as the transport receives it, signed.
#[derive(Debug, Clone, Default)]
struct Recorder(Arc<Mutex<Vec<HttpRequest>>>);

impl Middleware for Recorder {
    fn handle<'a>(
        &'a self,
        req: HttpRequest,
        next: Next<'a>,
    ) -> BoxFuture<'a, wechatpay::Result<HttpResponse>> {
        let mut copy = http::Request::new(req.body().clone());
        *copy.method_mut() = req.method().clone();
        *copy.uri_mut() = req.uri().clone();
        *copy.headers_mut() = req.headers().clone();
        self.0.lock().unwrap().push(copy);
        next.run(req)
    }
}

fn recording(wxpay: &Client) -> (Client, Recorder) {
    let recorder = Recorder::default();
    let mut stack = wxpay.stack();
    stack.push("record", recorder.clone()).unwrap();
    (wxpay.with_stack(stack), recorder)
}

fn media_id(r: &Response) -> String {
    let body: serde_json::Value = r.json().unwrap();
    body["media_id"].as_str().expect("a media_id").to_string()
}

/// The six call styles, blocking ones on a blocking thread: the method chain, the string
/// path and the index, each blocking and async. Returns the six answers.
macro_rules! six_styles {
    ($wxpay:expr, $path:expr, $media:expr, |$w:ident| $node:expr) => {{
        let blocking = {
            let ($w, media) = ($wxpay.clone(), $media.clone());
            tokio::task::spawn_blocking(move || {
                [
                    $node.post(&media).unwrap(),
                    $w.chain($path).post(media.clone()).unwrap(),
                    $w[$path].post(RequestOptions::new().media(media)).unwrap(),
                ]
            })
            .await
            .unwrap()
        };
        let $w = $wxpay.clone();
        let asynchronous = [
            $node.post_async($media).await.unwrap(),
            $w.chain($path).post_async($media).await.unwrap(),
            $w[$path].post_async($media.clone()).await.unwrap(),
        ];
        blocking
            .into_iter()
            .chain(asynchronous)
            .collect::<Vec<Response>>()
    }};
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_and_a_video_upload_in_all_six_styles() {
    let mock = MockServer::start().await.unwrap();
    let wxpay = mock.client_builder().build().unwrap();
    let image = MediaUtil::from_bytes("logo.png", IMAGE);
    let video = MediaUtil::from_bytes("intro.mp4", VIDEO);
    let images = six_styles!(wxpay, "v3/merchant/media/upload", &image, |w| w
        .v3()
        .merchant()
        .media()
        .upload());
    let videos = six_styles!(wxpay, "v3/merchant/media/video_upload", &video, |w| w
        .v3()
        .merchant()
        .media()
        .video_upload());
    for (answers, bytes) in [(images, IMAGE), (videos, VIDEO)] {
        let mut ids = Vec::new();
        for r in &answers {
            assert_eq!(r.status(), 200);
            let id = media_id(r);
            assert_eq!(mock.state().uploaded(&id).as_deref(), Some(bytes));
            ids.push(id);
        }
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 6, "each upload is its own media");
    }
}

#[test]
fn the_other_upload_endpoints_take_media_too_and_images_come_back() {
    let mock = MockServer::start_blocking().unwrap();
    let wxpay = mock.client_builder().build().unwrap();
    let image = MediaUtil::from_bytes("complaint.jpg", IMAGE);

    let r = wxpay
        .v3()
        .merchant_service()
        .images()
        .upload()
        .post(&image)
        .unwrap();
    let id = media_id(&r);
    // The complaint image, fetched back through the unsigned image download.
    let dir = tempfile::tempdir().unwrap();
    let saved = wxpay
        .chain("v3/merchant-service/images/{media_id}")
        .download(json!({ "media_id": id }))
        .unwrap()
        .expect_sha256(Hash::sha256(IMAGE))
        .save(dir.path().join("complaint.jpg"))
        .unwrap();
    assert_eq!(saved.bytes, IMAGE.len() as u64);
    assert_eq!(
        std::fs::read(dir.path().join("complaint.jpg")).unwrap(),
        IMAGE
    );

    let r = wxpay
        .v3()
        .marketing()
        .favor()
        .media()
        .image_upload()
        .post(image)
        .unwrap();
    let body: serde_json::Value = r.json().unwrap();
    let url = body["media_url"].as_str().unwrap();
    assert!(url.starts_with(&mock.base_uri()), "{url}");
    let id = url.rsplit('/').next().unwrap();
    assert_eq!(mock.state().uploaded(id).as_deref(), Some(IMAGE));
}

#[test]
fn the_form_has_the_meta_part_then_the_file_part_with_its_type() {
    let mock = MockServer::start_blocking().unwrap();
    let (wxpay, recorder) = recording(&mock.client_builder().build().unwrap());
    let video = MediaUtil::from_bytes("intro \"final\".MOV", VIDEO);
    assert_eq!(video.content_type(), "video/quicktime");
    wxpay
        .chain("v3/merchant/media/video_upload")
        .post(&video)
        .unwrap();

    let sent = recorder.0.lock().unwrap().pop().unwrap();
    let content_type = sent.headers()["content-type"].to_str().unwrap().to_string();
    let boundary = content_type
        .strip_prefix("multipart/form-data; boundary=")
        .expect(&content_type);
    let meta = serde_json::to_string(video.meta()).unwrap();
    let expected = [
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"meta\"\r\n").into_bytes(),
        b"Content-Type: application/json\r\n\r\n".to_vec(),
        meta.into_bytes(),
        format!("\r\n--{boundary}\r\n").into_bytes(),
        b"Content-Disposition: form-data; name=\"file\"; filename=\"intro %22final%22.MOV\"\r\n"
            .to_vec(),
        b"Content-Type: video/quicktime\r\n\r\n".to_vec(),
        VIDEO.to_vec(),
        format!("\r\n--{boundary}--\r\n").into_bytes(),
    ]
    .concat();
    assert_eq!(sent.body().as_ref(), &expected[..]);
}

#[test]
fn openssl_shows_the_signature_covers_the_meta_alone() {
    if !common::openssl_available() {
        eprintln!("openssl is not installed; skipping");
        return;
    }
    let mock = MockServer::start_blocking().unwrap();
    let (wxpay, recorder) = recording(&mock.client_builder().build().unwrap());
    let image = MediaUtil::from_bytes("logo.png", IMAGE).with_meta(json!({
        "filename": "logo.png",
        "sha256": Hash::sha256(IMAGE),
    }));
    wxpay.v3().merchant().media().upload().post(&image).unwrap();
    let sent = recorder.0.lock().unwrap().pop().unwrap();

    let authorization = sent.headers()["authorization"].to_str().unwrap();
    let fields = common::authorization_fields(authorization).unwrap();
    let field = |name| common::field(&fields, name).to_string();
    let message_over = |body: &[u8]| {
        [
            b"POST\n/v3/merchant/media/upload\n".to_vec(),
            field("timestamp").into_bytes(),
            b"\n".to_vec(),
            field("nonce_str").into_bytes(),
            b"\n".to_vec(),
            body.to_vec(),
            b"\n".to_vec(),
        ]
        .concat()
    };
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("merchant_key.pem");
    std::fs::write(&key, demo::MERCHANT_PRIVATE_KEY_PEM).unwrap();
    let public = dir.path().join("merchant_pub.pem");
    common::openssl(&[
        "pkey",
        "-in",
        key.to_str().unwrap(),
        "-pubout",
        "-out",
        public.to_str().unwrap(),
    ]);
    let meta = br#"{"filename":"logo.png","sha256":"#;
    let signed_meta = serde_json::to_vec(image.meta()).unwrap();
    assert!(signed_meta.starts_with(meta));
    assert!(
        common::openssl_verifies(&public, &message_over(&signed_meta), &field("signature")),
        "the signature is over the meta JSON"
    );
    assert!(
        !common::openssl_verifies(&public, &message_over(sent.body()), &field("signature")),
        "and not over the whole form"
    );
}

#[test]
fn a_file_whose_sha256_differs_from_the_meta_is_refused_by_the_simulator() {
    let mock = MockServer::start_blocking().unwrap();
    let wxpay = mock.client_builder().build().unwrap();
    let forged = MediaUtil::from_bytes("logo.png", IMAGE)
        .with_meta(json!({"filename": "logo.png", "sha256": Hash::sha256(b"another file")}));
    match wxpay.v3().merchant().media().upload().post(forged) {
        Err(Error::Api {
            status,
            code,
            message,
            ..
        }) => {
            assert_eq!((status.as_u16(), code.as_str()), (400, "PARAM_ERROR"));
            assert!(message.contains(&Hash::sha256(IMAGE)), "{message}");
        }
        other => panic!("expected PARAM_ERROR, got {other:?}"),
    }
}

#[test]
fn files_are_read_with_a_limit_and_problems_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("商户图片.JPEG");
    std::fs::write(&small, IMAGE).unwrap();
    let media = MediaUtil::from_path(&small).unwrap();
    assert_eq!(media.file_name(), "商户图片.JPEG");
    assert_eq!(media.content_type(), "image/jpeg");
    assert_eq!(media.meta()["sha256"], Hash::sha256(IMAGE));
    assert_eq!(media.bytes().as_ref(), IMAGE);

    let big = dir.path().join("big.mp4");
    let file = std::fs::File::create(&big).unwrap();
    file.set_len(MediaUtil::MAX_FILE_BYTES + 1).unwrap();
    let e = MediaUtil::from_path(&big).unwrap_err();
    assert!(
        matches!(&e, Error::Request(RequestError::Upload(why)) if why.contains("big.mp4") && why.contains("5 MiB")),
        "{e}"
    );

    let missing = dir.path().join("missing.png");
    let e = MediaUtil::from_path(&missing).unwrap_err();
    assert!(e.to_string().contains("missing.png"), "{e}");

    let exactly = MediaUtil::from_reader(
        "max.mp4",
        std::io::repeat(1).take(MediaUtil::MAX_FILE_BYTES),
    )
    .unwrap();
    assert_eq!(exactly.bytes().len() as u64, MediaUtil::MAX_FILE_BYTES);
    assert!(MediaUtil::from_reader(
        "over.mp4",
        std::io::repeat(1).take(MediaUtil::MAX_FILE_BYTES + 1)
    )
    .is_err());
}

#[test]
fn media_and_a_json_body_together_are_refused_before_sending() {
    let mock = MockServer::start_blocking().unwrap();
    let wxpay = mock.client_builder().build().unwrap();
    let opts = RequestOptions::new()
        .json(json!({"a": 1}))
        .media(MediaUtil::from_bytes("a.png", IMAGE));
    let before = mock.request_count();
    let e = wxpay
        .chain("v3/merchant/media/upload")
        .post(opts)
        .unwrap_err();
    assert!(
        matches!(e, Error::Request(RequestError::InvalidOption(_))),
        "{e}"
    );
    assert_eq!(mock.request_count(), before);
}
