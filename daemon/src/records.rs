//! Call records: one per finished call, written before the call is reported finished.
//!
//! The store sits behind [`CallStore`] so that a PostgreSQL implementation can follow for
//! fleets; [`SqliteStore`] is the embedded default. It runs SQLite in WAL mode with
//! `synchronous = NORMAL`: a record is in the database file (or its write-ahead log) when
//! [`CallStore::record`] returns, so it survives SIGTERM, a handler crash and `kill -9`
//! of tipringd (the kernel has the pages); only a power cut can lose the last few. The
//! switch writes each record on the control thread when the call ends, before anything
//! (the API, the event stream) can see the call as ended.
//!
//! Call ids restart at 1 with every run of tipringd, so a record is keyed by the run (the
//! daemon's start time, ms) and the call id.

use crate::call::CallView;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why the store failed: which file, and what SQLite said.
#[derive(Debug, thiserror::Error)]
#[error("call records {path}: {what}: {source}")]
pub struct StoreError {
    /// The database file.
    pub path: String,
    /// What was being done.
    pub what: &'static str,
    /// SQLite's error.
    #[source]
    pub source: rusqlite::Error,
}

/// What a query selects. Times are Unix ms of the call's end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// Ended at or after.
    pub from_ms: Option<u64>,
    /// Ended before.
    pub to_ms: Option<u64>,
    /// On this channel.
    pub channel: Option<u32>,
    /// Taken by this handler.
    pub handler: Option<String>,
    /// With this Q.850 cause.
    pub cause: Option<u32>,
    /// At most this many (newest first).
    pub limit: u32,
    /// After skipping this many.
    pub offset: u32,
}

/// One finished call as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CallRecord {
    /// The tipringd run it belongs to (its start, Unix ms).
    pub run: u64,
    /// The call's id in that run.
    pub call: u64,
    /// Its channel.
    pub channel: u32,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// The handler that took it, and its version.
    pub handler: Option<String>,
    /// The handler's version.
    pub handler_version: Option<String>,
    /// Calling number.
    pub caller: Option<String>,
    /// Calling name.
    pub caller_name: Option<String>,
    /// Called (dialled) number.
    pub called: Option<String>,
    /// The number that forwarded the call.
    pub redirecting: Option<String>,
    /// The calling number's presentation (`allowed`, `restricted`, `unavailable`).
    pub presentation: Option<String>,
    /// The route that picked the handler, in words.
    pub route: Option<String>,
    /// Seized (the line taken, or the call offered), Unix ms.
    pub created_ms: u64,
    /// First rang, Unix ms.
    pub ring_ms: Option<u64>,
    /// Answered, Unix ms.
    pub answered_ms: Option<u64>,
    /// Ended, Unix ms.
    pub ended_ms: u64,
    /// Answered to ended, ms (0 if never answered).
    pub duration_ms: u64,
    /// Q.850 cause.
    pub cause: Option<u32>,
    /// The cause in words.
    pub cause_text: Option<String>,
    /// Outbound calls: how the attempt went.
    pub outcome: Option<String>,
    /// Digits collected, one entry per collection.
    pub digits: Vec<String>,
    /// Files recorded, in order.
    pub recordings: Vec<String>,
    /// The call's variables as its handler left them (a disposition, an account code…),
    /// including those it set while handling `HANGUP`.
    pub vars: BTreeMap<String, String>,
}

