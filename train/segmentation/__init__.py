"""Semantic segmentation: image + mask folders, torchvision segmenters, mIoU and per-class IoU."""
