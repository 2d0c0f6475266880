"""Data (M4, M6, M7): from your files or arrays to four splits and batches.

    interface.py   THE DATA INTERFACE: what a source gives, what every other stage may ask
    datamodule.py  four splits (or k folds), targets to class ids, the standardizer fitted on
                   train, loaders; the only module that reaches past the interface
    tables.py      data=table: CSV / TSV / Parquet (imputation, one-hot, dates), fitted on train
    images.py      data=image_folder: one folder per class, read with Pillow
    streaming.py   data=streaming: LitData shards written by prepare_data.py
    augment.py     augmentation on the batch (kornia) and mixup
    examples.py    the table and image folder make_examples.py writes

May import: common, tasks. (streaming.prepare() is handed the data module to write: build.prepare_streaming.)
Your own array sources live in user/sources.py.
"""
