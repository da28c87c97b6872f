"""The SQLite schema; `user_version` tells which statements a database file already has."""

from __future__ import annotations

# Each entry upgrades the schema by one version; never edit one that has shipped.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE users (
        id TEXT PRIMARY KEY,
        email TEXT NOT NULL,
        email_norm TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        credentials_version INTEGER NOT NULL DEFAULT 1,
        created_at TEXT NOT NULL
    );
    CREATE TABLE boards (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        description TEXT NOT NULL,
        owner_id TEXT NOT NULL REFERENCES users(id),
        seq INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE members (
        board_id TEXT NOT NULL REFERENCES boards(id) ON DELETE CASCADE,
        user_id TEXT NOT NULL REFERENCES users(id),
        role TEXT NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
        added_at TEXT NOT NULL,
        PRIMARY KEY (board_id, user_id)
    ) WITHOUT ROWID;
    CREATE INDEX members_by_user ON members (user_id, board_id);
    CREATE TABLE tasks (
        id TEXT PRIMARY KEY,
        board_id TEXT NOT NULL REFERENCES boards(id) ON DELETE CASCADE,
        title TEXT NOT NULL,
        description TEXT NOT NULL,
        status TEXT NOT NULL,
        priority TEXT NOT NULL,
        priority_rank INTEGER NOT NULL,
        due_date TEXT,
        assignee_id TEXT REFERENCES users(id),
        tags TEXT NOT NULL,
        position REAL NOT NULL,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        completed_at TEXT,
        version INTEGER NOT NULL
    );
    CREATE INDEX tasks_by_board_status ON tasks (board_id, status, position);
    CREATE INDEX tasks_by_board_created ON tasks (board_id, created_at);
    CREATE INDEX tasks_by_board_updated ON tasks (board_id, updated_at);
    CREATE INDEX tasks_by_board_due ON tasks (board_id, due_date);
    CREATE INDEX tasks_by_assignee ON tasks (assignee_id, status);
    CREATE INDEX tasks_by_created ON tasks (created_at);
    CREATE TABLE comments (
        id TEXT PRIMARY KEY,
        task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
        board_id TEXT NOT NULL,
        author_id TEXT NOT NULL,
        body TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX comments_by_task ON comments (task_id, created_at, id);
    CREATE TABLE events (
        board_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        type TEXT NOT NULL,
        actor_id TEXT NOT NULL,
        at TEXT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (board_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE logins (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(id),
        created_at TEXT NOT NULL,
        revoked_at TEXT,
        credentials_version INTEGER NOT NULL
    );
    CREATE INDEX logins_by_user ON logins (user_id);
    CREATE TABLE refresh_tokens (
        token_hash TEXT PRIMARY KEY,
        login_id TEXT NOT NULL REFERENCES logins(id),
        user_id TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        used_at TEXT
    ) WITHOUT ROWID;
    CREATE INDEX refresh_tokens_by_login ON refresh_tokens (login_id);
    """,
    """
    CREATE TABLE attachments (
        id TEXT PRIMARY KEY,
        task_id TEXT NOT NULL,
        board_id TEXT NOT NULL,
        filename TEXT NOT NULL,
        content_type TEXT NOT NULL,
        size INTEGER NOT NULL,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        storage_key TEXT NOT NULL,
        pending INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX attachments_by_task ON attachments (task_id, created_at);
    CREATE INDEX attachments_by_board ON attachments (board_id);
    CREATE INDEX attachments_pending ON attachments (pending, created_at) WHERE pending = 1;
    """,
    """
    CREATE TABLE deleted_boards (
        board_id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        deleted_at TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX deleted_boards_by_time ON deleted_boards (deleted_at);
    """,
    """
    CREATE INDEX tasks_by_column ON tasks (board_id, status, position, id);
    DROP INDEX tasks_by_board_status;
    """,
    # checklists: items live inside their task; events name their task, so that a task's
    # activity is an index range (filled in for the events already logged).
    """
    ALTER TABLE tasks ADD COLUMN checklist TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE events ADD COLUMN task_id TEXT;
    UPDATE events SET task_id = CASE
        WHEN type IN ('task:created', 'task:updated', 'task:deleted') THEN json_extract(data, '$.id')
        WHEN type IN ('comment:created', 'comment:deleted', 'attachment:added', 'attachment:deleted')
            THEN json_extract(data, '$.task_id')
        END;
    CREATE INDEX events_by_task ON events (board_id, task_id, seq) WHERE task_id IS NOT NULL;
    """,
    # notify: notifications per recipient, and watches of boards and tasks.
    """
    CREATE TABLE notifications (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        type TEXT NOT NULL,
        board_id TEXT NOT NULL,
        task_id TEXT NOT NULL,
        actor_id TEXT NOT NULL,
        actor_name TEXT NOT NULL,
        summary TEXT NOT NULL,
        created_at TEXT NOT NULL,
        read_at TEXT,
        is_read INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX notifications_by_user ON notifications (user_id, is_read, created_at, id);
    CREATE INDEX notifications_by_board ON notifications (board_id, task_id);
    CREATE INDEX notifications_by_time ON notifications (is_read, created_at);
    CREATE TABLE watches (
        user_id TEXT NOT NULL,
        board_id TEXT NOT NULL,
        task_id TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        PRIMARY KEY (board_id, task_id, user_id)
    ) WITHOUT ROWID;
    CREATE INDEX watches_by_user ON watches (user_id, created_at, board_id, task_id);
    """,
    # Search: an FTS5 index of each task's title, description and comment bodies, kept in
    # step by the store (sqlite_search.py), back-filled here from what the file already holds.
    """
    CREATE TABLE search_docs (
        doc INTEGER PRIMARY KEY,
        task_id TEXT NOT NULL UNIQUE,
        board_id TEXT NOT NULL
    );
    CREATE INDEX search_docs_by_board ON search_docs (board_id);
    CREATE INDEX tasks_by_updated ON tasks (updated_at, id);
    CREATE VIRTUAL TABLE search_fts USING fts5(
        title, description, comments, tokenize = 'unicode61 remove_diacritics 2'
    );
    INSERT INTO search_docs (task_id, board_id) SELECT id, board_id FROM tasks;
    INSERT INTO search_fts (rowid, title, description, comments)
        SELECT d.doc, t.title, t.description,
               COALESCE((SELECT group_concat(c.body, char(10)) FROM comments c
                         WHERE c.task_id = t.id), '')
        FROM search_docs d JOIN tasks t ON t.id = d.task_id;
    """,
    # Columns per board (issue #17): a board's ordered columns as JSON on its row, three
    # for every existing board; each task goes to the column of its status's category,
    # keeping its position. Written without `;` inside a statement (the runner splits on it).
    """
    ALTER TABLE boards ADD COLUMN columns_json TEXT NOT NULL DEFAULT '[]';
    UPDATE boards SET columns_json = json_array(
        json_object('id', lower(hex(randomblob(12))), 'name', 'To do',
                    'category', 'todo', 'wip_limit', NULL),
        json_object('id', lower(hex(randomblob(12))), 'name', 'In progress',
                    'category', 'in_progress', 'wip_limit', NULL),
        json_object('id', lower(hex(randomblob(12))), 'name', 'Done',
                    'category', 'done', 'wip_limit', NULL))
        WHERE columns_json = '[]';
    ALTER TABLE tasks ADD COLUMN column_id TEXT NOT NULL DEFAULT '';
    UPDATE tasks SET column_id = COALESCE((
        SELECT json_extract(c.value, '$.id') FROM boards b, json_each(b.columns_json) c
        WHERE b.id = tasks.board_id AND json_extract(c.value, '$.category') = tasks.status
        ORDER BY c.key LIMIT 1), '');
    DROP INDEX tasks_by_column;
    CREATE INDEX tasks_by_column ON tasks (board_id, column_id, position, id);
    CREATE INDEX tasks_by_board_status ON tasks (board_id, status)
    """,
    # Event-log epochs (issue #20): each board's log names the epoch its seqs count in, new
    # for every board here and again after a restore (`taskflow db new-epoch`).
    """
    ALTER TABLE boards ADD COLUMN epoch TEXT NOT NULL DEFAULT '';
    UPDATE boards SET epoch = lower(hex(randomblob(8))) WHERE epoch = ''
    """,
    # Idempotency-Key (issue #18), when no Redis is configured: one row per (user, key), a
    # claim (owner, lease end in expires_at) while the first request runs, then its response
    # (record, kept 24 h). Expired rows are taken over by a claim or purged by housekeeping.
    """
    CREATE TABLE idempotency_keys (
        scope TEXT PRIMARY KEY,
        owner TEXT,
        record TEXT,
        expires_at REAL NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at)
    """,
    # Webhooks (issue #18): each board's outgoing webhooks with their delivery cursor, lease
    # and retry state, and the last deliveries of each (sqlite_webhooks.py).
    """
    CREATE TABLE webhooks (
        id TEXT PRIMARY KEY,
        board_id TEXT NOT NULL,
        url TEXT NOT NULL,
        events TEXT NOT NULL,
        secret TEXT NOT NULL,
        active INTEGER NOT NULL,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        cursor INTEGER NOT NULL DEFAULT 0,
        disabled_reason TEXT,
        lease_owner TEXT,
        lease_until TEXT,
        attempt INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT,
        failing_since TEXT
    );
    CREATE INDEX webhooks_by_board ON webhooks (board_id, created_at, id);
    CREATE INDEX webhooks_active ON webhooks (active, id);
    CREATE TABLE webhook_deliveries (
        id TEXT PRIMARY KEY,
        webhook_id TEXT NOT NULL,
        board_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        event_type TEXT NOT NULL,
        message_id TEXT NOT NULL,
        status TEXT NOT NULL,
        response_code INTEGER,
        duration_ms INTEGER NOT NULL,
        attempt INTEGER NOT NULL,
        error TEXT,
        at TEXT NOT NULL
    );
    CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, at, id);
    CREATE INDEX webhook_deliveries_by_board ON webhook_deliveries (board_id)
    """,
    # Personal access tokens (issue #18): only the SHA-256 of each secret is kept.
    """
    CREATE TABLE personal_tokens (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        name TEXT NOT NULL,
        scopes TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        last_used_at TEXT
    );
    CREATE INDEX personal_tokens_by_user ON personal_tokens (user_id, created_at, id);
    CREATE INDEX personal_tokens_by_expiry ON personal_tokens (expires_at)
    """,
    # Board import (issue #18): a board being imported has no member until its last step,
    # so no one sees it; this row names it, so that housekeeping can drop an abandoned one.
    """
    CREATE TABLE imports (
        board_id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        started_at TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX imports_by_start ON imports (started_at)
    """,
)
