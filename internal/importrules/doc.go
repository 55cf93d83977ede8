// Package importrules holds no code: its test keeps the import arrows of
// docs/architecture.md (cmd → web → {provider, admin} → {wechat, keys} →
// storage) true, so a wrong import fails CI instead of a later review.
package importrules
