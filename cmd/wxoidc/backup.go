package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wxoidc/wxoidc/config"
	"github.com/wxoidc/wxoidc/storage/sqlite"
)

func newBackupCmd(env *cliEnv) *cobra.Command {
	var (
		f  adminFlags
		to string
	)
	c := &cobra.Command{
		Use:   "backup --to PATH",
		Short: "Copy the SQLite database to a new file, while servers run",
		Long: `Write a consistent copy of the configured SQLite database to the new file PATH,
while servers keep running on it: the copy holds every transaction committed
before the backup began and none after. Copying the database file yourself
while a server runs is unsafe (recent transactions live in the -wal file).

The copy is written to a temporary file next to PATH, checked (SQLite's
integrity check, and the schema of a wxoidc database), synced and only then
given its name, readable by its owner only. An existing PATH is never
overwritten.

The backup holds signing keys, WeChat session keys and phone numbers sealed
under the key-encryption key (secrets.kek): it is useless without that key,
so back the key up too, separately. For PostgreSQL use pg_dump
(docs/operations.md, "Backups").`,
		Example: `  wxoidc backup --config FILE --to $HOME/wxoidc-backup.db
  wxoidc backup --data DIR --to $HOME/wxoidc-dev-backup.db`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if to == "" {
				return usagef("need --to PATH (a new file)")
			}
			cfg, err := loadForAdmin(env, f.config, f.data)
			if err != nil {
				return err
			}
			if err := sqliteOnly(cfg, "pg_dump"); err != nil {
				return err
			}
			info, err := sqlite.Backup(cmd.Context(), cfg.Storage.DSN, to)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.stdout, "wrote %s: %d bytes, schema version %d\n", info.Path, info.Size, info.SchemaVersion)
			return nil
		},
	}
	f.registerSource(c)
	c.Flags().StringVar(&to, "to", "", "the backup file to write (must not exist)")
	_ = c.MarkFlagFilename("to")
	return c
}

func newRestoreCmd(env *cliEnv) *cobra.Command {
	var (
		f       adminFlags
		from    string
		discard bool
	)
	c := &cobra.Command{
		Use:   "restore --from PATH",
		Short: "Replace the SQLite database with a backup; servers must be stopped",
		Long: `Replace the configured SQLite database with the backup file PATH (written by
'wxoidc backup').

Stop every server, and every other command, using the database first, and
keep them stopped until restore returns: restore refuses to run while any
process has the database open. It checks the backup before touching the
database: SQLite's integrity check, and that it is a wxoidc database at a
schema version this binary knows. The backup is copied next to the database
and renamed into place, so the database is either the old one or the
restored one. The database it replaces is kept, as one complete file, as
<database>.before-restore-<UTC time>, unless --force-discard. The backup
file is not changed.

Start the servers with the key-encryption key (secrets.kek) the backup was
made under. A backup from an older release needs 'wxoidc migrate' (or
storage.migrate_on_start) before the servers use it.`,
		Example: `  wxoidc backup --config FILE --to $HOME/wxoidc-backup.db
  wxoidc restore --config FILE --from $HOME/wxoidc-backup.db`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" {
				return usagef("need --from PATH (a file written by wxoidc backup)")
			}
			cfg, err := loadForAdmin(env, f.config, f.data)
			if err != nil {
				return err
			}
			if err := sqliteOnly(cfg, "pg_restore"); err != nil {
				return err
			}
			res, err := sqlite.Restore(cmd.Context(), cfg.Storage.DSN, from, sqlite.RestoreOptions{DiscardCurrent: discard})
			if err != nil {
				return err
			}
			fmt.Fprintf(env.stdout, "restored %s from %s (schema version %d)\n", res.Path, res.From.Path, res.From.SchemaVersion)
			if res.KeptAs != "" {
				fmt.Fprintf(env.stdout, "the database it replaced is kept as %s: delete it once the restored instance works\n", res.KeptAs)
			}
			if res.From.SchemaVersion < res.LatestSchemaVersion {
				fmt.Fprintf(env.stdout, "the backup's schema version %d is older than this release's %d: run 'wxoidc migrate' before the servers start (or set storage.migrate_on_start)\n",
					res.From.SchemaVersion, res.LatestSchemaVersion)
			}
			return nil
		},
	}
	f.registerSource(c)
	c.Flags().StringVar(&from, "from", "", "the backup file to restore")
	c.Flags().BoolVar(&discard, "force-discard", false, "do not keep the database being replaced")
	_ = c.MarkFlagFilename("from")
	return c
}

// sqliteOnly refuses a configuration whose storage is not SQLite, naming
// the PostgreSQL tool to use instead. The DSN is not printed: it may hold a
// password.
func sqliteOnly(cfg *config.Config, pgTool string) error {
	if strings.HasPrefix(cfg.Storage.DSN, "sqlite://") {
		return nil
	}
	if strings.HasPrefix(cfg.Storage.DSN, "postgres://") || strings.HasPrefix(cfg.Storage.DSN, "postgresql://") {
		return fmt.Errorf("storage.dsn names a PostgreSQL database: this command handles SQLite only; use %s (docs/operations.md, \"Backups\")", pgTool)
	}
	return fmt.Errorf("storage.dsn: this command handles SQLite databases (sqlite://PATH) only")
}
