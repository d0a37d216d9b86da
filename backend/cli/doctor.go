package cli

import "context"

func runDoctor(ctx context.Context, env Env) error { return notBuilt("doctor") }