impl CallRecord {
    /// The record of a call that has just ended, in run `run`.
    pub fn of(run: u64, v: &CallView) -> CallRecord {
        let ended = v.ended_ms.unwrap_or(v.created_ms);
        CallRecord {
            run,
            call: v.id,
            channel: v.channel,
            direction: v.direction.to_string(),
            handler: v.handler.clone(),
            handler_version: v.handler_version.clone(),
            caller: v.caller.clone(),
            caller_name: v.caller_name.clone(),
            called: v.called.clone(),
            redirecting: v.redirecting.clone(),
            presentation: v.presentation.map(str::to_string),
            route: v.route.clone(),
            created_ms: v.created_ms,
            ring_ms: v.ring_ms,
            answered_ms: v.answered_ms,
            ended_ms: ended,
            duration_ms: v.answered_ms.map_or(0, |a| ended.saturating_sub(a)),
            cause: v.cause,
            cause_text: v.cause_text.clone(),
            outcome: v.outcome.map(str::to_string),
            digits: v.digits.clone(),
            recordings: v.recordings.clone(),
            vars: v.vars.clone(),
        }
    }
}

/// Where call records go.
pub trait CallStore: Send + std::fmt::Debug {
    /// Stores `r`; when this returns `Ok`, the record survives the process.
    ///
    /// # Errors
    /// The store could not write it (the message names the store and why).
    fn record(&mut self, r: &CallRecord) -> Result<(), StoreError>;

    /// Records matching `q`, newest first.
    ///
    /// # Errors
    /// The store could not be read.
    fn query(&self, q: &Query) -> Result<Vec<CallRecord>, StoreError>;
}

/// The embedded store: one SQLite file.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS calls (
    run INTEGER NOT NULL,
    call INTEGER NOT NULL,
    channel INTEGER NOT NULL,
    direction TEXT NOT NULL,
    handler TEXT,
    handler_version TEXT,
    caller TEXT,
    caller_name TEXT,
    called TEXT,
    redirecting TEXT,
    created_ms INTEGER NOT NULL,
    answered_ms INTEGER,
    ended_ms INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    cause INTEGER,
    cause_text TEXT,
    outcome TEXT,
    digits TEXT NOT NULL,
    PRIMARY KEY (run, call)
);
CREATE INDEX IF NOT EXISTS calls_ended ON calls (ended_ms);
CREATE INDEX IF NOT EXISTS calls_channel ON calls (channel, ended_ms);
CREATE INDEX IF NOT EXISTS calls_handler ON calls (handler, ended_ms);
CREATE INDEX IF NOT EXISTS calls_cause ON calls (cause, ended_ms);
";

/// Columns added after the first schema: a database made by an older tipringd gets them
/// (empty for its old records) when it is opened.
const ADDED: [(&str, &str); 5] = [
    ("presentation", "TEXT"),
    ("route", "TEXT"),
    ("ring_ms", "INTEGER"),
    ("recordings", "TEXT NOT NULL DEFAULT '[]'"),
    ("vars", "TEXT NOT NULL DEFAULT '{}'"),
];

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, in WAL mode.
    ///
    /// # Errors
    /// The file can't be opened or isn't a call-record database.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let err = |what| {
            let p = path.display().to_string();
            move |source| StoreError {
                path: p,
                what,
                source,
            }
        };
        let conn = Connection::open(path).map_err(err("opening"))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err("switching to WAL"))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(err("setting synchronous"))?;
        conn.busy_timeout(std::time::Duration::from_secs(2))
            .map_err(err("setting the busy timeout"))?;
        conn.execute_batch(SCHEMA)
            .map_err(err("creating the tables"))?;
        let have: Vec<String> = {
            let mut st = conn
                .prepare("PRAGMA table_info(calls)")
                .map_err(err("reading the table's columns"))?;
            let names = st
                .query_map([], |r| r.get::<_, String>(1))
                .map_err(err("reading the table's columns"))?;
            names
                .collect::<Result<_, _>>()
                .map_err(err("reading the table's columns"))?
        };
        for (col, ty) in ADDED {
            if !have.iter().any(|h| h == col) {
                conn.execute_batch(&format!("ALTER TABLE calls ADD COLUMN {col} {ty}"))
                    .map_err(err("adding a column"))?;
            }
        }
        Ok(SqliteStore {
            conn,
            path: path.to_path_buf(),
        })
    }

    fn err(&self, what: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError {
            path: self.path.display().to_string(),
            what,
            source,
        }
    }
}

fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl CallStore for SqliteStore {
    fn record(&mut self, r: &CallRecord) -> Result<(), StoreError> {
        let digits = serde_json::to_string(&r.digits).unwrap_or_else(|_| "[]".into());
        let recordings = serde_json::to_string(&r.recordings).unwrap_or_else(|_| "[]".into());
        let vars = serde_json::to_string(&r.vars).unwrap_or_else(|_| "{}".into());
        self.conn
            .execute(
                "INSERT OR REPLACE INTO calls (run, call, channel, direction, handler,
                 handler_version, caller, caller_name, called, redirecting, created_ms,
                 answered_ms, ended_ms, duration_ms, cause, cause_text, outcome, digits,
                 presentation, route, ring_ms, recordings, vars)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
                 ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23)",
                params![
                    int(r.run),
                    int(r.call),
                    r.channel,
                    r.direction,
                    r.handler,
                    r.handler_version,
                    r.caller,
                    r.caller_name,
                    r.called,
                    r.redirecting,
                    int(r.created_ms),
                    r.answered_ms.map(int),
                    int(r.ended_ms),
                    int(r.duration_ms),
                    r.cause,
                    r.cause_text,
                    r.outcome,
                    digits,
                    r.presentation,
                    r.route,
                    r.ring_ms.map(int),
                    recordings,
                    vars,
                ],
            )
            .map_err(self.err("writing a record"))?;
        Ok(())
    }

    fn query(&self, q: &Query) -> Result<Vec<CallRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT run, call, channel, direction, handler, handler_version, caller,
                 caller_name, called, redirecting, created_ms, answered_ms, ended_ms,
                 duration_ms, cause, cause_text, outcome, digits, presentation, route,
                 ring_ms, recordings, vars FROM calls
                 WHERE (?1 IS NULL OR ended_ms >= ?1) AND (?2 IS NULL OR ended_ms < ?2)
                 AND (?3 IS NULL OR channel = ?3) AND (?4 IS NULL OR handler = ?4)
                 AND (?5 IS NULL OR cause = ?5)
                 ORDER BY ended_ms DESC, run DESC, call DESC LIMIT ?6 OFFSET ?7",
            )
            .map_err(self.err("preparing a query"))?;
        let rows = stmt
            .query_map(
                params![
                    q.from_ms.map(int),
                    q.to_ms.map(int),
                    q.channel,
                    q.handler,
                    q.cause,
                    q.limit,
                    q.offset
                ],
                |row| {
                    let digits: String = row.get(17)?;
                    let recordings: String = row.get(21)?;
                    let vars: String = row.get(22)?;
                    let u = |i: usize| row.get::<_, i64>(i).map(|v| v.max(0) as u64);
                    Ok(CallRecord {
                        run: u(0)?,
                        call: u(1)?,
                        channel: row.get(2)?,
                        direction: row.get(3)?,
                        handler: row.get(4)?,
                        handler_version: row.get(5)?,
                        caller: row.get(6)?,
                        caller_name: row.get(7)?,
                        called: row.get(8)?,
                        redirecting: row.get(9)?,
                        created_ms: u(10)?,
                        answered_ms: row.get::<_, Option<i64>>(11)?.map(|v| v.max(0) as u64),
                        ended_ms: u(12)?,
                        duration_ms: u(13)?,
                        cause: row.get(14)?,
                        cause_text: row.get(15)?,
                        outcome: row.get(16)?,
                        digits: serde_json::from_str(&digits).unwrap_or_default(),
                        presentation: row.get(18)?,
                        route: row.get(19)?,
                        ring_ms: row.get::<_, Option<i64>>(20)?.map(|v| v.max(0) as u64),
                        recordings: serde_json::from_str(&recordings).unwrap_or_default(),
                        vars: serde_json::from_str(&vars).unwrap_or_default(),
                    })
                },
            )
            .map_err(self.err("reading records"))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(self.err("reading records"))
    }
}

