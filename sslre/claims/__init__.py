"""Claim machinery: the catalogue copy, verdict rules, claim statistics and the pytest plugin.

The plugin (:mod:`sslre.claims.plugin`) is loaded through the ``pytest11`` entry point; the claim tests
themselves live in ``claims/`` at the repository root (see ``claims/README.md``).
"""
from sslre.claims.catalogue import CATALOGUE, CLAIM_IDS
from sslre.claims.verdict import Decision, Verdict, combine, decide, decide_seeds, seed_noise

__all__ = ["CATALOGUE", "CLAIM_IDS", "Decision", "Verdict", "combine", "decide", "decide_seeds", "seed_noise"]
