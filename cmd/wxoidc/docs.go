package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// newGenDocsCmd writes the Markdown CLI reference (docs/cli/). Hidden: it is
// for maintainers, and TestCLIReference fails when docs/cli/ is stale.
func newGenDocsCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "gen-docs DIR",
		Short:  "Write the Markdown CLI reference into DIR",
		Hidden: true,
		Args:   exactArgs(1, "one directory"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return writeReference(cmd.Root(), args[0])
		},
	}
}

// writeReference writes one Markdown page per command into dir, without the
// dated footer, so the output depends on the commands alone. Pages of
// commands that no longer exist are removed.
func writeReference(root *cobra.Command, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("reference dir: %w", err)
	}
	old, err := filepath.Glob(filepath.Join(dir, root.Name()+"*.md"))
	if err != nil {
		return err
	}
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return fmt.Errorf("remove stale page: %w", err)
		}
	}
	var noDate func(*cobra.Command)
	noDate = func(c *cobra.Command) {
		c.DisableAutoGenTag = true
		for _, sub := range c.Commands() {
			noDate(sub)
		}
	}
	noDate(root)
	if err := doc.GenMarkdownTree(root, dir); err != nil {
		return fmt.Errorf("write reference: %w", err)
	}
	return nil
}
