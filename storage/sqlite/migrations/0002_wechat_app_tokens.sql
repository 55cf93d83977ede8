-- The WeChat app access token (stable_token) of each appid, sealed by the
-- caller, and the lease that lets one holder refresh it while the others
-- keep using the stored token or wait for the new one. One instance uses
-- SQLite, but the stored token survives its restarts.
CREATE TABLE wechat_app_tokens (
    app_id           TEXT    PRIMARY KEY,
    token_encrypted  BLOB,                       -- NULL until the first PutAppToken
    expires_at       INTEGER,
    lease_holder     TEXT    NOT NULL DEFAULT '', -- '' when no refresh is in flight
    lease_expires_at INTEGER
) STRICT;
