"""Claim machinery: the catalogue, the pre-registered decision procedure and the pytest plugin."""
from sslre.claims.catalogue import CATALOGUE, CLAIM_IDS
from sslre.claims.verdict import (ALPHA, MIN_SEEDS, Decision, Verdict, combine, decide_equivalent, decide_family,
                                  decide_seeds, seed_noise)

__all__ = ["ALPHA", "CATALOGUE", "CLAIM_IDS", "MIN_SEEDS", "Decision", "Verdict", "combine", "decide_equivalent",
           "decide_family", "decide_seeds", "seed_noise"]
