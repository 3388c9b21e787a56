"""What a feedback label means: the words users send for a good or a bad answer (case-folded).

One list for every reader of feedback: the fine-tuning export (an output rated good is an example)
and the canary comparison (the share of rated calls judged good on each side)."""

GOOD_LABELS = frozenset({"good", "thumbs_up", "thumbsup", "up", "correct", "positive", "yes", "pass", "accepted"})
BAD_LABELS = frozenset({"bad", "thumbs_down", "thumbsdown", "down", "wrong", "incorrect", "negative", "no", "fail",
                        "rejected"})
