package cli

import "context"

func runGenerate(ctx context.Context, env Env) error { return notBuilt("generate") }
