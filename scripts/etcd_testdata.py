#!/usr/bin/env python3
"""Helpers for scripts/make-testdata.sh (standard library only).

Subcommands:
  freeports N                  print N distinct free TCP ports on 127.0.0.1
  grant PORT ID TTL            LeaseGrant with a fixed lease ID (grpc-gateway JSON API)
  put PORT KEYHEX VALHEX [LEASE]
                               one put with arbitrary bytes (hex-encoded key/value)
  basic-binary PORT            the binary (non-UTF-8) puts of the basic scenario
  large PORT ROUNDS NKEYS      ROUNDS*NKEYS sequential small puts, keep-alive connection
  big PORT NAME SIZE SEED      put a deterministic patterned value of SIZE bytes at key NAME
  check-trailer FILE           exit 1 unless size % 512 == 32 and the last 32 bytes are
                               sha256 of the rest
  bbolt-info FILE [BUCKET]     print page size, high-water mark, meta/consistent_index,
                               meta/term, the meta bucket's key names, meta/storageVersion
                               (3.6+), depth of BUCKET's B+tree (default "key") and its
                               overflow page count, as key=value
  seq-put PORT PREFIX COUNT    COUNT sequential puts PREFIX%05d = v<i> (keep-alive connection)
  trim-wal FILE                truncate a WAL file after its last record frame (only zeros are
                               removed); prints old and new size
  trim-db FILE                 truncate a bbolt file after max(high-water mark * page size, last
                               non-zero byte rounded up to a page): bbolt 1.4+/etcd 3.6+ grow a
                               small db file to ~16 MiB of zeros; only zero bytes are removed;
                               prints old and new size
  trim-zeros FILE [ALIGN]      truncate FILE after its last non-zero byte, rounded up to ALIGN
                               (default 8); prints old and new size
  bucket-keys FILE BUCKET      print the keys of a top-level bucket, one a line (UTF-8, else hex)
  wal-metadata FILE            print node_id and cluster_id of the WAL's metadata record (the
                               first record of type 2 in the file), as key=value
  hash PORT [USER PASSWORD]    print the JSON response of POST /v3/maintenance/hash
                               (Maintenance.Hash; etcdctl has no command for it)
  json-kv FILE NAME=PATH[=DEFAULT]...
                               print NAME=<value> lines (same PATH syntax as json-get)
  json-get FILE PATH [DEFAULT] print a value from a JSON file (PATH like 0.Status.header.revision);
                               DEFAULT is printed when the path is absent (Go omits zero values)

The JSON API paths used (/v3/kv/put, /v3/lease/grant) are served by etcd 3.4 through 3.7.
"""
import base64
import hashlib
import http.client
import json
import os
import socket
import struct
import sys


def freeports(n):
    socks = []
    ports = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    print(" ".join(str(p) for p in ports))


class Client:
    def __init__(self, port):
        self.port = int(port)
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def post(self, path, obj):
        body = json.dumps(obj)
        for attempt in range(2):
            try:
                self.conn.request("POST", path, body, {"Content-Type": "application/json"})
                r = self.conn.getresponse()
                data = r.read()
                break
            except (http.client.HTTPException, ConnectionError):
                if attempt:
                    raise
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        if r.status != 200:
            raise SystemExit("POST %s -> HTTP %d: %s" % (path, r.status, data[:500]))
        out = json.loads(data)
        if "error" in out or "code" in out:
            raise SystemExit("POST %s -> error: %s" % (path, out))
        return out

    def put(self, key, value, lease=None):
        req = {"key": base64.b64encode(key).decode(), "value": base64.b64encode(value).decode()}
        if lease:
            req["lease"] = str(lease)
        return self.post("/v3/kv/put", req)

    def grant(self, lease_id, ttl):
        out = self.post("/v3/lease/grant", {"ID": str(lease_id), "TTL": str(ttl)})
        if int(out.get("ID", 0)) != int(lease_id):
            raise SystemExit("lease grant returned %s" % out)
        return out


def rev_of(resp):
    return int(resp["header"]["revision"])


def patterned(name, size, seed):
    """Deterministic, compressible (text) value of exactly size bytes."""
    out = bytearray()
    i = 0
    while len(out) < size:
        out += ("%s seed=%s line=%07d offset=%09d\n" % (name, seed, i, len(out))).encode()
        i += 1
    return bytes(out[:size])


