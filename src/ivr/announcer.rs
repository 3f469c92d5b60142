//! Which version of each announcement slot plays: the approved one activated last, a scheduled
//! one within its window first (see [`crate::domain::prompt`]). This task owns that choice: it
//! reads the versions at start, after every change (`wake`) and when a window opens or closes,
//! and hands the line the audio of each slot whose playing version is not the shipped one. The
//! line swaps it in for calls that start from then on; a call in progress keeps what it had.

use super::call::Prompts;
use crate::domain::prompt;
use crate::domain::time::now_millis;
use crate::media::audio;
use crate::store::Store;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

/// Slot → the audio of its playing version, for each slot not playing its shipped version.
pub type Overrides = Arc<HashMap<String, Arc<Vec<i16>>>>;

/// How long to wait before reading the versions again after the store failed.
const RETRY: Duration = Duration::from_secs(5);
/// Changes made by another process (`madoguchi prompt approve …`) are seen within this.
const POLL: Duration = Duration::from_secs(10);

/// Wakes the announcer after a version was requested, decided or rolled back to, and tells
/// the one who woke it when the line has the outcome.
#[derive(Clone)]
pub struct Announcements {
    wake: Arc<Notify>,
    /// How many changes were announced; how many the announcer has applied.
    asked: Arc<AtomicU64>,
    applied: Arc<watch::Sender<u64>>,
    /// Slot → the version playing now (0: none applies, the slot is silent).
    playing: Arc<watch::Sender<HashMap<String, i64>>>,
}

impl Default for Announcements {
    fn default() -> Self {
        Announcements {
            wake: Arc::default(),
            asked: Arc::default(),
            applied: Arc::new(watch::channel(0).0),
            playing: Arc::new(watch::channel(HashMap::new()).0),
        }
    }
}

/// How long a change waits for the announcer to apply it before answering anyway.
const APPLY_WAIT: Duration = Duration::from_secs(2);

impl Announcements {
    /// The version of each slot that calls starting now hear.
    pub fn playing(&self) -> HashMap<String, i64> {
        self.playing.borrow().clone()
    }

    /// A version changed: returns once the line plays the outcome to the next call (or after
    /// [`APPLY_WAIT`], if the store is slow; the announcer applies it then).
    pub async fn changed(&self) {
        let asked = self.asked.fetch_add(1, Ordering::SeqCst) + 1;
        let mut applied = self.applied.subscribe();
        self.wake.notify_one();
        let _ = tokio::time::timeout(APPLY_WAIT, applied.wait_for(|&done| done >= asked)).await;
    }
}

pub async fn run(
    store: Store,
    slots: Vec<String>,
    overrides: watch::Sender<Overrides>,
    wake: Announcements,
    stop: CancellationToken,
) {
    if let Err(e) = store.seed_prompt_slots(&slots).await {
        tracing::error!(error = %e, "announcement versions not set up; the shipped announcements play");
    }
    let mut cache: HashMap<(String, i64), Arc<Vec<i16>>> = HashMap::new();
    let mut playing: HashMap<String, i64> = HashMap::new();
    loop {
        let asked = wake.asked.load(Ordering::SeqCst);
        let now = now_millis();
        let next = match choose(&store, now, &mut cache).await {
            Ok((chosen, audio, next)) => {
                if chosen != playing {
                    for (slot, version) in &chosen {
                        if playing.get(slot) != Some(version) {
                            tracing::info!(slot, version, "announcement version now playing");
                        }
                    }
                    playing = chosen;
                    overrides.send_replace(Arc::new(audio));
                    wake.playing.send_replace(playing.clone());
                }
                wake.applied.send_replace(asked);
                let until_window = next.map(|at| Duration::from_millis((at - now).max(0) as u64));
                Some(until_window.map_or(POLL, |d| d.min(POLL)))
            }
            Err(e) => {
                tracing::warn!(error = %e, "announcement versions not read; trying again");
                Some(RETRY)
            }
        };
        let sleep = async {
            match next {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = wake.wake.notified() => {}
            _ = sleep => {}
        }
    }
}

/// The playing version of each slot, the audio of those that are not shipped, and when the
/// choice next changes by itself.
async fn choose(
    store: &Store,
    now: i64,
    cache: &mut HashMap<(String, i64), Arc<Vec<i16>>>,
) -> Result<(HashMap<String, i64>, HashMap<String, Arc<Vec<i16>>>, Option<i64>), crate::store::StoreError> {
    let mut chosen = HashMap::new();
    let mut audio = HashMap::new();
    let mut next: Option<i64> = None;
    for (slot, versions) in store.prompt_facts().await? {
        if let Some(at) = prompt::next_change(&versions, now) {
            next = Some(next.map_or(at, |n: i64| n.min(at)));
        }
        let Some(version) = prompt::active(&versions, now) else {
            // Nothing approved applies: the slot is silent rather than playing a rejected take.
            audio.insert(slot.clone(), Arc::new(Vec::new()));
            chosen.insert(slot, 0);
            continue;
        };
        chosen.insert(slot.clone(), version);
        let key = (slot.clone(), version);
        if let Some(samples) = cache.get(&key) {
            audio.insert(slot, samples.clone());
            continue;
        }
        match store.prompt_audio(&slot, version).await? {
            // The shipped announcement: the line's own.
            Some(None) | None => {}
            Some(Some(wav)) => match audio::load_wav_bytes(&slot, &wav) {
                Ok(samples) => {
                    let samples = Arc::new(samples);
                    cache.insert(key, samples.clone());
                    audio.insert(slot, samples);
                }
                Err(e) => tracing::error!(error = %e, slot, version, "a stored announcement cannot be read"),
            },
        }
    }
    Ok((chosen, audio, next))
}

impl Prompts {
    /// These announcements with `overrides` in place of the slots they name.
    pub fn overlaid(&self, overrides: &HashMap<String, Arc<Vec<i16>>>) -> Prompts {
        let mut prompts = self.clone();
        for (slot, samples) in overrides {
            prompts.set(slot, samples.clone());
        }
        prompts
    }
}
