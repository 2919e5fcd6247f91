"""Object detection: readers (YOLO txt, COCO JSON, Pascal VOC XML), torchvision detectors, COCO mAP."""
