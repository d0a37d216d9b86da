package cli

import "context"

func runModels(ctx context.Context, env Env) error { return notBuilt("models") }