class Bolt:
    """Minimal read-only bbolt reader (enough for facts written into manifests)."""

    MAGIC = 0xED0CDAED

    def __init__(self, path):
        with open(path, "rb") as f:
            self.data = f.read()
        m0 = self._meta_at(0)
        if m0["magic"] != self.MAGIC:
            raise SystemExit("%s: not a bbolt file (bad magic in page 0)" % path)
        self.ps = m0["psize"]
        m1 = self._meta_at(self.ps)
        self.meta = m1 if (m1["magic"] == self.MAGIC and m1["txid"] > m0["txid"]) else m0

    def _meta_at(self, off):
        m = self.data[off + 16:off + 16 + 64]
        magic, version, psize, flags, root, seq, freelist, pgid, txid, csum = struct.unpack("<IIIIQQQQQQ", m)
        return dict(magic=magic, version=version, psize=psize, root=root, freelist=freelist,
                    pgid=pgid, txid=txid)

    def page(self, pgid):
        off = pgid * self.ps
        pid, flags, count, overflow = struct.unpack("<QHHI", self.data[off:off + 16])
        return off, flags, count, overflow

    @staticmethod
    def _elems(buf, off, flags, count):
        """(is_leaf, items): leaf items (eflags, k, v); branch items (k, child)."""
        out = []
        for i in range(count):
            eoff = off + 16 + i * 16
            if flags & 0x01:
                pos, ksize, child = struct.unpack("<IIQ", buf[eoff:eoff + 16])
                out.append((buf[eoff + pos:eoff + pos + ksize], child))
            else:
                eflags, pos, ksize, vsize = struct.unpack("<IIII", buf[eoff:eoff + 16])
                k = buf[eoff + pos:eoff + pos + ksize]
                out.append((eflags, k, buf[eoff + pos + ksize:eoff + pos + ksize + vsize]))
        return not (flags & 0x01), out

    def iter_tree(self, pgid):
        off, flags, count, overflow = self.page(pgid)
        if not flags & 0x03:
            raise SystemExit("unexpected page flags %#x at page %d" % (flags, pgid))
        leaf, items = self._elems(self.data, off, flags, count)
        if leaf:
            yield from items
        else:
            for k, child in items:
                yield from self.iter_tree(child)

    def iter_bucket_value(self, bval):
        root, seq = struct.unpack("<QQ", bval[:16])
        if root == 0:  # inline bucket: a leaf page follows the 16-byte header
            buf = bval[16:]
            pid, flags, count, overflow = struct.unpack("<QHHI", buf[:16])
            yield from self._elems(buf, 0, flags, count)[1]
        else:
            yield from self.iter_tree(root)

    def bucket(self, name):
        for eflags, k, v in self.iter_tree(self.meta["root"]):
            if k == name and eflags & 0x01:
                return v
        return None

    def get(self, bucket, key):
        b = self.bucket(bucket)
        if b is None:
            return None
        for eflags, k, v in self.iter_bucket_value(b):
            if k == key:
                return v
        return None

    def tree_stats(self, pgid):
        stats = dict(depth=0, entries=0, branch_nodes=0, leaf_nodes=0, pages=0,
                     overflowed_nodes=0, overflow_pages=0)

        def walk(pgid, depth):
            off, flags, count, overflow = self.page(pgid)
            stats["pages"] += 1 + overflow
            if overflow:
                stats["overflow_pages"] += overflow
                stats["overflowed_nodes"] += 1
            stats["depth"] = max(stats["depth"], depth)
            if flags & 0x01:
                stats["branch_nodes"] += 1
                for k, child in self._elems(self.data, off, flags, count)[1]:
                    walk(child, depth + 1)
            elif flags & 0x02:
                stats["leaf_nodes"] += 1
                stats["entries"] += count
            else:
                raise SystemExit("unexpected page flags %#x at page %d" % (flags, pgid))
        walk(pgid, 1)
        return stats


def bbolt_info(path, bucket=b"key"):
    db = Bolt(path)
    print("page_size=%d" % db.ps)
    print("meta_txid=%d" % db.meta["txid"])
    print("high_water_pgid=%d" % db.meta["pgid"])
    print("tx_size=%d" % (db.meta["pgid"] * db.ps))
    print("file_size=%d" % len(db.data))
    name = bucket.decode()
    ci = db.get(b"meta", b"consistent_index")
    if ci is not None and len(ci) == 8:
        print("meta_consistent_index=%d" % struct.unpack(">Q", ci)[0])
    term = db.get(b"meta", b"term")
    if term is not None and len(term) == 8:
        print("meta_term=%d" % struct.unpack(">Q", term)[0])
    meta = db.bucket(b"meta")
    if meta is not None:
        keys = sorted(k.decode("utf-8", "backslashreplace") for _, k, _ in db.iter_bucket_value(meta))
        print("meta_keys=%s" % ",".join(keys))
    sv = db.get(b"meta", b"storageVersion")
    if sv is not None:  # etcd 3.6+: meta/storageVersion (absent in 3.5 and older)
        print("meta_storage_version=%s" % (sv.decode("utf-8", "backslashreplace") or "(empty)"))
    bval = db.bucket(bucket)
    if bval is None:
        print("bucket_%s=missing" % name)
        return
    root, seq = struct.unpack("<QQ", bval[:16])
    if root == 0:
        print("bucket_%s_inline=1" % name)
        print("bucket_%s_entries=%d" % (name, sum(1 for _ in db.iter_bucket_value(bval))))
        return
    stats = db.tree_stats(root)
    for k in ("depth", "entries", "branch_nodes", "leaf_nodes", "pages", "overflowed_nodes",
              "overflow_pages"):
        print("bucket_%s_%s=%d" % (name, k, stats[k]))


