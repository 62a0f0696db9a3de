//! Where the verifier finds the secret for an access key id.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};

use sigv4_core::Credentials;

pub use crate::BoxError;

/// The future returned by [`KeyStore::lookup`].
pub type KeyStoreFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<Credentials>, BoxError>> + Send + 'a>>;

/// The server's side of the shared secret: access key id → credentials.
///
/// Object safe (the [`VerifyLayer`](super::VerifyLayer) keeps an `Arc<dyn KeyStore>`) and async,
/// so a store may ask a database or another service. See the [module docs](super) for an example.
///
/// `lookup` answers:
/// - `Ok(Some(credentials))`: the key is known. The returned credentials carry the secret to check
///   the signature with and the session token the server accepts for this key: the request must
///   carry exactly that token (compared in constant time), or none when the credentials have none.
///   Credentials whose expiry has passed are refused (`ExpiredToken`).
/// - `Ok(None)`: the key is unknown; the request is refused with `InvalidClientTokenId`.
/// - `Err(_)`: the store failed; the request is refused with `500 InternalFailure` (the error is
///   logged at `warn`, never sent to the client).
///
/// `session_token` is the token the request carries, for stores that keep several sessions per
/// key; most stores can ignore it.
pub trait KeyStore: Send + Sync + fmt::Debug {
    /// Looks up the credentials for `access_key_id`.
    fn lookup<'a>(
        &'a self,
        access_key_id: &'a str,
        session_token: Option<&'a str>,
    ) -> KeyStoreFuture<'a>;
}

impl<T: KeyStore + ?Sized> KeyStore for Arc<T> {
    fn lookup<'a>(
        &'a self,
        access_key_id: &'a str,
        session_token: Option<&'a str>,
    ) -> KeyStoreFuture<'a> {
        (**self).lookup(access_key_id, session_token)
    }
}

impl<T: KeyStore + ?Sized> KeyStore for Box<T> {
    fn lookup<'a>(
        &'a self,
        access_key_id: &'a str,
        session_token: Option<&'a str>,
    ) -> KeyStoreFuture<'a> {
        (**self).lookup(access_key_id, session_token)
    }
}

/// An in-memory [`KeyStore`]: a map from access key id to [`Credentials`].
///
/// Cheap to clone (clones share the map), and keys can be added or removed while a server runs.
///
/// ```
/// use sigv4_core::Credentials;
/// use tower_sigv4::verify::StaticKeyStore;
///
/// let store = StaticKeyStore::new()
///     .with(Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"));
/// store.insert(Credentials::builder("ASIATEMP", "secret").session_token("token").build());
/// assert_eq!(store.len(), 2);
/// assert!(store.get("ASIATEMP").is_some());
/// store.remove("ASIATEMP");
/// assert!(store.get("ASIATEMP").is_none());
/// ```
#[derive(Clone, Default)]
pub struct StaticKeyStore {
    keys: Arc<RwLock<HashMap<String, Credentials>>>,
}

impl StaticKeyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The store with these credentials added (builder style).
    pub fn with(self, credentials: Credentials) -> Self {
        self.insert(credentials);
        self
    }

    /// Adds (or replaces) the credentials for their access key id.
    pub fn insert(&self, credentials: Credentials) {
        let mut keys = self.keys.write().unwrap_or_else(|e| e.into_inner());
        keys.insert(credentials.access_key_id().to_owned(), credentials);
    }

    /// Removes an access key id; returns its credentials if it was there.
    pub fn remove(&self, access_key_id: &str) -> Option<Credentials> {
        let mut keys = self.keys.write().unwrap_or_else(|e| e.into_inner());
        keys.remove(access_key_id)
    }

    /// The credentials for an access key id.
    pub fn get(&self, access_key_id: &str) -> Option<Credentials> {
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        keys.get(access_key_id).cloned()
    }

    /// How many keys the store holds.
    pub fn len(&self) -> usize {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// True when the store holds no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl FromIterator<Credentials> for StaticKeyStore {
    fn from_iter<I: IntoIterator<Item = Credentials>>(iter: I) -> Self {
        let store = Self::new();
        for credentials in iter {
            store.insert(credentials);
        }
        store
    }
}

impl fmt::Debug for StaticKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Access key ids only: never the secrets.
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        let mut ids: Vec<&str> = keys.keys().map(String::as_str).collect();
        ids.sort_unstable();
        f.debug_struct("StaticKeyStore")
            .field("access_key_ids", &ids)
            .finish()
    }
}

impl KeyStore for StaticKeyStore {
    fn lookup<'a>(
        &'a self,
        access_key_id: &'a str,
        _session_token: Option<&'a str>,
    ) -> KeyStoreFuture<'a> {
        let found = self.get(access_key_id);
        Box::pin(std::future::ready(Ok(found)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_ids_not_secrets() {
        let store: StaticKeyStore = [
            Credentials::new("AKIDB", "secret-b"),
            Credentials::builder("AKIDA", "secret-a")
                .session_token("tok-a")
                .build(),
        ]
        .into_iter()
        .collect();
        let text = format!("{store:?}");
        assert_eq!(
            text,
            r#"StaticKeyStore { access_key_ids: ["AKIDA", "AKIDB"] }"#
        );
    }
}
