-- 0006_login_sessions: browser sign-in state (docs/contract.md §1.5): login
-- sessions and the clients each signed in to, remembered consents, and
-- authorization flows waiting on the browser's trip to WeChat. Conventions
-- as in 0001 (NULL optional times and empty arrays).

-- id is the caller's hash of the cookie value.
CREATE TABLE login_sessions (
    id           text        PRIMARY KEY,
    account_id   text        NOT NULL,
    auth_time    timestamptz,
    amr          text[],
    app_id       text        NOT NULL,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz,
    expires_at   timestamptz           -- NULL: never expires
);
-- An account's sessions, newest first; "log out everywhere".
CREATE INDEX login_sessions_account_id ON login_sessions (account_id, created_at DESC, id);
-- Cleanup, oldest first.
CREATE INDEX login_sessions_expires_at ON login_sessions (expires_at) WHERE expires_at IS NOT NULL;

-- The clients a session signed in to (back-channel logout). Links go with
-- their session (ON DELETE CASCADE: single deletes, per-account deletes and
-- cleanup alike); DeleteClient removes a client's links itself, since a
-- session may name a client that was never stored.
CREATE TABLE login_session_clients (
    session_id text NOT NULL REFERENCES login_sessions (id) ON DELETE CASCADE,
    client_id  text NOT NULL,
    PRIMARY KEY (session_id, client_id)
);
CREATE INDEX login_session_clients_client_id ON login_session_clients (client_id);

CREATE TABLE consents (
    account_id text        NOT NULL,
    client_id  text        NOT NULL,
    scopes     text[],
    granted_at timestamptz NOT NULL,
    PRIMARY KEY (account_id, client_id)
);
-- DeleteClient removes a client's consents.
CREATE INDEX consents_client_id ON consents (client_id);

-- id is the state sent to WeChat; a flow is taken (deleted) exactly once.
CREATE TABLE auth_flows (
    id           text        PRIMARY KEY,
    browser_hash bytea,
    client_id    text        NOT NULL,
    app_id       text        NOT NULL,
    request      text        NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz           -- NULL: never expires
);
CREATE INDEX auth_flows_expires_at ON auth_flows (expires_at) WHERE expires_at IS NOT NULL;
