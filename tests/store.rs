//! The store's own suite, run against SQLite and the real PostgreSQL server alike.

mod common;

use common::{Db, TestDb};
use madoguchi::domain::user::Role;
use madoguchi::domain::{
    AckLimits, AckRequest, AttachmentUpload, CallerInfo, Channel, NewContact, Priority, Status, TicketNumber, Tier,
};
use madoguchi::routing::Decision;
use madoguchi::store::{
    Refusal, RoutedContact, Store, StoredFile, TicketChange, TicketFilter, WriteOp, WriteOutcome, sha256_hex,
};
use std::collections::HashSet;

on_both_backends!(
    migrations_are_idempotent_and_history_is_append_only,
    a_refused_write_does_not_stop_its_batch,
    two_nodes_sharing_one_store_never_share_a_number,
    a_ticket_opened_and_answered_in_one_batch_is_found_by_both,
    replies_and_refusals_take_no_ticket_number,
    two_nodes_claim_every_outbox_item_exactly_once,
    a_claim_older_than_the_lease_is_taken_over,
    contacts_not_stored_leave_no_attachment_files,
    a_merge_takes_what_its_batch_recorded_before_it,
);

fn contact(subject: &str, join: Option<&TicketNumber>) -> WriteOp {
    contact_with(subject, join, |_| {})
}

fn contact_with(subject: &str, join: Option<&TicketNumber>, adjust: impl FnOnce(&mut NewContact)) -> WriteOp {
    let mut c = NewContact {
        channel: Channel::Email,
        join: join.cloned(),
        subject: Some(subject.into()),
        body: "本文".into(),
        caller: CallerInfo { email: Some("staff@example.go.jp".into()), ..Default::default() },
        dialed_number: None,
        menu_choices: None,
        received_at_ms: 1_700_000_000_000,
        source_ref: Some(format!("<{subject}@example.go.jp>")),
        raw: None,
        attachments: vec![],
        actor: "system".into(),
        ..Default::default()
    };
    adjust(&mut c);
    let decision =
        Decision { category: "general".into(), priority: Priority::Normal, tier: Tier::HELPDESK, rule: None };
    WriteOp::Record(Box::new(RoutedContact::new(c, decision, vec![])))
}

/// A contact with one small attachment (kept in the database, written at the end of the batch).
fn contact_with_file(subject: &str, join: Option<&TicketNumber>, content: &[u8]) -> WriteOp {
    let WriteOp::Record(mut r) = contact(subject, join) else { unreachable!() };
    r.files = vec![StoredFile {
        sha256: sha256_hex(content),
        filename: format!("{subject}.txt"),
        content_type: "text/plain".into(),
        size: content.len() as u64,
        inline: Some(content.to_vec()),
    }];
    WriteOp::Record(r)
}

fn recorded(o: &WriteOutcome) -> TicketNumber {
    match o {
        WriteOutcome::Recorded(r) => r.ticket.clone(),
        other => panic!("expected a recorded contact, got {other:?}"),
    }
}

async fn open(db: &TestDb) -> Store {
    let store = Store::connect(&db.url, 4).await.unwrap();
    store.migrate().await.unwrap();
    store
}

async fn migrations_are_idempotent_and_history_is_append_only(db: Db) {
    let Some(db) = TestDb::new(db, "migrations_are_idempotent_and_history_is_append_only").await else { return };
    let store = open(&db).await;
    store.migrate().await.expect("a second migrate is a no-op");
    let out = store.write_batch(&[contact("件名", None)]).await.unwrap();
    recorded(&out[0]);
    assert_eq!(store.integrity_check().await.unwrap(), "ok");

    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&db.url).await.unwrap();
    let update = sqlx::query("UPDATE history SET actor = 'forger'").execute(&mut conn).await;
    assert!(update.is_err(), "history rows cannot be changed");
    let delete = sqlx::query("DELETE FROM history").execute(&mut conn).await;
    assert!(delete.is_err(), "history rows cannot be deleted");
    if db.url.starts_with("sqlite") {
        let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode").fetch_one(&mut conn).await.unwrap();
        assert_eq!(mode, "wal");
    }
    store.close().await;
    db.cleanup().await;
}

