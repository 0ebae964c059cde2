"""Lightning module, callbacks, loggers, optimizers and run outputs."""
