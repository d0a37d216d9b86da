package cli

import "context"

func runServe(ctx context.Context, env Env) error { return notBuilt("serve") }