async fn a_refused_write_does_not_stop_its_batch(db: Db) {
    let Some(db) = TestDb::new(db, "a_refused_write_does_not_stop_its_batch").await else { return };
    let store = open(&db).await;
    let missing: TicketNumber = "20200101-0042".parse().unwrap();
    let first = recorded(&store.write_batch(&[contact("one", None)]).await.unwrap()[0]);
    let out = store
        .write_batch(&[
            contact("two", None),
            contact("lost", Some(&missing)),
            WriteOp::Update {
                number: first.clone(),
                change: TicketChange { status: Some(Status::InProgress), ..Default::default() },
                actor: "op".into(),
                role: Role::Operator,
            },
            WriteOp::Update {
                number: first.clone(),
                change: TicketChange {
                    status: Some(Status::Closed),
                    resolution: Some("再起動で解決".into()),
                    ..Default::default()
                },
                actor: "op".into(),
                role: Role::Operator,
            },
            WriteOp::Update {
                number: first.clone(),
                change: TicketChange { status: Some(Status::InProgress), ..Default::default() },
                actor: "op".into(),
                role: Role::Operator,
            },
            contact("three", Some(&first)),
        ])
        .await
        .unwrap();
    let second = recorded(&out[0]);
    assert_eq!(out[1], WriteOutcome::Refused(Refusal::NoSuchTicket(missing)));
    assert!(matches!(&out[2], WriteOutcome::Updated(u) if u.ticket.status == Status::InProgress));
    let WriteOutcome::Updated(closed) = &out[3] else { panic!("{:?}", out[3]) };
    assert_eq!(closed.ticket.status, Status::Closed);
    assert_eq!(closed.changes.iter().map(|c| c.field).collect::<Vec<_>>(), ["resolution", "status"]);
    assert!(matches!(&out[4], WriteOutcome::Refused(Refusal::NeedsRole { .. })), "{:?}", out[4]);
    assert_eq!(out[5], WriteOutcome::Refused(Refusal::Closed(first.clone())));

    let page = store.list_tickets(&TicketFilter { limit: 10, ..Default::default() }).await.unwrap();
    let numbers: Vec<&TicketNumber> = page.tickets.iter().map(|t| &t.number).collect();
    assert_eq!(numbers, [&second, &first]);
    let detail = store.ticket(&first, Default::default()).await.unwrap().unwrap();
    assert_eq!(detail.contacts.len(), 1);
    assert_eq!(detail.ticket.status, Status::Closed);
    store.close().await;
    db.cleanup().await;
}

async fn two_nodes_sharing_one_store_never_share_a_number(db: Db) {
    let Some(db) = TestDb::new(db, "two_nodes_sharing_one_store_never_share_a_number").await else { return };
    let a = open(&db).await;
    let b = Store::connect(&db.url, 4).await.unwrap();
    let node = |store: Store, name: &'static str| {
        tokio::spawn(async move {
            let mut numbers = Vec::new();
            for i in 0..25 {
                let batch: Vec<WriteOp> = (0..4).map(|j| contact(&format!("{name}-{i}-{j}"), None)).collect();
                for o in store.write_batch(&batch).await.unwrap() {
                    numbers.push(recorded(&o));
                }
            }
            numbers
        })
    };
    let (na, nb) = tokio::join!(node(a.clone(), "a"), node(b.clone(), "b"));
    let all: Vec<TicketNumber> = na.unwrap().into_iter().chain(nb.unwrap()).collect();
    let unique: HashSet<&TicketNumber> = all.iter().collect();
    assert_eq!(all.len(), 200);
    assert_eq!(unique.len(), 200, "every ticket number is unique across nodes");
    a.close().await;
    b.close().await;
    db.cleanup().await;
}

