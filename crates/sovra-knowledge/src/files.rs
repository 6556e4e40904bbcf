//! Uploaded files (OpenAI's `/v1/files`): the bytes a caller uploaded,
//! kept in `knowledge.db` (or `knowledge_files` on PostgreSQL, `pg.rs`)
//! until they are deleted, their owner is erased, or they are attached to a
//! vector store (which ingests a copy). This module has the SQLite side (its
//! statements, shared with PostgreSQL, are in `sql.rs`) and the page query
//! both backends build.
//!
//! A file belongs to one (tenant, user); anyone else asking for it gets
//! "not found". The server seals the bytes with the owner's key before
//! they reach these queries (`sealing.rs`); `bytes` is the plaintext size. The database runs with `secure_delete`, and every deletion
//! of file bytes ends with a WAL checkpoint, so erased bytes are
//! overwritten in the file itself rather than left in free pages or the
//! write-ahead log.

use serde::Serialize;
use sqlx::{Row, SqlitePool};

use crate::sql::sqlite as shared;
use crate::{Caller, Error};

/// Most files one person may hold at once.
pub const MAX_FILES_PER_OWNER: u64 = 1000;

/// An uploaded file's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredFile {
    /// `file-…`
    pub id: String,
    pub filename: String,
    pub purpose: String,
    pub bytes: u64,
    /// Unix seconds.
    pub created_at: i64,
}

fn file_of(r: &sqlx::sqlite::SqliteRow) -> Result<StoredFile, sqlx::Error> {
    Ok(StoredFile {
        id: r.try_get("id")?,
        filename: r.try_get("filename")?,
        purpose: r.try_get("purpose")?,
        bytes: r.try_get::<i64, _>("bytes")? as u64,
        created_at: r.try_get("created_at")?,
    })
}

/// The error for an upload past [`MAX_FILES_PER_OWNER`].
pub(crate) fn too_many() -> Error {
    Error::Invalid {
        what: "file",
        problem: format!(
            "you already hold {MAX_FILES_PER_OWNER} files, the most this server keeps per person; delete some first"
        ),
    }
}

/// A new file's metadata, with a fresh id.
pub(crate) fn new_file(filename: &str, purpose: &str, bytes: usize, now: i64) -> StoredFile {
    StoredFile {
        id: format!("file-{}", uuid::Uuid::new_v4().simple()),
        filename: filename.to_owned(),
        purpose: purpose.to_owned(),
        bytes: bytes as u64,
        created_at: now,
    }
}

fn not_found(id: &str) -> Error {
    Error::NotFound {
        what: "file",
        id: id.to_owned(),
    }
}

/// Keep `file` with its stored bytes (sealed by the caller when it has a
/// sealer, see `sealing.rs`), within [`MAX_FILES_PER_OWNER`].
pub(crate) async fn add(
    pool: &SqlitePool,
    caller: &Caller,
    file: &StoredFile,
    stored: &[u8],
) -> Result<(), Error> {
    let mut tx = pool.begin().await?;
    let held: i64 = sqlx::query_scalar(shared::COUNT_FILES_OF)
        .bind(&caller.tenant)
        .bind(&caller.user)
        .fetch_one(&mut *tx)
        .await?;
    if held as u64 >= MAX_FILES_PER_OWNER {
        return Err(too_many());
    }
    sqlx::query(shared::INSERT_FILE)
        .bind(&file.id)
        .bind(&caller.tenant)
        .bind(&caller.user)
        .bind(&file.filename)
        .bind(&file.purpose)
        .bind(file.bytes as i64)
        .bind(file.created_at)
        .bind(stored)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Most files one page of `GET /v1/files` may hold (OpenAI's bound, and its default).
pub const MAX_LIST_LIMIT: usize = 10_000;

/// Which page of a caller's files (OpenAI's `GET /v1/files` parameters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileListQuery {
    /// At most this many, 1 to [`MAX_LIST_LIMIT`].
    pub limit: usize,
    /// The page starts after this file (by the order below).
    pub after: Option<String>,
    /// Oldest first; newest first when false (OpenAI's default `desc`).
    pub ascending: bool,
    /// Only files of this purpose.
    pub purpose: Option<String>,
}

impl Default for FileListQuery {
    fn default() -> Self {
        Self {
            limit: MAX_LIST_LIMIT,
            after: None,
            ascending: false,
            purpose: None,
        }
    }
}

/// One page of files; `has_more` says whether another follows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FilePage {
    pub files: Vec<StoredFile>,
    pub has_more: bool,
}

/// `limit` must be 1 to [`MAX_LIST_LIMIT`] (on every backend).
pub(crate) fn check_list_limit(q: &FileListQuery) -> Result<(), Error> {
    if !(1..=MAX_LIST_LIMIT).contains(&q.limit) {
        return Err(Error::Invalid {
            what: "limit",
            problem: format!("must be between 1 and {MAX_LIST_LIMIT}"),
        });
    }
    Ok(())
}

/// The `after` cursor as (`created_at`, id), once its row is found among
/// the caller's files; anything else is a 400 naming `after`.
pub(crate) fn cursor(
    q: &FileListQuery,
    created: Option<i64>,
) -> Result<Option<(i64, String)>, Error> {
    match (&q.after, created) {
        (None, _) => Ok(None),
        (Some(after), Some(c)) => Ok(Some((c, after.clone()))),
        (Some(after), None) => Err(Error::Invalid {
            what: "after",
            problem: format!("no file '{after}' of yours to list after"),
        }),
    }
}

