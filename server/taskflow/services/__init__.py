"""The product's rules: who may do what, and what every change records and announces."""
