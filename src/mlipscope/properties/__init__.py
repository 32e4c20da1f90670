"""Property families behind one interface (:mod:`mlipscope.properties.base`)."""
