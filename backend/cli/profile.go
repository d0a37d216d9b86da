package cli

import "context"

func runProfile(ctx context.Context, env Env) error { return notBuilt("profile") }

func runRuns(ctx context.Context, env Env) error { return notBuilt("runs") }

func runShow(ctx context.Context, env Env) error { return notBuilt("show") }

func runExport(ctx context.Context, env Env) error { return notBuilt("export") }

func runCompare(ctx context.Context, env Env) error { return notBuilt("compare") }

func runDelete(ctx context.Context, env Env) error { return notBuilt("delete") }
