"""Math answers: extraction from completions and equivalence through sympy."""
