from pathlib import Path

from emolens.data.fer2013 import load_split
from emolens.export.quantize import quantize_model
from emolens.models.bundled import resolve_model
from emolens.runtime.recognizer import Recognizer


def test_int8_copy_keeps_metadata_and_agrees_with_float(fer_root: Path, tmp_path: Path) -> None:
    val = load_split(fer_root, "val")
    fp32 = Recognizer(resolve_model("emolens-vgg-fer2013-fp32"), tta="none")
    out = quantize_model(fp32.path, tmp_path / "q.onnx", val.images[:128])
    q = Recognizer(out, tta="none")
    assert q.labels == fp32.labels and q.meta.version.endswith("-int8") and q.meta.name == "q"
    assert out.stat().st_size < 0.4 * fp32.path.stat().st_size
    faces = val.images[500:900]
    agree = (q.predict_faces(faces).argmax(1) == fp32.predict_faces(faces).argmax(1)).mean()
    assert agree > 0.9, agree
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind
