"""MLIP families (one module each) behind :class:`mlipscope.models.base.MLIPFamily`."""