def bucket_keys(path, bucket):
    db = Bolt(path)
    b = db.bucket(bucket)
    if b is None:
        raise SystemExit("%s: no bucket %r" % (path, bucket))
    for _, k, _ in db.iter_bucket_value(b):
        try:
            print(k.decode("utf-8"))
        except UnicodeDecodeError:
            print("hex:" + k.hex())


def _varint(buf, off):
    shift = val = 0
    while True:
        if off >= len(buf):
            raise SystemExit("truncated varint")
        b = buf[off]
        off += 1
        val |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return val, off


def _proto_fields(buf):
    """(field number, wire type, value) of a protobuf message; value is int or bytes."""
    off = 0
    while off < len(buf):
        tag, off = _varint(buf, off)
        num, wt = tag >> 3, tag & 7
        if wt == 0:
            val, off = _varint(buf, off)
        elif wt == 2:
            n, off = _varint(buf, off)
            val = buf[off:off + n]
            off += n
        elif wt == 5:
            val = buf[off:off + 4]
            off += 4
        elif wt == 1:
            val = buf[off:off + 8]
            off += 8
        else:
            raise SystemExit("unsupported wire type %d" % wt)
        yield num, wt, val


def wal_metadata(path):
    """walpb.Record{type=1, crc=2, data=3}; metadataType = 1; etcdserverpb.Metadata{NodeID=1, ClusterID=2}."""
    with open(path, "rb") as f:
        data = f.read()
    off = 0
    while off + 8 <= len(data):
        (lenf,) = struct.unpack("<Q", data[off:off + 8])
        if lenf == 0:
            break
        rec = lenf & ~(0xFF << 56)
        pad = (lenf >> 56) & 0x7 if lenf & (1 << 63) else 0
        body = data[off + 8:off + 8 + rec]
        off += 8 + rec + pad
        fields = {num: val for num, _, val in _proto_fields(body)}
        if fields.get(1) == 1:
            meta = {num: val for num, _, val in _proto_fields(fields.get(3, b""))}
            print("node_id=%d (0x%x)" % (meta.get(1, 0), meta.get(1, 0)))
            print("cluster_id=%d (0x%x)" % (meta.get(2, 0), meta.get(2, 0)))
            return 0
    raise SystemExit("%s: no metadata record" % path)


def check_trailer(path):
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        data = f.read()
    if size % 512 != 32:
        print("%s: size %d, size %% 512 = %d (want 32)" % (path, size, size % 512))
        return 1
    if hashlib.sha256(data[:-32]).digest() != data[-32:]:
        print("%s: last 32 bytes are not sha256 of the rest" % path)
        return 1
    print("%s: trailer OK (size %d, sha256 %s)" % (path, size, data[-32:].hex()))
    return 0


