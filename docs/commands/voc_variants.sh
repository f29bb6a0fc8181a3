# Without SBD: the field's train_aug.txt list and SegmentationClassAug masks.
python examples/train_seenet.py --dataset voc --data-root data \
    --train-list data/VOCdevkit/VOC2012/ImageSets/Segmentation/train_aug.txt \
    --voc-labels aug --weights weights/vgg16-397923af.pth
# Without saliency maps: proxy labels from attention thresholds, refined with PAMR.
python examples/make_pseudo_labels.py --attention-dir runs/attention/maps --proxy threshold \
    --refine pamr
# The whole pipeline in one job (report.md with per-class IoU).
python examples/run_pipeline.py --dataset voc --data-root data \
    --sbd-root data/benchmark_RELEASE --saliency-dir data/saliency_dss \
    --weights weights/vgg16-397923af.pth --run-dir runs/pipeline_voc