/// How many records the store holds (tests, status).
///
/// # Errors
/// The store could not be read.
pub fn count(store: &SqliteStore) -> Result<u64, StoreError> {
    store
        .conn
        .query_row("SELECT COUNT(*) FROM calls", [], |r| r.get::<_, i64>(0))
        .optional()
        .map(|n| n.unwrap_or(0).max(0) as u64)
        .map_err(store.err("counting records"))
}

/// Records as CSV (RFC 4180: a header line, fields quoted when they need it).
pub fn csv(records: &[CallRecord]) -> String {
    fn field(out: &mut String, s: &str) {
        if s.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&s.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(s);
        }
    }
    let mut out = String::from(
        "run,call,channel,direction,handler,handler_version,caller,caller_name,called,\
         redirecting,created_ms,answered_ms,ended_ms,duration_ms,cause,cause_text,outcome,digits,\
         presentation,route,ring_ms,recordings,vars\r\n",
    );
    for r in records {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        let num = |v: Option<u64>| v.map(|n| n.to_string()).unwrap_or_default();
        let cols = [
            r.run.to_string(),
            r.call.to_string(),
            r.channel.to_string(),
            r.direction.clone(),
            opt(&r.handler),
            opt(&r.handler_version),
            opt(&r.caller),
            opt(&r.caller_name),
            opt(&r.called),
            opt(&r.redirecting),
            r.created_ms.to_string(),
            num(r.answered_ms),
            r.ended_ms.to_string(),
            r.duration_ms.to_string(),
            num(r.cause.map(u64::from)),
            opt(&r.cause_text),
            opt(&r.outcome),
            r.digits.join(" "),
            opt(&r.presentation),
            opt(&r.route),
            num(r.ring_ms),
            // Paths may hold any character: a JSON array, quoted as CSV needs.
            serde_json::to_string(&r.recordings).unwrap_or_default(),
            // Names and values may hold any character: a JSON object.
            serde_json::to_string(&r.vars).unwrap_or_default(),
        ];
        for (i, c) in cols.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            field(&mut out, c);
        }
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(run: u64, call: u64, channel: u32, ended: u64, handler: &str, cause: u32) -> CallRecord {
        CallRecord {
            run,
            call,
            channel,
            direction: "inbound".into(),
            handler: Some(handler.into()),
            handler_version: Some("1.0.0".into()),
            caller: Some("2125551212".into()),
            caller_name: Some("SMITH, \"J\"".into()),
            called: None,
            redirecting: None,
            created_ms: ended - 5_000,
            answered_ms: Some(ended - 4_000),
            ended_ms: ended,
            duration_ms: 4_000,
            cause: Some(cause),
            cause_text: Some("normal call clearing".into()),
            outcome: None,
            digits: vec!["908".into()],
            presentation: Some("allowed".into()),
            route: Some("kind fxo -> ivr-c".into()),
            ring_ms: Some(ended - 6_000),
            recordings: vec!["/var/spool/tipring/a b.wav".into()],
            vars: BTreeMap::from([("left_at".into(), "readback, \"2\"".into())]),
        }
    }

    fn temp(name: &str) -> PathBuf {
        let p =
            std::env::temp_dir().join(format!("tipring-records-{name}-{}.db", std::process::id()));
        for ext in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", p.display()));
        }
        p
    }

    #[test]
    fn an_older_database_gains_the_new_columns() {
        let path = temp("migrate");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(SCHEMA).unwrap();
            c.execute(
                "INSERT INTO calls (run, call, channel, direction, created_ms, ended_ms,
                 duration_ms, digits) VALUES (1, 1, 3, 'inbound', 10, 20, 0, '[\"42\"]')",
                [],
            )
            .unwrap();
        }
        let mut s = SqliteStore::open(&path).unwrap();
        let old = s
            .query(&Query {
                limit: 10,
                ..Query::default()
            })
            .unwrap();
        assert_eq!(old.len(), 1);
        assert_eq!(old[0].digits, ["42"]);
        assert_eq!(
            (
                old[0].route.clone(),
                old[0].recordings.len(),
                old[0].vars.len()
            ),
            (None, 0, 0)
        );
        s.record(&rec(2, 1, 1, 1_000_000, "ivr-c", 16)).unwrap();
        let new = s
            .query(&Query {
                limit: 1,
                ..Query::default()
            })
            .unwrap();
        assert_eq!(new[0], rec(2, 1, 1, 1_000_000, "ivr-c", 16));
        // Opening again changes nothing.
        drop(s);
        assert_eq!(count(&SqliteStore::open(&path).unwrap()).unwrap(), 2);
    }

    #[test]
    fn records_are_kept_filtered_and_paged() {
        let path = temp("query");
        let mut s = SqliteStore::open(&path).unwrap();
        for i in 0..10u64 {
            let h = if i % 2 == 0 { "ivr-c" } else { "menu" };
            s.record(&rec(
                1,
                i + 1,
                (i % 3) as u32 + 1,
                1_000_000 + i * 1_000,
                h,
                16,
            ))
            .unwrap();
        }
        s.record(&rec(2, 1, 4, 2_000_000, "menu", 17)).unwrap();
        let all = |q: Query| s.query(&Query { limit: 100, ..q }).unwrap();
        assert_eq!(all(Query::default()).len(), 11);
        assert_eq!(all(Query::default())[0].run, 2, "newest first");
        assert_eq!(
            all(Query {
                handler: Some("menu".into()),
                ..Query::default()
            })
            .len(),
            6
        );
        assert_eq!(
            all(Query {
                cause: Some(17),
                ..Query::default()
            })
            .len(),
            1
        );
        assert_eq!(
            all(Query {
                channel: Some(1),
                ..Query::default()
            })
            .len(),
            4
        );
        let window = all(Query {
            from_ms: Some(1_002_000),
            to_ms: Some(1_005_000),
            ..Query::default()
        });
        assert_eq!(window.iter().map(|r| r.call).collect::<Vec<_>>(), [5, 4, 3]);
        let page = s
            .query(&Query {
                limit: 4,
                offset: 8,
                ..Query::default()
            })
            .unwrap();
        assert_eq!(page.len(), 3);
        // Reopened, everything is still there.
        drop(s);
        let s = SqliteStore::open(&path).unwrap();
        assert_eq!(count(&s).unwrap(), 11);
        assert_eq!(
            s.query(&Query {
                limit: 1,
                ..Query::default()
            })
            .unwrap()[0],
            rec(2, 1, 4, 2_000_000, "menu", 17)
        );
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        let text = csv(&[rec(1, 7, 2, 1_000_000, "ivr-c", 16)]);
        let mut lines = text.split("\r\n");
        assert!(
            lines
                .next()
                .unwrap()
                .starts_with("run,call,channel,direction,")
        );
        assert_eq!(
            lines.next().unwrap(),
            "1,7,2,inbound,ivr-c,1.0.0,2125551212,\"SMITH, \"\"J\"\"\",,,995000,996000,1000000,4000,16,normal call clearing,,908,allowed,kind fxo -> ivr-c,994000,\"[\"\"/var/spool/tipring/a b.wav\"\"]\",\"{\"\"left_at\"\":\"\"readback, \\\"\"2\\\"\"\"\"}\""
        );
    }

    #[test]
    fn a_file_that_is_not_a_database_is_refused_by_name() {
        let path = temp("bad");
        std::fs::write(&path, "this is not SQLite, but long enough to have a header page .......................................").unwrap();
        let e = SqliteStore::open(&path).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("call records {}: ", path.display())),
            "{e}"
        );
    }
}
