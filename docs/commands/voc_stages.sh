# PASCAL VOC 2012, stage by stage (run from the repository root; one GPU).
# data/ holds VOCdevkit/VOC2012, data/benchmark_RELEASE is SBD, data/saliency_dss the saliency maps.
python examples/train_seenet.py --dataset voc --data-root data \
    --sbd-root data/benchmark_RELEASE --weights weights/vgg16-397923af.pth \
    --run-dir runs/train_seenet
# later stages read the data, backbone and normalisation from the earlier run's config.json
python examples/make_attention.py --checkpoint runs/train_seenet/model.pt --run-dir runs/attention
python examples/make_pseudo_labels.py --attention-dir runs/attention/maps \
    --saliency-dir data/saliency_dss --run-dir runs/pseudo_labels
python examples/train_deeplab.py --labels-dir runs/pseudo_labels \
    --weights weights/deeplab_init.pth --weights-format caffe --run-dir runs/train_deeplab
python examples/evaluate.py --checkpoint runs/train_deeplab/model.pt --crf --run-dir runs/evaluate
