# Several GPUs: --batch-size is the effective batch over all processes and must be a multiple of
# --micro-batch x processes (here 4 x 2 = 8; the paper's 10 fits 2 or 5 processes).
torchrun --nproc_per_node=4 examples/train_seenet.py --dataset voc --data-root data \
    --sbd-root data/benchmark_RELEASE --weights weights/vgg16-397923af.pth \
    --batch-size 8 --micro-batch 2
torchrun --nproc_per_node=2 examples/train_seenet.py --dataset voc --data-root data \
    --sbd-root data/benchmark_RELEASE --weights weights/vgg16-397923af.pth \
    --batch-size 10 --micro-batch 5
torchrun --nproc_per_node=4 examples/make_attention.py --checkpoint runs/train_seenet/model.pt
torchrun --nproc_per_node=4 examples/train_deeplab.py --labels-dir runs/pseudo_labels \
    --weights weights/deeplab_init.pth --weights-format caffe --batch-size 12 --micro-batch 1
