package cli

import "context"

func runTokenize(ctx context.Context, env Env) error { return notBuilt("tokenize") }