async fn a_ticket_opened_and_answered_in_one_batch_is_found_by_both(db: Db) {
    let Some(db) = TestDb::new(db, "a_ticket_opened_and_answered_in_one_batch").await else { return };
    let store = open(&db).await;
    let first = contact_with("プリンタ故障", None, |c| c.source_ref = Some("<p1@example.go.jp>".into()));
    let reply = contact_with("続報", None, |c| {
        c.thread_refs = vec!["<p1@example.go.jp>".into()];
        c.body = "トナー交換済み".into();
    });
    let out = store.write_batch(&[first, reply]).await.unwrap();
    let number = recorded(&out[0]);
    assert_eq!(recorded(&out[1]), number, "the reply threads onto the ticket opened earlier in the batch");
    for word in ["プリンタ故障", "トナー交換", "交換"] {
        let page = store
            .list_tickets(&TicketFilter { text: Some(word.into()), limit: 5, ..Default::default() })
            .await
            .unwrap();
        assert_eq!(page.tickets.iter().map(|t| &t.number).collect::<Vec<_>>(), [&number], "{word}");
    }
    store.close().await;
    db.cleanup().await;
}

fn sequence(number: &TicketNumber) -> u32 {
    number.as_str()[9..].parse().unwrap()
}

async fn replies_and_refusals_take_no_ticket_number(db: Db) {
    let Some(db) = TestDb::new(db, "replies_and_refusals_take_no_ticket_number").await else { return };
    let store = open(&db).await;
    let first = recorded(&store.write_batch(&[contact("最初", None)]).await.unwrap()[0]);
    let reply = contact_with("Re: 最初", None, |c| c.thread_refs = vec!["<最初@example.go.jp>".into()]);
    let out = store.write_batch(&[reply]).await.unwrap();
    assert_eq!(recorded(&out[0]), first, "the reply joins the first ticket");
    let second = recorded(&store.write_batch(&[contact("二件目", None)]).await.unwrap()[0]);
    assert_eq!(sequence(&second), sequence(&first) + 1, "{first} then {second}");

    let missing: TicketNumber = "20200101-0042".parse().unwrap();
    let duplicate = contact_with("二件目", None, |c| c.dedupe_source = true);
    let reply = contact_with("Re: 二件目", None, |c| c.thread_refs = vec!["<二件目@example.go.jp>".into()]);
    let out =
        store.write_batch(&[duplicate, contact("lost", Some(&missing)), reply, contact("三件目", None)]).await.unwrap();
    assert!(matches!(&out[0], WriteOutcome::Recorded(r) if r.duplicate && r.ticket == second), "{:?}", out[0]);
    assert_eq!(recorded(&out[2]), second);
    let third = recorded(&out[3]);
    assert_eq!(sequence(&third), sequence(&second) + 1, "{second} then {third}");
    let fourth = recorded(&store.write_batch(&[contact("四件目", None)]).await.unwrap()[0]);
    assert_eq!(sequence(&fourth), sequence(&third) + 1, "{third} then {fourth}");
    store.close().await;
    db.cleanup().await;
}

const LEASE_MS: i64 = 60_000;

fn now() -> i64 {
    madoguchi::domain::time::now_millis()
}

/// `n` contacts, each with an acknowledgement queued.
async fn queue_acks(store: &Store, n: usize) -> Vec<TicketNumber> {
    let limits = AckLimits { per_address_hour: 1000, global_minute: 1000, global_hour: 1000 };
    let batch: Vec<WriteOp> = (0..n)
        .map(|i| {
            contact_with(&format!("ack-{i}"), None, |c| {
                c.acknowledge = Some(AckRequest {
                    to: format!("staff{i}@example.go.jp"),
                    in_reply_to: None,
                    subject: format!("ack-{i}"),
                    message_id: format!("ack.{i}@madoguchi"),
                    limits,
                })
            })
        })
        .collect();
    store.write_batch(&batch).await.unwrap().iter().map(recorded).collect()
}

