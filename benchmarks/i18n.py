"""Report headings in the languages a site team reads; the figures and names stay as measured."""

from __future__ import annotations

HEADINGS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Benchmark",
        "verdict": "Verdict",
        "models": "Models",
        "goals": "Goals",
        "int8": "INT8 accuracy cost per class",
        "sweep": "Hand-tuned OpenVINO sweep",
        "pipeline": "Pipeline",
        "cameras": "Cameras on this box",
        "capacity": "Camera capacity: H.264 over RTSP",
        "training": "Training",
        "host": "Host",
        "plots": "Plots",
    },
    "zh-CN": {
        "title": "基准测试",
        "verdict": "结论",
        "models": "模型",
        "goals": "目标",
        "int8": "INT8 各类别精度损失",
        "sweep": "OpenVINO 手动调优扫描",
        "pipeline": "流水线",
        "cameras": "本设备可接入的摄像头",
        "capacity": "摄像头容量：RTSP H.264",
        "training": "训练",
        "host": "主机",
        "plots": "图表",
    },
}


def headings(lang: str) -> dict[str, str]:
    if lang not in HEADINGS:
        raise ValueError(f"unknown report language {lang!r}; choose from: {', '.join(HEADINGS)}")
    return HEADINGS[lang]
