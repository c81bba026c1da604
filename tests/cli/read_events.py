"""An independent reader of TensorBoard event files: TFRecord framing with masked CRC-32C checked
here bit by bit, each record parsed with Debian's python3-protobuf from code that protoc generates
from zoo's .proto (TensorBoard's field numbers). Prints one JSON summary of a folder's events:
  python3 read_events.py PROTO_FILE TB_FOLDER
{"files": N, "file_version": ..., "scalars": {tag: [[step, value], ...]}, "images": [{tag, step,
 width, height, png_width, png_height}], "texts": [{tag, step, plugin, text}], "duplicates": [...]}
Exits 1 with a message on a CRC mismatch, a torn record, or a record that is not an Event."""
import glob
import importlib
import json
import os
import struct
import subprocess
import sys
import tempfile


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked(crc):
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def records(path):
    data = open(path, "rb").read()
    at = 0
    while at < len(data):
        if len(data) - at < 12:
            sys.exit(f"{path}: torn header at byte {at}")
        length_bytes = data[at:at + 8]
        (length,) = struct.unpack("<Q", length_bytes)
        (length_crc,) = struct.unpack("<I", data[at + 8:at + 12])
        if length_crc != masked(crc32c(length_bytes)):
            sys.exit(f"{path}: length CRC mismatch at byte {at}")
        payload = data[at + 12:at + 12 + length]
        if len(payload) != length or len(data) < at + 16 + length:
            sys.exit(f"{path}: torn record at byte {at}")
        (data_crc,) = struct.unpack("<I", data[at + 12 + length:at + 16 + length])
        if data_crc != masked(crc32c(payload)):
            sys.exit(f"{path}: data CRC mismatch at byte {at}")
        yield payload
        at += 16 + length


def main():
    proto, folder = sys.argv[1], sys.argv[2]
    out = tempfile.mkdtemp()
    subprocess.run(["protoc", f"--proto_path={os.path.dirname(proto)}", f"--python_out={out}", proto], check=True)
    sys.path.insert(0, out)
    pb = importlib.import_module(os.path.splitext(os.path.basename(proto))[0] + "_pb2")
    files = sorted(glob.glob(os.path.join(folder, "*tfevents*")))
    summary = {"files": len(files), "file_version": None, "scalars": {}, "images": [], "texts": [], "duplicates": []}
    seen = set()
    for path in files:
        for payload in records(path):
            event = pb.Event()
            event.ParseFromString(payload)
            if event.WhichOneof("what") == "file_version":
                summary["file_version"] = event.file_version
                continue
            for value in event.summary.value:
                kind = value.WhichOneof("value")
                key = (value.tag, event.step, kind)
                if key in seen:
                    summary["duplicates"].append([value.tag, event.step])
                seen.add(key)
                if kind == "simple_value":
                    summary["scalars"].setdefault(value.tag, []).append([event.step, value.simple_value])
                elif kind == "image":
                    png = value.image.encoded_image_string
                    ok = png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
                    w, h = struct.unpack(">II", png[16:24]) if ok else (-1, -1)
                    summary["images"].append({"tag": value.tag, "step": event.step, "width": value.image.width,
                                              "height": value.image.height, "png_width": w, "png_height": h,
                                              "colorspace": value.image.colorspace})
                elif kind == "tensor":
                    summary["texts"].append({"tag": value.tag, "step": event.step,
                                             "plugin": value.metadata.plugin_data.plugin_name,
                                             "dtype": value.tensor.dtype,
                                             "text": value.tensor.string_val[0].decode("utf-8")})
    print(json.dumps(summary))


main()
