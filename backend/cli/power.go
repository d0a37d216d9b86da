package cli

import "context"

func runPower(ctx context.Context, env Env) error { return notBuilt("power") }
