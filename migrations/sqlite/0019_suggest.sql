-- The index suggestions are found in: resolved tickets and published FAQ entries, each cut into
-- terms (two-character pairs of Japanese text, whole ASCII words; see domain/suggest.rs), so an
-- inquiry is matched against them by BM25. Kept in the transaction that resolves, reopens or
-- merges a ticket (and publishes or withdraws an entry); older tickets are added at start-up.

CREATE TABLE suggest_docs (
    id      INTEGER PRIMARY KEY,
    kind    TEXT NOT NULL,      -- 'ticket' | 'faq'
    ref_id  INTEGER NOT NULL,   -- tickets.id or faq_entries.id
    length  INTEGER NOT NULL,   -- terms in the document
    terms   TEXT NOT NULL,      -- its distinct terms, space-separated (to take it out again)
    UNIQUE (kind, ref_id)
);

-- Newest documents first within a term: a common term is read only for its recent documents.
CREATE TABLE suggest_postings (
    term TEXT NOT NULL,
    doc  INTEGER NOT NULL,
    tf   INTEGER NOT NULL,
    dl   INTEGER NOT NULL,
    PRIMARY KEY (term, doc)
) WITHOUT ROWID;

CREATE TABLE suggest_terms (
    term TEXT PRIMARY KEY,
    df   INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE suggest_stats (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    docs         INTEGER NOT NULL,
    total_length INTEGER NOT NULL
);
INSERT INTO suggest_stats (id, docs, total_length) VALUES (1, 0, 0);
