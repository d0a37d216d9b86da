package cli

import "context"

func runDB(ctx context.Context, env Env) error { return notBuilt("db") }