def trim_wal(path):
    """Cut a WAL segment (or an all-zero preallocated .tmp) after its last record frame.

    Frames are: u64 little-endian length word (low 56 bits = record bytes, top byte
    0x80|pad when padded), the record, pad zero bytes. A zero length word ends the
    records. The cut point is the end of the last complete frame, but never before the
    last non-zero byte rounded up to 8 (so nothing but zeros is ever removed, even if a
    record ended in zero bytes or the tail were torn).
    """
    with open(path, "rb") as f:
        data = f.read()
    off = 0
    while off + 8 <= len(data):
        (lenf,) = struct.unpack("<Q", data[off:off + 8])
        if lenf == 0:
            break
        rec = lenf & ~(0xFF << 56)
        pad = (lenf >> 56) & 0x7 if lenf & (1 << 63) else 0
        end = off + 8 + rec + pad
        if end > len(data):
            break
        off = end
    nz = len(data.rstrip(b"\0"))
    new = max(off, (nz + 7) // 8 * 8)
    new = min(new, len(data))
    assert data[new:].count(0) == len(data) - new
    with open(path, "r+b") as f:
        f.truncate(new)
    print("%d %d" % (len(data), new))


def trim_db(path):
    db = Bolt(path)
    data = db.data
    ps = db.ps
    nz = len(data.rstrip(b"\0"))
    new = max(db.meta["pgid"] * ps, (nz + ps - 1) // ps * ps)
    new = min(new, len(data))
    if data[new:].count(0) != len(data) - new:
        raise SystemExit("%s: refusing to trim: non-zero bytes after %d" % (path, new))
    with open(path, "r+b") as f:
        f.truncate(new)
    print("%d %d" % (len(data), new))


def trim_zeros(path, align=8):
    with open(path, "rb") as f:
        data = f.read()
    end = len(data.rstrip(b"\0"))
    new = min(len(data), (end + align - 1) // align * align)
    with open(path, "r+b") as f:
        f.truncate(new)
    print("%d %d" % (len(data), new))


def json_get(path, keys, default=None):
    print(json_lookup(path, keys, default))


def json_lookup(path, keys, default=None):
    with open(path) as f:
        obj = json.load(f)
    for k in keys.split("."):
        try:
            obj = obj[int(k)] if isinstance(obj, list) else obj[k]
        except (KeyError, IndexError):
            if default is None:
                raise SystemExit("json-get: %s has no %s" % (path, keys))
            obj = default
            break
    return obj


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    cmd, args = argv[1], argv[2:]
    if cmd == "freeports":
        freeports(int(args[0]))
    elif cmd == "grant":
        c = Client(args[0])
        print(rev_of(c.grant(int(args[1], 0), int(args[2]))))
    elif cmd == "put":
        c = Client(args[0])
        lease = int(args[3], 0) if len(args) > 3 else None
        print(rev_of(c.put(bytes.fromhex(args[1]), bytes.fromhex(args[2]), lease)))
    elif cmd == "basic-binary":
        c = Client(args[0])
        c.put(b"bin/all-bytes", bytes(range(256)))
        c.put(b"bin/\xff\xfe-invalid-utf8-key", b"\xc3\x28\xa0\xa1 invalid utf-8 \xf0\x28\x8c\x28")
        c.put(b"bin/nul\x00inside", b"\x00\x00\x00\x01\x00")
        r = c.put(b"bin/empty-value", b"")
        print(rev_of(r))
    elif cmd == "large":
        c = Client(args[0])
        rounds, nkeys = int(args[1]), int(args[2])
        r = None
        for rnd in range(rounds):
            for i in range(nkeys):
                r = c.put(b"k/%05d" % i, b"r%d-%d" % (rnd, i))
        print(rev_of(r))
    elif cmd == "seq-put":
        c = Client(args[0])
        r = None
        for i in range(int(args[2])):
            r = c.put(b"%s%05d" % (args[1].encode(), i), b"v%d" % i)
        print(rev_of(r))
    elif cmd == "big":
        c = Client(args[0])
        name, size, seed = args[1], int(args[2]), args[3]
        print(rev_of(c.put(name.encode(), patterned(name, size, seed))))
    elif cmd == "hash":
        c = Client(args[0])
        headers = {"Content-Type": "application/json"}
        if len(args) >= 3:
            tok = c.post("/v3/auth/authenticate", {"name": args[1], "password": args[2]})["token"]
            headers["Authorization"] = tok
        c.conn.request("POST", "/v3/maintenance/hash", "{}", headers)
        r = c.conn.getresponse()
        data = r.read()
        if r.status != 200:
            raise SystemExit("POST /v3/maintenance/hash -> HTTP %d: %s" % (r.status, data[:500]))
        obj = json.loads(data)
        if "hash" not in obj:
            raise SystemExit("POST /v3/maintenance/hash -> %s" % data[:500])
        sys.stdout.write(data.decode().rstrip("\n") + "\n")
    elif cmd == "bucket-keys":
        bucket_keys(args[0], args[1].encode())
    elif cmd == "wal-metadata":
        return wal_metadata(args[0])
    elif cmd == "check-trailer":
        return check_trailer(args[0])
    elif cmd == "bbolt-info":
        bbolt_info(args[0], (args[1] if len(args) > 1 else "key").encode())
    elif cmd == "trim-wal":
        trim_wal(args[0])
    elif cmd == "trim-db":
        trim_db(args[0])
    elif cmd == "trim-zeros":
        trim_zeros(args[0], int(args[1]) if len(args) > 1 else 8)
    elif cmd == "json-kv":
        for spec in args[1:]:
            name, _, rest = spec.partition("=")
            path, sep, default = rest.partition("=")   # NAME=PATH= means default ""
            print("%s=%s" % (name, json_lookup(args[0], path, default if sep else None)))
    elif cmd == "json-get":
        json_get(args[0], args[1], args[2] if len(args) > 2 else None)
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
