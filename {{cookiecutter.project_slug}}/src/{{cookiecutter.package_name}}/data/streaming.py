"""Data larger than memory: the four splits as LitData optimized datasets, streamed in shards.

    python prepare_data.py data=<any source> out=DIR      once: DIR/{train,train_dev,dev,test}/ + DIR/spec.json
    python train.py data=streaming data.dir=DIR           check.py, diagnose.py, evaluate.py, predict.py alike

prepare() runs the source through the ordinary FourSplitDataModule (splits, preprocessing
and standardization fitted on train), then writes each split with LitData's chunk writer
as its own optimized dataset; the test split lives in its own directory (the vault).
Each item is one example as every loader serves it: the standardized input, its target,
its example index. DIR/spec.json holds the data module's fitted state, the counts and
the source's config; each split's examples.npz its example indices, targets, names and
content hashes (for the disjoint-splits check), so no check ever reads all inputs.

StreamingDataModule serves the prepared splits through interface.DataInterface with
LitData's StreamingDataset / StreamingDataLoader: seeded shuffling by epoch, sharding over
loader workers and DDP ranks, and the loader's state in every checkpoint. data.dir also
takes any URL LitData streams from (s3://, gs://, azure://, r2://, hf://, local:).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import lightning as L
import numpy as np
import torch

from ..common import ConfigError
from ..tasks import task_class
from .datamodule import SPLITS, Standardizer, as_source
from .interface import DataInterface, DataSpec

FORMAT = "lightning-recipe streamed splits"
VERSION = 1
SPEC_FILE = "spec.json"
EXAMPLES_FILE = "examples.npz"  # per split, in stored order: index, y, name, hash
URL_PREFIXES = ("s3://", "gs://", "azure://", "r2://", "hf://", "local:")
MIN_CHUNKS = 16  # per split: LitData shuffles chunk order each epoch and shards by chunk
MAX_CHUNK_BYTES = 64 * 2**20  # LitData's default chunk size
logging.getLogger("litdata").setLevel(logging.WARNING)  # its cache-size notes on every dataset opened


def require_litdata() -> None:
    """LitData is the `streaming` extra (it brings torchvision and boto3, which nothing else needs)."""
    import importlib.util

    if importlib.util.find_spec("litdata") is None:
        raise ConfigError(
            "data=streaming and prepare_data.py need LitData, the project's streaming extra: "
            "pip install -e '.[streaming]' (CPU-only torch: first pip install torchvision --index-url "
            "https://download.pytorch.org/whl/cpu, as PyPI's torchvision does not load beside it)"
        )


def quiet_litdata() -> None:
    allow_plain_http_endpoint()
    # LitData gives each loader worker its own chunks, so the length Lightning warns about is
    # exact; and its tensors view read-only chunk buffers that nothing here writes to.
    warnings.filterwarnings("ignore", message=".*Your `IterableDataset` has `__len__` defined.*")
    warnings.filterwarnings("ignore", message=".*The given buffer is not writable.*")


# --------------------------------------------------------------------------- writing
def prepare(source: Callable[[], DataInterface], settings: dict, out: str, overwrite: bool = False) -> dict:
    """prepare_data.py: the splits of the data module `source()` builds (of the data config
    `settings`, resolved, kept in spec.json) as LitData datasets in `out`; returns the spec.

    Written into a sibling folder first and moved into place when complete, so an
    interrupted run never leaves a half-prepared dataset behind (nor destroys the old one).
    Each split is read once through the data module's own loader (its workers decode files
    in parallel) and written with LitData's Cache, the writer its optimize() runs in worker
    processes: optimize() would need the whole data module in each worker, and the split's
    indices from outside the data interface, to produce what the loader already yields."""
    require_litdata()
    if str(out or "").startswith("s3://"):  # written here, then uploaded, spec.json last
        bucket = _s3_writable(str(out), overwrite)
        with tempfile.TemporaryDirectory() as tmp:
            spec = _prepare_into(source, settings, Path(tmp) / "prepared", shown=str(out).rstrip("/"))
            _upload(Path(tmp) / "prepared", bucket)
    else:
        local = _writable(out, overwrite)
        spec = _prepare_into(source, settings, local, shown=str(local))
    print(
        f"prepared {sum(s['count'] for s in spec['splits'].values())} examples in {out}; "
        f"train on them: python train.py data=streaming data.dir={out}"
    )
    return spec


def _prepare_into(source: Callable[[], DataInterface], settings: dict, out: Path, shown: str) -> dict:
    if str(settings.get("_target_", "")).endswith(StreamingDataModule.__name__):
        raise ConfigError(
            "data=streaming is prepared already; prepare from a source, e.g. data=table data.path=FILE ..."
        )
    dm = source()  # the four splits and the preprocessing fitted on train
    partial = out.with_name(f".{out.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        splits = {split: _write_split(dm, split, partial / split, shown) for split in SPLITS}
        state = _plain(dm.state_dict())
        spec = {
            "format": FORMAT,
            "version": VERSION,
            "state": state,
            "source_config": settings.get("source"),
            "prepared_from": settings,
            "splits": splits,
            "id": hashlib.sha256(json.dumps([state["spec"], splits], sort_keys=True).encode()).hexdigest()[:16],
        }
        (partial / SPEC_FILE).write_text(json.dumps(spec, indent=1))
        _replace(partial, out)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return spec


def _write_split(dm: DataInterface, split: str, where: Path, shown: str) -> dict:
    """One split through the data module's own loader into LitData chunks at `where`, with its
    examples.npz (index, target, name, content hash); returns its count and hash."""
    from litdata.streaming import Cache
    from tqdm import tqdm

    # train is stored in a shuffled order: LitData shuffles chunks and items within a
    # chunk, and a source stored by class (an image folder) must not give one-class chunks.
    # The eval splits keep their index order, as every eval loader serves them.
    index, y, names, hashes, cache = [], [], [], [], None
    with tqdm(total=dm.size(split), desc=f"{split:<9}", unit="ex", dynamic_ncols=True) as bar:
        for x, yb, ib in dm.loader(split, shuffle=split == "train"):
            if cache is None:
                item_bytes = x[0].numel() * x.element_size() + 64
                per_chunk = max(1, min(math.ceil(dm.size(split) / MIN_CHUNKS), MAX_CHUNK_BYTES // item_bytes))
                cache = Cache(str(where), chunk_size=per_chunk)
            rows = x.reshape(len(x), -1).contiguous().numpy()
            for k in range(len(yb)):
                # a class id or value as a number; a multilabel row (0/1/NaN per label) as a tensor
                cache[len(index)] = {"x": x[k], "y": yb[k].item() if yb[k].ndim == 0 else yb[k], "index": int(ib[k])}
                index.append(int(ib[k]))
            y.extend(yb.tolist())
            hashes.extend(hashlib.blake2b(r.tobytes(), digest_size=16).digest() for r in rows)
            names.extend(str(d["example"]) for d in dm.describe(ib))
            bar.update(len(yb))
    cache.done()
    cache.merge()
    np.savez(
        where / EXAMPLES_FILE,
        index=np.asarray(index, dtype=np.int64),
        y=np.asarray(y),
        hash=np.asarray(hashes, dtype="S16"),
        name=np.char.encode(np.asarray(names, dtype=str), "utf-8"),
    )
    chunks = len(json.loads((where / "index.json").read_text())["chunks"])
    size = sum(f.stat().st_size for f in where.iterdir()) / 2**20
    tqdm.write(f"{split:<9} {len(index)} examples -> {shown}/{split} ({chunks} chunks, {size:.1f} MB)")
    return {"count": len(index), "hashes": hashlib.sha256(b"".join(hashes)).hexdigest()[:16]}


# --------------------------------------------------------------------------- object storage (S3 and compatibles)
def _s3(url: str):
    """(boto3 client, bucket, prefix) of s3://bucket/prefix. boto3 reads the standard AWS variables
    (AWS_ENDPOINT_URL for a compatible server, the keys, the region); nothing here stores them."""
    import boto3

    bucket, _, prefix = url[len("s3://") :].partition("/")
    return boto3.client("s3"), bucket, prefix.strip("/")


def _s3_writable(url: str, overwrite: bool) -> tuple:
    """Like _writable, for out=s3://bucket/prefix: a one-line error before anything is read."""
    client, bucket, prefix = _s3(url)
    try:
        listed = client.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/" if prefix else "")
    except Exception as e:  # noqa: BLE001 - botocore raises a class per service error
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(
            f"out={url}: cannot list the bucket ({reason}); check the bucket name, AWS_ENDPOINT_URL and the "
            "AWS credentials in the environment"
        ) from None
    keys = [o["Key"] for o in listed.get("Contents", [])]
    spec_key = f"{prefix}/{SPEC_FILE}" if prefix else SPEC_FILE
    if keys and not overwrite:
        raise ConfigError(
            f"out={url} is not empty; choose a new prefix, or pass overwrite=true to replace the dataset there"
        )
    if keys and spec_key not in keys:
        raise ConfigError(
            f"out={url} holds objects but no prepared dataset ({SPEC_FILE}); overwrite=true only replaces a "
            "dataset prepare_data.py wrote: choose a new prefix"
        )
    return client, bucket, prefix, keys


