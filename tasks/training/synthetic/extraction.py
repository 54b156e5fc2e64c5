"""Structured extraction: free-text orders, support tickets and invoices -> one JSON record
with a fixed schema per kind. What users fine-tune small models for, and what SmolLM2 does
badly out of the box (free-form answers, broken or nested JSON, values reformatted).

Held out for real, by construction and checked on the rows:
- templates: each kind's sentence templates are split into training and held-out ones;
- entity values: names, products, vendors come from disjoint halves of each pool, and ids,
  prices, amounts and dates that training uses are never drawn for an eval row;
- prompts: so no normalised prompt is shared either.
Labels (currency, priority, quantity) are a closed set and are shared, as they must be.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from configs.data import GeneratedDataConfig

FIRST = ("Ana", "Ben", "Chloe", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kara", "Liam",
         "Maya", "Nikos", "Olga", "Pablo", "Quinn", "Rosa", "Sven", "Tara", "Umar", "Vera", "Wei", "Ximena",
         "Yusuf", "Zoe", "Amir", "Bianca", "Carlos", "Daria", "Emil", "Fatima")
LAST = ("Ruiz", "Okafor", "Schmidt", "Tanaka", "Rossi", "Novak", "Kowalski", "Haddad", "Larsen", "Moreau",
        "Silva", "Nguyen", "Petrov", "Fischer", "Costa", "Murphy", "Jensen", "Ibrahim", "Becker", "Laurent",
        "Mendes", "Yilmaz", "Kim", "Dubois", "Horvat", "Lindqvist", "Popescu", "Baker", "Ortega", "Weber")
PRODUCTS = ("wireless mouse", "standing desk", "USB-C hub", "office chair", "noise-cancelling headphones",
            "mechanical keyboard", "27-inch monitor", "laptop stand", "webcam", "desk lamp", "external SSD",
            "label printer", "paper shredder", "whiteboard", "coffee grinder", "water filter", "router",
            "tablet case", "phone charger", "bluetooth speaker", "ergonomic footrest", "document scanner",
            "projector", "surge protector", "smart thermostat", "security camera", "wall clock", "bookshelf")
VENDORS = ("Northwind Supplies", "Bluefield Logistics", "Acme Office GmbH", "Sunrise Print Co.", "Helix Software",
           "Greenleaf Catering", "Ironclad Security", "Pioneer Cleaning", "Atlas Freight", "Crescent Media",
           "Summit IT Services", "Harbor Electric", "Maple Furniture", "Orbit Telecom", "Riverstone Legal",
           "Keystone Consulting", "Lumen Lighting", "Vertex Labs", "Cobalt Networks", "Juniper Travel")
CURRENCIES = {"EUR": ("€{v}", "{v} EUR", "{v} euros"), "USD": ("${v}", "{v} USD", "{v} dollars"),
              "GBP": ("£{v}", "{v} GBP", "{v} pounds")}
NUMBER_WORDS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
PRIORITY_WORDS = {"low": ("no rush", "whenever you can", "not urgent"),
                  "medium": ("fairly important", "please look at it this week", "moderately urgent"),
                  "high": ("very urgent", "please fix this today", "this is critical")}

ORDER_KEYS = ("customer", "product", "quantity", "unit_price", "currency")
TICKET_KEYS = ("customer", "product", "order_id", "priority")
INVOICE_KEYS = ("vendor", "invoice_number", "amount", "currency", "due_date")
ENTITY_FIELDS = {"customer", "product", "unit_price", "order_id", "vendor", "invoice_number", "amount", "due_date"}

ORDER_TEMPLATES = (
    ("Hi, this is {customer}. I'd like to order {qty_word} units of the {product} at {price} each.",
     "{customer} ordered {qty} x {product} ({price} per unit).",
     "Please send {qty} units of the {product} to {customer}; the price is {price} apiece.",
     "New order: {product}, quantity {qty}, unit price {price}, customer {customer}.",
     "Can you ship {qty_word} x {product}? Charge {price} for each. Thanks, {customer}"),
    ("{customer} wants the {product} ({qty} pieces), each one costs {price}.",
     "Order for {customer}: {product}, {qty_word} of them, {price} a piece."),
)
TICKET_TEMPLATES = (
    ("Ticket from {customer}: my {product} stopped working (order {order_id}). {priority_text}.",
     "{customer} reports that the {product} from order {order_id} arrived broken - {priority_text}.",
     "Hello, {customer} here. Order {order_id}: the {product} will not turn on. {priority_text}!",
     "Support request. Customer: {customer}. Item: {product}. Order number {order_id}. Note: {priority_text}."),
    ("Complaint about order {order_id} by {customer}: the {product} is faulty; {priority_text}.",
     "{priority_text}: {customer} cannot use the {product} bought with order {order_id}."),
)
INVOICE_TEMPLATES = (
    ("Invoice {invoice_number} from {vendor} for {amount} is due on {due_text}.",
     "{vendor} billed us {amount} (invoice {invoice_number}); payment due {due_text}.",
     "Please pay {amount} to {vendor} by {due_text}, reference {invoice_number}.",
     "Received invoice no. {invoice_number}: {vendor}, total {amount}, due date {due_text}."),
    ("Reminder: {vendor} expects {amount} for invoice {invoice_number} before {due_text}.",
     "{amount} owed to {vendor}, invoice {invoice_number}, settle by {due_text}."),
)


@dataclass(frozen=True)
class Kind:
    name: str
    keys: tuple[str, ...]
    templates: tuple[tuple[str, ...], tuple[str, ...]]  # (training, held-out)
    make: Callable[[random.Random, dict[str, tuple[Any, ...]]], tuple[dict[str, Any], dict[str, str]]]

    @property
    def instruction(self) -> str:
        return (f"Extract the {self.name} as JSON with exactly these keys: {', '.join(self.keys)}. "
                "Answer with the JSON object only.")


def _price(rng: random.Random, low: float, high: float) -> float:
    return round(rng.uniform(low, high) * 4) / 4 if rng.random() < 0.5 else round(rng.uniform(low, high), 2)


def _money(rng: random.Random, value: float, currency: str) -> str:
    text = f"{value:,.2f}" if value >= 1000 else (f"{value:.2f}" if value != int(value) or rng.random() < .5
                                                  else str(int(value)))
    return rng.choice(CURRENCIES[currency]).format(v=text)


def _order(rng: random.Random, pools: dict[str, tuple[Any, ...]]) -> tuple[dict[str, Any], dict[str, str]]:
    qty, currency, price = rng.randint(1, 9), rng.choice(tuple(CURRENCIES)), _price(rng, 3, 900)
    rec = {"customer": f"{rng.choice(pools['first'])} {rng.choice(pools['last'])}",
           "product": rng.choice(pools["product"]), "quantity": qty, "unit_price": price, "currency": currency}
    return rec, {"qty": str(qty), "qty_word": NUMBER_WORDS[qty - 1], "price": _money(rng, price, currency)}


def _ticket(rng: random.Random, pools: dict[str, tuple[Any, ...]]) -> tuple[dict[str, Any], dict[str, str]]:
    priority = rng.choice(tuple(PRIORITY_WORDS))
    rec = {"customer": f"{rng.choice(pools['first'])} {rng.choice(pools['last'])}",
           "product": rng.choice(pools["product"]), "order_id": f"ORD-{rng.randint(10000, 99999)}",
           "priority": priority}
    return rec, {"priority_text": rng.choice(PRIORITY_WORDS[priority]).capitalize()}


def _invoice(rng: random.Random, pools: dict[str, tuple[Any, ...]]) -> tuple[dict[str, Any], dict[str, str]]:
    currency, amount = rng.choice(tuple(CURRENCIES)), _price(rng, 50, 25000)
    due = date(2025, 1, 1) + timedelta(days=rng.randint(0, 700))
    due_text = rng.choice((f"{due:%B} {due.day}, {due.year}", f"{due.day} {due:%B} {due.year}", due.isoformat()))
    rec = {"vendor": rng.choice(pools["vendor"]), "invoice_number": f"INV-{due.year}-{rng.randint(1000, 9999)}",
           "amount": amount, "currency": currency, "due_date": due.isoformat()}
    return rec, {"amount": _money(rng, amount, currency), "due_text": due_text}


KINDS = (Kind("order", ORDER_KEYS, ORDER_TEMPLATES, _order), Kind("support ticket", TICKET_KEYS, TICKET_TEMPLATES, _ticket),
         Kind("invoice", INVOICE_KEYS, INVOICE_TEMPLATES, _invoice))


def _pools(side: int) -> dict[str, tuple[Any, ...]]:
    """Half of each entity pool: side 0 for training, 1 for eval (fixed, whatever the seed)."""
    return {"first": FIRST[side::2], "last": LAST[side::2], "product": PRODUCTS[side::2], "vendor": VENDORS[side::2]}


def entity_values(record: dict[str, Any]) -> set[str]:
    """The record's entity values (names split into words), as comparable strings."""
    out: set[str] = set()
    for key, value in record.items():
        if key in ENTITY_FIELDS:
            out.add(str(value).lower())
            if key == "customer":
                out.update(w.lower() for w in str(value).split())
    return out


