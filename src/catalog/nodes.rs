// Placeholder until the generator runs.
