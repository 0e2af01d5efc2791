//! Where the server is in its life: loading the model, serving it, or
//! draining before it stops. `/health` and the generation routes answer by it.

use std::sync::atomic::{AtomicU8, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Bound, the model not yet loaded: 503.
    Loading,
    Ready,
    /// SIGINT or SIGTERM came: `/health` and new generations get 503 while
    /// load balancers notice, then the listener closes.
    Draining,
}

impl Phase {
    pub(super) fn name(self) -> &'static str {
        match self {
            Phase::Loading => "loading",
            Phase::Ready => "ready",
            Phase::Draining => "draining",
        }
    }

    pub(super) const ALL: [Phase; 3] = [Phase::Loading, Phase::Ready, Phase::Draining];
}

/// The current phase, shared by every request.
#[derive(Debug, Default)]
pub(super) struct CurrentPhase(AtomicU8);

impl CurrentPhase {
    pub(super) fn get(&self) -> Phase {
        match self.0.load(Ordering::Acquire) {
            0 => Phase::Loading,
            1 => Phase::Ready,
            _ => Phase::Draining,
        }
    }

    pub(super) fn set(&self, phase: Phase) {
        let value = match phase {
            Phase::Loading => 0,
            Phase::Ready => 1,
            Phase::Draining => 2,
        };
        self.0.store(value, Ordering::Release);
    }
}
