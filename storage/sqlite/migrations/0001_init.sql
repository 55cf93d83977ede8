-- The initial schema. Times are INTEGER microseconds since the Unix epoch
-- (NULL: no value); string lists are JSON arrays; booleans are 0/1.

-- Token sessions of every kind (storage.SessionKind). One table: the kinds
-- share one shape, and cleanup and per-subject revocation span kinds.
CREATE TABLE token_sessions (
    id                     INTEGER PRIMARY KEY,
    kind                   TEXT    NOT NULL,
    signature              TEXT    NOT NULL,
    request_id             TEXT    NOT NULL,
    requested_at           INTEGER,
    client_id              TEXT    NOT NULL,
    subject                TEXT    NOT NULL,
    requested_scopes       TEXT    NOT NULL,
    granted_scopes         TEXT    NOT NULL,
    requested_audience     TEXT    NOT NULL,
    granted_audience       TEXT    NOT NULL,
    form                   TEXT    NOT NULL,
    session_data           BLOB,
    active                 INTEGER NOT NULL,
    expires_at             INTEGER,
    access_token_signature TEXT    NOT NULL,
    first_used_at          INTEGER,
    UNIQUE (kind, signature)
) STRICT;
-- Revocation and rotation by request ID.
CREATE INDEX token_sessions_request ON token_sessions (request_id, kind);
-- Per-account revocation.
CREATE INDEX token_sessions_subject ON token_sessions (subject, kind);
-- Cleanup, oldest first; never-expiring rows are left out.
CREATE INDEX token_sessions_expires ON token_sessions (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE clients (
    id                           TEXT    PRIMARY KEY,
    name                         TEXT    NOT NULL,
    secret_hash                  TEXT    NOT NULL,
    token_endpoint_auth_method   TEXT    NOT NULL,
    wechat_appid                 TEXT    NOT NULL,
    grant_types                  TEXT    NOT NULL,
    scopes                       TEXT    NOT NULL,
    audiences                    TEXT    NOT NULL,
    default_audience             TEXT    NOT NULL,
    require_phone                INTEGER NOT NULL,
    id_token_signed_response_alg TEXT    NOT NULL,
    jwks                         BLOB,
    disabled                     INTEGER NOT NULL,
    created_at                   INTEGER,
    updated_at                   INTEGER
) STRICT;

-- private_key_jwt assertion IDs, kept until they expire (replay protection).
CREATE TABLE client_assertion_jtis (
    jti        TEXT    PRIMARY KEY,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX client_assertion_jtis_expires ON client_assertion_jtis (expires_at);

CREATE TABLE accounts (
    id                TEXT    PRIMARY KEY,
    disabled          INTEGER NOT NULL,
    created_at        INTEGER,
    updated_at        INTEGER,
    phone_encrypted   BLOB,
    phone_hash        TEXT    NOT NULL,
    phone_source      TEXT    NOT NULL,
    phone_verified_at INTEGER
) STRICT;
CREATE INDEX accounts_phone_hash ON accounts (phone_hash, id) WHERE phone_hash <> '';

CREATE TABLE wechat_identities (
    appid                          TEXT NOT NULL,
    openid                         TEXT NOT NULL,
    account_id                     TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    unionid                        TEXT NOT NULL,
    session_key_encrypted          BLOB,
    previous_session_key_encrypted BLOB,
    session_key_at                 INTEGER,
    created_at                     INTEGER,
    updated_at                     INTEGER,
    PRIMARY KEY (appid, openid)
) STRICT;
CREATE INDEX wechat_identities_account ON wechat_identities (account_id, appid, openid);
CREATE INDEX wechat_identities_unionid ON wechat_identities (unionid, created_at, appid, openid) WHERE unionid <> '';

CREATE TABLE signing_keys (
    kid                   TEXT PRIMARY KEY,
    algorithm             TEXT NOT NULL,
    state                 TEXT NOT NULL,
    private_key_encrypted BLOB,
    public_jwk            BLOB,
    created_at            INTEGER,
    activated_at          INTEGER,
    retired_at            INTEGER,
    remove_after          INTEGER,
    revoked_at            INTEGER
) STRICT;

-- AUTOINCREMENT: IDs are never reused, so paging by ID stays stable.
CREATE TABLE audit_events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    details TEXT NOT NULL
) STRICT;
