-- Browser sign-in state (docs/contract.md §1.5): login sessions and the
-- clients each signed in to, remembered consents, and authorization flows
-- waiting on the browser's trip to WeChat. Times are microseconds (NULL: no
-- value), lists JSON arrays, as in 0001.

-- id is the caller's hash of the cookie value.
CREATE TABLE login_sessions (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL,
    auth_time    INTEGER,
    amr          TEXT NOT NULL,
    appid        TEXT NOT NULL,
    created_at   INTEGER,
    last_seen_at INTEGER,
    expires_at   INTEGER             -- NULL: never expires
) STRICT;
-- An account's sessions, newest first; "log out everywhere".
CREATE INDEX login_sessions_account ON login_sessions (account_id, created_at DESC, id);
-- Cleanup, oldest first; never-expiring rows are left out.
CREATE INDEX login_sessions_expires ON login_sessions (expires_at) WHERE expires_at IS NOT NULL;

-- The clients a session signed in to (back-channel logout). Links go with
-- their session (ON DELETE CASCADE: single deletes, per-account deletes and
-- cleanup alike); DeleteClient removes a client's links itself, since a
-- session may name a client that was never stored.
CREATE TABLE login_session_clients (
    session_id TEXT NOT NULL REFERENCES login_sessions (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL,
    PRIMARY KEY (session_id, client_id)
) STRICT;
CREATE INDEX login_session_clients_client ON login_session_clients (client_id);

CREATE TABLE consents (
    account_id TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    scopes     TEXT NOT NULL,
    granted_at INTEGER,
    PRIMARY KEY (account_id, client_id)
) STRICT;
-- DeleteClient removes a client's consents.
CREATE INDEX consents_client ON consents (client_id);

-- id is the state sent to WeChat; a flow is taken (deleted) exactly once.
CREATE TABLE auth_flows (
    id           TEXT PRIMARY KEY,
    browser_hash BLOB,
    client_id    TEXT NOT NULL,
    appid        TEXT NOT NULL,
    request      TEXT NOT NULL,
    created_at   INTEGER,
    expires_at   INTEGER             -- NULL: never expires
) STRICT;
CREATE INDEX auth_flows_expires ON auth_flows (expires_at) WHERE expires_at IS NOT NULL;
