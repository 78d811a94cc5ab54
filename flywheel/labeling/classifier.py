"""The offline task-type classifier: a calibrated softmax regression over the multilingual sentence
embedding of a request and its character n-grams, trained on labelled requests kept in the
repository.

Features: the embedding says what a request is about in any language; the character n-grams
(TF-IDF of 1-3 characters) keep the words that name a task ("总结", "改写", "翻译", "def ") that
an embedding of a long request blurs. Together they beat the embedding alone in 5-fold
cross-validation on the training split (of 4,141 requests then: accuracy 0.892 alone; with the
n-grams weighted 0.5, 1, 2, 3, 4: 0.898, 0.906, 0.913, 0.916, 0.912; NGRAM_WEIGHT is the best). The subtype, a
choice inside the type, reads the embedding only, which keeps the weights small.

Data: `data/task_types.jsonl` (one request a line: text, language, task_type, task_subtype),
written by hand to cover how people ask in Chinese and English (short one-line requests, and
requests as real instruction sets hold them: with their material, role prompts, constraints,
colloquial and mixed-language), plus the taxonomy's own examples.
A custom taxonomy (FLYWHEEL_LABEL_TAXONOMY) trains on its own examples only, and says how few
they are.

Held out means held out: each example goes to the held-out split by a salted hash of its text
(the fixed seed), decided before anything else looks at the data, so adding examples never moves
old ones across the split. Held-out examples that nearly copy a training example are dropped.

A check set written apart: `data/task_types_check.jsonl` (877 requests in the style of real
instruction sets, written by someone who never saw the training data) is never trained on; its
figures are reported beside the held-out split's, as a second opinion on how far the written
training data carries. Its requests that nearly copy a training example are dropped too.

Calibration: the regression's logits are divided by one temperature, fitted on out-of-fold logits
of the training split (so it never sees the held-out split either). A label whose probability is
under FLYWHEEL_LABEL_OFFLINE_MIN_CONFIDENCE is stored as uncertain and goes to label review.

Weights: the default taxonomy's weights are committed (`data/task_types_model.npz`, refit with
`manage.py label --offline --refit --save <that path>`); any other taxonomy or embedding model is
fitted at first use and cached under FLYWHEEL_VAR_DIR. A file is used only when its fingerprint
(data, taxonomy, embedding model, classifier version) matches, so a stale file is never read.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import translation
from scipy import sparse
from scipy.optimize import minimize_scalar
from sklearn.feature_extraction.text import CountVectorizer, HashingVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.preprocessing import normalize

from flywheel.i18n import Text, shown
from flywheel.labeling.taxonomy import DEFAULT_TAXONOMY, Taxonomy
from flywheel.llm.embeddings import embed_texts, embedding_model_name, embedding_reads_chinese

logger = logging.getLogger(__name__)

CLASSIFIER_VERSION = "task-types-v2"
DATA_DIR = Path(__file__).with_name("data")
DATA_FILE = DATA_DIR / "task_types.jsonl"
MODEL_FILE = DATA_DIR / "task_types_model.npz"
CHECK_FILE = DATA_DIR / "task_types_check.jsonl"
SPLIT_SALT = "flywheel-task-types-split-1"  # the fixed seed of the held-out split: never change it
HELD_OUT_SHARE = 0.2
NEAR_COPY_JACCARD = 0.6  # character-trigram Jaccard from which a held-out example copies a training one
REGULARISATION_C = 8.0  # inverse L2 strength; chosen by cross-validation on the training split
# Below this many training examples per type the labels are a guess: a custom taxonomy says so.
ENOUGH_PER_TYPE = 40
# The classifier reads the start and the end of a long request, where people put the instruction
# ("summarise this: <article>", "<code> why does this fail?").
HEAD_CHARS, TAIL_CHARS = 300, 200
INSTRUCTION_CHARS = 200
# Character n-grams: 1-3 characters inside word boundaries, the most frequent NGRAM_MAX of those
# seen in at least two training requests, weighted against the embedding (see above).
NGRAM_RANGE = (1, 3)
NGRAM_MAX = 30000
NGRAM_WEIGHT = 3.0

_CJK = re.compile(r"[\u3400-\u9fff]")
Embed = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class Example:
    text: str
    language: str
    task_type: str
    task_subtype: str


@dataclass(frozen=True)
class Prediction:
    task_type: str
    task_subtype: str
    confidence: float
    candidates: list[tuple[str, float]]  # the likeliest types, best first


def request_view(text: str) -> str:
    """What the classifier reads of a whole request: whitespace folded, long text cut to its head
    and tail."""
    text = " ".join(unicodedata.normalize("NFKC", text or "").split())
    if len(text) <= HEAD_CHARS + TAIL_CHARS:
        return text
    return f"{text[:HEAD_CHARS]} … {text[-TAIL_CHARS:]}"


_INSTRUCTION_END = re.compile(r"[:\n]")


def instruction_view(text: str) -> str:
    """The instruction part of a request, where one can be told apart from its material: the text
    before the first colon or line break ("polish this: <paragraph>"). Read beside the whole
    request, because in an embedding of both the material drowns the instruction."""
    text = unicodedata.normalize("NFKC", text or "").strip()
    match = _INSTRUCTION_END.search(text)
    if match and match.start() >= 2:
        text = text[: match.start()]
    return " ".join(text.split())[:INSTRUCTION_CHARS]


def features(texts: list[str], embed: Embed) -> np.ndarray:
    """(N, 2D): the embedding of each whole request beside that of its instruction part."""
    whole = [request_view(t) for t in texts]
    instruction = [instruction_view(t) for t in texts]
    # Most short requests are all instruction: each distinct text is embedded once.
    distinct = list(dict.fromkeys(whole + instruction))
    if not distinct:
        return np.zeros((0, 0))
    vectors = embed(distinct)
    row = {text: i for i, text in enumerate(distinct)}
    return np.hstack([vectors[[row[t] for t in whole]], vectors[[row[t] for t in instruction]]])


@dataclass(frozen=True)
class Ngrams:
    """The character n-gram features of requests: a fixed vocabulary and its inverse document
    frequencies, fitted on the training split and stored with the weights."""

    vocabulary: list[str]
    idf: np.ndarray

    @classmethod
    def fit(cls, texts: list[str]) -> Ngrams:
        views = [request_view(t) for t in texts]
        # A small custom taxonomy has few examples: every n-gram counts there.
        min_df = 2 if len(views) >= 100 else 1
        vectorizer = TfidfVectorizer(
            analyzer="char_wb", ngram_range=NGRAM_RANGE, min_df=min_df, max_features=NGRAM_MAX, sublinear_tf=True
        )
        try:
            vectorizer.fit(views)
        except ValueError:  # no n-gram at all (empty requests): the embedding decides alone
            return cls([], np.zeros(0))
        vocabulary = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.get)
        return cls(vocabulary, vectorizer.idf_.astype(np.float64))

    def transform(self, texts: list[str]) -> sparse.csr_matrix:
        """(N, V): sublinear TF-IDF, L2-normalised, times NGRAM_WEIGHT. Computed here, the same way
        when fitting and when predicting, so stored weights always meet the features they were fit on."""
        if not self.vocabulary:
            return sparse.csr_matrix((len(texts), 0))
        counter = CountVectorizer(analyzer="char_wb", ngram_range=NGRAM_RANGE, vocabulary=self.vocabulary)
        counts = counter.transform([request_view(t) for t in texts]).astype(np.float64)
        counts.data = 1.0 + np.log(counts.data)
        return NGRAM_WEIGHT * normalize(counts @ sparse.diags(self.idf), norm="l2", copy=False).tocsr()


def text_language(text: str) -> str:
    letters = [c for c in text if c.isalnum()]
    return "zh" if letters and sum(1 for c in letters if _CJK.match(c)) / len(letters) > 0.3 else "en"


# --- data and split ------------------------------------------------------------------------------


def load_examples(path: Path, taxonomy: Taxonomy) -> list[Example]:
    """The labelled requests of a JSONL file; a line that does not fit the taxonomy is an error."""
    examples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            example = Example(
                text=str(row["text"]),
                language=str(row["language"]),
                task_type=str(row["task_type"]),
                task_subtype=str(row["task_subtype"]),
            )
            taxonomy.check(example.task_type, example.task_subtype)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ImproperlyConfigured(f"{path}:{number}: not a labelled request ({exc})") from exc
        examples.append(example)
    return examples


def taxonomy_examples(taxonomy: Taxonomy) -> list[Example]:
    return [Example(text, text_language(text), t, s) for t, s, text in taxonomy.examples()]


def is_default(taxonomy: Taxonomy) -> bool:
    return taxonomy.types is DEFAULT_TAXONOMY or taxonomy.version == Taxonomy(types=DEFAULT_TAXONOMY).version


def examples_for(taxonomy: Taxonomy) -> list[Example]:
    """The default taxonomy trains on the repository's labelled set and its own examples; a custom
    one on its own examples only (the repository's labels may mean something else there)."""
    examples = taxonomy_examples(taxonomy)
    if is_default(taxonomy):
        examples = load_examples(DATA_FILE, taxonomy) + examples
    seen, unique = set(), []
    for example in examples:
        key = _normalised(example.text)
        if key not in seen:
            seen.add(key)
            unique.append(example)
    return unique


def _normalised(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).lower().split())


