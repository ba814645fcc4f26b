"""The simulated centre (`motcua demo`): a whole centre on one machine through the same code paths
as real devices. Orchestration only: it starts role processes and drives role libraries."""
