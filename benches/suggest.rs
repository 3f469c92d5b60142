//! Suggestion latency (not a test): a store holding N resolved tickets in the suggestion index
//! (default 1,000,000; subjects, bodies and resolutions drawn from a helpdesk's vocabulary with
//! system names, departments, screen IDs and error codes), then Q inquiries worded like them,
//! each answered by `Store::suggestions` (the work behind `GET /api/tickets/{n}/suggestions`):
//! p50/p90/p99/max, and how many suggestions came back.
//!
//! `cargo bench --bench suggest [-- --tickets 1000000 --queries 1000 --postgres 0]`
//! (`--postgres 1` uses MADOGUCHI_TEST_POSTGRES_URL). Aim: p99 under 50 ms on both.

#[path = "../tests/common/mod.rs"]
mod common;

use common::bench::arg;
use common::stats::{ms, percentile};
use common::{Db, TestDb};
use madoguchi::domain::suggest::terms;
use madoguchi::domain::text::fold;
use sqlx::{AnyConnection, AssertSqlSafe, Connection, Executor};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const TARGET_P99: Duration = Duration::from_millis(50);

const SYSTEMS: &[&str] = &[
    "人事給与システム",
    "文書管理システム",
    "労災保険業務システム",
    "電子決裁システム",
    "勤怠管理システム",
    "会計システム",
    "旅費精算システム",
    "共済組合システム",
    "庶務事務システム",
    "調達管理システム",
    "統計処理システム",
    "電子申請システム",
    "研修管理システム",
    "施設予約システム",
    "図書管理システム",
    "メール",
    "グループウェア",
    "ファイルサーバ",
    "VPN",
    "シンクライアント",
    "複合機",
    "Teams",
    "Outlook",
    "Excel",
    "年金記録照会システム",
    "補償給付システム",
    "レセプト審査システム",
    "電子入札システム",
    "ウイルス対策ソフト",
    "業務端末",
];
const PROBLEMS: &[&str] = &[
    "にログインできない",
    "のパスワードを忘れた",
    "でアカウントがロックされた",
    "の画面が真っ白になる",
    "で帳票が出力できない",
    "の動作が遅い",
    "でエラーが表示される",
    "から強制ログアウトされる",
    "の利用者IDを申請したい",
    "で印刷ができない",
    "のデータが保存されない",
    "に接続できない",
    "の操作方法を知りたい",
    "でファイルが添付できない",
    "の検索結果が表示されない",
    "で承認ボタンが押せない",
    "のメニューが表示されない",
    "でタイムアウトになる",
    "の証明書が期限切れになった",
    "でCSVを取り込めない",
    "の権限を追加してほしい",
    "が起動しない",
    "の文字が化ける",
    "の更新プログラムが失敗する",
];
const DEPARTMENTS: &[&str] = &[
    "総務課",
    "人事課",
    "会計課",
    "労災補償課",
    "労働保険徴収課",
    "企画課",
    "監督課",
    "安全衛生課",
    "職業安定課",
    "雇用環境課",
    "賃金課",
    "情報政策課",
    "広報室",
    "監察室",
    "調査室",
    "業務課",
];
const RESOLUTIONS: &[&str] = &[
    "キャッシュを削除して解消しました。",
    "パスワードを初期化しました。",
    "本人確認のうえロックを解除しました。",
    "保守業者に連絡し修正されました。",
    "操作手順書を案内しました。",
    "権限を付与しました。",
    "端末を再起動して解消しました。",
    "証明書を再発行しました。",
    "ドライバを入れ直しました。",
    "設定を変更して解消しました。",
    "仕様である旨を回答しました。",
    "利用者IDを発行しました。",
];
/// How inquiries word the same problems differently.
const ASKED: &[&str] = &[
    "にサインインできません",
    "のパスワードがわからない",
    "のアカウントロックを解除してほしい",
    "の画面が固まる",
    "の帳票出力でエラー",
    "がとても遅いです",
    "でエラーメッセージが出る",
    "から勝手にログアウトされる",
    "のIDがほしい",
    "で印刷ができません",
    "で保存できない",
    "につながらない",
];

/// A small deterministic generator (xorshift), so every run measures the same data.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[(self.next() % from.len() as u64) as usize]
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn detail(d: &mut Dice) -> String {
    match d.below(4) {
        0 => format!("画面ID {}-{}", (b'A' + d.below(26) as u8) as char, 100 + d.below(900)),
        1 => format!("エラーコード E{}", 1000 + d.below(9000)),
        2 => format!("{}日から発生しています", 1 + d.below(30)),
        _ => String::new(),
    }
}

/// The ticket `i`'s indexed text: subject, resolution, first contact's body.
fn ticket_text(d: &mut Dice) -> (String, String) {
    let subject = format!("{}{}", d.pick(SYSTEMS), d.pick(PROBLEMS));
    let body = format!("{}です。{}。{}", d.pick(DEPARTMENTS), subject, detail(d));
    (subject.clone(), format!("{subject}\n{}\n{body}", d.pick(RESOLUTIONS)))
}

fn inquiry(d: &mut Dice) -> (String, String) {
    let system = d.pick(SYSTEMS);
    let subject = format!("{system}{}", d.pick(ASKED));
    let body = format!("{}の者です。{system}{}。{}", d.pick(DEPARTMENTS), d.pick(PROBLEMS), detail(d));
    (subject, body)
}

struct Index {
    /// (ref id, length, distinct terms)
    docs: Vec<(i64, u32, String)>,
    /// term → (doc, tf, dl), docs ascending
    postings: HashMap<String, Vec<(i64, u32, u32)>>,
    total_length: u64,
}

fn build(n: usize) -> (Vec<String>, Index) {
    let mut d = Dice(0x9E37_79B9_7F4A_7C15);
    let mut subjects = Vec::with_capacity(n);
    let mut index = Index { docs: Vec::with_capacity(n), postings: HashMap::new(), total_length: 0 };
    for i in 1..=n as i64 {
        let (subject, text) = ticket_text(&mut d);
        let t = terms(&fold(&text));
        let names: Vec<&str> = t.counts.iter().map(|(t, _)| t.as_str()).collect();
        index.docs.push((i, t.length, names.join(" ")));
        for (term, tf) in &t.counts {
            index.postings.entry(term.clone()).or_default().push((i, *tf, t.length));
        }
        index.total_length += u64::from(t.length);
        subjects.push(subject);
    }
    (subjects, index)
}

async fn seed_tickets(conn: &mut AnyConnection, sqlite: bool, n: usize) {
    let series = if sqlite {
        format!("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) ")
    } else {
        String::new()
    };
    let from = if sqlite { "FROM n".to_owned() } else { format!("FROM generate_series(1, {n}) AS i") };
    let sql = format!(
        "{series}INSERT INTO tickets (number, subject, channel, category, priority, tier, status, contact_count, \
         created_at, updated_at, search_text, resolution) \
         SELECT '20250101-' || i, '問い合わせ ' || i, 'email', 'general', 'normal', 1, 'resolved', 1, \
         1700000000000 + i * 1000, 1700000000000 + i * 1000, '', '回答 ' || i {from}"
    );
    conn.execute(AssertSqlSafe(sql)).await.unwrap();
}

async fn insert_docs(conn: &mut AnyConnection, docs: &[(i64, u32, String)]) {
    for chunk in docs.chunks(200) {
        let groups: Vec<String> = (0..chunk.len())
            .map(|r| format!("(${}, 'ticket', ${}, ${}, ${})", r * 4 + 1, r * 4 + 2, r * 4 + 3, r * 4 + 4))
            .collect();
        let sql = format!("INSERT INTO suggest_docs (id, kind, ref_id, length, terms) VALUES {}", groups.join(", "));
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (i, len, terms) in chunk {
            q = q.bind(*i).bind(*i).bind(i64::from(*len)).bind(terms.clone());
        }
        q.execute(&mut *conn).await.unwrap();
    }
}

async fn seed_sqlite(url: &str, index: &Index) {
    let mut conn = AnyConnection::connect(url).await.unwrap();
    conn.execute("BEGIN").await.unwrap();
    insert_docs(&mut conn, &index.docs).await;
    let mut sorted: Vec<&String> = index.postings.keys().collect();
    sorted.sort();
    let mut batch: Vec<Vec<String>> = Vec::with_capacity(10_000);
    for term in &sorted {
        for (doc, tf, dl) in &index.postings[*term] {
            batch.push(vec![(*term).clone(), doc.to_string(), tf.to_string(), dl.to_string()]);
            if batch.len() == 10_000 {
                insert_postings(&mut conn, &batch).await;
                batch.clear();
            }
        }
    }
    insert_postings(&mut conn, &batch).await;
    let terms: Vec<Vec<String>> = index.postings.iter().map(|(t, p)| vec![t.clone(), p.len().to_string()]).collect();
    insert_terms(&mut conn, &terms).await;
    stats(&mut conn, index).await;
    conn.execute("COMMIT").await.unwrap();
    conn.execute("ANALYZE").await.unwrap();
    conn.close().await.unwrap();
}

/// Postings with the term always bound as text (an all-digit term such as "123" too).
async fn insert_postings(conn: &mut AnyConnection, rows: &[Vec<String>]) {
    for chunk in rows.chunks(200) {
        let groups: Vec<String> = (0..chunk.len())
            .map(|r| format!("(${}, ${}, ${}, ${})", r * 4 + 1, r * 4 + 2, r * 4 + 3, r * 4 + 4))
            .collect();
        let sql = format!("INSERT INTO suggest_postings (term, doc, tf, dl) VALUES {}", groups.join(", "));
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for row in chunk {
            q = q.bind(row[0].clone());
            for v in &row[1..] {
                q = q.bind(v.parse::<i64>().unwrap());
            }
        }
        q.execute(&mut *conn).await.unwrap();
    }
}

async fn insert_terms(conn: &mut AnyConnection, rows: &[Vec<String>]) {
    for chunk in rows.chunks(500) {
        let groups: Vec<String> = (0..chunk.len()).map(|r| format!("(${}, ${})", r * 2 + 1, r * 2 + 2)).collect();
        let sql = format!("INSERT INTO suggest_terms (term, df) VALUES {}", groups.join(", "));
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for row in chunk {
            q = q.bind(row[0].clone()).bind(row[1].parse::<i64>().unwrap());
        }
        q.execute(&mut *conn).await.unwrap();
    }
}

async fn stats(conn: &mut AnyConnection, index: &Index) {
    sqlx::query("UPDATE suggest_stats SET docs = $1, total_length = $2 WHERE id = 1")
        .bind(index.docs.len() as i64)
        .bind(index.total_length as i64)
        .execute(&mut *conn)
        .await
        .unwrap();
}

/// PostgreSQL: COPY, with the postings' key built after the rows are in.
async fn seed_postgres(url: &str, index: &Index) {
    use sqlx::postgres::PgConnection;
    let mut pg = PgConnection::connect(url).await.unwrap();
    pg.execute("ALTER TABLE suggest_postings DROP CONSTRAINT suggest_postings_pkey").await.unwrap();
    let escape = |s: &str| s.replace('\\', "\\\\").replace('\t', "\\t").replace('\n', "\\n");
    let mut copy = pg.copy_in_raw("COPY suggest_docs (id, kind, ref_id, length, terms) FROM STDIN").await.unwrap();
    let mut buf = String::with_capacity(1 << 20);
    for (i, len, terms) in &index.docs {
        buf.push_str(&format!("{i}\tticket\t{i}\t{len}\t{}\n", escape(terms)));
        if buf.len() > 1 << 20 {
            copy.send(buf.as_bytes()).await.unwrap();
            buf.clear();
        }
    }
    copy.send(buf.as_bytes()).await.unwrap();
    copy.finish().await.unwrap();
    buf.clear();
    let mut copy = pg.copy_in_raw("COPY suggest_postings (term, doc, tf, dl) FROM STDIN").await.unwrap();
    for (term, list) in &index.postings {
        let term = escape(term);
        for (doc, tf, dl) in list {
            buf.push_str(&format!("{term}\t{doc}\t{tf}\t{dl}\n"));
            if buf.len() > 1 << 20 {
                copy.send(buf.as_bytes()).await.unwrap();
                buf.clear();
            }
        }
    }
    copy.send(buf.as_bytes()).await.unwrap();
    copy.finish().await.unwrap();
    buf.clear();
    let mut copy = pg.copy_in_raw("COPY suggest_terms (term, df) FROM STDIN").await.unwrap();
    for (term, list) in &index.postings {
        buf.push_str(&format!("{}\t{}\n", escape(term), list.len()));
    }
    copy.send(buf.as_bytes()).await.unwrap();
    copy.finish().await.unwrap();
    pg.execute("SET maintenance_work_mem = '1GB'").await.unwrap();
    pg.execute("ALTER TABLE suggest_postings ADD PRIMARY KEY (term, doc)").await.unwrap();
    pg.execute(AssertSqlSafe(format!("SELECT setval('suggest_docs_id_seq', {})", index.docs.len() + 1))).await.unwrap();
    pg.execute("VACUUM ANALYZE").await.unwrap();
    pg.close().await.unwrap();
    let mut conn = AnyConnection::connect(url).await.unwrap();
    stats(&mut conn, index).await;
    conn.close().await.unwrap();
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n = arg("--tickets", 1_000_000) as usize;
    let queries = arg("--queries", 1_000) as usize;
    let backend = if arg("--postgres", 0) == 1 { Db::Postgres } else { Db::Sqlite };
    let name = if backend == Db::Postgres { "PostgreSQL" } else { "SQLite" };
    let Some(db) = TestDb::new(backend, "suggest_bench").await else {
        println!("SKIPPED: no PostgreSQL (MADOGUCHI_TEST_POSTGRES_URL)");
        return;
    };
    let store = madoguchi::store::Store::connect(&db.url, 4).await.unwrap();
    store.migrate().await.unwrap();
    let t = Instant::now();
    let (_, index) = build(n);
    let postings: usize = index.postings.values().map(Vec::len).sum();
    println!(
        "[{name}] {n} tickets cut into {postings} postings of {} terms in {:.1} s",
        index.postings.len(),
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let mut conn = AnyConnection::connect(&db.url).await.unwrap();
    seed_tickets(&mut conn, backend == Db::Sqlite, n).await;
    conn.close().await.unwrap();
    if backend == Db::Sqlite {
        seed_sqlite(&db.url, &index).await;
    } else {
        seed_postgres(&db.url, &index).await;
    }
    println!("[{name}] stored in {:.1} s", t.elapsed().as_secs_f64());
    drop(index);

    let mut d = Dice(0xD1B5_4A32_D192_ED03);
    let asked: Vec<(String, String)> = (0..queries + 100).map(|_| inquiry(&mut d)).collect();
    for (subject, body) in &asked[..100] {
        store.suggestions(subject, body, None, 5).await.unwrap();
    }
    let mut times = Vec::with_capacity(queries);
    let mut found = 0;
    let mut example = None;
    for (subject, body) in &asked[100..] {
        let t = Instant::now();
        let s = store.suggestions(subject, body, None, 5).await.unwrap();
        times.push(t.elapsed());
        found += s.len();
        if example.is_none() && !s.is_empty() {
            example = Some((subject.clone(), s[0].title.clone(), s[0].why.clone()));
        }
    }
    times.sort();
    let p99 = percentile(&times, 0.99);
    println!(
        "[{name}] {queries} inquiries over {n} resolved tickets: p50 {}, p90 {}, p99 {}, max {}; \
         {:.1} suggestions each (aim: p99 < {} ms: {})",
        ms(percentile(&times, 0.50)),
        ms(percentile(&times, 0.90)),
        ms(p99),
        ms(*times.last().unwrap()),
        found as f64 / queries as f64,
        TARGET_P99.as_millis(),
        if p99 < TARGET_P99 { "met" } else { "NOT met" }
    );
    if let Some((asked, title, why)) = example {
        println!("[{name}] e.g. 「{asked}」 → 「{title}」 because {why:?}");
    }
    store.close().await;
    db.cleanup().await;
}
