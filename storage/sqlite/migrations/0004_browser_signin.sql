-- Browser sign-in fields of a client (storage.Client, docs/contract.md §1.5).
-- Lists are JSON arrays like the other list columns; existing clients get
-- none of them, so they keep working as grant-only clients.
ALTER TABLE clients ADD COLUMN redirect_uris             TEXT    NOT NULL DEFAULT '[]';
ALTER TABLE clients ADD COLUMN post_logout_redirect_uris TEXT    NOT NULL DEFAULT '[]';
ALTER TABLE clients ADD COLUMN skip_consent              INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN backchannel_logout_uri    TEXT    NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN wechat_apps               TEXT    NOT NULL DEFAULT '[]';
