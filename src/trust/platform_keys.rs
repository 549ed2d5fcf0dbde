//! The keys WeChat Pay signs with: platform-certificate serials and `PUB_KEY_ID_...` public
//! keys, held together because merchants migrating between the two need both at once.

use std::sync::{Arc, RwLock};

use crate::crypto::RsaPublicKey;

/// A shared, swappable set of trusted WeChat Pay keys, keyed by serial or public-key id.
///
/// Clones share one set, so adding a key to the set a client holds takes effect for every
/// clone of that client at once. Serials compare case-insensitively.
#[derive(Clone, Default)]
pub struct PlatformKeys {
    inner: Arc<RwLock<Vec<(String, RsaPublicKey)>>>,
}

fn normalise(id: &str) -> String {
    id.trim().to_ascii_uppercase()
}

impl PlatformKeys {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<(String, RsaPublicKey)>> {
        // A panic while holding the lock cannot leave the Vec half-updated (each write is one
        // push, retain or assignment), so a poisoned lock is still safe to read.
        self.inner
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<(String, RsaPublicKey)>> {
        self.inner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds or replaces the key for `id` (a certificate serial or a `PUB_KEY_ID_...`).
    pub fn insert(&self, id: &str, key: RsaPublicKey) {
        let id = normalise(id);
        let mut keys = self.write();
        match keys.iter_mut().find(|(k, _)| *k == id) {
            Some(slot) => slot.1 = key,
            None => keys.push((id, key)),
        }
    }

    /// Removes the key for `id`, returning it.
    pub fn remove(&self, id: &str) -> Option<RsaPublicKey> {
        let id = normalise(id);
        let mut keys = self.write();
        let at = keys.iter().position(|(k, _)| *k == id)?;
        Some(keys.remove(at).1)
    }

    /// Replaces the whole set at once (for example after a certificate refresh).
    pub fn replace_all(&self, entries: impl IntoIterator<Item = (String, RsaPublicKey)>) {
        let fresh: Vec<_> = entries
            .into_iter()
            .map(|(id, key)| (normalise(&id), key))
            .collect();
        *self.write() = fresh;
    }

    /// The key for `id`, if trusted.
    pub fn get(&self, id: &str) -> Option<RsaPublicKey> {
        let id = normalise(id);
        self.read()
            .iter()
            .find(|(k, _)| *k == id)
            .map(|(_, key)| key.clone())
    }

    /// The trusted ids, in the order they were added.
    pub fn ids(&self) -> Vec<String> {
        self.read().iter().map(|(k, _)| k.clone()).collect()
    }

    /// True when no key is trusted.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// The id sent as `Wechatpay-Serial`: the first `PUB_KEY_ID_...` if there is one (WeChat
    /// Pay's current scheme), otherwise the first key added.
    pub fn preferred(&self) -> Option<String> {
        let keys = self.read();
        keys.iter()
            .find(|(k, _)| k.starts_with("PUB_KEY_ID_"))
            .or_else(|| keys.first())
            .map(|(k, _)| k.clone())
    }
}

impl std::fmt::Debug for PlatformKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PlatformKeys").field(&self.ids()).finish()
    }
}
