//! The ordered, named list of layers.

use std::borrow::Cow;
use std::sync::Arc;

use super::Middleware;
use crate::error::{Error, Result};

/// Named layers, outermost first. Names are unique.
#[derive(Clone, Default)]
pub struct Stack {
    layers: Vec<(Cow<'static, str>, Arc<dyn Middleware>)>,
}

impl Stack {
    /// An empty stack: requests go straight to the transport, unsigned and unverified.
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn layers(&self) -> &[(Cow<'static, str>, Arc<dyn Middleware>)] {
        &self.layers
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.layers.iter().position(|(n, _)| n == name)
    }

    fn insert_at(
        &mut self,
        at: usize,
        name: Cow<'static, str>,
        layer: Arc<dyn Middleware>,
    ) -> Result<&mut Self> {
        if self.position(&name).is_some() {
            return Err(Error::Middleware(format!(
                "a layer named `{name}` already exists"
            )));
        }
        self.layers.insert(at, (name, layer));
        Ok(self)
    }

    fn require(&self, name: &str) -> Result<usize> {
        self.position(name).ok_or_else(|| {
            Error::Middleware(format!(
                "no layer named `{name}` (layers: {})",
                self.names().join(", ")
            ))
        })
    }

    /// Adds a layer at the inner end, nearest the transport.
    ///
    /// # Errors
    /// [`Error::Middleware`] when the name is taken.
    pub fn push(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        layer: impl Middleware,
    ) -> Result<&mut Self> {
        self.insert_at(self.layers.len(), name.into(), Arc::new(layer))
    }

    /// Adds a layer at the outer end, first to see each request.
    ///
    /// # Errors
    /// [`Error::Middleware`] when the name is taken.
    pub fn unshift(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        layer: impl Middleware,
    ) -> Result<&mut Self> {
        self.insert_at(0, name.into(), Arc::new(layer))
    }

    /// Adds a layer just outside `existing` (it sees requests before `existing` does).
    ///
    /// # Errors
    /// [`Error::Middleware`] when `existing` is unknown or the name is taken.
    pub fn before(
        &mut self,
        existing: &str,
        name: impl Into<Cow<'static, str>>,
        layer: impl Middleware,
    ) -> Result<&mut Self> {
        let at = self.require(existing)?;
        self.insert_at(at, name.into(), Arc::new(layer))
    }

    /// Adds a layer just inside `existing` (it sees requests after `existing` does).
    ///
    /// # Errors
    /// [`Error::Middleware`] when `existing` is unknown or the name is taken.
    pub fn after(
        &mut self,
        existing: &str,
        name: impl Into<Cow<'static, str>>,
        layer: impl Middleware,
    ) -> Result<&mut Self> {
        let at = self.require(existing)? + 1;
        self.insert_at(at, name.into(), Arc::new(layer))
    }

    /// Replaces the layer named `name`, keeping its place.
    ///
    /// # Errors
    /// [`Error::Middleware`] when `name` is unknown.
    pub fn replace(&mut self, name: &str, layer: impl Middleware) -> Result<&mut Self> {
        let at = self.require(name)?;
        self.layers[at].1 = Arc::new(layer);
        Ok(self)
    }

    /// Removes and returns the layer named `name`.
    pub fn remove(&mut self, name: &str) -> Option<Arc<dyn Middleware>> {
        let at = self.position(name)?;
        Some(self.layers.remove(at).1)
    }

    /// The layer names, outermost first.
    pub fn names(&self) -> Vec<&str> {
        self.layers.iter().map(|(n, _)| n.as_ref()).collect()
    }
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Stack").field(&self.names()).finish()
    }
}