/// The page query over `table`, for either SQL dialect. Binds, in order:
/// tenant, owner, purpose (if asked), the cursor's `created_at` and id (if
/// any), limit + 1.
pub(crate) fn page_sql(table: &str, q: &FileListQuery, has_cursor: bool) -> String {
    let param = |n: usize| format!("${n}");
    let (cmp, dir) = if q.ascending {
        (">", "ASC")
    } else {
        ("<", "DESC")
    };
    let mut sql = format!(
        "SELECT id, filename, purpose, bytes, created_at FROM {table} WHERE tenant = {} AND owner = {}",
        param(1),
        param(2)
    );
    let mut n = 2;
    if q.purpose.is_some() {
        n += 1;
        sql.push_str(&format!(" AND purpose = {}", param(n)));
    }
    if has_cursor {
        sql.push_str(&format!(
            " AND (created_at, id) {cmp} ({}, {})",
            param(n + 1),
            param(n + 2)
        ));
        n += 2;
    }
    sql.push_str(&format!(
        " ORDER BY created_at {dir}, id {dir} LIMIT {}",
        param(n + 1)
    ));
    sql
}

/// Rows asked for a page: one more than it holds, to tell `has_more`.
pub(crate) fn page_rows(q: &FileListQuery) -> i64 {
    i64::try_from(q.limit).unwrap_or(i64::MAX - 1) + 1
}

impl FilePage {
    /// A page from up to `limit + 1` rows in page order.
    pub(crate) fn of(mut files: Vec<StoredFile>, q: &FileListQuery) -> Self {
        let has_more = files.len() > q.limit;
        files.truncate(q.limit);
        Self { files, has_more }
    }
}

/// A page of the caller's files, ordered by (`created_at`, `id`): a total
/// order, so a keyset cursor (`after`) neither skips nor repeats a file
/// when several share a second. Served by the `files_by_owner_page` index;
/// reads `limit + 1` rows, never the whole list.
pub(crate) async fn list(
    pool: &SqlitePool,
    caller: &Caller,
    q: &FileListQuery,
) -> Result<FilePage, Error> {
    let created: Option<i64> = match &q.after {
        None => None,
        Some(after) => {
            sqlx::query_scalar(shared::FILE_CREATED_AT)
                .bind(after)
                .bind(&caller.tenant)
                .bind(&caller.user)
                .fetch_optional(pool)
                .await?
        }
    };
    let cursor = cursor(q, created)?;
    let sql = page_sql(shared::FILES, q, cursor.is_some());
    let mut query = sqlx::query(&sql).bind(&caller.tenant).bind(&caller.user);
    if let Some(p) = &q.purpose {
        query = query.bind(p);
    }
    if let Some((created, id)) = &cursor {
        query = query.bind(created).bind(id);
    }
    let rows = query.bind(page_rows(q)).fetch_all(pool).await?;
    let files: Vec<StoredFile> = rows.iter().map(file_of).collect::<Result<_, _>>()?;
    Ok(FilePage::of(files, q))
}

pub(crate) async fn get(pool: &SqlitePool, caller: &Caller, id: &str) -> Result<StoredFile, Error> {
    let row = sqlx::query(shared::FILE)
        .bind(id)
        .bind(&caller.tenant)
        .bind(&caller.user)
        .fetch_optional(pool)
        .await?;
    match row {
        Some(r) => Ok(file_of(&r)?),
        None => Err(not_found(id)),
    }
}

pub(crate) async fn content(
    pool: &SqlitePool,
    caller: &Caller,
    id: &str,
) -> Result<(StoredFile, Vec<u8>), Error> {
    let file = get(pool, caller, id).await?;
    let bytes: Vec<u8> = sqlx::query_scalar("SELECT content FROM files WHERE id = ?")
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| not_found(id))?;
    Ok((file, bytes))
}

/// Overwrite what deleted rows left in the write-ahead log.
async fn checkpoint(pool: &SqlitePool) -> Result<(), Error> {
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(pool)
        .await?;
    Ok(())
}

pub(crate) async fn delete(pool: &SqlitePool, caller: &Caller, id: &str) -> Result<(), Error> {
    let n = sqlx::query(shared::DELETE_FILE)
        .bind(id)
        .bind(&caller.tenant)
        .bind(&caller.user)
        .execute(pool)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(not_found(id));
    }
    checkpoint(pool).await
}

/// Every file of (tenant, user); how many went.
pub(crate) async fn erase(pool: &SqlitePool, tenant: &str, user: &str) -> Result<u64, Error> {
    let n = sqlx::query(shared::ERASE_FILES)
        .bind(tenant)
        .bind(user)
        .execute(pool)
        .await?
        .rows_affected();
    if n > 0 {
        checkpoint(pool).await?;
    }
    Ok(n)
}

/// Retention: files of `tenant` uploaded before `cutoff` (Unix seconds).
pub(crate) async fn purge(pool: &SqlitePool, tenant: &str, cutoff: i64) -> Result<u64, Error> {
    let n = sqlx::query(shared::PURGE_FILES)
        .bind(tenant)
        .bind(cutoff)
        .execute(pool)
        .await?
        .rows_affected();
    if n > 0 {
        checkpoint(pool).await?;
    }
    Ok(n)
}

pub(crate) async fn tenants(pool: &SqlitePool) -> Result<Vec<String>, Error> {
    Ok(sqlx::query_scalar(shared::FILE_TENANTS)
        .fetch_all(pool)
        .await?)
}
