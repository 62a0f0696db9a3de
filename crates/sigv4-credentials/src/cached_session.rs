//! What the SSO and `aws login` sources share: a session cached in a file by the AWS CLI, read on
//! every load, refreshed one at a time and written back atomically; the builder settings for it.

use std::path::PathBuf;
use std::sync::Arc;

use crate::atomic_file::BeforeRename;
use crate::profile::ProfileSet;
use crate::{Env, SharedTimeSource, SystemClock, TransportOptions};

/// The builder settings of a cached-session source, besides its own.
#[derive(Clone, Default)]
pub(crate) struct SessionOptions {
    pub(crate) profile_name: Option<String>,
    pub(crate) env: Option<Env>,
    pub(crate) set: Option<ProfileSet>,
    pub(crate) time_source: Option<SharedTimeSource>,
    pub(crate) transport: Option<TransportOptions>,
    pub(crate) cache_dir: Option<PathBuf>,
    pub(crate) before_rename: Option<BeforeRename>,
}

/// [`SessionOptions`] with their defaults filled in.
pub(crate) struct Session {
    pub(crate) profile_name: Option<String>,
    pub(crate) env: Env,
    pub(crate) set: Option<ProfileSet>,
    pub(crate) time_source: SharedTimeSource,
    pub(crate) transport: TransportOptions,
    pub(crate) cache_dir: Option<PathBuf>,
    pub(crate) before_rename: Option<BeforeRename>,
    /// One refresh at a time in this source (another process may refresh too: the file is
    /// re-read under the lock).
    pub(crate) refresh_lock: tokio::sync::Mutex<()>,
}

impl SessionOptions {
    /// Fills in the defaults: the real environment, the system clock, this source's transport
    /// and cache directory.
    pub(crate) fn resolve(
        self,
        default_dir: fn(&Env) -> Option<PathBuf>,
        default_transport: fn() -> TransportOptions,
    ) -> Session {
        let env = self.env.unwrap_or_default();
        Session {
            cache_dir: self.cache_dir.or_else(|| default_dir(&env)),
            profile_name: self.profile_name,
            env,
            set: self.set,
            time_source: self.time_source.unwrap_or_else(|| Arc::new(SystemClock)),
            transport: self.transport.unwrap_or_else(default_transport),
            before_rename: self.before_rename,
            refresh_lock: tokio::sync::Mutex::new(()),
        }
    }
}

/// The builder methods for [`SessionOptions`] held in a builder's `options` field.
macro_rules! session_builder_methods {
    () => {
        /// The profile these settings come from: named in the credentials' provider name and in
        /// the advice to sign in again (`--profile NAME`).
        pub fn profile_name(mut self, name: impl Into<String>) -> Self {
            self.options.profile_name = Some(name.into());
            self
        }

        /// The environment for `HOME`, the cache directory, the region and the endpoint
        /// variables (default: the real one).
        pub fn env(mut self, env: $crate::Env) -> Self {
            self.options.env = Some(env);
            self
        }

        /// The profile files whose selected profile configures the endpoints (`services`,
        /// `endpoint_url`, `use_fips_endpoint`, `region`, ...). Default: none.
        pub fn profile_set(mut self, set: $crate::profile::ProfileSet) -> Self {
            self.options.set = Some(set);
            self
        }

        /// The clock for expiry (default: the system clock).
        pub fn time_source(mut self, time_source: $crate::SharedTimeSource) -> Self {
            self.options.time_source = Some(time_source);
            self
        }

        /// Timeouts, attempts and TLS for the calls (default: 3.1 s connect, 5 s read, 3
        /// attempts).
        pub fn transport(mut self, options: $crate::TransportOptions) -> Self {
            self.options.transport = Some(options);
            self
        }

        /// The cache directory (default: where the AWS CLI writes it, see the module docs).
        pub fn cache_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
            self.options.cache_dir = Some(dir.into());
            self
        }

        /// Runs `hook` on the temporary file of a cache write-back after it is written and
        /// flushed, before the rename; an error stops the write there, as a crash would. For
        /// tests.
        #[doc(hidden)]
        pub fn testing_before_rename(
            mut self,
            hook: impl Fn(&std::path::Path) -> std::io::Result<()> + Send + Sync + 'static,
        ) -> Self {
            self.options.before_rename = Some(std::sync::Arc::new(hook));
            self
        }
    };
}
pub(crate) use session_builder_methods;
