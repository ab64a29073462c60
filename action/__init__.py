"""The ccs child job: the coder -> tests loop (stdlib only; never imports service/)."""
