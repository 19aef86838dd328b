"""Model files (registry) and the runtimes that execute them."""
