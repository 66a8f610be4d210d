"""Training: every setting of a run (:mod:`.config`), what one step computes per model
(:mod:`.tasks`), the loop that records every step (:mod:`.loop`) and its checkpoints
(:mod:`.checkpoint`)."""
