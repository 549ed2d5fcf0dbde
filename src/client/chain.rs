//! `Chain`: a path under construction, and the verbs that send it.
//!
//! Three ways lead to a chain, all equivalent: [`Client::chain`] with a literal path,
//! indexing (`client["v3/..."]`, `chain["segment"]`), and the generated method tree
//! (`client.v3().pay().transactions()`). Paths are literal: no case conversion is applied,
//! so ids such as `out_trade_no` reach the wire as written.

use std::borrow::Cow;
use std::future::Future;
use std::sync::{Arc, Weak};

use elsa::sync::FrozenMap;
use http::Method;

use super::{Client, ClientInner};
use crate::error::{Error, RequestError, Result};
use crate::request::options::IntoRequestOptions;
use crate::request::response::Response;
use crate::transport::runtime;
use crate::HttpRequest;

/// How a chain reaches its client. Chains handed out by reference from an index cache hold
/// a weak link, because the cache lives inside the client and a strong one would keep the
/// client alive forever.
enum ClientLink {
    Strong(Client),
    Weak(Weak<ClientInner>),
}

/// A path template bound to a client, ready for a verb.
///
/// # Examples
/// ```no_run
/// # fn demo(wxpay: &wechatpay::Client) -> wechatpay::Result<()> {
/// use wechatpay::json;
/// let opts = json!({"transaction_id": "4200000000000000", "query": {"mchid": "1900000001"}});
/// let a = wxpay.chain("v3/pay/transactions/id/{transaction_id}").get(&opts)?;
/// let b = wxpay["v3/pay/transactions/id/{transaction_id}"].get(&opts)?;
/// let c = wxpay.v3().pay().transactions().id()._transaction_id_().get(&opts)?;
/// # Ok(()) }
/// ```
pub struct Chain {
    link: ClientLink,
    path: Cow<'static, str>,
    children: FrozenMap<String, Box<Chain>>,
}

fn join(base: &str, more: &str) -> String {
    let more = more.trim_start_matches('/');
    match (base.is_empty(), more.is_empty()) {
        (true, _) => more.to_string(),
        (false, true) => base.to_string(),
        (false, false) => format!("{}/{more}", base.trim_end_matches('/')),
    }
}

macro_rules! verbs {
    ($($verb:ident $verb_async:ident $method:ident;)*) => {$(
        #[doc = concat!("Sends a `", stringify!($method), "` and waits for the verified response.")]
        ///
        /// Works from any thread, including inside `tokio::task::spawn_blocking`.
        ///
        /// # Errors
        /// See [`Error`]: a malformed call fails before anything is sent.
        pub fn $verb(&self, opts: impl IntoRequestOptions) -> Result<Response> {
            self.send(Method::$method, opts)
        }

        #[doc = concat!("Sends a `", stringify!($method), "`; the future resolves with the verified response.")]
        ///
        /// The future is `Send + 'static` and runs on any executor.
        ///
        /// # Errors
        /// See [`Error`]: a malformed call fails before anything is sent.
        pub fn $verb_async(&self, opts: impl IntoRequestOptions) -> impl Future<Output = Result<Response>> + Send + 'static {
            self.send_async(Method::$method, opts)
        }
    )*};
}

impl Chain {
    pub(crate) fn new(client: Client, path: Cow<'static, str>) -> Self {
        Self {
            link: ClientLink::Strong(client),
            path,
            children: FrozenMap::new(),
        }
    }

    fn cached(client: Weak<ClientInner>, path: String) -> Self {
        Self {
            link: ClientLink::Weak(client),
            path: Cow::Owned(path),
            children: FrozenMap::new(),
        }
    }

    /// Moves this chain's client onto a fixed catalog path (used by the generated tree).
    pub(crate) fn __step(self, path: &'static str) -> Self {
        Self {
            link: self.link,
            path: Cow::Borrowed(path),
            children: FrozenMap::new(),
        }
    }

    pub(crate) fn client(&self) -> Result<Client> {
        match &self.link {
            ClientLink::Strong(c) => Ok(c.clone()),
            ClientLink::Weak(w) => w
                .upgrade()
                .map(|inner| Client { inner })
                .ok_or(Error::Request(RequestError::ClientDropped)),
        }
    }