def is_held_out(text: str) -> bool:
    digest = hashlib.sha256(f"{SPLIT_SALT}\0{_normalised(text)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < HELD_OUT_SHARE


@dataclass
class Split:
    train: list[Example]
    held_out: list[Example]
    near_copies_dropped: int = 0
    starved: list[str] = field(default_factory=list)  # types kept wholly for training: not measured


def split_examples(examples: list[Example]) -> Split:
    train = [e for e in examples if not is_held_out(e.text)]
    held_out = [e for e in examples if is_held_out(e.text)]
    # A type with fewer than two training examples (a small custom taxonomy) keeps all of them for
    # training: it cannot be learnt otherwise, and the report says it is not measured.
    train_counts = Counter(e.task_type for e in train)
    starved = {e.task_type for e in held_out if train_counts[e.task_type] < 2}
    train += [e for e in held_out if e.task_type in starved]
    held_out = [e for e in held_out if e.task_type not in starved]
    kept = _drop_near_copies(train, held_out)
    return Split(train=train, held_out=kept, near_copies_dropped=len(held_out) - len(kept), starved=sorted(starved))


def _drop_near_copies(train: list[Example], held_out: list[Example]) -> list[Example]:
    if not train or not held_out:
        return held_out
    trigrams = HashingVectorizer(analyzer="char", ngram_range=(3, 3), n_features=2**20, binary=True, norm=None)
    a = trigrams.transform([_normalised(e.text) for e in held_out])
    b = trigrams.transform([_normalised(e.text) for e in train])
    shared = (a @ b.T).toarray()
    sizes_a = np.asarray(a.sum(axis=1)).ravel()[:, None]
    sizes_b = np.asarray(b.sum(axis=1)).ravel()[None, :]
    jaccard = shared / np.maximum(sizes_a + sizes_b - shared, 1)
    return [e for e, row in zip(held_out, jaccard) if row.max() < NEAR_COPY_JACCARD]


# --- the model ------------------------------------------------------------------------------------


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


@dataclass
class TaskTypeModel:
    """Weights of a softmax regression over embeddings and n-grams (types) and one over
    embeddings (type/subtype pairs)."""

    types: list[str]
    coef: np.ndarray  # (K, D + V): D embedding features, then V n-grams
    intercept: np.ndarray  # (K,)
    temperature: float
    pairs: list[str]  # "type/subtype"
    pair_coef: np.ndarray  # (P, D)
    pair_intercept: np.ndarray  # (P,)
    ngrams: Ngrams
    meta: dict

    def _probabilities(self, matrix: sparse.csr_matrix) -> np.ndarray:
        """(N, K) calibrated probabilities over `types`, from `combined` features."""
        return _softmax((np.asarray(matrix @ self.coef.T) + self.intercept) / self.temperature)

    def predict(self, texts: list[str], embed: Embed) -> list[Prediction]:
        vectors = features(texts, embed)
        probabilities = self._probabilities(combined(vectors, self.ngrams.transform(texts)))
        pair_scores = vectors @ self.pair_coef.T + self.pair_intercept  # (N, P)
        out = []
        for row, scores in zip(probabilities, pair_scores):
            order = np.argsort(-row)
            task_type = self.types[int(order[0])]
            own = [i for i, pair in enumerate(self.pairs) if pair.split("/", 1)[0] == task_type]
            subtype = self.pairs[max(own, key=lambda i: scores[i])].split("/", 1)[1] if own else ""
            out.append(
                Prediction(
                    task_type=task_type,
                    task_subtype=subtype,
                    confidence=float(row[order[0]]),
                    candidates=[(self.types[int(i)], round(float(row[i]), 4)) for i in order[:3]],
                )
            )
        return out

    def save(self, path: Path) -> None:
        """Written to a temporary file and renamed, so a reader never sees half a file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as handle:
                np.savez_compressed(
                    handle,
                    types=np.array(self.types),
                    coef=self.coef.astype(np.float32),
                    intercept=self.intercept.astype(np.float32),
                    temperature=np.array(self.temperature, dtype=np.float64),
                    pairs=np.array(self.pairs),
                    pair_coef=self.pair_coef.astype(np.float32),
                    pair_intercept=self.pair_intercept.astype(np.float32),
                    ngram_vocabulary=np.array(self.ngrams.vocabulary, dtype=str),
                    ngram_idf=self.ngrams.idf.astype(np.float32),
                    meta=np.array(json.dumps(self.meta, ensure_ascii=False, sort_keys=True)),
                )
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path) -> TaskTypeModel:
        with np.load(path, allow_pickle=False) as data:
            return cls(
                types=[str(t) for t in data["types"]],
                coef=data["coef"].astype(np.float64),
                intercept=data["intercept"].astype(np.float64),
                temperature=float(data["temperature"]),
                pairs=[str(p) for p in data["pairs"]],
                pair_coef=data["pair_coef"].astype(np.float64),
                pair_intercept=data["pair_intercept"].astype(np.float64),
                ngrams=Ngrams([str(g) for g in data["ngram_vocabulary"]], data["ngram_idf"].astype(np.float64)),
                meta=json.loads(str(data["meta"])),
            )


def _regression() -> LogisticRegression:
    return LogisticRegression(C=REGULARISATION_C, max_iter=5000)


def combined(vectors: np.ndarray, ngrams: sparse.csr_matrix) -> sparse.csr_matrix:
    """The type model's input: embedding features, then n-gram features."""
    return sparse.hstack([sparse.csr_matrix(vectors), ngrams], format="csr")


def _weights(vectors, labels: list[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """A softmax regression's classes, (K, D) weights and (K,) biases; one class gets a constant."""
    classes = sorted(set(labels))
    if len(classes) == 1:
        return classes, np.zeros((1, vectors.shape[1])), np.zeros(1)
    model = _regression().fit(vectors, labels)
    coef, intercept = model.coef_, model.intercept_
    if len(classes) == 2:  # sklearn keeps one row for two classes: logit(b) - logit(a)
        coef = np.vstack([np.zeros_like(coef[0]), coef[0]])
        intercept = np.array([0.0, intercept[0]])
    return [str(c) for c in model.classes_], coef, intercept


def _temperature(vectors, labels: list[str], classes: list[str]) -> float:
    """The temperature that makes out-of-fold probabilities of the training split honest (least
    negative log-likelihood). 1.0 when there are too few examples to hold any fold out."""
    counts = Counter(labels)
    folds = min(5, min(counts.values()))
    if len(classes) < 2 or folds < 2:
        return 1.0
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    logits = cross_val_predict(_regression(), vectors, labels, cv=cv, method="decision_function")
    if logits.ndim == 1:
        logits = np.column_stack([np.zeros_like(logits), logits])
    truth = np.array([classes.index(label) for label in labels])

    def nll(temperature: float) -> float:
        probabilities = _softmax(logits / temperature)
        return float(-np.log(np.maximum(probabilities[np.arange(len(truth)), truth], 1e-12)).mean())

    return float(minimize_scalar(nll, bounds=(0.05, 20.0), method="bounded").x)


def fit(train: list[Example], *, embed: Embed, meta: dict) -> TaskTypeModel:
    texts = [e.text for e in train]
    vectors = features(texts, embed)
    ngrams = Ngrams.fit(texts)
    matrix = combined(vectors, ngrams.transform(texts))
    labels = [e.task_type for e in train]
    types, coef, intercept = _weights(matrix, labels)
    temperature = _temperature(matrix, labels, types)
    pairs, pair_coef, pair_intercept = _weights(vectors, [f"{e.task_type}/{e.task_subtype}" for e in train])
    return TaskTypeModel(types, coef, intercept, temperature, pairs, pair_coef, pair_intercept, ngrams, meta)


# --- evaluation -----------------------------------------------------------------------------------


def held_out_outcomes(model: TaskTypeModel, held_out: list[Example], *, embed: Embed) -> list[dict]:
    """One row per held-out example: its language, true and predicted type, and the confidence.
    Kept with the weights, so the report can be read at any threshold without embedding again."""
    if not held_out:
        return []
    predictions = model.predict([e.text for e in held_out], embed)
    return [
        {
            "language": e.language,
            "task_type": e.task_type,
            "predicted": p.task_type,
            "confidence": round(p.confidence, 4),
        }
        for e, p in zip(held_out, predictions)
    ]


def summarise(outcomes: list[dict], *, types: list[str], min_confidence: float) -> dict:
    """Accuracy overall, per language and per type and language (recall of the type), confusion
    matrices (rows: true type, columns: predicted) and calibration, from held-out outcomes."""
    right = [o["predicted"] == o["task_type"] for o in outcomes]
    languages = sorted({o["language"] for o in outcomes})
    labels = list(types) + sorted({o["task_type"] for o in outcomes} - set(types))

    def share(mask: list[bool]) -> dict:
        n = sum(mask)
        return {"n": n, "accuracy": round(sum(r for r, m in zip(right, mask) if m) / n, 3) if n else None}

    def confusion(language: str | None) -> list[list[int]]:
        matrix = [[0] * len(labels) for _ in labels]
        for o in outcomes:
            if language is None or o["language"] == language:
                matrix[labels.index(o["task_type"])][labels.index(o["predicted"])] += 1
        return matrix

    confident = [o["confidence"] >= min_confidence for o in outcomes]
    return {
        "n": len(outcomes),
        "accuracy": share([True] * len(outcomes))["accuracy"],
        "by_language": {lang: share([o["language"] == lang for o in outcomes]) for lang in languages},
        "by_type": {
            t: {
                "all": share([o["task_type"] == t for o in outcomes]),
                **{
                    lang: share([o["task_type"] == t and o["language"] == lang for o in outcomes]) for lang in languages
                },
            }
            for t in labels
        },
        "confusion": {"labels": labels, "all": confusion(None), **{lang: confusion(lang) for lang in languages}},
        "calibration": {
            "expected_calibration_error": _calibration_error([o["confidence"] for o in outcomes], right),
            "min_confidence": min_confidence,
            "uncertain_share": round(1 - sum(confident) / len(outcomes), 3) if outcomes else None,
            "accuracy_when_confident": share(confident)["accuracy"],
            "accuracy_when_uncertain": share([not c for c in confident])["accuracy"],
        },
    }


def _calibration_error(confidences: list[float], right: list[bool], bins: int = 10) -> float:
    """Expected calibration error: how far stated confidence is from the accuracy it comes with."""
    total = 0.0
    for low in np.linspace(0, 1, bins, endpoint=False):
        members = [(c, r) for c, r in zip(confidences, right) if low < c <= low + 1 / bins or (low == 0 and c == 0)]
        if members:
            gap = abs(np.mean([c for c, _ in members]) - np.mean([r for _, r in members]))
            total += gap * len(members) / len(confidences)
    return round(float(total), 4)


# --- the classifier a process uses ------------------------------------------------------------------


def fingerprint(taxonomy: Taxonomy) -> str:
    """What the weights depend on: change any of it and the weights are refitted."""
    digest = hashlib.sha256()
    parts = (CLASSIFIER_VERSION, SPLIT_SALT, str(REGULARISATION_C), str(NGRAM_WEIGHT), embedding_model_name())
    for part in (*parts, taxonomy.version):
        digest.update(part.encode() + b"\0")
    if is_default(taxonomy):
        digest.update(DATA_FILE.read_bytes())
        digest.update(CHECK_FILE.read_bytes())  # its figures are stored with the weights
    return digest.hexdigest()[:16]


def training_warnings(split: Split, taxonomy: Taxonomy) -> list[str]:
    """What a data engineer should know before trusting these labels. Each is stored with the
    weights as a message id and its values (flywheel.i18n), so /labeling/ shows it in the
    reader's language."""
    warnings = [
        Text("%(type)s: too few examples to hold any out, so it is not measured", type=t) for t in split.starved
    ]
    counts = Counter(e.task_type for e in split.train)
    if not is_default(taxonomy):
        fewest = min(taxonomy.type_names(), key=lambda t: counts.get(t, 0))
        warnings.insert(
            0,
            Text(
                "custom taxonomy: the offline labeler learns from its %(total)s example request(s) only "
                "(%(counts)s); the fewest is %(fewest)s with %(fewest_count)s. Below %(enough)s per type, "
                "in each language you label, expect weak task types: add examples to the taxonomy file.",
                total=sum(counts.values()),
                counts=", ".join(f"{t} {counts.get(t, 0)}" for t in taxonomy.type_names()),
                fewest=fewest,
                fewest_count=counts.get(fewest, 0),
                enough=ENOUGH_PER_TYPE,
            ),
        )
    missing = [t for t in taxonomy.type_names() if not counts.get(t)]
    if missing:
        warnings.append(
            Text("no example at all for %(types)s: the offline labeler never chooses it", types=", ".join(missing))
        )
    if not embedding_reads_chinese():
        warnings.append(Text("the embedding model reads no Chinese: Chinese requests will get poor task types"))
    return [warning.stored() for warning in warnings]


def train_and_report(taxonomy: Taxonomy, *, embed: Embed | None = None) -> TaskTypeModel:
    """Split, fit on the training split, evaluate on the held-out split; the report rides in meta."""
    embed = embed or (lambda texts: embed_texts(texts))
    split = split_examples(examples_for(taxonomy))
    if not split.train:
        raise ImproperlyConfigured(
            "the taxonomy lists no example request: the offline labeler has nothing to learn task types from"
        )
    warnings = training_warnings(split, taxonomy)
    with translation.override("en"):  # logs are read by engineers in one language
        for warning in warnings:
            logger.warning("offline labeler: %s", shown(warning))
    meta = {
        "fingerprint": fingerprint(taxonomy),
        "classifier": CLASSIFIER_VERSION,
        "embedding_model": embedding_model_name(),
        "taxonomy_version": taxonomy.version,
        "train": {"n": len(split.train), "by_type": dict(sorted(Counter(e.task_type for e in split.train).items()))},
        "near_copies_dropped": split.near_copies_dropped,
        "warnings": warnings,
    }
    model = fit(split.train, embed=embed, meta=meta)
    model.meta["held_out_outcomes"] = held_out_outcomes(model, split.held_out, embed=embed)
    if is_default(taxonomy):
        check = load_examples(CHECK_FILE, taxonomy)
        kept = _drop_near_copies(split.train, check)
        model.meta["check_outcomes"] = held_out_outcomes(model, kept, embed=embed)
        model.meta["check_near_copies_dropped"] = len(check) - len(kept)
    return model


def offline_report(model: TaskTypeModel) -> dict:
    """What `label --offline --report` prints and /labeling/ shows: the held-out figures at the
    current confidence threshold, with what the model was trained on and its warnings."""
    meta = model.meta
    check = meta.get("check_outcomes")
    return {
        "held_out": summarise(meta.get("held_out_outcomes", []), types=model.types, min_confidence=min_confidence()),
        # None for a custom taxonomy: the check set is labelled in the default one.
        "check": summarise(check, types=model.types, min_confidence=min_confidence()) if check else None,
        "check_near_copies_dropped": meta.get("check_near_copies_dropped", 0),
        "train": meta.get("train", {}),
        "near_copies_dropped": meta.get("near_copies_dropped", 0),
        "warnings": meta.get("warnings", []),
        "temperature": round(model.temperature, 4),
        "embedding_model": meta.get("embedding_model"),
        "taxonomy_version": meta.get("taxonomy_version"),
        "classifier": meta.get("classifier"),
        "fingerprint": meta.get("fingerprint"),
    }


def min_confidence() -> float:
    return settings.FLYWHEEL_LABEL_OFFLINE_MIN_CONFIDENCE


def _cache_path(key: str) -> Path:
    return Path(settings.VAR_DIR) / "labeling" / f"task-types-{key}.npz"


_lock = threading.Lock()
_models: dict[str, TaskTypeModel] = {}


def task_type_model(taxonomy: Taxonomy) -> TaskTypeModel:
    """The classifier for this taxonomy and embedding model: the committed weights when they
    match, else the ones cached under the var dir, else fitted now (seconds) and cached."""
    key = fingerprint(taxonomy)
    with _lock:
        if key in _models:
            return _models[key]
        model = None
        for path in (MODEL_FILE, _cache_path(key)):
            if path.is_file():
                candidate = TaskTypeModel.load(path)
                if candidate.meta.get("fingerprint") == key:
                    model = candidate
                    break
        if model is None:
            model = train_and_report(taxonomy)
            model.save(_cache_path(key))
        _models[key] = model
        return model


def task_type_model_refit(taxonomy: Taxonomy, *, save_to: Path | None = None) -> TaskTypeModel:
    """Fit anew from the data (ignoring any stored weights), cache it, and also write it to
    `save_to` (an engineer updating the committed weights after changing the data)."""
    model = train_and_report(taxonomy)
    key = model.meta["fingerprint"]
    model.save(_cache_path(key))
    if save_to is not None:
        model.save(save_to)
    with _lock:
        _models[key] = model
    return model
