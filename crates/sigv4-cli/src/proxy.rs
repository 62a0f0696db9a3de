//! `sigv4 proxy`: the flags, read into a `sigv4_proxy::SigningProxy` and served (the logic is the
//! library's).

use std::sync::Arc;

use sigv4_credentials::{
    AssumeRole, CredentialsCache, DefaultChain, Env, Profile, ProvideCredentials, RoleRequest,
};
use sigv4_proxy::{serve, serve_tls, Admin, ProxyError, RouteSpec, SigningProxy};
use tokio::net::TcpListener;

use crate::cli::ProxyArgs;
use crate::error::CliError;
use crate::net::{tls_config, TlsOptions};

/// `sigv4 proxy`: runs until SIGTERM or Ctrl-C, then drains.
pub(crate) fn run(args: &ProxyArgs) -> Result<(), CliError> {
    init_logging(args.verbose);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Network(format!("cannot start the I/O runtime: {e}")))?;
    runtime.block_on(serve_until_stopped(args))
}

fn init_logging(verbose: bool) {
    let level = if verbose {
        tracing::Level::DEBUG
    } else {
        tracing::Level::INFO
    };
    // One line per event on standard error, fields as key=value.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .try_init();
}

fn usage(e: ProxyError) -> CliError {
    match e {
        ProxyError::Io(e) => CliError::Network(e.to_string()),
        other => CliError::Usage(other.to_string()),
    }
}

async fn serve_until_stopped(args: &ProxyArgs) -> Result<(), CliError> {
    let mut routes = Vec::new();
    if let Some(upstream) = &args.upstream {
        routes.push(RouteSpec {
            prefix: "/".to_owned(),
            upstream: upstream.clone(),
        });
    }
    for route in &args.routes {
        routes.push(RouteSpec::parse(route).map_err(usage)?);
    }
    // TLS for the upstreams: the CLI's one rustls setup, built only when an upstream needs it.
    let tls = if routes
        .iter()
        .any(|r| r.upstream.trim_start().starts_with("https:"))
    {
        let options = TlsOptions {
            insecure: args.insecure,
            cacert: args.cacert.clone(),
        };
        Some(Arc::new(tls_config(&options)?))
    } else {
        None
    };

    let credentials: Arc<dyn ProvideCredentials> = match &args.profile {
        // A profile's credentials may expire (SSO, credential_process): cache and refresh them.
        Some(name) => Arc::new(
            CredentialsCache::builder().build(
                Profile::builder()
                    .env(Env::real())
                    .profile_name(name)
                    .build(),
            ),
        ),
        None => Arc::new(DefaultChain::builder().env(Env::real()).build().await),
    };
    // --role-arn: the role's credentials, from STS with the credentials above, cached.
    let credentials: Arc<dyn ProvideCredentials> = match &args.role_arn {
        Some(role_arn) => {
            let mut role = RoleRequest::new(role_arn.clone());
            role.session_name = args.role_session_name.clone();
            Arc::new(CredentialsCache::new(
                AssumeRole::builder()
                    .env(Env::real())
                    .build(role, credentials),
            ))
        }
        None => credentials,
    };

    let mut builder = SigningProxy::builder(Arc::clone(&credentials))
        .max_body(args.max_body)
        .unsigned_payload(args.unsigned_payload)
        .max_concurrency(args.max_concurrency as usize)
        .timeout(args.timeout)
        .explain_mismatches(args.verbose);
    for route in routes {
        builder = builder.route(route);
    }
    if let Some(region) = &args.region {
        builder = builder.region(region);
    }
    if let Some(service) = &args.service {
        builder = builder.service(service);
    }
    if let Some(host) = &args.sign_host {
        builder = builder.sign_host(host);
    }
    for host in &args.allow_hosts {
        builder = builder.allow_host(host);
    }
    if !args.listen.ip().is_unspecified() {
        builder = builder.allow_host(args.listen.ip().to_string());
    }
    let proxy = builder.build(tls).map_err(usage)?;
    let listener_tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(Arc::new(tls_server_config(cert, key)?)),
        _ => None,
    };

    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|e| CliError::Network(format!("cannot listen on {}: {e}", args.listen)))?;
    let listening = listener.local_addr().unwrap_or(args.listen);
    tracing::info!(
        target: "sigv4_proxy",
        listen = %listening,
        tls = listener_tls.is_some(),
        proxy = ?proxy,
        "serving"
    );

    let (stop_admin, admin_stopped) = tokio::sync::watch::channel(false);
    if let Some(admin_addr) = args.admin_listen {
        let admin_listener = TcpListener::bind(admin_addr).await.map_err(|e| {
            CliError::Network(format!(
                "cannot listen on {admin_addr} (--admin-listen): {e}"
            ))
        })?;
        let admin = Admin::new(Arc::clone(&credentials));
        tracing::info!(
            target: "sigv4_proxy",
            listen = %admin_listener.local_addr().unwrap_or(admin_addr),
            "serving /healthz and /readyz"
        );
        let mut stopped = admin_stopped.clone();
        tokio::spawn(serve(
            admin_listener,
            admin,
            async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            },
            std::time::Duration::from_secs(1),
        ));
    }

    // Load the credentials now, so the first request does not wait and the log says where they
    // come from (never the secret).
    let warm = Arc::clone(&credentials);
    tokio::spawn(async move {
        match warm.provide_credentials().await {
            Ok(c) => tracing::info!(
                target: "sigv4_proxy",
                access_key_id = c.access_key_id(),
                source = c.provider_name(),
                "credentials resolved"
            ),
            Err(e) => tracing::warn!(
                target: "sigv4_proxy",
                error = %e,
                "no credentials yet: requests get 503 until they resolve"
            ),
        }
    });

    match listener_tls {
        Some(tls) => serve_tls(listener, tls, proxy, stop_signal(), args.grace).await,
        None => serve(listener, proxy, stop_signal(), args.grace).await,
    }
    let _ = stop_admin.send(true);
    tracing::info!(target: "sigv4_proxy", "stopped");
    Ok(())
}

/// The listener's TLS configuration, from the workspace's one TLS setup.
fn tls_server_config(
    cert: &str,
    key: &str,
) -> Result<sigv4_credentials::tls::rustls::ServerConfig, CliError> {
    sigv4_credentials::tls::server_config(cert.as_ref(), key.as_ref())
        .map_err(|e| CliError::Usage(format!("--tls-cert / --tls-key: {e}")))
}

/// Completes on Ctrl-C, or on SIGTERM (what container runtimes send).
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!(
        target: "sigv4_proxy",
        "shutting down: no new connections; requests in flight may finish"
    );
}
