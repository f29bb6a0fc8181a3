python examples/train_seenet.py --run-dir runs/seenet
python examples/make_attention.py --checkpoint runs/seenet/model.pt --run-dir runs/attention
python examples/make_pseudo_labels.py --attention-dir runs/attention/maps --run-dir runs/labels
python examples/train_deeplab.py --labels-dir runs/labels --run-dir runs/deeplab
python examples/evaluate.py --checkpoint runs/deeplab/model.pt --run-dir runs/evaluate
