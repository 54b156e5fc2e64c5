"""The tiny model's smoke task: "what is the capital of X?".

It checks the plumbing (a random 2-layer Llama learns it in a minute), not model quality.
Held out by phrasing: eval rows use question templates training never saw, so no normalised
prompt is shared; the country set is shared by design (the answer *is* the entity), which is
why the embedded default uses the extraction task instead.
"""

from __future__ import annotations

import random
from typing import Any

from configs.data import GeneratedDataConfig

CAPITALS = {
    "France": "Paris", "Germany": "Berlin", "Italy": "Rome", "Spain": "Madrid", "Portugal": "Lisbon",
    "Austria": "Vienna", "Poland": "Warsaw", "Greece": "Athens", "Norway": "Oslo", "Sweden": "Stockholm",
    "Finland": "Helsinki", "Denmark": "Copenhagen", "Ireland": "Dublin", "Hungary": "Budapest",
    "Egypt": "Cairo", "Kenya": "Nairobi", "Japan": "Tokyo", "China": "Beijing", "India": "New Delhi",
    "Peru": "Lima", "Chile": "Santiago", "Cuba": "Havana", "Canada": "Ottawa", "Mexico": "Mexico City",
    "Russia": "Moscow", "Turkey": "Ankara", "Iran": "Tehran", "Thailand": "Bangkok", "Vietnam": "Hanoi",
    "Argentina": "Buenos Aires",
}
TRAIN_TEMPLATES = (
    "What is the capital of {c}?", "Name the capital city of {c}.", "Which city is the capital of {c}?",
    "{c}: what is its capital?", "Tell me the capital of {c}.", "capital of {c}?",
    "What city serves as the capital of {c}?", "Do you know the capital of {c}?",
)
EVAL_TEMPLATES = (
    "I need the capital of {c}, please.", "Quick question: capital of {c}?",
    "What's {c}'s capital city?", "Give the capital of {c} in one word.",
)
SYSTEMS = (None, "You are a helpful assistant.", "Answer with the city name only.")


def _rows(templates: tuple[str, ...], n: int, rng: random.Random) -> list[dict[str, Any]]:
    combos = [(c, t, s) for c in CAPITALS for t in templates for s in SYSTEMS]
    rng.shuffle(combos)
    rows = []
    for i in range(n):
        country, template, system = combos[i % len(combos)]
        msgs = ([{"role": "system", "content": system}] if system else [])
        msgs += [{"role": "user", "content": template.format(c=country)},
                 {"role": "assistant", "content": CAPITALS[country]}]
        rows.append({"messages": msgs})
    return rows


def generate_capitals(cfg: GeneratedDataConfig, eval_fraction: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(train, eval) rows; `num_examples` in all, `eval_fraction` of them held out by template.
    Eval rows are distinct by prompt (a held-out set repeating a prompt weighs it twice)."""
    rng = random.Random(cfg.seed)
    n_eval = max(1, round(cfg.num_examples * eval_fraction))
    n_eval = min(n_eval, len(CAPITALS) * len(EVAL_TEMPLATES))
    train = _rows(TRAIN_TEMPLATES, cfg.num_examples - n_eval, rng)
    seen: set[str] = set()
    held = []
    for row in _rows(EVAL_TEMPLATES, len(CAPITALS) * len(EVAL_TEMPLATES) * len(SYSTEMS), rng):
        user = row["messages"][-2]["content"]
        if user not in seen:
            seen.add(user)
            held.append(row)
        if len(held) == n_eval:
            break
    return train, held
