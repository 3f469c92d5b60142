//! The store's own suite, run against SQLite and the real PostgreSQL server alike.

mod common;

use common::{Db, TestDb};
use madoguchi::domain::{CallerInfo, Channel, NewContact, Priority, Status, TicketNumber, Tier};
use madoguchi::routing::Decision;
use madoguchi::store::{Refusal, RoutedContact, Store, TicketChange, TicketFilter, WriteOp, WriteOutcome};
use std::collections::HashSet;

on_both_backends!(
    migrations_are_idempotent_and_history_is_append_only,
    a_refused_write_does_not_stop_its_batch,
    two_nodes_sharing_one_store_never_share_a_number,
    a_ticket_opened_and_answered_in_one_batch_is_found_by_both,
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
                change: TicketChange { status: Some(Status::New), ..Default::default() },
                actor: "op".into(),
            },
            WriteOp::Update {
                number: first.clone(),
                change: TicketChange { status: Some(Status::Closed), ..Default::default() },
                actor: "op".into(),
            },
            WriteOp::Update {
                number: first.clone(),
                change: TicketChange { status: Some(Status::InProgress), ..Default::default() },
                actor: "op".into(),
            },
            contact("three", Some(&first)),
        ])
        .await
        .unwrap();
    let second = recorded(&out[0]);
    assert_eq!(out[1], WriteOutcome::Refused(Refusal::NoSuchTicket(missing)));
    assert!(matches!(&out[2], WriteOutcome::Updated(t) if t.status == Status::New));
    assert!(matches!(&out[3], WriteOutcome::Updated(t) if t.status == Status::Closed));
    assert!(matches!(&out[4], WriteOutcome::Refused(Refusal::Closed(_))), "{:?}", out[4]);
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
