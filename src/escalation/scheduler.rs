//! The SLA scheduler: looks for clocks whose warning or breach is due and has the intake's
//! writer act on each (claiming it there). Deadlines live in the store, so a restart loses none
//! and several services on one database act on each once. Looks at least once a second.

use crate::domain::time::now_millis;
use crate::intake::Intake;
use crate::store::Fired;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Clocks acted on per look; more due at once are taken at the next look, right away.
const BATCH: i64 = 200;
/// The longest a due deadline waits to be seen.
const TICK: Duration = Duration::from_secs(1);

/// Acts on every clock due at `now` (at most [`BATCH`]); what each came to.
pub async fn tick(intake: &Intake, now: i64) -> Vec<Fired> {
    let due = match intake.store().sla_due(now, BATCH).await {
        Ok(due) => due,
        Err(e) => {
            tracing::warn!(error = %e, "SLA deadlines not read; trying again");
            return Vec::new();
        }
    };
    let mut fired = Vec::with_capacity(due.len());
    for clock in due {
        match intake.fire_sla(clock, now).await {
            Ok(f) => fired.push(f),
            Err(e) => tracing::warn!(clock, error = %e, "SLA deadline not acted on; trying again"),
        }
    }
    fired
}

pub async fn run(intake: Intake, stop: CancellationToken) {
    loop {
        let seen = tick(&intake, now_millis()).await.len();
        if seen as i64 == BATCH {
            continue;
        }
        let wait = match intake.store().sla_next().await {
            Ok(Some(at)) => Duration::from_millis((at - now_millis()).clamp(50, TICK.as_millis() as i64) as u64),
            _ => TICK,
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}
