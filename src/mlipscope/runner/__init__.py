"""The main job: sample and fit ensembles, benchmark every model on every property, analyse, report."""
