"""A generated Trello board export of about a given size, written as a stream (never held
whole): for the import memory test and loadtests/import_bench.py."""

from __future__ import annotations

import json
import random
from pathlib import Path

WORDS = ("launch", "review", "copy", "design", "server", "client", "fix", "deploy", "page",
         "sprint", "budget", "invoice", "meeting", "report", "search", "mobile", "email")


def write_trello_export(path: Path, target_bytes: int, *, seed: int = 7) -> int:
    """Writes the export; returns how many open cards it holds."""
    rng = random.Random(seed)
    lists = [f"{0x5f0000000000000000000000 + n:024x}" for n in range(4)]
    cards = 0
    with path.open("w", encoding="utf-8") as out:
        out.write('{"id": "5f1a2b3c4d5e6f7a8b9c0d1e", "name": "Generated", "desc": "big",'
                  ' "labels": [], "lists": ')
        json.dump([{"id": key, "name": f"List {n}", "closed": False, "pos": (n + 1) * 1024}
                   for n, key in enumerate(lists)], out)
        out.write(', "cards": [')
        checklists, comments = [], []
        # Cards take about 70% of the file, comments and checklists the rest.
        while out.tell() < target_bytes * 0.7:
            card_id = f"{0x600000000000000000000000 + cards:024x}"
            card = {"id": card_id, "name": f"Card {cards} " + " ".join(rng.choices(WORDS, k=5)),
                    "desc": " ".join(rng.choices(WORDS, k=300)), "closed": False,
                    "idList": lists[cards % 4], "pos": rng.random() * 1e6,
                    "due": None if cards % 3 else "2026-06-01T12:00:00.000Z",
                    "labels": [{"id": "l", "name": rng.choice(WORDS), "color": "green"}]}
            out.write(("," if cards else "") + json.dumps(card))
            if cards % 5 == 0:
                checklists.append(card_id)
            if cards % 2 == 0:
                comments.append(card_id)
            cards += 1
        out.write('], "checklists": [')
        for n, card_id in enumerate(checklists):
            out.write(("," if n else "") + json.dumps({
                "id": f"c{n}", "idCard": card_id, "name": "Steps", "pos": 1,
                "checkItems": [{"id": f"i{n}-{k}", "name": f"step {k}", "pos": k,
                                "state": "complete" if k % 2 else "incomplete"}
                               for k in range(6)]}))
        out.write('], "actions": [')
        n = 0
        while out.tell() < target_bytes:
            out.write(("," if n else "") + json.dumps({
                "id": f"a{n}", "type": "commentCard", "date": "2026-02-01T08:30:00.000Z",
                "data": {"text": " ".join(rng.choices(WORDS, k=120)),
                         "card": {"id": comments[n % len(comments)]}},
                "memberCreator": {"fullName": "Grace Hopper", "username": "grace"}}))
            n += 1
        out.write('], "members": []}')
    return cards
