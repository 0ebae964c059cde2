"""Reading runs back: plots, tables."""
