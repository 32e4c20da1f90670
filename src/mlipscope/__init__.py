"""mlipscope: how well do machine-learning interatomic potentials really perform?"""

__version__ = "0.1.0"
