//! How many generations may be in the server at once: the sequences the
//! deployment runs together, and as many again waiting in mistral.rs's queue.
//! Past that, a request is answered 429 with `Retry-After` at once, instead of
//! waiting without bound in a queue whose memory no plan covers.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::metrics::Metrics;

pub(super) struct Admission {
    places: Arc<Semaphore>,
    /// Sequences mistral.rs runs at once; admitted requests past them wait.
    running: i64,
    metrics: Arc<Metrics>,
}

impl Admission {
    pub(super) fn new(max_seqs: u32, metrics: Arc<Metrics>) -> Admission {
        let running = max_seqs.max(1) as usize;
        Admission {
            places: Arc::new(Semaphore::new(running * 2)),
            running: running as i64,
            metrics,
        }
    }

    /// Counts a request in (`+1`) or out (`-1`): those in flight, and of
    /// them those past the sequences that run.
    fn count(&self, change: i64) {
        let now = self.metrics.in_flight.inc_by(change) + change;
        self.metrics.waiting.set((now - self.running).max(0));
    }
}

/// A request's place among those admitted, held until its response ends
/// (the tracked body keeps it).
#[derive(Clone)]
pub(super) struct Admitted(#[allow(dead_code)] Arc<Place>);

struct Place {
    _permit: OwnedSemaphorePermit,
    admission: Arc<Admission>,
}

impl Drop for Place {
    fn drop(&mut self) {
        self.admission.count(-1);
    }
}

pub(super) async fn admit(
    State(admission): State<Arc<Admission>>,
    request: Request,
    next: Next,
) -> Response {
    let Ok(permit) = admission.places.clone().try_acquire_owned() else {
        admission.metrics.refused_busy.inc();
        let mut response = super::refusal(
            StatusCode::TOO_MANY_REQUESTS,
            "the deployment is running and queueing as many requests as it allows; retry shortly",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        return response;
    };
    admission.count(1);
    let place = Admitted(Arc::new(Place {
        _permit: permit,
        admission: admission.clone(),
    }));
    let mut response = next.run(request).await.into_response();
    response.extensions_mut().insert(place);
    response
}
