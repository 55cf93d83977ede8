package admin

import "context"

// Actor is who asked for a change, as the audit log names it.
type Actor struct {
	// Name is the audit log's actor: "cli", "rotation", or
	// "admin-api:<token name>".
	Name string
}

// Actors other than admin tokens.
var (
	ActorCLI      = Actor{Name: "cli"}
	ActorRotation = Actor{Name: "rotation"} // the key lifecycle: bootstrap, automatic rotation, cleanup
)

// APIActor is the caller authenticated by the admin token named tokenName.
func APIActor(tokenName string) Actor { return Actor{Name: "admin-api:" + tokenName} }

type actorKey struct{}

// WithActor returns ctx carrying a: the HTTP layer sets it after
// authenticating a token, the CLI for its own commands.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the Actor ctx carries, if any.
func ActorFrom(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(Actor)
	return a, ok && a.Name != ""
}

// actorOf is the Actor of a change; a change without one is refused.
func actorOf(ctx context.Context) (Actor, error) {
	a, ok := ActorFrom(ctx)
	if !ok {
		return Actor{}, ErrNoActor
	}
	return a, nil
}

// ConsoleActor is an admin signed in to the web console with the admin
// token named tokenName. It is told apart from API calls made with the same
// token so that the audit log shows where a change was made.
func ConsoleActor(tokenName string) Actor { return Actor{Name: "admin-console:" + tokenName} }
