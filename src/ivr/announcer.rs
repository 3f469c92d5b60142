//! Which version of each announcement slot plays: the approved one activated last, a scheduled
//! one within its window first (see [`crate::domain::prompt`]). This task owns that choice: it
//! reads the versions at start, after every change (`wake`) and when a window opens or closes,
//! and hands the line the audio of each slot whose playing version is not the shipped one. The
//! line swaps it in for calls that start from then on; a call in progress keeps what it had.
//!
//! The same goes for system operation notices: the audio of those public now, one after the
//! other, is the [`NOTICES`] announcement the dialplans play where `[notices]` says; the
//! [`MAINTENANCE`] slot (silent until a version is approved) plays just before it.

use super::call::Prompts;
use crate::domain::time::now_millis;
use crate::domain::{notice, prompt};
use crate::media::audio;
use crate::store::Store;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

/// The announcement made of the public notices' audio (not a slot: no slot name has an `@`).
pub const NOTICES: &str = "@notices";
/// The slot for a maintenance announcement, played with the notices; it ships silent.
pub const MAINTENANCE: &str = "maintenance";
/// The pause between two notices.
const BETWEEN_NOTICES_MS: usize = 500;

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
    /// The notices callers hear now.
    notices: Arc<watch::Sender<Vec<i64>>>,
}

impl Default for Announcements {
    fn default() -> Self {
        Announcements {
            wake: Arc::default(),
            asked: Arc::default(),
            applied: Arc::new(watch::channel(0).0),
            playing: Arc::new(watch::channel(HashMap::new()).0),
            notices: Arc::new(watch::channel(Vec::new()).0),
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

    /// The notices whose audio calls starting now hear, in the order they hear them.
    pub fn notices_playing(&self) -> Vec<i64> {
        self.notices.borrow().clone()
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
    let mut slots = slots;
    if !slots.iter().any(|s| s == MAINTENANCE) {
        slots.push(MAINTENANCE.to_owned());
    }
    if let Err(e) = store.seed_prompt_slots(&slots).await {
        tracing::error!(error = %e, "announcement versions not set up; the shipped announcements play");
    }
    let mut cache = Cache::default();
    let mut playing: HashMap<String, i64> = HashMap::new();
    let mut notices: Vec<i64> = Vec::new();
    loop {
        let asked = wake.asked.load(Ordering::SeqCst);
        let now = now_millis();
        let next = match choose(&store, now, &mut cache).await {
            Ok(Choice { versions: chosen, mut audio, notices: public, notice_audio, next }) => {
                if chosen != playing || public != notices {
                    for (slot, version) in &chosen {
                        if playing.get(slot) != Some(version) {
                            tracing::info!(slot, version, "announcement version now playing");
                        }
                    }
                    if public != notices {
                        tracing::info!(notices = ?public, "notices played to callers");
                    }
                    playing = chosen;
                    notices = public;
                    audio.insert(NOTICES.to_owned(), notice_audio);
                    overrides.send_replace(Arc::new(audio));
                    wake.playing.send_replace(playing.clone());
                    wake.notices.send_replace(notices.clone());
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

/// Decoded audio already read from the store.
#[derive(Default)]
struct Cache {
    versions: HashMap<(String, i64), Arc<Vec<i16>>>,
    notices: HashMap<i64, Arc<Vec<i16>>>,
}

struct Choice {
    /// The playing version of each slot.
    versions: HashMap<String, i64>,
    /// The audio of each playing version that is not the shipped one.
    audio: HashMap<String, Arc<Vec<i16>>>,
    /// The public notices with audio, and that audio one after the other.
    notices: Vec<i64>,
    notice_audio: Arc<Vec<i16>>,
    /// When the choice next changes by itself.
    next: Option<i64>,
}

async fn choose(store: &Store, now: i64, cache: &mut Cache) -> Result<Choice, crate::store::StoreError> {
    let mut chosen = HashMap::new();
    let mut audio = HashMap::new();
    let mut next: Option<i64> = None;
    let mut sooner = |at: Option<i64>| {
        if let Some(at) = at {
            next = Some(next.map_or(at, |n: i64| n.min(at)));
        }
    };
    for (slot, versions) in store.prompt_facts().await? {
        sooner(prompt::next_change(&versions, now));
        let Some(version) = prompt::active(&versions, now) else {
            // Nothing approved applies: the slot is silent rather than playing a rejected take.
            audio.insert(slot.clone(), Arc::new(Vec::new()));
            chosen.insert(slot, 0);
            continue;
        };
        chosen.insert(slot.clone(), version);
        let key = (slot.clone(), version);
        if let Some(samples) = cache.versions.get(&key) {
            audio.insert(slot, samples.clone());
            continue;
        }
        match store.prompt_audio(&slot, version).await? {
            // The shipped announcement: the line's own.
            Some(None) | None => {}
            Some(Some(wav)) => match audio::load_wav_bytes(&slot, &wav) {
                Ok(samples) => {
                    let samples = Arc::new(samples);
                    cache.versions.insert(key, samples.clone());
                    audio.insert(slot, samples);
                }
                Err(e) => tracing::error!(error = %e, slot, version, "a stored announcement cannot be read"),
            },
        }
    }
    let published = store.published_notices(now).await?;
    let facts: Vec<_> = published.iter().map(|n| n.facts()).collect();
    sooner(notice::next_change(&facts, now));
    let mut notices = Vec::new();
    let mut notice_audio = Vec::new();
    // Oldest first: the one callers have heard about longest comes first.
    for n in published.iter().rev().filter(|n| n.has_audio && n.facts().public(now)) {
        let samples = match cache.notices.get(&n.id) {
            Some(samples) => samples.clone(),
            None => {
                let Some(wav) = store.notice_audio(n.id).await? else { continue };
                match audio::load_wav_bytes(&format!("notice {}", n.id), &wav) {
                    Ok(samples) => cache.notices.entry(n.id).or_insert(Arc::new(samples)).clone(),
                    Err(e) => {
                        tracing::error!(error = %e, notice = n.id, "a stored notice's audio cannot be read");
                        continue;
                    }
                }
            }
        };
        if !notice_audio.is_empty() {
            notice_audio.resize(notice_audio.len() + BETWEEN_NOTICES_MS * audio::RATE as usize / 1000, 0);
        }
        notice_audio.extend_from_slice(&samples);
        notices.push(n.id);
    }
    cache.notices.retain(|id, _| notices.contains(id));
    Ok(Choice { versions: chosen, audio, notices, notice_audio: Arc::new(notice_audio), next })
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