def _upload(folder: Path, target: tuple) -> None:
    """The prepared folder to the bucket. The old spec.json goes first and the new one last, so a
    reader never takes a half-uploaded dataset for a complete one; stale objects are removed."""
    client, bucket, prefix, old = target
    key = lambda path: f"{prefix}/{path}" if prefix else str(path)  # noqa: E731
    files = sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file() and p.name != SPEC_FILE)
    if key(SPEC_FILE) in old:
        client.delete_object(Bucket=bucket, Key=key(SPEC_FILE))
    for path in files:
        client.upload_file(str(folder / path), bucket, key(path.as_posix()))
    for stale in set(old) - {key(p.as_posix()) for p in files} - {key(SPEC_FILE)}:
        client.delete_object(Bucket=bucket, Key=stale)
    client.upload_file(str(folder / SPEC_FILE), bucket, key(SPEC_FILE))


def allow_plain_http_endpoint() -> None:
    """AWS_ENDPOINT_URL=http://... (a MinIO or moto on the local network): LitData 0.2.76 builds its
    obstore S3 client without allow_http, so every chunk read fails with "URL scheme is not
    allowed" (boto3, LitData's other client, takes the endpoint as it is). Turn it on then."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or ""
    if not endpoint.startswith("http://"):
        return
    from litdata.streaming import downloader

    options = getattr(downloader, "_OBSTORE_CLIENT_OPTIONS", None)
    if isinstance(options, dict) and "allow_http" not in options:
        downloader._OBSTORE_CLIENT_OPTIONS = {**options, "allow_http": True}


def _writable(out, overwrite: bool) -> Path:
    """The output folder, or a one-line error before anything is read or written."""
    if not out:
        raise ConfigError("out is missing; python prepare_data.py data=<source> out=DIR")
    if str(out).startswith(URL_PREFIXES):  # s3:// is written by prepare(); the other stores are read-only here
        raise ConfigError(
            f"out={out}: prepare_data.py writes to s3:// or a local folder; prepare locally, then upload it "
            f"with your store's tool and train with data.dir={out}"
        )
    out = Path(str(out)).expanduser().resolve()
    if out.is_file():
        raise ConfigError(f"out={out} is a file; pass a directory to prepare the dataset in")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise ConfigError(
                f"out={out} is not empty; choose a new directory, or pass overwrite=true to replace "
                "the dataset prepared there"
            )
        if not (out / SPEC_FILE).is_file():
            raise ConfigError(
                f"out={out} is not empty and holds no prepared dataset ({SPEC_FILE}); overwrite=true only "
                "replaces a dataset prepare_data.py wrote: choose a new or empty directory"
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    return out


def _replace(new: Path, out: Path) -> None:
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
    new.rename(out)
    if old is not None:
        shutil.rmtree(old)


def _plain(value):
    """JSON-ready: tensors to (nested) lists."""
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def collate_examples(items: list[dict]) -> tuple:
    """LitData items -> the (x, y, index) batch every loader of the recipe yields."""
    ys = [item["y"] for item in items]
    return (
        torch.stack([item["x"] for item in items]),
        torch.stack(ys) if torch.is_tensor(ys[0]) else torch.tensor(ys),
        torch.tensor([item["index"] for item in items]),
    )


# --------------------------------------------------------------------------- reading
class StreamingDataModule(L.LightningDataModule):
    """The prepared splits of data.dir behind interface.DataInterface.

    The spec, the standardization and the source's fitted state are the ones prepare_data.py
    saved (nothing is refitted or re-derived from the data). The test split is the vault:
    `_open` is the one door to every split's examples, and counts each opening of test.
    Checks and reports read bounded random samples (`sample`) and the saved targets and
    content hashes, never a whole split's inputs.
    """

    def __init__(
        self,
        dir: str,
        batch_size: int = 64,
        eval_batch_size: int = 1024,
        num_workers: int = 0,
        shuffle_seed: int = 0,
        task: str = "auto",
        num_classes: int | None = None,
        input_shape=None,
        cache_dir: str | None = None,
        imbalance: str = "none",
    ):
        super().__init__()
        require_litdata()
        if imbalance == "balanced_sampler":  # LitData shuffles chunks; it has no per-example weighted draw
            raise ConfigError(
                "imbalance=balanced_sampler is not available for data=streaming (LitData draws whole chunks); "
                "use imbalance=class_weights"
            )
        if not dir:
            raise ConfigError(
                "data.dir is required; python train.py data=streaming data.dir=DIR (from prepare_data.py)"
            )
        for key, value in (("batch_size", batch_size), ("eval_batch_size", eval_batch_size)):
            if int(value) < 1:
                raise ConfigError(f"data.{key}={value} must be a positive number of examples, e.g. data.{key}=64")
        if int(num_workers) < 0:
            raise ConfigError(f"data.num_workers={num_workers} must be >= 0 (0 = load in the main process)")
        if task != "auto":
            task_class(task)  # a ConfigError naming the kinds there are
        self.url = str(dir).startswith(URL_PREFIXES)
        self.dir = str(dir).rstrip("/") if self.url else str(Path(str(dir)).expanduser().resolve())
        self.batch_size, self.eval_batch_size, self.num_workers = (
            int(batch_size),
            int(eval_batch_size),
            int(num_workers),
        )
        self.shuffle_seed, self.cache_dir = int(shuffle_seed), cache_dir
        self.declared = {
            "task": None if task == "auto" else task,
            "num_classes": num_classes,
            "input_shape": None if input_shape is None else list(input_shape),
        }
        self.eval_splits = ("train_dev", "dev")
        self.test_reads = 0
        self._read_notes: list[str] = []  # what the last read_new() said (read_notes())
        self.spec: DataSpec | None = None
        self.standardizer = Standardizer("none")
        self._saved: dict | None = None  # spec.json once set up; None when restored from a checkpoint alone
        self._state: dict = {}  # the data module state: from spec.json, or the checkpoint's
        self._examples: dict[str, dict] = {}  # split -> examples.npz contents, read on first use
        self._parts = {split: (split,) for split in SPLITS}  # train = train + dev for the final model
        self._train_loader = self._loader_state = None

    # ------------------------------------------------------------------ set-up
    def setup(self, stage: str | None = None) -> None:
        quiet_litdata()
        if self._saved is not None:
            return
        saved = self._read_spec()
        missing = [s for s in SPLITS if not self._exists(f"{s}/index.json", saved["id"])]
        if missing:
            raise ConfigError(
                f"data.dir={self.dir} is incomplete: {missing[0]}/index.json is missing; prepare it again "
                "(python prepare_data.py ... overwrite=true)"
            )
        if not self.url or self.dir.startswith("s3://"):  # other stores: LitData names a missing chunk when read
            self._check_chunks(saved["id"])
        self._saved = saved
        if not self._state:
            self._restore(dict(saved["state"], id=saved["id"], source_config=saved.get("source_config")))
        elif self._state.get("id") != saved["id"]:
            self._mismatch(self._state)
        self._check_declared()

    def _check_chunks(self, prepared: str) -> None:
        """Every chunk each split's index.json lists is there, whole. Else LitData waits for it and
        ends in a timeout traceback about a hung download, and the checks would blame the net.
        In s3:// the bucket is listed once (names and sizes); nothing is downloaded for it."""
        sizes = self._s3_sizes() if self.url else None
        if self.url and sizes is None:
            return  # the bucket cannot be listed (no s3:ListBucket): LitData names a missing chunk when read
        for split in SPLITS:
            index = json.loads(Path(self._local(f"{split}/index.json", prepared)).read_text())
            for chunk in index.get("chunks", []):
                if sizes is not None:
                    size = sizes.get(f"{split}/{chunk['filename']}")
                else:
                    path = Path(self.dir) / split / chunk["filename"]
                    size = path.stat().st_size if path.is_file() else None
                if size != chunk.get("chunk_bytes", size):
                    what = (
                        "is missing" if size is None else f"is {size} bytes where its index says {chunk['chunk_bytes']}"
                    )
                    raise ConfigError(
                        f"data.dir={self.dir}: the {split} shard {split}/{chunk['filename']} {what}; prepare the data "
                        f"again (python prepare_data.py <the same data overrides> out={self.dir} overwrite=true)"
                    )

    def _s3_sizes(self) -> dict[str, int] | None:
        """{key under data.dir: size} of every object there, in one listing (pages of 1000)."""
        try:
            client, bucket, prefix = _s3(self.dir)
            pages = client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=f"{prefix}/" if prefix else ""
            )
            return {
                o["Key"][len(prefix) + 1 if prefix else 0 :]: o["Size"]
                for page in pages
                for o in page.get("Contents", [])
            }
        except Exception:  # noqa: BLE001 - botocore raises a class per service error
            return None

    def _read_spec(self) -> dict:
        hint = f"prepare it with python prepare_data.py data=<source> out={self.dir}"
        if not self.url and not Path(self.dir).is_dir():
            raise ConfigError(f"data.dir={self.dir} does not exist; {hint}")
        try:
            text = Path(self._local(SPEC_FILE, fresh=True)).read_text()
        except Exception as e:  # noqa: BLE001 - a missing remote file raises whatever its client raises
            raise ConfigError(
                f"data.dir={self.dir} is not a dataset prepared by prepare_data.py (no readable {SPEC_FILE}: "
                f"{type(e).__name__}); {hint}"
            ) from None
        try:
            saved = json.loads(text)
        except ValueError as e:
            raise ConfigError(f"data.dir={self.dir}: {SPEC_FILE} is not JSON ({e}); {hint} overwrite=true") from None
        if not isinstance(saved, dict) or saved.get("format") != FORMAT or saved.get("version") != VERSION:
            found = saved.get("version") if isinstance(saved, dict) else None
            raise ConfigError(
                f"data.dir={self.dir}: {SPEC_FILE} is not a version-{VERSION} prepared dataset spec "
                f"(found version {found}); {hint} overwrite=true"
            )
        return saved

    def _restore(self, state: dict) -> None:
        self._state = state
        self.spec = DataSpec.from_dict(state["spec"])
        self.standardizer = _standardizer(state["standardizer"])

    def _check_declared(self) -> None:
        spec, d, what = self.spec, self.declared, f"the shards in data.dir={self.dir} were prepared with"
        found = {"task": spec.task, "num_classes": spec.num_classes, "input_shape": list(spec.input_shape)}
        for key, value in d.items():
            if value is not None and value != found[key]:
                raise ConfigError(
                    f"data.{key}={value} but {what} {key} {found[key]}; set data.{key}={found[key]} or leave "
                    f"it out, or prepare the data again with the settings you want"
                )

    def _mismatch(self, state: dict) -> None:
        raise ConfigError(
            f"the checkpoint was trained on other prepared data (spec {state.get('spec', {}).get('task')}, "
            f"id {state.get('id')}) than data.dir={self.dir} holds (id {self._saved['id']}); pass the "
            "data.dir it was trained on, or prepare that data again"
        )

    # ------------------------------------------------------------------ files (local or a URL)
    def _exists(self, name: str, prepared: str) -> bool:
        try:
            return Path(self._local(name, prepared)).is_file()
        except Exception:  # noqa: BLE001 - a missing remote file raises whatever its client raises
            return False

    def _local(self, name: str, prepared: str | None = None, fresh: bool = False) -> str:
        """A local path of DIR/name: itself, or a copy downloaded with LitData's own client, kept
        per prepared dataset (its id); spec.json, which names that, is fetched anew (fresh)."""
        if not self.url:
            return str(Path(self.dir) / name)
        from litdata.streaming.downloader import get_downloader

        allow_plain_http_endpoint()
        base = Path(self.cache_dir or Path(tempfile.gettempdir()) / "streamed-splits")
        root = base / hashlib.sha1(self.dir.encode()).hexdigest()[:12]
        local = root / name if fresh else root / (prepared or self._saved["id"]) / name
        if fresh and local.is_file():
            local.unlink()
        if not local.is_file():
            local.parent.mkdir(parents=True, exist_ok=True)
            get_downloader(self.dir, str(root), []).download_file(f"{self.dir}/{name}", str(local))
        return str(local)

    def _split_dir(self, split: str) -> str:
        return f"{self.dir}/{split}"

    # ------------------------------------------------------------------ the one door
    def _open(self, split: str) -> list[dict]:
        """The stored parts of a split (their examples.npz contents); every opening of test counts."""
        if split not in SPLITS:
            raise KeyError(f"unknown split {split!r}; one of {SPLITS}")
        if self._saved is None:
            raise RuntimeError("the data module is not set up; call setup() first")
        if split == "test":
            self.test_reads += 1
        return [self._stored(part) for part in self._parts[split]]

    def _stored(self, part: str) -> dict:
        if part not in self._examples:
            with np.load(self._local(f"{part}/{EXAMPLES_FILE}"), allow_pickle=False) as f:
                stored = {k: f[k] for k in ("index", "y", "hash", "name")}
            stored["split"], stored["order"] = part, np.argsort(stored["index"], kind="stable")
            self._examples[part] = stored
        return self._examples[part]

    def _dataset(self, part: str, shuffle: bool):
        from litdata import StreamingDataset

        # Train: a full permutation within each chunk, decoded a whole chunk at a time (LitData's
        # default, windows of 256 decoded anew for each shuffled read, is 4-17x slower here).
        # Eval and random reads: one example at a time (a sample of 4096 must not decode every chunk).
        decode = {"batch_decode": "all", "item_shuffle_window": "full"} if shuffle else {"batch_decode": 0}
        return StreamingDataset(
            self._split_dir(part), shuffle=shuffle, seed=self.shuffle_seed, cache_dir=self.cache_dir, **decode
        )

    # ------------------------------------------------------------------ the interface
    def size(self, split: str) -> int:
        """How many examples a split has (from spec.json: reads nothing, so test is not counted)."""
        self._saved_or_error()
        return sum(self._saved["splits"][part]["count"] for part in self._parts[split])

    def loader(self, split: str, shuffle: bool = False, batch_size: int | None = None):
        from litdata import CombinedStreamingDataset, StreamingDataLoader

        parts = self._open(split)
        datasets = [self._dataset(p["split"], shuffle) for p in parts]
        batch_size = batch_size or (self.batch_size if shuffle else self.eval_batch_size)
        if shuffle and sum(len(p["index"]) for p in parts) % batch_size == 1:
            for dataset in datasets:  # no training batch of one example (batch norm): LitData leaves it out
                dataset.set_drop_last(True)
        data = datasets[0] if len(datasets) == 1 else CombinedStreamingDataset(datasets, seed=self.shuffle_seed)
        if shuffle:  # LitData's loader: the epoch it shuffles by, its state for resuming
            return StreamingDataLoader(
                data, batch_size=batch_size, num_workers=self.num_workers, collate_fn=collate_examples
            )
        # Eval splits: every example once, in stored order. Under DDP, LitData's loader would
        # share them out by whole batches and drop the rest (a small dev set gives rank 0
        # nothing); a plain DataLoader lets LitData share them out example by example.
        for dataset in datasets:
            dataset.set_drop_last(False)
        return torch.utils.data.DataLoader(
            data, batch_size=batch_size, num_workers=self.num_workers, collate_fn=collate_examples
        )

    def sample(self, split: str, n: int, seed: int = 0):
        """At most n random examples (seeded), read one by one: bounded whatever the split's size."""
        parts = self._open(split)
        total = sum(len(p["index"]) for p in parts)
        pick = torch.randperm(total, generator=torch.Generator().manual_seed(seed))[: min(int(n), total)].numpy()
        x, y, index = self._read(parts, pick)
        return x, y, index

    def targets(self, split: str) -> torch.Tensor:
        return _targets(np.concatenate([p["y"] for p in self._open(split)]), self.spec)

    def fingerprints(self, split: str) -> list[bytes]:
        """The content hashes prepare_data.py computed, one per example in stored order."""
        return [h for p in self._open(split) for h in p["hash"].tolist()]

    def examples(self, index) -> tuple[torch.Tensor, torch.Tensor]:
        index = np.asarray(torch.as_tensor(index, dtype=torch.long))
        if len(index) == 0:
            return torch.empty(0, *self.spec.input_shape), torch.empty(0)
        found = self._locate(index)
        x, y = torch.empty(len(index), *self.spec.input_shape), [None] * len(index)
        for part, (rows, positions) in found.items():
            xs, ys, _ = self._read([self._stored(part)], positions)
            x[rows] = xs
            for r, v in zip(rows, ys.tolist()):
                y[r] = v
        return x, _targets(np.asarray(y), self.spec)

    def describe(self, index) -> list[dict]:
        index = np.asarray(torch.as_tensor(index, dtype=torch.long))
        names = [""] * len(index)
        for part, (rows, positions) in self._locate(index).items():
            for r, name in zip(rows, self._stored(part)["name"][positions]):
                names[r] = name.decode("utf-8")
        return [{"example": name} for name in names]

    def read_new(self, path: str) -> tuple[torch.Tensor, list[str]]:
        """New inputs in the user's own form, read by the original source with its saved fitted
        state (a table's encoders, an image folder's size), then standardized as train was."""
        from hydra.utils import instantiate

        config = self._state.get("source_config")
        if config is None:
            raise ConfigError("this checkpoint holds no source config to read new inputs with; prepare the data again")
        source = as_source(instantiate(config))
        source.load_state_dict(self._state.get("source") or {})
        x, names = source.read_new(path)
        self._read_notes = list(source.read_notes)
        return self.standardizer.transform(x), names

    def read_notes(self) -> list[str]:
        return self._read_notes

    def skipped_rows(self) -> np.ndarray:
        """None here: prepare_data.py said which rows it left out when it wrote the shards."""
        return np.empty(0, dtype=np.int64)

    def _locate(self, index: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """part -> (rows of `index`, positions in that part), looking in test last and only if needed."""
        found, left = {}, np.arange(len(index))
        for part in SPLITS:
            if not len(left):
                break
            stored = self._open("test")[0] if part == "test" else self._stored(part)
            sorted_index = stored["index"][stored["order"]]
            at = np.searchsorted(sorted_index, index[left]).clip(0, max(len(sorted_index) - 1, 0))
            hit = sorted_index[at] == index[left] if len(sorted_index) else np.zeros(len(left), dtype=bool)
            if hit.any():
                found[part] = (left[hit], stored["order"][at[hit]])
            left = left[~hit]
        if len(left):
            raise KeyError(f"example index {int(index[left[0]])} is in no split of data.dir={self.dir}")
        return found

    def _read(self, parts: list[dict], positions: np.ndarray):
        """(x, y, index) of positions over the concatenated parts, read in storage order."""
        starts = np.cumsum([0] + [len(p["index"]) for p in parts])
        x = torch.empty(len(positions), *self.spec.input_shape)
        y, index = [None] * len(positions), torch.empty(len(positions), dtype=torch.long)
        for k, p in enumerate(parts):
            rows = np.flatnonzero((positions >= starts[k]) & (positions < starts[k + 1]))
            if not len(rows):
                continue
            data = self._dataset(p["split"], shuffle=False)
            for r in rows[np.argsort(positions[rows])]:  # chunk by chunk
                item = data[int(positions[r] - starts[k])]
                x[r], y[r], index[r] = item["x"], item["y"], item["index"]
        return x, _targets(np.asarray([np.asarray(v) for v in y]), self.spec), index

    def _saved_or_error(self) -> None:
        if self._saved is None:
            raise RuntimeError("the data module is not set up; call setup() first")

    # ------------------------------------------------------------------ Lightning's hooks
    def train_dataloader(self):
        loader = self.loader("train", shuffle=True)
        if self._loader_state is not None:  # resumed: the loader continues where the checkpoint left it
            loader.load_state_dict(self._loader_state)
            self._loader_state = None
        self._train_loader = loader
        return loader

    def val_dataloader(self):
        return [self.loader(name) for name in self.eval_splits]

    def test_dataloader(self):
        return self.loader("test")

    def train_on_train_and_dev(self) -> None:
        """The final model (M8): train streams train and dev together. The preprocessing stays
        the one fitted on train: it is baked into the shards (prepare again to refit it)."""
        self._parts["train"] = ("train", "dev")

    # The spec, the fitted statistics and which prepared data they belong to, in every checkpoint;
    # while training also the train loader's state (its epoch, its position). Lightning restores
    # a loader's state itself only from a checkpoint taken inside an epoch, not from last.ckpt
    # (written at an epoch's end), which would restart LitData's shuffling at epoch 1.
    def state_dict(self) -> dict:
        state = dict(self._state)
        state["standardizer"] = self.standardizer.state_dict()
        if self._train_loader is not None and self.trainer is not None and self.trainer.training:
            state["train_loader"] = self._train_loader.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        if self._saved is not None and state.get("id") != self._saved["id"]:
            self._mismatch(state)
        state = dict(state)
        self._loader_state = state.pop("train_loader", None)
        self._restore(state)


def _standardizer(state: dict) -> Standardizer:
    """A Standardizer from its saved state (lists in spec.json, tensors in a checkpoint)."""

    def tensor(v):
        return None if v is None else torch.as_tensor(v, dtype=torch.float32)

    standardizer = Standardizer(state["mode"])
    limits = state.get("input_range")
    standardizer.load_state_dict(
        {
            "mode": state["mode"],
            "mean": tensor(state["mean"]),
            "std": tensor(state["std"]),
            "input_range": None if limits is None else {k: tensor(v) for k, v in limits.items()},
        }
    )
    return standardizer


def _targets(values: np.ndarray, spec: DataSpec) -> torch.Tensor:
    """Class ids as int64, regression values and multilabel 0/1/NaN as float32: what every loader yields."""
    return torch.as_tensor(values.astype(np.int64 if task_class(spec.task).single_label else np.float32))
