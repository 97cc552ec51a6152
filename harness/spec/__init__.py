"""What a suite says: the typed schema validated at the edge, and the registries its names resolve to."""