async fn two_nodes_claim_every_outbox_item_exactly_once(db: Db) {
    let Some(db) = TestDb::new(db, "two_nodes_claim_every_outbox_item_exactly_once").await else { return };
    let a = open(&db).await;
    let b = Store::connect(&db.url, 4).await.unwrap();
    const N: usize = 60;
    queue_acks(&a, N).await;
    let node = |store: Store| {
        tokio::spawn(async move {
            let mut claimed = Vec::new();
            loop {
                let items = store.outbox_claim(now(), LEASE_MS, 3).await.unwrap();
                if items.is_empty() {
                    return claimed;
                }
                for item in items {
                    claimed.push(item.ticket.clone().expect("an acknowledgement has its ticket"));
                    tokio::task::yield_now().await;
                    assert!(store.outbox_sent(&item, now()).await.unwrap(), "the claim holds until recorded");
                }
            }
        })
    };
    let (ca, cb) = tokio::join!(node(a.clone()), node(b.clone()),);
    let (ca, cb) = (ca.unwrap(), cb.unwrap());
    let all: Vec<&TicketNumber> = ca.iter().chain(&cb).collect();
    let unique: HashSet<&TicketNumber> = all.iter().copied().collect();
    assert_eq!(all.len(), N, "node a claimed {}, node b {}", ca.len(), cb.len());
    assert_eq!(unique.len(), N, "no item is claimed twice");
    assert!(a.outbox_claim(now(), LEASE_MS, 10).await.unwrap().is_empty());
    a.close().await;
    b.close().await;
    db.cleanup().await;
}

async fn a_claim_older_than_the_lease_is_taken_over(db: Db) {
    let Some(db) = TestDb::new(db, "a_claim_older_than_the_lease_is_taken_over").await else { return };
    let store = open(&db).await;
    let tickets = queue_acks(&store, 2).await;
    let t0 = now();
    let first = store.outbox_claim(t0, LEASE_MS, 1).await.unwrap();
    assert_eq!(first.iter().map(|i| i.ticket.as_ref()).collect::<Vec<_>>(), [Some(&tickets[0])]);
    let second = store.outbox_claim(t0 + 1, LEASE_MS, 10).await.unwrap();
    assert_eq!(
        second.iter().map(|i| i.ticket.as_ref()).collect::<Vec<_>>(),
        [Some(&tickets[1])],
        "a held claim is not taken"
    );
    assert_eq!(store.outbox_next_due(LEASE_MS).await.unwrap(), Some(t0 + LEASE_MS));
    assert!(store.outbox_claim(t0 + LEASE_MS - 1, LEASE_MS, 10).await.unwrap().is_empty());

    // The node that claimed the first item died; after the lease another takes it over.
    let retaken = store.outbox_claim(t0 + LEASE_MS, LEASE_MS, 10).await.unwrap();
    let numbers: Vec<&TicketNumber> = retaken.iter().filter_map(|i| i.ticket.as_ref()).collect();
    assert_eq!(numbers, [&tickets[0]], "only the first item's claim has run out");
    assert!(!store.outbox_sent(&first[0], t0 + LEASE_MS + 2).await.unwrap(), "the lost claim records nothing");
    assert!(store.outbox_sent(&retaken[0], t0 + LEASE_MS + 2).await.unwrap());
    assert!(store.outbox_failed(&second[0], "relay down", Some(t0 + 5_000)).await.unwrap());
    assert_eq!(store.outbox_of(&tickets[0]).await.unwrap(), [("sent".to_owned(), 1)]);
    assert_eq!(store.outbox_of(&tickets[1]).await.unwrap(), [("pending".to_owned(), 1)]);
    store.close().await;
    db.cleanup().await;
}

/// Attachment files under `data` (temporary files not counted).
fn attachment_files(data: &std::path::Path) -> usize {
    let Ok(dirs) = std::fs::read_dir(data.join("attachments")) else { return 0 };
    dirs.flatten()
        .flat_map(|d| std::fs::read_dir(d.path()).unwrap().flatten())
        .filter(|f| !f.file_name().to_string_lossy().starts_with(".tmp"))
        .count()
}

