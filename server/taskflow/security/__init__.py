"""Password hashing and token helpers; no business rules."""
