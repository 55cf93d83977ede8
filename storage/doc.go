package storage

// Conventions every backend follows beyond the method comments in
// storage.go; storage/storagetest enforces them.
//
//   - Times are returned in UTC with at least millisecond precision (both
//     backends keep microseconds). A zero time.Time is stored as "no value"
//     and read back zero.
//   - Empty and nil slices, and empty and nil byte slices, are both read
//     back as nil.
//   - A token session, login session or auth flow with a zero ExpiresAt
//     never expires: the DeleteExpired* methods leave it alone, and
//     TakeAuthFlow returns it.
//   - The DeleteExpired* methods delete oldest first, at most limit rows
//     (limit must be positive), each call one short write, so that a
//     cleanup loop never holds the write lock for long. Token and login
//     sessions are expired when ExpiresAt is before now, auth flows (like
//     assertion IDs) when it is not after now.
//   - Login-session links to clients go with their session (every delete
//     of sessions removes them) and with their client (DeleteClient).
//   - RevokeTokenSessions and RevokeSubjectTokens count the rows they
//     deleted or deactivated; refresh tokens that were already inactive are
//     not counted.
//   - CreatedAt and UpdatedAt of clients, accounts and keys are stored as the
//     caller gives them; ResolveWeChatLogin sets them from WeChatLogin.Now.
//     On every login of an existing identity it sets SessionKeyAt and
//     UpdatedAt to Now (the latest fetch), even when the key is unchanged.
//   - Updaters (UpdateClient, UpdateAccount, UpdateSigningKeys) run inside
//     the write transaction and must not call the storage themselves; an
//     updater result that changes the ID, or key sets with a duplicate KID,
//     are refused.
//   - Inside a transaction, every call must use the context BeginTx
//     returned. A write with another context waits for the transaction to
//     end on SQLite (one writer at a time), so it would deadlock.
