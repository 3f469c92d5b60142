//! Stopping an SQLite read that runs too long or whose caller is gone.
//!
//! SQLite has no statement timeout, and sqlx's `Any` driver gives no access to the connection
//! handle, so every SQLite connection this process opens gets, through `sqlite3_auto_extension`,
//! a progress handler and one SQL function, `madoguchi_arm(id)`. sqlx runs each connection on a
//! thread of its own, so `madoguchi_arm` puts the read's [`Watch`] in that thread's slot, and the
//! progress handler (every [`CHECK_EVERY`] VM steps) interrupts the running statement once the
//! deadline has passed or the read's future was dropped (the client went away, the time ran
//! out). The statement then fails with SQLITE_INTERRUPT, the connection is free at once, and the
//! pool is never left holding connections busy on abandoned reads.

use super::StoreError;
use libsqlite3_sys as ffi;
use sqlx::{AnyConnection, Executor};
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

/// VM instructions between checks of the deadline: microseconds of work.
const CHECK_EVERY: c_int = 4000;

struct Watch {
    deadline: Instant,
    dropped: AtomicBool,
}

thread_local! {
    /// The read this connection's thread is running, if any.
    static CURRENT: RefCell<Option<Arc<Watch>>> = const { RefCell::new(None) };
}

/// Reads waiting for `madoguchi_arm` to pick up their watch, by id.
static PENDING: Mutex<Option<HashMap<i64, Arc<Watch>>>> = Mutex::new(None);
static NEXT_ID: AtomicI64 = AtomicI64::new(1);
static INSTALL: Once = Once::new();

/// Registers the extension for every SQLite connection opened from now on.
pub(super) fn install() {
    INSTALL.call_once(|| {
        // SAFETY: `entry` has the signature SQLite expects of an auto-extension.
        let rc = unsafe { ffi::sqlite3_auto_extension(Some(entry)) };
        if rc != ffi::SQLITE_OK {
            tracing::warn!(
                rc,
                "SQLite reads cannot be interrupted; the read time limit answers but the statement runs on"
            );
        }
    });
}

unsafe extern "C" fn entry(
    db: *mut ffi::sqlite3,
    _err: *mut *mut c_char,
    _api: *const ffi::sqlite3_api_routines,
) -> c_int {
    // SAFETY: `db` is the connection being opened; the name is NUL-terminated; no user data.
    unsafe {
        ffi::sqlite3_progress_handler(db, CHECK_EVERY, Some(progress), std::ptr::null_mut());
        ffi::sqlite3_create_function_v2(
            db,
            c"madoguchi_arm".as_ptr(),
            1,
            ffi::SQLITE_UTF8,
            std::ptr::null_mut(),
            Some(arm_function),
            None,
            None,
            None,
        )
    }
}

/// Non-zero interrupts the statement. The watch is taken, so one interrupt is all it causes.
unsafe extern "C" fn progress(_: *mut c_void) -> c_int {
    CURRENT
        .try_with(|slot| {
            let stop = slot
                .borrow()
                .as_ref()
                .is_some_and(|w| w.dropped.load(Ordering::Relaxed) || Instant::now() >= w.deadline);
            if stop {
                slot.borrow_mut().take();
            }
            c_int::from(stop)
        })
        .unwrap_or(0)
}

unsafe extern "C" fn arm_function(ctx: *mut ffi::sqlite3_context, argc: c_int, argv: *mut *mut ffi::sqlite3_value) {
    // SAFETY: SQLite passes `argc` values (1, as registered).
    let id = if argc == 1 { unsafe { ffi::sqlite3_value_int64(*argv) } } else { 0 };
    let watch = if id == 0 { None } else { PENDING.lock().ok().and_then(|mut p| p.as_mut()?.remove(&id)) };
    let _ = CURRENT.try_with(|slot| *slot.borrow_mut() = watch);
    // SAFETY: `ctx` is this call's context.
    unsafe { ffi::sqlite3_result_null(ctx) };
}

/// A read that is being watched; dropping it (unfinished) stops its statement.
pub(super) struct Armed(Arc<Watch>);

impl Drop for Armed {
    fn drop(&mut self) {
        self.0.dropped.store(true, Ordering::Relaxed);
    }
}

impl Armed {
    /// The read finished in time: the connection's thread forgets it.
    pub(super) async fn disarm(self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        conn.execute("SELECT madoguchi_arm(0)").await?;
        std::mem::forget(self);
        Ok(())
    }
}

/// Watches the reads about to run on `conn`: interrupted after `limit`, or once dropped.
pub(super) async fn arm(conn: &mut AnyConnection, limit: Duration) -> Result<Armed, StoreError> {
    let watch = Arc::new(Watch { deadline: Instant::now() + limit, dropped: AtomicBool::new(false) });
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut pending) = PENDING.lock() {
        pending.get_or_insert_with(HashMap::new).insert(id, watch.clone());
    }
    let armed = Armed(watch);
    let result = sqlx::query("SELECT madoguchi_arm($1)").bind(id).execute(conn).await;
    if let Ok(mut pending) = PENDING.lock()
        && let Some(p) = pending.as_mut()
    {
        p.remove(&id);
    }
    result?;
    Ok(armed)
}
