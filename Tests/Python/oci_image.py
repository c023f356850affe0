"""Writes a container image for the tests: an OCI image layout directory, a classic `docker save` tarball
(manifest.json) or a newer one (an OCI layout inside the tarball), from a JSON spec on stdin.

spec = {
  "format": "oci" | "docker" | "docker-oci",
  "output": path (a directory for oci, a .tar file otherwise),
  "gzip": bool (layers gzip-compressed; oci and docker-oci only),
  "config": {"Entrypoint": [...], "Cmd": [...], "WorkingDir": "...", "Env": ["A=B"]},
  "layers": [[entry, ...], ...] with entry = {"name", "type": file|dir|symlink|link|chr|fifo, "content",
             "linkname", "mode", "source" (a host file whose bytes are the content)},
  "tarFormat": "pax" | "gnu" | "ustar",
  "corrupt": "layer" (flip a byte of the first layer blob after hashing) | null
}
"""
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

TYPES = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "link": tarfile.LNKTYPE,
         "chr": tarfile.CHRTYPE, "fifo": tarfile.FIFOTYPE}
FORMATS = {"pax": tarfile.PAX_FORMAT, "gnu": tarfile.GNU_FORMAT, "ustar": tarfile.USTAR_FORMAT}


def layer_tar(entries, tar_format):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=FORMATS[tar_format]) as archive:
        for entry in entries:
            info = tarfile.TarInfo(entry["name"])
            info.type = TYPES[entry.get("type", "file")]
            info.mode = entry.get("mode", 0o755 if info.type == tarfile.DIRTYPE else 0o644)
            info.mtime = 1_700_000_000
            info.linkname = entry.get("linkname", "")
            data = None
            if info.type == tarfile.REGTYPE:
                if "source" in entry:
                    with open(entry["source"], "rb") as source:
                        data = source.read()
                else:
                    data = entry.get("content", "").encode()
                info.size = len(data)
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def main():
    spec = json.load(sys.stdin)
    tar_format = spec.get("tarFormat", "pax")
    blobs = {}

    def blob(data):
        digest = hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return digest

    layers = [layer_tar(entries, tar_format) for entries in spec["layers"]]
    diff_ids = ["sha256:" + hashlib.sha256(layer).hexdigest() for layer in layers]
    config = {"architecture": "amd64", "os": "linux", "config": spec.get("config", {}),
              "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    config_bytes = json.dumps(config).encode()
    fmt = spec["format"]
    output = spec["output"]
    if fmt == "docker":
        files = {"manifest.json": None}
        config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
        files[config_name] = config_bytes
        layer_paths = []
        for index, layer in enumerate(layers):
            path = "%02d%s/layer.tar" % (index, "0" * 62)
            files[path] = layer
            layer_paths.append(path)
        files["manifest.json"] = json.dumps(
            [{"Config": config_name, "RepoTags": ["test:latest"], "Layers": layer_paths}]).encode()
        write_tar(output, files, {})
        return
    compressed = spec.get("gzip", False)
    layer_descriptors = []
    for layer in layers:
        data = gzip.compress(layer, mtime=0) if compressed else layer
        media = "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if compressed else "")
        layer_descriptors.append({"mediaType": spec.get("layerMediaType", media), "digest": "sha256:" + blob(data),
                                  "size": len(data)})
    config_digest = blob(config_bytes)
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": "sha256:" + config_digest, "size": len(config_bytes)},
                "layers": layer_descriptors}
    manifest_bytes = json.dumps(manifest).encode()
    manifest_digest = blob(manifest_bytes)
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                            "digest": "sha256:" + manifest_digest, "size": len(manifest_bytes)}]}
    if spec.get("corrupt") == "layer":
        digest = layer_descriptors[0]["digest"][7:]
        data = bytearray(blobs[digest])
        data[len(data) // 2] ^= 0xff
        blobs[digest] = bytes(data)
    files = {"oci-layout": json.dumps({"imageLayoutVersion": "1.0.0"}).encode(),
             "index.json": json.dumps(index).encode()}
    for digest, data in blobs.items():
        files["blobs/sha256/" + digest] = data
    if fmt == "oci":
        for path, data in files.items():
            full = os.path.join(output, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "wb") as handle:
                handle.write(data)
    else:
        # Docker 25+: the OCI layout, plus manifest.json whose layer paths are links into blobs/.
        links = {}
        layer_paths = []
        for index_, descriptor in enumerate(layer_descriptors):
            path = "%02d%s/layer.tar" % (index_, "0" * 62)
            links[path] = "../blobs/sha256/" + descriptor["digest"][7:]
            layer_paths.append(path)
        files["manifest.json"] = json.dumps(
            [{"Config": "blobs/sha256/" + config_digest, "RepoTags": ["test:latest"],
              "Layers": layer_paths}]).encode()
        write_tar(output, files, links)
    print(manifest_digest)


def write_tar(output, files, links):
    with tarfile.open(output, "w", format=tarfile.PAX_FORMAT) as archive:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
        for path, target in links.items():
            info = tarfile.TarInfo(path)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            archive.addfile(info)


main()
