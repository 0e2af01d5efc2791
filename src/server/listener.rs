//! The accept loop: HTTP/1.1 through hyper, with a bound on open connections
//! and on the time a client may take to send a request's head, which also
//! closes idle keep-alive connections. `axum::serve` offers neither: 200 idle
//! connections stayed open there as long as their clients liked.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Open connections at once; the next waits in the kernel's backlog.
    pub connections: usize,
    /// How long a client may take to send a request's head, and how long an
    /// idle keep-alive connection stays open.
    pub header_timeout: Duration,
}

/// Serves `app` on `listener` until `close` turns true, then stops accepting,
/// lets each connection finish the request it is on, and returns when all
/// are closed.
pub(super) async fn serve(
    listener: TcpListener,
    app: Router,
    close: watch::Receiver<bool>,
    limits: ConnectionLimits,
) {
    let places = Arc::new(Semaphore::new(limits.connections.max(1)));
    let mut connections = tokio::task::JoinSet::new();
    let mut closing = close.clone();
    loop {
        let permit = tokio::select! {
            permit = places.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = until_true(&mut closing) => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors, or a connection reset before it
                // was accepted: the next may succeed.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = until_true(&mut closing) => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let mut close = close.clone();
        connections.spawn(async move {
            let _permit = permit;
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                () = until_true(&mut close) => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

/// Resolves once `flag` is true (at once if it already is, or if its sender
/// is gone). The borrow of the value ends before this returns, so callers'
/// futures stay `Send`.
pub(super) async fn until_true(flag: &mut watch::Receiver<bool>) {
    let _ = flag.wait_for(|set| *set).await;
}
