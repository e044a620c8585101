"""Where the package keeps its files: the bundled checkpoints, tokenizer and evaluation set
(``assets/``) and the reference results measured on named hardware (``results/``)."""
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
ASSETS = PACKAGE / "assets"
RESULTS = PACKAGE / "results"
BUNDLED_CHECKPOINT = ASSETS / "model.pt"          # the Shakespeare model (load_model(name="shakespeare"))
DRAFT_CHECKPOINT = ASSETS / "draft.pt"            # the draft model of chapter 06 (load_model(name="draft"))
BUNDLED_TOKENIZER = ASSETS / "tokenizer.tiktoken"
EVAL_SET = ASSETS / "eval_set.json"               # prompt/reference pairs from the held-out plays
TRAIN_INFO = ASSETS / "train_info.json"           # how the bundled model was trained