def _row(kind: Kind, template: str, rec: dict[str, Any], slots: dict[str, str]) -> dict[str, Any]:
    text = template.format(**{**{k: str(v) for k, v in rec.items()}, **slots})
    answer = json.dumps({k: rec[k] for k in kind.keys}, ensure_ascii=False)
    # the instruction is the system prompt (it replaces the chat template's default one, ~20
    # tokens fewer per row); the user turn is the text alone
    return {"messages": [{"role": "system", "content": kind.instruction}, {"role": "user", "content": text},
                         {"role": "assistant", "content": answer}], "kind": kind.name}


def _side(rng: random.Random, n: int, side: int, taken: set[str]) -> list[dict[str, Any]]:
    """`n` rows from templates and pools of one side; a record that reuses a value in `taken`
    (training's values, when drawing eval rows) or a prompt already drawn is redrawn."""
    pools, rows, prompts = _pools(side), [], set()
    attempts = 0
    while len(rows) < n:
        attempts += 1
        if attempts > 200 * n + 1000:
            raise ValueError(f"cannot draw {n} distinct rows; lower data.generate.num_examples")
        kind = KINDS[len(rows) % len(KINDS)]
        rec, slots = kind.make(rng, pools)
        if entity_values(rec) & taken:
            continue
        row = _row(kind, rng.choice(kind.templates[side]), rec, slots)
        prompt = " ".join(row["messages"][1]["content"].lower().split())
        if prompt in prompts:
            continue
        prompts.add(prompt)
        rows.append(row)
    return rows


def generate_extraction(cfg: GeneratedDataConfig, eval_fraction: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(train, eval) rows, `num_examples` in all; kinds interleaved, deterministic for the seed."""
    rng = random.Random(cfg.seed)
    n_eval = max(len(KINDS), round(cfg.num_examples * eval_fraction))
    train = _side(rng, cfg.num_examples - n_eval, 0, set())
    taken = set().union(*(entity_values(json.loads(r["messages"][-1]["content"])) for r in train))
    held = _side(rng, n_eval, 1, taken)
    return [{"messages": r["messages"]} for r in train], [{"messages": r["messages"]} for r in held]
