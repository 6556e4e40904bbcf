"""What the evaluation's page generators share: writing their questions.

The generators (generate_portal.py, generate_statutes.py) shuffle their
questions with their own seeded random source, split them into a tuning
half (the fusion may be tuned on it) and a held-out half, and write each
half as JSONL, sorted by document and numbered with the set's prefix.
"""

import json


def write_split(root, questions, rng, tuning, heldout):
    """Shuffle `questions` with `rng`, write the first half to `tuning` and
    the rest to `heldout`, each a (file name, id prefix) pair under `root`;
    returns the size of the tuning half."""
    qs = list(questions)
    rng.shuffle(qs)
    half = len(qs) // 2
    for (name, prefix), part in [(tuning, qs[:half]), (heldout, qs[half:])]:
        part.sort(key=lambda q: q["document"])
        with open(root / name, "w", encoding="utf-8") as f:
            for i, q in enumerate(part, 1):
                f.write(json.dumps({"id": f"{prefix}{i:03d}", **q}, ensure_ascii=False) + "\n")
    return half
