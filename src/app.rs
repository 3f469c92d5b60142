//! Putting the service together: open and migrate the store, load the routing rules, start the
//! intake writer, bind the sockets (first, so tests can ask for port 0 and read the real one),
//! then serve until told to stop. On stop, requests in flight finish and every queued write is
//! committed before the process exits.

use crate::config::Settings;
use crate::diagnostic::Problems;
use crate::http::{AppState, router};
use crate::intake::Intake;
use crate::routing::{self, Rules};
use crate::store::{AttachmentFiles, Store, StoreError};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Rules(#[from] Problems),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot create data directory {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
    #[error("cannot listen on {what} {addr}: {source}")]
    Bind { what: &'static str, addr: SocketAddr, source: std::io::Error },
    #[error("HTTP server failed: {0}")]
    Serve(std::io::Error),
}

pub struct App {
    http: TcpListener,
    state: AppState,
    max_body_bytes: usize,
    tracker: TaskTracker,
}

/// The routing rules the settings name, or the built-in ones.
pub fn load_rules(settings: &Settings) -> Result<Rules, Problems> {
    match settings.rules_path() {
        Some(path) => routing::load_file(&path),
        None => routing::parse("(built-in routing.toml)", routing::BUILTIN_RULES),
    }
}

impl App {
    pub async fn build(settings: &Settings) -> Result<App, AppError> {
        std::fs::create_dir_all(&settings.data_dir)
            .map_err(|source| AppError::DataDir { path: settings.data_dir.display().to_string(), source })?;
        let rules = Arc::new(load_rules(settings)?);
        let store = Store::connect(&settings.database_url(), settings.database.max_connections).await?;
        store.migrate().await?;
        let files = AttachmentFiles::new(&settings.data_dir);
        let tracker = TaskTracker::new();
        let intake = Intake::start(
            store.clone(),
            rules,
            files.clone(),
            settings.intake.batch_max as usize,
            settings.intake.queue_depth as usize,
            &tracker,
        );
        let addr = settings.http.listen;
        let http = TcpListener::bind(addr).await.map_err(|source| AppError::Bind { what: "HTTP", addr, source })?;
        Ok(App {
            http,
            state: AppState { store, intake, files },
            max_body_bytes: settings.http.max_body_bytes as usize,
            tracker,
        })
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http.local_addr().expect("a bound listener has an address")
    }

    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), AppError> {
        let App { http, state, max_body_bytes, tracker } = self;
        let store = state.store.clone();
        tracing::info!(http = %http.local_addr().map_err(AppError::Serve)?, store = store.backend().name(), "madoguchi serving");
        let app = router(state, max_body_bytes);
        axum::serve(http, app).with_graceful_shutdown(shutdown).await.map_err(AppError::Serve)?;
        // The router (and with it every Intake handle) is gone: the writer drains and stops.
        tracker.close();
        tracker.wait().await;
        store.close().await;
        tracing::info!("madoguchi stopped");
        Ok(())
    }
}
