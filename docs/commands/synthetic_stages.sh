# The same stages on the embedded synthetic data (no download, CPU): check an install first.
python examples/train_seenet.py
python examples/make_attention.py
python examples/make_pseudo_labels.py
python examples/train_deeplab.py --labels-dir runs/pseudo_labels
python examples/evaluate.py
