-- 0001_init: every table of the storage contract (storage/storage.go).
--
-- Conventions:
--   * Optional timestamps are NULL for the zero Go time (a token session
--     without expiry never expires). Required ones (creation and request
--     times) keep the zero time as 0001-01-01 UTC, which reads back zero.
--   * Array and bytea columns are NULL for empty Go slices (storage/doc.go:
--     empty and nil slices both read back nil).
--   * No foreign keys from token sessions to clients or accounts: sessions are
--     short-lived, garbage-collected by expiry, and revoked explicitly.
--   * Indexes that serve "column = $1" lookups are not partial: a generic
--     plan for a prepared statement cannot prove $1 matches the predicate.

CREATE TABLE token_sessions (
    kind                   text        NOT NULL
        CHECK (kind IN ('access_token', 'refresh_token', 'authorize_code', 'pkce', 'oidc')),
    signature              text        NOT NULL,
    request_id             text        NOT NULL,
    requested_at           timestamptz NOT NULL,
    client_id              text        NOT NULL,
    subject                text        NOT NULL,
    requested_scopes       text[],
    granted_scopes         text[],
    requested_audience     text[],
    granted_audience       text[],
    form                   text        NOT NULL,
    session_data           bytea,
    active                 boolean     NOT NULL,
    -- Deactivated by revocation rather than rotation: no refresh grace window.
    revoked                boolean     NOT NULL DEFAULT false,
    expires_at             timestamptz,           -- NULL: never expires
    access_token_signature text        NOT NULL,
    first_used_at          timestamptz,
    PRIMARY KEY (kind, signature)
);
-- Revocation and rotation by request ID (constant along a refresh chain).
CREATE INDEX token_sessions_request_id ON token_sessions (request_id, kind);
-- Per-account revocation ("log out everywhere", account disabled).
CREATE INDEX token_sessions_subject ON token_sessions (subject, kind);
-- Garbage collection, oldest first.
CREATE INDEX token_sessions_expires_at ON token_sessions (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE clients (
    id                           text        PRIMARY KEY,
    name                         text        NOT NULL,
    secret_hash                  text        NOT NULL,
    token_endpoint_auth_method   text        NOT NULL,
    wechat_app_id                text        NOT NULL,
    grant_types                  text[],
    scopes                       text[],
    audiences                    text[],
    default_audience             text        NOT NULL,
    require_phone                boolean     NOT NULL,
    id_token_signed_response_alg text        NOT NULL,
    jwks                         bytea,
    disabled                     boolean     NOT NULL,
    created_at                   timestamptz NOT NULL,
    updated_at                   timestamptz NOT NULL
);

-- private_key_jwt assertion IDs (replay protection), kept until they expire.
CREATE TABLE client_assertion_jtis (
    jti        text        PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX client_assertion_jtis_expires_at ON client_assertion_jtis (expires_at);

CREATE TABLE accounts (
    id                text        PRIMARY KEY,
    disabled          boolean     NOT NULL,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    phone_encrypted   bytea,
    phone_hash        text        NOT NULL,
    phone_source      text        NOT NULL,
    phone_verified_at timestamptz
);
CREATE INDEX accounts_phone_hash ON accounts (phone_hash);

CREATE TABLE wechat_identities (
    app_id                          text        NOT NULL,
    open_id                         text        NOT NULL,
    account_id                      text        NOT NULL REFERENCES accounts (id),
    union_id                        text        NOT NULL,
    session_key_encrypted           bytea,
    previous_session_key_encrypted  bytea,
    session_key_at                  timestamptz,
    created_at                      timestamptz NOT NULL,
    updated_at                      timestamptz NOT NULL,
    PRIMARY KEY (app_id, open_id)
);
CREATE INDEX wechat_identities_account_id ON wechat_identities (account_id, app_id, open_id);
CREATE INDEX wechat_identities_union_id ON wechat_identities (union_id, created_at);

CREATE TABLE signing_keys (
    kid                   text        PRIMARY KEY,
    algorithm             text        NOT NULL,
    state                 text        NOT NULL CHECK (state IN ('next', 'current', 'retired', 'revoked')),
    private_key_encrypted bytea,
    public_jwk            bytea,
    created_at            timestamptz NOT NULL,
    activated_at          timestamptz,
    retired_at            timestamptz,
    remove_after          timestamptz,
    revoked_at            timestamptz
);

CREATE TABLE audit_events (
    id      bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      timestamptz NOT NULL,
    actor   text        NOT NULL,
    action  text        NOT NULL,
    target  text        NOT NULL,
    -- JSON kept verbatim (jsonb would reorder keys and change the bytes).
    details text        NOT NULL
);
