"""sslre: the claims of *Reverse Engineering Self-Supervised Learning* as tests, kernels and a report."""
__version__ = "0.1.0"


def load_checkpoint(path):
    """Load an sslre checkpoint (see :func:`sslre.checkpoint.load_checkpoint`)."""
    from sslre.checkpoint import load_checkpoint as _load

    return _load(path)


__all__ = ["__version__", "load_checkpoint"]
