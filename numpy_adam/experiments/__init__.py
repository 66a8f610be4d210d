"""Experiments: the note's reproduction plan (:mod:`.plan`) and running it (:mod:`.reproduce`),
the measures behind the figures (:mod:`.analysis`) and the summary (:mod:`.summary`), and the
benchmark (:mod:`.bench`)."""