async fn contacts_not_stored_leave_no_attachment_files(db: Db) {
    use madoguchi::intake::{INLINE_MAX_BYTES, Intake, IntakeError};
    let Some(db) = TestDb::new(db, "contacts_not_stored_leave_no_attachment_files").await else { return };
    let store = open(&db).await;
    let data = db.dir.path().join("data");
    let files = madoguchi::store::AttachmentFiles::new(&data);
    let rules =
        std::sync::Arc::new(madoguchi::routing::parse("routing.toml", madoguchi::routing::BUILTIN_RULES).unwrap());
    let tracker = tokio_util::task::TaskTracker::new();
    let intake = Intake::start(store.clone(), rules, files.clone(), 1, 1, &tracker);
    let missing: TicketNumber = "20200101-0042".parse().unwrap();
    let with_scan = |subject: &str, join: Option<&TicketNumber>, content: u8| NewContact {
        channel: Channel::Fax,
        join: join.cloned(),
        subject: Some(subject.into()),
        body: "FAX".into(),
        actor: "system".into(),
        attachments: vec![AttachmentUpload {
            filename: "scan.pdf".into(),
            content_type: "application/pdf".into(),
            bytes: vec![content; INLINE_MAX_BYTES + 1],
        }],
        ..Default::default()
    };

    intake.submit(with_scan("stored", None, 1)).await.unwrap();
    assert_eq!(attachment_files(&data), 1);
    let refused = intake.submit(with_scan("refused", Some(&missing), 2)).await.unwrap_err();
    assert!(matches!(refused, IntakeError::Refused(Refusal::NoSuchTicket(_))), "{refused}");
    assert_eq!(attachment_files(&data), 1, "the refused contact's file is removed");
    intake.submit(with_scan("refused, same scan as stored", Some(&missing), 1)).await.unwrap_err();
    assert_eq!(attachment_files(&data), 1, "a file a stored attachment names is kept");
    assert_eq!(files.read(&madoguchi::store::sha256_hex(&vec![1; INLINE_MAX_BYTES + 1])).unwrap()[0], 1);

    // A queue one deep: most of these find it full.
    let tasks: Vec<_> = (10..30u8)
        .map(|content| {
            let (intake, contact) = (intake.clone(), with_scan(&format!("burst {content}"), None, content));
            tokio::spawn(async move { intake.submit(contact).await })
        })
        .collect();
    let (mut stored, mut busy) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => stored += 1,
            Err(IntakeError::Busy) => busy += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(stored + busy, 20);
    assert_eq!(attachment_files(&data), 1 + stored, "{busy} contacts found the queue full; their files are removed");
    drop(intake);
    tracker.close();
    tracker.wait().await;
    store.close().await;
    db.cleanup().await;
}

/// A contact joins a ticket and the ticket is merged in the same batch: the contact, and the
/// attachment written at the batch's end, are the target's; a contact after the merge in the
/// same batch joins the target too.
async fn a_merge_takes_what_its_batch_recorded_before_it(db: Db) {
    let Some(db) = TestDb::new(db, "a_merge_takes_what_its_batch_recorded_before_it").await else { return };
    let store = open(&db).await;
    let out = store.write_batch(&[contact("統合元", None), contact("統合先", None)]).await.unwrap();
    let (source, target) = (recorded(&out[0]), recorded(&out[1]));
    let out = store
        .write_batch(&[
            contact_with_file("追加資料", Some(&source), b"log"),
            WriteOp::Merge { source: source.clone(), target: target.clone(), actor: "op".into() },
            contact("その後", Some(&source)),
        ])
        .await
        .unwrap();
    assert_eq!(recorded(&out[0]), source);
    let WriteOutcome::Merged(merged) = &out[1] else { panic!("{:?}", out[1]) };
    assert_eq!(merged.contacts_moved, 2);
    let fields: Vec<&str> = merged.source.changes.iter().map(|c| c.field).collect();
    assert_eq!(fields, ["resolution", "status", "merged_into", "contact_count"]);
    let fields: Vec<&str> = merged.target.changes.iter().map(|c| c.field).collect();
    assert_eq!(fields, ["merged_from", "contact_count"]);
    assert_eq!(recorded(&out[2]), target, "a contact naming the merged ticket joins the target");

    let t = store.ticket(&target, Default::default()).await.unwrap().unwrap();
    assert_eq!((t.ticket.contact_count, t.contacts.len()), (4, 4));
    assert_eq!(t.attachments.iter().map(|a| a.filename.as_str()).collect::<Vec<_>>(), ["追加資料.txt"]);
    let s = store.ticket(&source, Default::default()).await.unwrap().unwrap();
    assert_eq!(
        (s.ticket.status, s.attachment_count, s.ticket.merged_into),
        (Status::Closed, 0, Some(target.to_string()))
    );
    store.close().await;
    db.cleanup().await;
}
