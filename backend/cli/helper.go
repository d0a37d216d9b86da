package cli

import "context"

func runHelper(ctx context.Context, env Env) error { return notBuilt("helper") }
