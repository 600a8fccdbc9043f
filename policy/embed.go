// Package policy holds ActionGate's shipped default policy bundle: the Rego
// modules and data under actiongate/, embedded so that a gateway started
// without a policy directory still decides with a known, pinned revision.
// internal/policy loads and compiles it; nothing else should read FS.
package policy

import "embed"

// FS is the default bundle. Its root is this directory, so paths are
// "actiongate/authz.rego", "actiongate/data.json", ..., the same paths a
// gateway sees when pointed at this directory on disk (and therefore the
// same revision).
//
//go:embed actiongate
var FS embed.FS
