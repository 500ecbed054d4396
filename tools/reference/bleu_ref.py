#!/usr/bin/python3
"""Independent reference for LongLM's GenerationMetrics (continue-eval's BLEU-4 and ROUGE-L).

BLEU-4 comes from Debian's python3-nltk (nltk.translate.bleu_score.corpus_bleu, uniform weights, no smoothing
function), which shares no code with LongLM and is a different implementation from the one LM-Infinite scores with
(Hugging Face evaluate's "bleu" = TensorFlow NMT compute_bleu); for one reference per prediction the two agree:
clipped n-gram counts summed over the corpus, zero if any precision is zero, BP = exp(1 - r/c) when c <= r.
Words are given already split (whitespace), so the cases test the BLEU arithmetic; the 13a tokenizer is tested in C#
by hand-written cases.

ROUGE-L is a separate, small LCS written here from the definition (Lin 2004, F with beta = 1, as rouge_score):
P = LCS/|pred|, R = LCS/|ref|, F = 2PR/(P+R). Inputs are lower-cased alphanumeric words.

Run:  /usr/bin/python3 tools/reference/bleu_ref.py > tests/LongLM.Tests/golden/bleu_rouge_ref.json
"""
import json
import re
import sys

from nltk.translate.bleu_score import corpus_bleu, modified_precision

# (name, [(prediction, reference), ...]): each case is one corpus of whitespace-split pairs.
CASES = [
    ("identical", [("the cat sat on the mat today", "the cat sat on the mat today")]),
    ("short_prediction", [("the cat sat on the mat", "the cat sat on the red mat today")]),
    ("long_prediction", [("once upon a time there was a little girl named lily who", "once upon a time there was a girl named lily")]),
    ("repeated_words_clipped", [("the the the the the the the", "the cat is on the mat")]),
    ("no_4gram_match", [("a b c d e f", "a b c x d e y f")]),
    ("corpus_two_pairs", [("he went to the park and played", "he went to the park with his dog"),
                          ("she was very happy and smiled", "she was very happy and she smiled")]),
    ("corpus_three_pairs", [("one day tim saw a big red ball in the yard", "one day tim found a big red ball near the yard"),
                            ("the sun was bright and warm", "the sun was warm"),
                            ("they all lived happily ever after the end", "and they lived happily ever after")]),
]


def lcs(a, b):
    # Plain table, written independently of the C# rolling rows.
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            table[i][j] = table[i - 1][j - 1] + 1 if a[i - 1] == b[j - 1] else max(table[i - 1][j], table[i][j - 1])
    return table[len(a)][len(b)]


def rouge_l(pred, ref):
    if not pred or not ref:
        return 0.0, 0.0, 0.0
    n = lcs(pred, ref)
    p, r = n / len(pred), n / len(ref)
    return p, r, (2 * p * r / (p + r) if p + r > 0 else 0.0)


def rouge_words(text):
    return [w for w in re.sub(r"[^a-z0-9]+", " ", text.lower()).split() if w]


def main():
    out = []
    for name, pairs in CASES:
        preds = [p.split() for p, _ in pairs]
        refs = [[r.split()] for _, r in pairs]
        bleu = corpus_bleu(refs, preds)  # default weights (0.25,)*4, no smoothing
        # Where some order has no clipped match at all, NLTK (3.8) replaces that precision by sys.float_info.min and
        # warns, so its score is tiny but not 0; evaluate/NMT (and LongLM) give exactly 0. Record which cases these are.
        zero = any(sum(modified_precision(r, p, n).numerator for r, p in zip(refs, preds)) == 0 for n in range(1, 5))
        rouge = [rouge_l(rouge_words(p), rouge_words(r)) for p, r in pairs]
        out.append({
            "name": name,
            "predictions": [p for p, _ in pairs],
            "references": [r for _, r in pairs],
            "bleu": float(bleu),
            "zero_precision": zero,
            "rouge_l": [{"p": p, "r": r, "f": f} for p, r, f in rouge],
        })
    json.dump({"source": "tools/reference/bleu_ref.py (nltk corpus_bleu %s; LCS from the definition)" % __import__("nltk").__version__,
               "cases": out}, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    import warnings
    warnings.simplefilter("ignore")
    main()
