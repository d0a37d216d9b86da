package cli

import "context"

func runInspect(ctx context.Context, env Env) error { return notBuilt("inspect") }