    /// The path template so far, such as `v3/pay/transactions/id/{transaction_id}`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The names of the path's placeholders, in order: what the options must fill.
    ///
    /// ```
    /// # let wxpay = wechatpay::mock::MockServer::start_blocking()?.client_builder().build()?;
    /// let chain = wxpay.chain("v3/marketing/membercard-open/cards/{card_id}/codes/{+code}");
    /// assert_eq!(chain.placeholders(), ["card_id", "code"]);
    /// # Ok::<(), wechatpay::Error>(())
    /// ```
    pub fn placeholders(&self) -> Vec<&str> {
        crate::request::template::placeholders(&self.path)
    }

    /// Appends one or more `/`-separated segments the generated tree does not know.
    pub fn chain(&self, segments: &str) -> Chain {
        let link = match self.client() {
            Ok(client) => ClientLink::Strong(client),
            Err(_) => ClientLink::Weak(Weak::new()),
        };
        Chain {
            link,
            path: Cow::Owned(join(&self.path, segments)),
            children: FrozenMap::new(),
        }
    }

    /// Assembles the request this chain would send, without signing or sending it.
    ///
    /// # Errors
    /// [`Error::Request`] for a missing path variable or a malformed option.
    pub fn build(&self, method: Method, opts: impl IntoRequestOptions) -> Result<HttpRequest> {
        self.client()?
            .prepare(method, self.path.clone(), opts.into_request_options()?)
    }

    /// Sends `method` and waits for the verified response.
    ///
    /// # Errors
    /// See [`Error`].
    pub fn send(&self, method: Method, opts: impl IntoRequestOptions) -> Result<Response> {
        runtime::wait(self.send_async(method, opts))
    }

    /// Sends `method`; the future resolves with the verified response.
    ///
    /// # Errors
    /// See [`Error`].
    pub fn send_async(
        &self,
        method: Method,
        opts: impl IntoRequestOptions,
    ) -> impl Future<Output = Result<Response>> + Send + 'static {
        let prepared = self.client().and_then(|client| {
            let request =
                client.prepare(method, self.path.clone(), opts.into_request_options()?)?;
            Ok((client, request))
        });
        async move {
            let (client, request) = prepared?;
            runtime::run(client.execute(request)).await?
        }
    }

    verbs! {
        get get_async GET;
        put put_async PUT;
        post post_async POST;
        patch patch_async PATCH;
        delete delete_async DELETE;
    }
}

impl Clone for Chain {
    fn clone(&self) -> Self {
        self.chain("")
    }
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Chain").field(&self.path).finish()
    }
}

impl std::ops::Index<&str> for Chain {
    type Output = Chain;

    /// `chain["segment"]`: the chain one or more segments further on. The result is cached
    /// in this chain, so index with literals and use [`Chain::chain`] for computed text.
    fn index(&self, segments: &str) -> &Chain {
        if let Some(child) = self.children.get(segments) {
            return child;
        }
        let weak = match &self.link {
            ClientLink::Strong(c) => Arc::downgrade(&c.inner),
            ClientLink::Weak(w) => w.clone(),
        };
        self.children.insert(
            segments.to_string(),
            Box::new(Chain::cached(weak, join(&self.path, segments))),
        )
    }
}

impl Client {
    /// A chain for a literal path template such as
    /// `v3/marketing/membercard-open/cards/{card_id}/codes/{code}/unavailable`.
    pub fn chain(&self, path: &str) -> Chain {
        Chain::new(self.clone(), Cow::Owned(join("", path)))
    }

    /// The chain for a path written as PHP property names (what [`chain!`](crate::chain!)
    /// expands to): each identifier goes through [`segment_from_php`](crate::segment_from_php).
    pub fn chain_from_php(&self, identifiers: &[&str]) -> Chain {
        let path: Vec<String> = identifiers
            .iter()
            .map(|id| crate::segment_from_php(id))
            .collect();
        self.chain(&path.join("/"))
    }

    /// The chain at a fixed catalog root (used by the generated tree).
    pub(crate) fn __root(&self, path: &'static str) -> Chain {
        Chain::new(self.clone(), Cow::Borrowed(path))
    }
}

impl std::ops::Index<&str> for Client {
    type Output = Chain;

    /// `client["v3/..."]`: the chain for a literal path template (wechatpay-php's 属性式).
    /// Chains are cached per distinct string, so index with literals and use
    /// [`Client::chain`] for computed text.
    fn index(&self, path: &str) -> &Chain {
        if let Some(chain) = self.inner.index.get(path) {
            return chain;
        }
        self.inner.index.insert(
            path.to_string(),
            Box::new(Chain::cached(Arc::downgrade(&self.inner), join("", path))),
        )
    }
}
